package webhook_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/borderproof/borderproof/internal/errs"
	"github.com/borderproof/borderproof/internal/outbox"
	"github.com/borderproof/borderproof/internal/store"
	"github.com/borderproof/borderproof/internal/store/storetest"
	"github.com/borderproof/borderproof/internal/tenant"
	"github.com/borderproof/borderproof/internal/webhook"
)

func noBreaker(_ *harness, cfg *webhook.Config) { cfg.BreakerFailures = -1 }

// TestRetryUntilSuccess: a receiver that fails the first attempts gets the
// message exactly once more, with the same webhook-id, on the schedule,
// and every request verifies with Verify. Runs on both backends.
func TestRetryUntilSuccess(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		const failures = 3
		h := newHarness(t, s, noBreaker)
		rc := newReceiver(t, h.clock, false, func(n int, _ *http.Request) int {
			if n <= failures {
				return http.StatusServiceUnavailable
			}
			return http.StatusNoContent
		})
		ep, secret := h.endpoint(h.a, tenant.Test, rc.srv.URL+"/hooks", outbox.VerificationCompleted)
		ev := h.event(h.a, tenant.Test, outbox.VerificationCompleted)
		start := h.clock.Now()
		h.drive(time.Time{})
		// Nothing more arrives later.
		h.clock.advance(72 * time.Hour)
		if err := h.svc.Sweep(h.ctx, nil); err != nil {
			t.Fatal(err)
		}
		h.drive(time.Time{})

		got := rc.requests()
		if len(got) != failures+1 {
			t.Fatalf("receiver got %d requests, want %d", len(got), failures+1)
		}
		ds := h.deliveries(h.a, tenant.Test, ep.ID)
		if len(ds) != 1 {
			t.Fatalf("deliveries: %+v", ds)
		}
		d := ds[0]
		if d.Status != webhook.Succeeded || d.Attempts != failures+1 || d.Flagged || d.EventID != ev.ID {
			t.Fatalf("delivery: %+v", d)
		}
		var env webhook.Envelope
		if err := json.Unmarshal(got[0].body, &env); err != nil || env.Type != ev.Type || !env.Timestamp.Equal(ev.CreatedAt) || string(env.Data) != string(ev.Payload) {
			t.Fatalf("envelope %s: %v", got[0].body, err)
		}
		for i, r := range got {
			if id := r.header.Get(webhook.HeaderID); id != d.ID {
				t.Fatalf("request %d: webhook-id %q, want the delivery id %q", i, id, d.ID)
			}
			if !bytes.Equal(r.body, got[0].body) {
				t.Fatalf("request %d: body changed between attempts", i)
			}
			if ua := r.header.Get("User-Agent"); ua != webhook.UserAgent {
				t.Fatalf("user agent %q", ua)
			}
			if err := webhook.Verify(secret, r.header, r.body, r.at, 0); err != nil {
				t.Fatalf("request %d does not verify: %v", i, err)
			}
			if err := webhook.Verify(webhook.NewSecret(), r.header, r.body, r.at, 0); err == nil {
				t.Fatal("verified with another secret")
			}
		}
		// The schedule: immediately, then 5 s, 5 min, 30 min, each ±10 %.
		want := []time.Duration{0, 5 * time.Second, 5 * time.Minute, 30 * time.Minute}
		prev := start
		for i, r := range got {
			gap := r.at.Sub(prev)
			if lo, hi := time.Duration(float64(want[i])*0.89), time.Duration(float64(want[i])*1.11)+time.Second; gap < lo || gap > hi {
				t.Fatalf("attempt %d came %v after the previous one, want about %v", i+1, gap, want[i])
			}
			prev = r.at
		}
		atts := h.attempts(h.a, d.ID)
		if len(atts) != failures+1 {
			t.Fatalf("attempts: %+v", atts)
		}
		for i, a := range atts {
			wantCode := http.StatusServiceUnavailable
			if i == failures {
				wantCode = http.StatusNoContent
			}
			if a.Number != i+1 || a.StatusCode != wantCode || a.Latency <= 0 || (a.Error == "") != (i == failures) {
				t.Fatalf("attempt %d: %+v", i+1, a)
			}
		}
		if string(atts[0].ResponseBody) != "ok" {
			t.Fatalf("response body kept: %q", atts[0].ResponseBody)
		}
		if e, _ := h.svc.Endpoint(h.ctx, h.a, tenant.Test, ep.ID); !e.FailingSince.IsZero() || !e.Enabled {
			t.Fatalf("endpoint after recovery: %+v", e)
		}
	})
}

