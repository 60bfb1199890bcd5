package obs

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
)

func TestLoggerRedactsPersonalDataAndSecrets(t *testing.T) {
	var buf bytes.Buffer
	log := NewLogger(&buf, slog.LevelDebug)
	ctx := WithInsurerID(WithRequestID(context.Background(), "req_1"), "ins_1")
	log.InfoContext(ctx, "submitted",
		"holder", PII("ANNA MARIA ERIKSSON"),
		"surname", "ERIKSSON",
		"Document-Number", "L898902C3",
		"key", Secret("bp_live_abcdef"),
		slog.Group("subject", "dob", "1974-08-12"),
		"verification_id", "ver_1")
	out := buf.String()
	for _, leak := range []string{"ERIKSSON", "L898902C3", "bp_live_abcdef", "1974-08-12"} {
		if strings.Contains(out, leak) {
			t.Errorf("log leaks %q: %s", leak, out)
		}
	}
	for _, want := range []string{`"request_id":"req_1"`, `"insurer_id":"ins_1"`, `"verification_id":"ver_1"`, `[redacted]`, `[secret]`} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s: %s", want, out)
		}
	}
}
