// Reads a JSON array of cases on stdin and answers a JSON array on stdout,
// using the standardwebhooks npm package:
//   {"op":"verify","secret":s,"headers":{...},"body":b} -> {"ok":true} | {"ok":false,"error":msg}
//   {"op":"sign","secret":s,"msgId":id,"timestamp":unix,"body":b} -> {"signature":"v1,..."}
"use strict";
const { Webhook } = require("standardwebhooks");

let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => (input += chunk));
process.stdin.on("end", () => {
  const out = JSON.parse(input).map((c) => {
    const wh = new Webhook(c.secret);
    switch (c.op) {
      case "verify":
        try {
          wh.verify(c.body, c.headers, { jsonParse: false });
          return { ok: true };
        } catch (e) {
          return { ok: false, error: String(e.message) };
        }
      case "sign":
        return { signature: wh.sign(c.msgId, new Date(c.timestamp * 1000), c.body) };
      default:
        throw new Error("unknown op " + c.op);
    }
  });
  process.stdout.write(JSON.stringify(out));
});