// TestDownForWholeSchedule: a receiver down for the whole schedule ends
// FAILED after the eighth attempt (about 27.6 hours, on the test clock),
// and a replay then succeeds with the same message id.
func TestDownForWholeSchedule(t *testing.T) {
	h := newHarness(t, openStore(t), noBreaker)
	var mu sync.Mutex
	up := false
	rc := newReceiver(t, h.clock, false, func(int, *http.Request) int {
		mu.Lock()
		defer mu.Unlock()
		if up {
			return http.StatusOK
		}
		return http.StatusInternalServerError
	})
	ep, secret := h.endpoint(h.a, tenant.Test, rc.srv.URL, outbox.VerificationCompleted)
	h.event(h.a, tenant.Test, outbox.VerificationCompleted)
	start := h.clock.Now()
	h.drive(time.Time{})

	got := rc.requests()
	if len(got) != len(webhook.DefaultSchedule) {
		t.Fatalf("attempts made: %d, want %d", len(got), len(webhook.DefaultSchedule))
	}
	var total time.Duration
	for _, d := range webhook.DefaultSchedule {
		total += d
	}
	if span := got[len(got)-1].at.Sub(start); span < time.Duration(float64(total)*0.9) || span > time.Duration(float64(total)*1.1) {
		t.Fatalf("schedule spanned %v, want about %v", span, total)
	}
	d := h.deliveries(h.a, tenant.Test, ep.ID)[0]
	if d.Status != webhook.Failed || d.Attempts != 8 || d.LastStatusCode != 500 || d.CompletedAt.IsZero() {
		t.Fatalf("after the schedule: %+v", d)
	}
	e, _ := h.svc.Endpoint(h.ctx, h.a, tenant.Test, ep.ID)
	if !e.Enabled || e.FailingSince.IsZero() {
		t.Fatalf("a day of failures must not disable the endpoint: %+v", e)
	}

	mu.Lock()
	up = true
	mu.Unlock()
	if _, err := h.svc.ReplayDelivery(h.ctx, h.a, tenant.Test, d.ID); err != nil {
		t.Fatal(err)
	}
	h.drive(time.Time{})
	got = rc.requests()
	if len(got) != 9 {
		t.Fatalf("after replay: %d requests", len(got))
	}
	last := got[8]
	if last.header.Get(webhook.HeaderID) != d.ID {
		t.Fatal("replay changed the message id")
	}
	if err := webhook.Verify(secret, last.header, last.body, last.at, 0); err != nil {
		t.Fatal(err)
	}
	d = h.deliveries(h.a, tenant.Test, ep.ID)[0]
	if d.Status != webhook.Succeeded || d.Attempts != 9 || d.Step != 1 {
		t.Fatalf("after replay: %+v", d)
	}
	if _, err := h.svc.ReplayDelivery(h.ctx, h.b, tenant.Test, d.ID); !errs.Is(err, errs.NotFound) {
		t.Fatalf("foreign replay: %v", err)
	}
}

// TestBulkReplay replays an endpoint's failed deliveries since a time.
func TestBulkReplay(t *testing.T) {
	h := newHarness(t, openStore(t), noBreaker, func(_ *harness, cfg *webhook.Config) {
		cfg.Schedule = []time.Duration{0} // fail at once
	})
	var mu sync.Mutex
	up := false
	rc := newReceiver(t, h.clock, false, func(int, *http.Request) int {
		mu.Lock()
		defer mu.Unlock()
		if up {
			return http.StatusOK
		}
		return http.StatusBadGateway
	})
	ep, _ := h.endpoint(h.a, tenant.Test, rc.srv.URL)
	h.event(h.a, tenant.Test, outbox.VerificationCompleted)
	h.drive(time.Time{})
	h.clock.advance(time.Hour)
	since := h.clock.Now()
	for range 3 {
		h.event(h.a, tenant.Test, outbox.VerificationCompleted)
		h.clock.advance(time.Minute)
	}
	h.drive(time.Time{})
	mu.Lock()
	up = true
	mu.Unlock()
	n, err := h.svc.ReplayDeliveries(h.ctx, webhook.ReplayInput{InsurerID: h.a, Mode: tenant.Test, EndpointID: ep.ID, Since: since})
	if err != nil || n != 3 {
		t.Fatalf("replayed %d, %v", n, err)
	}
	h.drive(time.Time{})
	var ok, failed int
	for _, d := range h.deliveries(h.a, tenant.Test, ep.ID) {
		switch d.Status {
		case webhook.Succeeded:
			ok++
		case webhook.Failed:
			failed++
		}
	}
	if ok != 3 || failed != 1 {
		t.Fatalf("succeeded %d, failed %d", ok, failed)
	}
	if _, err := h.svc.ReplayDeliveries(h.ctx, webhook.ReplayInput{InsurerID: h.b, Mode: tenant.Test, EndpointID: ep.ID, Since: since}); !errs.Is(err, errs.NotFound) {
		t.Fatalf("foreign bulk replay: %v", err)
	}
}

