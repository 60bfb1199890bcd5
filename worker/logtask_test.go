package worker_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/hibiken/asynq"

	"github.com/borderproof/borderproof/internal/errs"
	"github.com/borderproof/borderproof/worker"
)

// TestTaskErrorsAreLoggedByWhatTheyMean checks that a task held back (a
// rate limit, an open breaker, a busy endpoint) is logged at info with its
// wait, and that a failure is still a warning.
func TestTaskErrorsAreLoggedByWhatTheyMean(t *testing.T) {
	cases := []struct {
		name  string
		err   error
		level string
		msg   string
		wait  float64
	}{
		{"busy endpoint", &errs.Error{Kind: errs.Unavailable, Msg: "webhook endpoint has too many deliveries in flight", RetryAfterSeconds: 1}, "INFO", "task postponed", 1},
		{"rate limited", &errs.Error{Kind: errs.RateLimited, Msg: "partner rate limit", RetryAfterSeconds: 7}, "INFO", "task postponed", 7},
		{"breaker open, no wait", errs.E(errs.Unavailable, "partner unavailable"), "INFO", "task postponed", 0},
		{"internal", errs.E(errs.Internal, "database is gone"), "WARN", "task failed", 0},
		{"plain error", errors.New("boom"), "WARN", "task failed", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
			worker.LogTaskError(log).HandleError(context.Background(), asynq.NewTask("webhook:deliver", nil), tc.err)
			lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
			if len(lines) != 1 {
				t.Fatalf("want one log line, got %q", buf.String())
			}
			var rec map[string]any
			if err := json.Unmarshal([]byte(lines[0]), &rec); err != nil {
				t.Fatal(err)
			}
			if rec["level"] != tc.level || rec["msg"] != tc.msg || rec["type"] != "webhook:deliver" {
				t.Fatalf("got %v, want level %s msg %q", rec, tc.level, tc.msg)
			}
			wait, _ := rec["retry_after_seconds"].(float64)
			if wait != tc.wait {
				t.Fatalf("retry_after_seconds = %v, want %v", rec["retry_after_seconds"], tc.wait)
			}
		})
	}
}
