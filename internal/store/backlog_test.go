package store_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/borderproof/borderproof/internal/store"
	"github.com/borderproof/borderproof/internal/store/storetest"
)

func TestWebhookBacklog(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		now := time.Now()
		exec := func(q string, args ...any) {
			t.Helper()
			if _, err := s.DB().Exec(q, args...); err != nil {
				t.Fatal(err)
			}
		}
		p := func(q string) string { // this test writes SQL for both dialects by hand
			if s.Dialect() == store.SQLite {
				for i := 9; i >= 1; i-- {
					q = strings.ReplaceAll(q, "$"+strconv.Itoa(i), "?")
				}
			}
			return q
		}
		exec(p(`INSERT INTO insurers (id, name, country, region, mode, retention_days, created_at) VALUES ($1, 'A', 'FRA', 'EU', 'LIVE', 30, 0)`), "ins_a")
		exec(p(`INSERT INTO webhook_endpoints (id, insurer_id, mode, url, events, enabled, secret_key, secret, created_at, updated_at)
			VALUES ($1, $2, 'TEST', 'https://example.test/h', 'verification.completed', TRUE, $3, $4, 0, 0)`), "whk_1", "ins_a", []byte{1}, []byte{1})
		for i, d := range []struct {
			status string
			next   int64
		}{{"PENDING", now.Add(-time.Minute).UnixMicro()}, {"PENDING", now.Add(time.Hour).UnixMicro()}, {"SUCCEEDED", 0}, {"FAILED", 0}} {
			exec(p(`INSERT INTO webhook_deliveries (id, insurer_id, mode, endpoint_id, event_id, event_type, status, next_attempt_at, created_at)
				VALUES ($1, 'ins_a', 'TEST', 'whk_1', $2, 'verification.completed', $3, $4, 0)`),
				"dlv_"+string(rune('a'+i)), "evt_"+string(rune('a'+i)), d.status, d.next)
		}
		pending, overdue, err := s.WebhookBacklog(ctx, now)
		if err != nil || pending != 2 || overdue != 1 {
			t.Fatalf("backlog: pending %d overdue %d, %v", pending, overdue, err)
		}
	})
}