// TestGoneDisables: 410 fails the delivery, disables the endpoint, and
// later events create no delivery for it.
func TestGoneDisables(t *testing.T) {
	h := newHarness(t, openStore(t))
	rc := newReceiver(t, h.clock, false, func(int, *http.Request) int { return http.StatusGone })
	ep, _ := h.endpoint(h.a, tenant.Test, rc.srv.URL)
	h.event(h.a, tenant.Test, outbox.VerificationCompleted)
	h.drive(time.Time{})
	e, _ := h.svc.Endpoint(h.ctx, h.a, tenant.Test, ep.ID)
	if e.Enabled || e.DisabledReason != webhook.DisabledGone {
		t.Fatalf("endpoint after 410: %+v", e)
	}
	ds := h.deliveries(h.a, tenant.Test, ep.ID)
	if len(ds) != 1 || ds[0].Status != webhook.Failed || ds[0].Attempts != 1 {
		t.Fatalf("deliveries: %+v", ds)
	}
	h.event(h.a, tenant.Test, outbox.VerificationCompleted)
	h.drive(time.Time{})
	if n := len(h.deliveries(h.a, tenant.Test, ep.ID)); n != 1 {
		t.Fatalf("a disabled endpoint got %d deliveries", n)
	}
	if n := len(rc.requests()); n != 1 {
		t.Fatalf("receiver got %d requests", n)
	}
	if _, err := h.svc.SendTest(h.ctx, h.a, tenant.Test, ep.ID); !errs.Is(err, errs.FailedPrecondition) {
		t.Fatalf("test message to a disabled endpoint: %v", err)
	}
}

// TestPurgedEventAbandoned: a delivery whose event retention purged before
// its attempt ends failed, with the reason, and nothing is sent; on both
// databases, since the claim reads the event with it.
func TestPurgedEventAbandoned(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		h := newHarness(t, st)
		rc := newReceiver(t, h.clock, false, nil)
		ep, _ := h.endpoint(h.a, tenant.Test, rc.srv.URL)
		ev := h.event(h.a, tenant.Test, outbox.VerificationCompleted)
		publish, _ := h.q.pop()
		if err := h.run(publish); err != nil {
			t.Fatal(err)
		}
		q := `DELETE FROM outbox_events WHERE id = $1`
		if st.Dialect() == store.SQLite {
			q = strings.ReplaceAll(q, "$", "?")
		}
		if _, err := st.DB().ExecContext(h.ctx, q, ev.ID); err != nil {
			t.Fatal(err)
		}
		h.drive(time.Time{})
		ds := h.deliveries(h.a, tenant.Test, ep.ID)
		if len(ds) != 1 || ds[0].Status != webhook.Failed || ds[0].LastError != "event is no longer available" || ds[0].Attempts != 0 {
			t.Fatalf("deliveries: %+v", ds)
		}
		if n := len(rc.requests()); n != 0 {
			t.Fatalf("receiver got %d requests", n)
		}
	})
}

// TestFailingForDaysDisables: an endpoint whose every attempt fails for
// five days is disabled, with an audit entry; its pending deliveries fail.
func TestFailingForDaysDisables(t *testing.T) {
	h := newHarness(t, openStore(t), noBreaker)
	rc := newReceiver(t, h.clock, false, func(int, *http.Request) int { return http.StatusInternalServerError })
	ep, _ := h.endpoint(h.a, tenant.Test, rc.srv.URL)
	start := h.clock.Now()
	// An event every 12 hours for a week.
	for k := range 14 {
		at := start.Add(time.Duration(k) * 12 * time.Hour)
		h.drive(at)
		h.clock.set(at)
		h.event(h.a, tenant.Test, outbox.VerificationCompleted)
	}
	h.drive(time.Time{})
	e, _ := h.svc.Endpoint(h.ctx, h.a, tenant.Test, ep.ID)
	if e.Enabled || e.DisabledReason != webhook.DisabledFailing {
		t.Fatalf("endpoint: %+v", e)
	}
	if age := e.DisabledAt.Sub(start); age < 5*24*time.Hour || age > 5*24*time.Hour+time.Minute {
		t.Fatalf("disabled %v after the first failure", age)
	}
	for _, d := range h.deliveries(h.a, tenant.Test, ep.ID) {
		if d.Status != webhook.Failed {
			t.Fatalf("delivery still %s: %+v", d.Status, d)
		}
	}
	var n int
	if err := h.s.DB().QueryRowContext(h.ctx, `SELECT COUNT(*) FROM audit_log WHERE insurer_id = ? AND action = 'webhook.endpoint_disabled'`, h.a).Scan(&n); err != nil || n != 1 {
		t.Fatalf("audit entries: %d %v", n, err)
	}
	// Enabling it again clears the failure history.
	yes := true
	e, err := h.svc.UpdateEndpoint(h.ctx, webhook.UpdateEndpointInput{InsurerID: h.a, Mode: tenant.Test, ID: ep.ID, Enabled: &yes})
	if err != nil || !e.Enabled || !e.FailingSince.IsZero() || e.DisabledReason != "" {
		t.Fatalf("re-enabled: %+v %v", e, err)
	}
}

