package webhook_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/borderproof/borderproof/internal/outbox"
	"github.com/borderproof/borderproof/internal/store/storetest"
	"github.com/borderproof/borderproof/internal/tenant"
	"github.com/borderproof/borderproof/internal/webhook"
)

// BenchmarkDeliveryPath measures one event through the whole path (the
// publish handler's fan-out to one endpoint, then the deliver handler:
// queries, sealed secrets, signing, the guarded POST, recording the
// attempt) against a bare http.Client POST of the same body to the same
// local receiver. Both run in each iteration, so they share the machine's
// conditions. Writing the outbox event (the submitter's transaction) is
// not timed. Reports deliveries/s, raw_posts/s and their ratio path/raw.
func BenchmarkDeliveryPath(b *testing.B) {
	for _, d := range storetest.Backends {
		b.Run(string(d), func(b *testing.B) {
			h := newHarness(b, storetest.Open(b, d))
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				w.WriteHeader(http.StatusNoContent)
			}))
			b.Cleanup(srv.Close)
			h.endpoint(h.a, tenant.Test, srv.URL, outbox.VerificationCompleted)
			raw := &http.Client{Timeout: 15 * time.Second}
			body, _ := webhook.EncodeEnvelope(outbox.Event{Type: outbox.VerificationCompleted, CreatedAt: time.Now(),
				Payload: []byte(`{"verificationId":"ver_01","status":"COMPLETED","decision":"CLEAR","score":12,"band":"LOW","reasonCodes":[]}`)})

			var path, bare time.Duration
			n := 0
			for b.Loop() {
				b.StopTimer()
				h.event(h.a, tenant.Test, outbox.VerificationCompleted)
				b.StartTimer()

				start := time.Now()
				for i := 0; i < 2; i++ { // the publish task, then the deliver task
					tk, ok := h.q.pop()
					if !ok {
						b.Fatal("queue empty")
					}
					if err := h.run(tk); err != nil {
						b.Fatal(err)
					}
				}
				path += time.Since(start)

				start = time.Now()
				resp, err := raw.Post(srv.URL, "application/json", bytes.NewReader(body))
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusNoContent {
					b.Fatal(resp.Status)
				}
				bare += time.Since(start)
				n++
			}
			if h.q.len() != 0 {
				b.Fatalf("%d tasks left: a delivery failed", h.q.len())
			}
			b.ReportMetric(float64(n)/path.Seconds(), "deliveries/s")
			b.ReportMetric(float64(n)/bare.Seconds(), "raw_posts/s")
			b.ReportMetric(bare.Seconds()/path.Seconds(), "path/raw")
		})
	}
}
