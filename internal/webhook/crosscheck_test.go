package webhook

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// crossMessage is one message for the interoperability tests: a random id,
// a random body and a random secret of a random allowed length.
type crossMessage struct {
	id     string
	body   []byte
	secret string
}

func crossMessages(t *testing.T, n int) []crossMessage {
	t.Helper()
	out := make([]crossMessage, n)
	for i := range out {
		var r [3]byte
		_, _ = rand.Read(r[:])
		key := make([]byte, MinSecretBytes+int(r[0])%(MaxSecretBytes-MinSecretBytes+1))
		_, _ = rand.Read(key)
		raw := make([]byte, int(r[1])<<2|int(r[2])&3)
		_, _ = rand.Read(raw)
		body, _ := json.Marshal(map[string]any{"type": "verification.completed", "data": base64.StdEncoding.EncodeToString(raw), "n": i})
		out[i] = crossMessage{
			id:     fmt.Sprintf("msg_%x", key[:8]),
			body:   body,
			secret: SecretPrefix + base64.StdEncoding.EncodeToString(key),
		}
	}
	return out
}

// TestOfficialGoLibrary checks that the official Standard Webhooks Go
// library verifies what we sign and that we verify what it signs. The
// library reads the wall clock, so these messages are signed now.
func TestOfficialGoLibrary(t *testing.T) {
	t.Parallel()
	for i, m := range crossMessages(t, 40) {
		theirs, err := standardwebhooks.NewWebhook(m.secret)
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now()

		h, err := Headers(m.id, now, m.body, m.secret)
		if err != nil {
			t.Fatal(err)
		}
		if err := theirs.Verify(m.body, h); err != nil {
			t.Fatalf("message %d: official library rejects our signature: %v", i, err)
		}
		tampered := append(bytes.Clone(m.body), ' ')
		if err := theirs.Verify(tampered, h); err == nil {
			t.Fatalf("message %d: official library accepts a changed body", i)
		}

		sig, err := theirs.Sign(m.id, now, m.body)
		if err != nil {
			t.Fatal(err)
		}
		ours, err := Sign(m.id, now, m.body, m.secret)
		if err != nil {
			t.Fatal(err)
		}
		if sig != ours {
			t.Fatalf("message %d: official signature %q, ours %q", i, sig, ours)
		}
		th := http.Header{}
		th.Set(standardwebhooks.HeaderWebhookID, m.id)
		th.Set(standardwebhooks.HeaderWebhookTimestamp, fmt.Sprint(now.Unix()))
		th.Set(standardwebhooks.HeaderWebhookSignature, sig)
		if err := Verify(m.secret, th, m.body, time.Now(), 0); err != nil {
			t.Fatalf("message %d: we reject the official signature: %v", i, err)
		}
	}

	// Rotation: both libraries accept a two-signature header with either secret.
	ms := crossMessages(t, 2)
	body, now := ms[0].body, time.Now()
	h, err := Headers(ms[0].id, now, body, ms[0].secret, ms[1].secret)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		theirs, err := standardwebhooks.NewWebhook(m.secret)
		if err != nil {
			t.Fatal(err)
		}
		if err := theirs.Verify(body, h); err != nil {
			t.Errorf("official library rejects a rotation header: %v", err)
		}
	}
}

// TestNodeLibrary runs the standardwebhooks npm package (pinned in
// testdata/node) against our signatures, in both directions.
func TestNodeLibrary(t *testing.T) {
	t.Parallel()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("SKIPPED: node is not installed; the npm standardwebhooks cross-check did not run")
	}
	dir := filepath.Join("testdata", "node")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "standardwebhooks")); err != nil {
		t.Skip("SKIPPED: run `npm ci --prefix internal/webhook/testdata/node` to enable the npm standardwebhooks cross-check")
	}

	type nodeCase struct {
		Op        string            `json:"op"`
		Secret    string            `json:"secret"`
		Headers   map[string]string `json:"headers,omitempty"`
		Body      string            `json:"body"`
		MsgID     string            `json:"msgId,omitempty"`
		Timestamp int64             `json:"timestamp,omitempty"`
	}
	type nodeResult struct {
		OK        bool   `json:"ok"`
		Error     string `json:"error"`
		Signature string `json:"signature"`
	}
	msgs := crossMessages(t, 20)
	now := time.Now()
	var cases []nodeCase
	for _, m := range msgs {
		h, err := Headers(m.id, now, m.body, m.secret)
		if err != nil {
			t.Fatal(err)
		}
		flat := map[string]string{}
		for k := range h {
			flat[k] = h.Get(k)
		}
		cases = append(cases,
			nodeCase{Op: "verify", Secret: m.secret, Headers: flat, Body: string(m.body)},
			nodeCase{Op: "verify", Secret: m.secret, Headers: flat, Body: string(m.body) + " "},
			nodeCase{Op: "sign", Secret: m.secret, MsgID: m.id, Timestamp: now.Unix(), Body: string(m.body)},
		)
	}
	in, err := json.Marshal(cases)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "crosscheck.js")
	cmd.Dir = dir
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, stderr.String())
	}
	var results []nodeResult
	if err := json.Unmarshal(out, &results); err != nil {
		t.Fatalf("node output: %v\n%s", err, out)
	}
	if len(results) != len(cases) {
		t.Fatalf("node answered %d cases, want %d", len(results), len(cases))
	}
	for i, m := range msgs {
		ok, tampered, signed := results[3*i], results[3*i+1], results[3*i+2]
		if !ok.OK {
			t.Errorf("message %d: npm library rejects our signature: %s", i, ok.Error)
		}
		if tampered.OK {
			t.Errorf("message %d: npm library accepts a changed body", i)
		}
		th := http.Header{}
		th.Set(HeaderID, m.id)
		th.Set(HeaderTimestamp, fmt.Sprint(now.Unix()))
		th.Set(HeaderSignature, signed.Signature)
		if err := Verify(m.secret, th, m.body, time.Now(), 0); err != nil {
			t.Errorf("message %d: we reject the npm library's signature %q: %v", i, signed.Signature, err)
		}
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatal("node timed out")
	}
}

// The official library's Sign and Verify on the same 1 KiB body, for
// comparison with BenchmarkSign1KiB and BenchmarkVerify1KiB.
func BenchmarkOfficialSign1KiB(b *testing.B) {
	body := benchBody()
	wh, err := standardwebhooks.NewWebhook(NewSecret())
	if err != nil {
		b.Fatal(err)
	}
	ts := time.Unix(1_700_000_000, 0)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := wh.Sign("msg_01JABCDEFGHJKMNPQRSTVWXYZ0", ts, body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOfficialVerify1KiB(b *testing.B) {
	body := benchBody()
	secret := NewSecret()
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		b.Fatal(err)
	}
	h, err := Headers("msg_01JABCDEFGHJKMNPQRSTVWXYZ0", time.Now(), body, secret)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if err := wh.Verify(body, h); err != nil {
			b.Fatal(err)
		}
	}
}