// TestResponsePolicy: Retry-After postpones the next attempt (up to the
// cap), 4xx and 3xx are retried but flagged, redirects are not followed.
func TestResponsePolicy(t *testing.T) {
	tests := []struct {
		name      string
		code      int
		header    map[string]string
		flagged   bool
		minDelay  time.Duration
		maxDelay  time.Duration
		wantError string
	}{
		{"429 with Retry-After", 429, map[string]string{"Retry-After": "120"}, false, 120 * time.Second, 121 * time.Second, "endpoint answered HTTP 429"},
		{"503 with a huge Retry-After is capped", 503, map[string]string{"Retry-After": "86400"}, false, time.Hour, time.Hour + time.Second, "endpoint answered HTTP 503"},
		{"Retry-After shorter than the schedule", 503, map[string]string{"Retry-After": "1"}, false, 4 * time.Second, 6 * time.Second, "endpoint answered HTTP 503"},
		{"400 is flagged", 400, nil, true, 4 * time.Second, 6 * time.Second, "endpoint answered HTTP 400"},
		{"redirect is not followed", 302, map[string]string{"Location": "/elsewhere"}, true, 4 * time.Second, 6 * time.Second, "endpoint answered HTTP 302"},
		{"408 is retried unflagged", 408, nil, false, 4 * time.Second, 6 * time.Second, "endpoint answered HTTP 408"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, openStore(t), noBreaker)
			rc := newReceiver(t, h.clock, false, func(_ int, r *http.Request) int {
				if r.URL.Path == "/elsewhere" {
					return http.StatusOK
				}
				return tt.code
			})
			for k, v := range tt.header {
				rc.header.Set(k, v)
			}
			ep, _ := h.endpoint(h.a, tenant.Test, rc.srv.URL+"/hook")
			h.event(h.a, tenant.Test, outbox.VerificationCompleted)
			h.drive(h.clock.Now()) // the fan-out and the first attempt only
			if n := len(rc.requests()); n != 1 {
				t.Fatalf("requests: %d", n)
			}
			d := h.deliveries(h.a, tenant.Test, ep.ID)[0]
			delay := d.NextAttemptAt.Sub(d.LastAttemptAt)
			if d.Status != webhook.Pending || d.Flagged != tt.flagged || delay < tt.minDelay || delay > tt.maxDelay || d.LastError != tt.wantError {
				t.Fatalf("delivery: status %s flagged %v delay %v error %q", d.Status, d.Flagged, delay, d.LastError)
			}
		})
	}
}

// TestTransportFailure: a refused connection is retried, and the error
// kept is safe to show.
func TestTransportFailure(t *testing.T) {
	h := newHarness(t, openStore(t), noBreaker)
	rc := newReceiver(t, h.clock, false, nil)
	url := rc.srv.URL
	rc.srv.Close()
	ep, _ := h.endpoint(h.a, tenant.Test, url)
	h.event(h.a, tenant.Test, outbox.VerificationCompleted)
	h.drive(h.clock.Now())
	d := h.deliveries(h.a, tenant.Test, ep.ID)[0]
	a := h.attempts(h.a, d.ID)
	if d.Status != webhook.Pending || len(a) != 1 || a[0].StatusCode != 0 || a[0].Error != "connection refused" {
		t.Fatalf("delivery %+v attempts %+v", d, a)
	}
}

// TestBreaker: consecutive failures open the endpoint's breaker; while it
// is open, deliveries are postponed (Unavailable) without an attempt.
func TestBreaker(t *testing.T) {
	h := newHarness(t, openStore(t), func(_ *harness, cfg *webhook.Config) {
		cfg.BreakerFailures, cfg.BreakerCooldown = 2, time.Hour
	})
	rc := newReceiver(t, h.clock, false, func(int, *http.Request) int { return http.StatusInternalServerError })
	ep, _ := h.endpoint(h.a, tenant.Test, rc.srv.URL)
	for range 3 {
		h.event(h.a, tenant.Test, outbox.VerificationCompleted)
	}
	// Run the three publishes and three first attempts.
	for range 6 {
		tk, ok := h.q.pop()
		if !ok {
			t.Fatal("queue ran dry")
		}
		if tk.typ == webhook.TaskDeliver && len(rc.requests()) == 2 {
			p, _ := webhook.DecodeDeliver(tk.payload)
			err := h.svc.Deliver(h.ctx, p)
			if e, ok := errs.As(err); !ok || e.Kind != errs.Unavailable || e.RetryAfterSeconds != 3600 {
				t.Fatalf("open breaker: %v", err)
			}
			if a := h.attempts(h.a, p.DeliveryID); len(a) != 0 {
				t.Fatalf("attempt recorded while open: %+v", a)
			}
			continue
		}
		if err := h.run(tk); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(rc.requests()); n != 2 {
		t.Fatalf("requests through the breaker: %d", n)
	}
	// Disabling and enabling the endpoint resets its breaker.
	no, yes := false, true
	for _, b := range []*bool{&no, &yes} {
		if _, err := h.svc.UpdateEndpoint(h.ctx, webhook.UpdateEndpointInput{InsurerID: h.a, Mode: tenant.Test, ID: ep.ID, Enabled: b}); err != nil {
			t.Fatal(err)
		}
	}
	h.event(h.a, tenant.Test, outbox.VerificationCompleted)
	h.drive(h.clock.Now())
	if n := len(rc.requests()); n != 3 {
		t.Fatalf("requests after reset: %d", n)
	}
}

// TestConcurrentDeliverOnce: two workers running one delivery's task at
// once make one request between them.
func TestConcurrentDeliverOnce(t *testing.T) {
	h := newHarness(t, openStore(t))
	release := make(chan struct{})
	rc := newReceiver(t, h.clock, false, func(int, *http.Request) int { <-release; return http.StatusOK })
	ep, _ := h.endpoint(h.a, tenant.Test, rc.srv.URL)
	h.event(h.a, tenant.Test, outbox.VerificationCompleted)
	tk, _ := h.q.pop()
	if err := h.run(tk); err != nil {
		t.Fatal(err)
	}
	d := h.deliveries(h.a, tenant.Test, ep.ID)[0]
	var wg sync.WaitGroup
	results := make([]error, 2)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = h.svc.Deliver(h.ctx, webhook.DeliverPayload{InsurerID: h.a, DeliveryID: d.ID})
		}()
	}
	time.Sleep(200 * time.Millisecond)
	close(release)
	wg.Wait()
	if n := len(rc.requests()); n != 1 {
		t.Fatalf("requests: %d", n)
	}
	var postponed int
	for _, err := range results {
		if errs.Is(err, errs.Unavailable) {
			postponed++
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if postponed != 1 {
		t.Fatalf("results: %v", results)
	}
	if d, _ := h.svc.Delivery(h.ctx, h.a, tenant.Test, d.ID); d.Status != webhook.Succeeded || d.Attempts != 1 {
		t.Fatalf("delivery: %+v", d)
	}
}

// TestPublishWithQueueDown: deliveries and the event's publication commit
// together before any task is queued. With the queue down, publishing
// fails after that; the event is broadcast once all the same, the publish
// task's retry queues the deliveries, and the sweeper would too.
func TestPublishWithQueueDown(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		h := newHarness(t, s)
		rc := newReceiver(t, h.clock, false, nil)
		ep, _ := h.endpoint(h.a, tenant.Test, rc.srv.URL, outbox.VerificationCompleted)
		ev := h.event(h.a, tenant.Test, outbox.VerificationCompleted)
		h.q.mu.Lock()
		h.q.down = true
		h.q.mu.Unlock()
		if err := h.svc.Publish(h.ctx, ev.ID); !errs.Is(err, errs.Unavailable) {
			t.Fatalf("publish with the queue down: %v", err)
		}
		ds := h.deliveries(h.a, tenant.Test, ep.ID)
		if len(ds) != 1 || h.bc.count() != 1 {
			t.Fatalf("after a failed enqueue: deliveries %+v, broadcast %d times", ds, h.bc.count())
		}
		h.q.mu.Lock()
		h.q.down = false
		h.q.mu.Unlock()
		if err := h.svc.Publish(h.ctx, ev.ID); err != nil {
			t.Fatal(err)
		}
		h.drive(time.Time{})
		if n := len(rc.requests()); n != 1 || h.bc.count() != 1 {
			t.Fatalf("after the retry: %d requests, broadcast %d times", n, h.bc.count())
		}
	})
}

// TestFanOutOnce: publishing an event twice creates no new deliveries
// and broadcasts it once; unsubscribed and disabled endpoints get none.
func TestFanOutOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		h := newHarness(t, s)
		rc := newReceiver(t, h.clock, false, nil)
		e1, _ := h.endpoint(h.a, tenant.Test, rc.srv.URL+"/1", outbox.VerificationCompleted)
		e2, _ := h.endpoint(h.a, tenant.Test, rc.srv.URL+"/2", outbox.VerificationCompleted, outbox.VerificationFailed)
		e3, _ := h.endpoint(h.a, tenant.Test, rc.srv.URL+"/3", outbox.VerificationFailed)
		no := false
		e4, _ := h.endpoint(h.a, tenant.Test, rc.srv.URL+"/4", outbox.VerificationCompleted)
		if _, err := h.svc.UpdateEndpoint(h.ctx, webhook.UpdateEndpointInput{InsurerID: h.a, Mode: tenant.Test, ID: e4.ID, Enabled: &no}); err != nil {
			t.Fatal(err)
		}
		ev := h.event(h.a, tenant.Test, outbox.VerificationCompleted)
		for range 2 {
			if err := h.svc.Publish(h.ctx, ev.ID); err != nil {
				t.Fatal(err)
			}
		}
		if h.bc.count() != 1 {
			t.Fatalf("broadcast %d times", h.bc.count())
		}
		ds := h.deliveries(h.a, tenant.Test, "")
		if len(ds) != 2 {
			t.Fatalf("deliveries: %+v", ds)
		}
		for _, d := range ds {
			if d.EndpointID != e1.ID && d.EndpointID != e2.ID {
				t.Fatalf("delivery to %s", d.EndpointID)
			}
		}
		_ = e3
		var deliverTasks int
		for _, tk := range h.q.log {
			if tk.typ == webhook.TaskDeliver {
				deliverTasks++
				p, _ := webhook.DecodeDeliver(tk.payload)
				if tk.id != p.DeliveryID {
					t.Fatalf("task id %s for delivery %s", tk.id, p.DeliveryID)
				}
			}
		}
		if deliverTasks != 2 {
			t.Fatalf("deliver tasks queued: %d", deliverTasks)
		}
		h.drive(time.Time{})
		// After delivery, publishing again still changes nothing.
		if err := h.svc.Publish(h.ctx, ev.ID); err != nil {
			t.Fatal(err)
		}
		h.drive(time.Time{})
		if n := len(rc.requests()); n != 2 {
			t.Fatalf("requests: %d", n)
		}
		if got, _ := h.s.WebhookEvent(h.ctx, h.a, ev.ID); got.PublishedAt.IsZero() {
			t.Fatal("event not marked published")
		}
	})
}

// TestIsolation: events reach only endpoints of their insurer and mode.
func TestIsolation(t *testing.T) {
	var live, test, other *receiver
	h := newHarness(t, openStore(t), func(h *harness, cfg *webhook.Config) {
		live = newReceiver(t, h.clock, true, nil)
		test = newReceiver(t, h.clock, false, nil)
		other = newReceiver(t, h.clock, false, nil)
		cfg.Client = trusting(cfg.Allow, live.srv)
	})
	eLive, liveSecret := h.endpoint(h.a, tenant.Live, live.srv.URL)
	eTest, _ := h.endpoint(h.a, tenant.Test, test.srv.URL)
	eOther, _ := h.endpoint(h.b, tenant.Test, other.srv.URL)

	h.event(h.a, tenant.Test, outbox.VerificationCompleted)
	h.drive(time.Time{})
	if len(live.requests()) != 0 || len(test.requests()) != 1 || len(other.requests()) != 0 {
		t.Fatalf("TEST event reached live=%d test=%d other=%d", len(live.requests()), len(test.requests()), len(other.requests()))
	}
	h.event(h.a, tenant.Live, outbox.VerificationCompleted)
	h.drive(time.Time{})
	if len(live.requests()) != 1 || len(test.requests()) != 1 || len(other.requests()) != 0 {
		t.Fatalf("LIVE event reached live=%d test=%d other=%d", len(live.requests()), len(test.requests()), len(other.requests()))
	}
	r := live.requests()[0]
	if err := webhook.Verify(liveSecret, r.header, r.body, r.at, 0); err != nil {
		t.Fatal(err)
	}

	// A TEST key never sees LIVE endpoints or deliveries, nor another
	// insurer's.
	if _, err := h.svc.Endpoint(h.ctx, h.a, tenant.Test, eLive.ID); !errs.Is(err, errs.NotFound) {
		t.Fatalf("TEST view of a LIVE endpoint: %v", err)
	}
	if _, err := h.svc.Endpoint(h.ctx, h.a, tenant.Test, eOther.ID); !errs.Is(err, errs.NotFound) {
		t.Fatalf("foreign endpoint: %v", err)
	}
	p, _ := h.svc.ListEndpoints(h.ctx, webhook.ListEndpointsInput{InsurerID: h.a, Mode: tenant.Test})
	if len(p.Endpoints) != 1 || p.Endpoints[0].ID != eTest.ID {
		t.Fatalf("TEST list: %+v", p.Endpoints)
	}
	liveD := h.deliveries(h.a, tenant.Live, eLive.ID)
	if _, err := h.svc.Delivery(h.ctx, h.a, tenant.Test, liveD[0].ID); !errs.Is(err, errs.NotFound) {
		t.Fatalf("TEST view of a LIVE delivery: %v", err)
	}
	if _, err := h.svc.ListDeliveries(h.ctx, webhook.ListDeliveriesInput{InsurerID: h.a, Mode: tenant.Test, EndpointID: eLive.ID}); !errs.Is(err, errs.NotFound) {
		t.Fatalf("TEST list of a LIVE endpoint's deliveries: %v", err)
	}
	if _, err := h.svc.SendTest(h.ctx, h.b, tenant.Test, eTest.ID); !errs.Is(err, errs.NotFound) {
		t.Fatalf("foreign test message: %v", err)
	}
	if err := h.svc.DeleteEndpoint(h.ctx, h.b, tenant.Test, eTest.ID); !errs.Is(err, errs.NotFound) {
		t.Fatalf("foreign delete: %v", err)
	}
	if _, _, err := h.svc.RotateSecret(h.ctx, h.a, tenant.Live, eTest.ID); !errs.Is(err, errs.NotFound) {
		t.Fatalf("LIVE rotation of a TEST endpoint: %v", err)
	}
}

// TestSendTestWebhook: webhook.test reaches that endpoint only.
func TestSendTestWebhook(t *testing.T) {
	h := newHarness(t, openStore(t))
	r1 := newReceiver(t, h.clock, false, nil)
	r2 := newReceiver(t, h.clock, false, nil)
	e1, secret := h.endpoint(h.a, tenant.Test, r1.srv.URL)
	h.endpoint(h.a, tenant.Test, r2.srv.URL)
	d, err := h.svc.SendTest(h.ctx, h.a, tenant.Test, e1.ID)
	if err != nil {
		t.Fatal(err)
	}
	h.drive(time.Time{})
	if len(r1.requests()) != 1 || len(r2.requests()) != 0 {
		t.Fatalf("requests: %d, %d", len(r1.requests()), len(r2.requests()))
	}
	r := r1.requests()[0]
	var env webhook.Envelope
	if err := json.Unmarshal(r.body, &env); err != nil || env.Type != outbox.WebhookTest {
		t.Fatalf("envelope: %s", r.body)
	}
	if r.header.Get(webhook.HeaderID) != d.ID {
		t.Fatal("message id is not the delivery id")
	}
	if err := webhook.Verify(secret, r.header, r.body, r.at, 0); err != nil {
		t.Fatal(err)
	}
	if h.bc.count() != 0 {
		t.Fatal("test messages are not broadcast")
	}
}

// lostDeliverTask publishes an event to one endpoint and takes the
// delivery's task off the queue, as a task that is lost or died with its
// worker: the delivery stays pending, due, with no lease.
func lostDeliverTask(t *testing.T) (*harness, *receiver) {
	t.Helper()
	h := newHarness(t, openStore(t))
	rc := newReceiver(t, h.clock, false, nil)
	h.endpoint(h.a, tenant.Test, rc.srv.URL)
	h.event(h.a, tenant.Test, outbox.VerificationCompleted)
	tk, _ := h.q.pop() // the publish
	if err := h.run(tk); err != nil {
		t.Fatal(err)
	}
	if lost, _ := h.q.pop(); lost.typ != webhook.TaskDeliver {
		t.Fatalf("lost %s", lost.typ)
	}
	return h, rc
}

// TestSweepRequeuesLostTasks: a pending delivery whose task vanished is
// queued again once overdue.
func TestSweepRequeuesLostTasks(t *testing.T) {
	h, rc := lostDeliverTask(t) // Redis loses it
	if err := h.svc.Sweep(h.ctx, nil); err != nil || h.q.len() != 0 {
		t.Fatalf("swept too early: %d %v", h.q.len(), err)
	}
	h.clock.advance(2 * time.Minute)
	if err := h.svc.Sweep(h.ctx, nil); err != nil || h.q.len() != 1 {
		t.Fatalf("sweep: %d %v", h.q.len(), err)
	}
	h.drive(time.Time{})
	if len(rc.requests()) != 1 {
		t.Fatal("swept delivery not delivered")
	}
}

// TestEndpointManagement covers create, validate, update with clear flags,
// rotate, list and delete.
func TestEndpointManagement(t *testing.T) {
	h := newHarness(t, openStore(t))
	rc := newReceiver(t, h.clock, false, nil)
	ctx := h.ctx

	bad := []struct {
		in    webhook.CreateEndpointInput
		field string
	}{
		{webhook.CreateEndpointInput{InsurerID: h.a, Mode: tenant.Live, URL: "http://hooks.example.com/x", Events: []string{outbox.VerificationCompleted}}, "url"},
		{webhook.CreateEndpointInput{InsurerID: h.a, Mode: tenant.Test, URL: "http://10.0.0.8/x", Events: []string{outbox.VerificationCompleted}}, "url"},
		{webhook.CreateEndpointInput{InsurerID: h.a, Mode: tenant.Test, URL: rc.srv.URL, Events: nil}, "events"},
		{webhook.CreateEndpointInput{InsurerID: h.a, Mode: tenant.Test, URL: rc.srv.URL, Events: []string{"verification.nope"}}, "events[0]"},
		{webhook.CreateEndpointInput{InsurerID: h.a, Mode: tenant.Test, URL: rc.srv.URL, Events: []string{outbox.WebhookTest}}, "events[0]"},
		{webhook.CreateEndpointInput{InsurerID: h.a, Mode: "PROD", URL: "https://hooks.example.com", Events: []string{outbox.VerificationCompleted}}, "mode"},
	}
	for _, b := range bad {
		_, _, err := h.svc.CreateEndpoint(ctx, b.in)
		e, ok := errs.As(err)
		if !ok || e.Kind != errs.Invalid || len(e.Fields) == 0 || e.Fields[0].Path != b.field {
			t.Fatalf("%+v: want invalid %s, got %v", b.in, b.field, err)
		}
	}

	e, secret, err := h.svc.CreateEndpoint(ctx, webhook.CreateEndpointInput{InsurerID: h.a, Mode: tenant.Test, URL: rc.srv.URL,
		Events: []string{outbox.VerificationFailed, outbox.VerificationCompleted, outbox.VerificationFailed}, Description: "claims"})
	if err != nil {
		t.Fatal(err)
	}
	if err := webhook.ValidateSecret(secret); err != nil {
		t.Fatal(err)
	}
	if len(e.Events) != 2 || e.Events[0] != outbox.VerificationCompleted || !e.Enabled || e.Description != "claims" {
		t.Fatalf("created: %+v", e)
	}
	if bytes.Contains(e.Secrets.Current, []byte(secret[len(webhook.SecretPrefix):])) {
		t.Fatal("secret stored in the clear")
	}

	desc := "new"
	if _, err := h.svc.UpdateEndpoint(ctx, webhook.UpdateEndpointInput{InsurerID: h.a, Mode: tenant.Test, ID: e.ID, Description: &desc, ClearDescription: true}); !errs.Is(err, errs.Invalid) {
		t.Fatalf("description with clearDescription: %v", err)
	}
	u, err := h.svc.UpdateEndpoint(ctx, webhook.UpdateEndpointInput{InsurerID: h.a, Mode: tenant.Test, ID: e.ID, ClearDescription: true})
	if err != nil || u.Description != "" || u.URL != e.URL || len(u.Events) != 2 {
		t.Fatalf("clear description: %+v %v", u, err)
	}
	newURL := rc.srv.URL + "/v2"
	u, err = h.svc.UpdateEndpoint(ctx, webhook.UpdateEndpointInput{InsurerID: h.a, Mode: tenant.Test, ID: e.ID, URL: &newURL, Events: []string{outbox.VerificationReviewed}})
	if err != nil || u.URL != newURL || len(u.Events) != 1 || u.Events[0] != outbox.VerificationReviewed {
		t.Fatalf("update: %+v %v", u, err)
	}
	if _, err := h.svc.UpdateEndpoint(ctx, webhook.UpdateEndpointInput{InsurerID: h.a, Mode: tenant.Test, ID: e.ID, Events: []string{}}); !errs.Is(err, errs.Invalid) {
		t.Fatalf("empty events: %v", err)
	}
	if _, err := h.svc.UpdateEndpoint(ctx, webhook.UpdateEndpointInput{InsurerID: h.b, Mode: tenant.Test, ID: e.ID, ClearDescription: true}); !errs.Is(err, errs.NotFound) {
		t.Fatalf("foreign update: %v", err)
	}

	// Rotation: both secrets sign for 24 hours, then only the new one.
	_, next, err := h.svc.RotateSecret(ctx, h.a, tenant.Test, e.ID)
	if err != nil || next == secret {
		t.Fatalf("rotate: %v", err)
	}
	send := func() received {
		t.Helper()
		before := len(rc.requests())
		if _, err := h.svc.SendTest(ctx, h.a, tenant.Test, e.ID); err != nil {
			t.Fatal(err)
		}
		h.drive(time.Time{})
		got := rc.requests()
		if len(got) != before+1 {
			t.Fatalf("test message not delivered")
		}
		return got[len(got)-1]
	}
	r := send()
	for _, s := range []string{secret, next} {
		if err := webhook.Verify(s, r.header, r.body, r.at, 0); err != nil {
			t.Fatalf("during the overlap: %v", err)
		}
	}
	h.clock.advance(webhook.RotationOverlap + time.Second)
	r = send()
	if err := webhook.Verify(next, r.header, r.body, r.at, 0); err != nil {
		t.Fatal(err)
	}
	if err := webhook.Verify(secret, r.header, r.body, r.at, 0); err == nil {
		t.Fatal("the rotated-out secret still signs after the overlap")
	}

	// Paging.
	for i := range 3 {
		h.endpoint(h.a, tenant.Test, rc.srv.URL+"/"+strconv.Itoa(i))
	}
	p1, err := h.svc.ListEndpoints(ctx, webhook.ListEndpointsInput{InsurerID: h.a, Mode: tenant.Test, First: 3})
	if err != nil || len(p1.Endpoints) != 3 || !p1.HasNextPage || p1.Endpoints[0].ID != e.ID {
		t.Fatalf("page 1: %+v %v", p1, err)
	}
	p2, _ := h.svc.ListEndpoints(ctx, webhook.ListEndpointsInput{InsurerID: h.a, Mode: tenant.Test, First: 3, After: p1.Endpoints[2].ID})
	if len(p2.Endpoints) != 1 || p2.HasNextPage {
		t.Fatalf("page 2: %+v", p2)
	}
	if _, err := h.svc.ListEndpoints(ctx, webhook.ListEndpointsInput{InsurerID: h.a, Mode: tenant.Test, First: 101}); !errs.Is(err, errs.Invalid) {
		t.Fatalf("first 101: %v", err)
	}

	if err := h.svc.DeleteEndpoint(ctx, h.a, tenant.Test, e.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.Endpoint(ctx, h.a, tenant.Test, e.ID); !errs.Is(err, errs.NotFound) {
		t.Fatalf("deleted: %v", err)
	}
}

// TestSweepOverdueWithin: after a worker's death the watcher sweeps with
// the window since the death instead of the periodic sweep's grace: a
// delivery due longer ago than the window whose task is gone is queued
// again, one due within it is left to its task.
func TestSweepOverdueWithin(t *testing.T) {
	h, rc := lostDeliverTask(t) // the dead worker ran it
	const window = 6 * time.Second
	h.clock.advance(window - time.Second)
	if err := h.svc.SweepOverdue(h.ctx, nil, window); err != nil || h.q.len() != 0 {
		t.Fatalf("swept within the window: %d %v", h.q.len(), err)
	}
	h.clock.advance(2 * time.Second)
	// The periodic sweep still waits for its grace; the watcher's does not.
	if err := h.svc.Sweep(h.ctx, nil); err != nil || h.q.len() != 0 {
		t.Fatalf("periodic sweep before its grace: %d %v", h.q.len(), err)
	}
	if err := h.svc.SweepOverdue(h.ctx, nil, window); err != nil || h.q.len() != 1 {
		t.Fatalf("sweep past the window: %d %v", h.q.len(), err)
	}
	h.drive(time.Time{})
	if len(rc.requests()) != 1 {
		t.Fatalf("%d requests, want the swept delivery's", len(rc.requests()))
	}
}
