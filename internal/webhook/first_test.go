package webhook_test

import (
	"context"
	"net/http"
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

// written writes a verification.completed event of the insurer in test
// mode as a run does: fanned out to the endpoints, the first attempts the
// service can make held, and the deliveries written with the event's
// publication (its writer publishes it, so no publish task is queued).
func (h *harness) written(insurer string) (outbox.Event, []webhook.Delivery) {
	h.t.Helper()
	ev := h.event(insurer, tenant.Test, outbox.VerificationCompleted)
	h.q.pop() // the publish task that event queued
	eps, err := h.s.EnabledWebhookEndpoints(h.ctx, ev.InsurerID, tenant.Mode(ev.Mode))
	if err != nil {
		h.t.Fatal(err)
	}
	now := h.clock.Now()
	ds := h.svc.Hold(webhook.Fanout(ev, eps, now), eps, now)
	if _, _, err := h.s.CreateWebhookDeliveries(h.ctx, ev.InsurerID, ev.ID, ds, now); err != nil {
		h.t.Fatal(err)
	}
	return ev, ds
}

// published is written, then the run's Published after its commit.
func (h *harness) published(insurer string) (outbox.Event, []webhook.Delivery) {
	h.t.Helper()
	ev, ds := h.written(insurer)
	if err := h.svc.Published(h.ctx, ev, ds); err != nil {
		h.t.Fatal(err)
	}
	return ev, ds
}

// deliverTasks counts the delivery tasks ever queued.
func (h *harness) deliverTasks() int {
	h.q.mu.Lock()
	defer h.q.mu.Unlock()
	n := 0
	for _, t := range h.q.log {
		if t.typ == webhook.TaskDeliver {
			n++
		}
	}
	return n
}

// A delivery written held is attempted by the process that wrote it, right
// after the commit, without a task: nobody else takes it meanwhile, and
// the attempt is recorded as any other.
func TestFirstAttemptWithoutTask(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		h := newHarness(t, s)
		rc := newReceiver(t, h.clock, false, nil)
		ep, secret := h.endpoint(h.a, tenant.Test, rc.srv.URL)
		ev, ds := h.written(h.a)
		if len(ds) != 1 || !ds[0].LeasedUntil.Equal(h.clock.Now().Add(5*time.Second+30*time.Second)) {
			t.Fatalf("held deliveries %+v: want one, leased for an attempt", ds)
		}
		// Written and not yet attempted: a task for it waits.
		err := h.svc.Deliver(h.ctx, webhook.DeliverPayload{InsurerID: h.a, DeliveryID: ds[0].ID, EndpointID: ep.ID})
		if e, ok := errs.As(err); !ok || e.Kind != errs.Unavailable {
			t.Fatalf("a task for a held delivery: %v, want it postponed", err)
		}
		if err := h.svc.Published(h.ctx, ev, ds); err != nil {
			t.Fatal(err)
		}
		h.svc.Close(h.ctx)
		got := rc.requests()
		if len(got) != 1 || got[0].header.Get("webhook-id") != ds[0].ID {
			t.Fatalf("requests %d, want one for %s", len(got), ds[0].ID)
		}
		if err := webhook.Verify(secret, got[0].header, got[0].body, h.clock.Now(), time.Minute); err != nil {
			t.Fatalf("signature: %v", err)
		}
		d := h.deliveries(h.a, tenant.Test, ep.ID)[0]
		if d.Status != webhook.Succeeded || d.Attempts != 1 || !d.LeasedUntil.IsZero() || len(h.attempts(h.a, d.ID)) != 1 {
			t.Fatalf("delivery %+v: want succeeded at the first attempt, lease released", d)
		}
		if n := h.deliverTasks(); n != 0 {
			t.Fatalf("%d delivery tasks queued, want none", n)
		}
		if h.bc.count() != 1 {
			t.Fatalf("broadcast %d events, want 1", h.bc.count())
		}
		// Closed: nothing more is held.
		if _, ds := h.written(h.a); len(ds) != 1 || !ds[0].LeasedUntil.IsZero() {
			t.Fatalf("held after Close: %+v", ds)
		}
	})
}

// A first attempt that fails is recorded and retried by a task on the
// schedule.
func TestFirstAttemptFailsThenQueued(t *testing.T) {
	h := newHarness(t, openStore(t))
	rc := newReceiver(t, h.clock, false, func(n int, _ *http.Request) int {
		if n == 1 {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	ep, _ := h.endpoint(h.a, tenant.Test, rc.srv.URL)
	h.published(h.a)
	h.svc.Close(h.ctx)
	d := h.deliveries(h.a, tenant.Test, ep.ID)[0]
	if d.Status != webhook.Pending || d.Attempts != 1 || !d.LeasedUntil.IsZero() || h.deliverTasks() != 1 {
		t.Fatalf("after a failed first attempt: %+v, %d tasks; want pending, one retry queued", d, h.deliverTasks())
	}
	h.drive(h.clock.Now().Add(time.Hour))
	if d := h.deliveries(h.a, tenant.Test, ep.ID)[0]; d.Status != webhook.Succeeded || d.Attempts != 2 || len(rc.requests()) != 2 {
		t.Fatalf("after the retry: %+v", d)
	}
}

// Once an endpoint's breaker is open, deliveries to it are not held but
// queued, and the task waits for the breaker.
func TestFirstAttemptNotHeldWhileBreakerOpen(t *testing.T) {
	h := newHarness(t, openStore(t), func(h *harness, cfg *webhook.Config) { cfg.BreakerFailures = 1 })
	down := newReceiver(t, h.clock, false, func(int, *http.Request) int { return http.StatusServiceUnavailable })
	h.endpoint(h.a, tenant.Test, down.srv.URL)
	h.published(h.a)
	waitFor(t, func() bool { return len(down.requests()) == 1 && h.deliverTasks() == 1 })
	second, ds := h.written(h.a)
	if len(ds) != 1 || !ds[0].LeasedUntil.IsZero() {
		t.Fatalf("held with the breaker open: %+v", ds)
	}
	if err := h.svc.Published(h.ctx, second, ds); err != nil || h.deliverTasks() != 2 {
		t.Fatalf("published: %v, %d tasks, want the second queued", err, h.deliverTasks())
	}
}

// A delivery written held whose process died before the attempt is taken
// over by the sweeper once its lease has lapsed.
func TestHeldDeliveryOfDeadProcessSwept(t *testing.T) {
	h := newHarness(t, openStore(t))
	rc := newReceiver(t, h.clock, false, nil)
	ep, _ := h.endpoint(h.a, tenant.Test, rc.srv.URL)
	h.written(h.a) // and never Published: the process is gone
	r := &requeuer{q: h.q}
	if err := h.svc.Sweep(h.ctx, r); err != nil || h.q.len() != 0 {
		t.Fatalf("sweep within the lease: %v, %d tasks", err, h.q.len())
	}
	h.clock.advance(5*time.Second + 6*time.Second) // the attempt's timeout and its grace
	if err := h.svc.Sweep(h.ctx, r); err != nil || h.q.len() != 1 {
		t.Fatalf("sweep after the lease: %v, %d tasks", err, h.q.len())
	}
	h.drive(h.clock.Now().Add(time.Minute))
	if d := h.deliveries(h.a, tenant.Test, ep.ID)[0]; d.Status != webhook.Succeeded || d.Attempts != 1 || len(rc.requests()) != 1 {
		t.Fatalf("taken over: %+v, %d requests", d, len(rc.requests()))
	}
}

// requeuer is the sweeper's view of the queue: nothing is held by a live
// worker.
type requeuer struct{ q *queue }

func (r *requeuer) Requeue(ctx context.Context, typ string, payload []byte, taskID, queue string) (bool, error) {
	return false, r.q.Enqueue(ctx, typ, payload, taskID, queue, 0)
}

func (r *requeuer) Queued(context.Context, string, string) (bool, error) { return false, nil }

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A process that stops while a first attempt waits on a slow endpoint
// gives up on it once its wait is over: the delivery is released and
// queued, for another worker to attempt.
func TestCloseHandsOverSlowFirstAttempt(t *testing.T) {
	h := newHarness(t, openStore(t))
	release := make(chan struct{})
	defer close(release)
	rc := newReceiver(t, h.clock, false, func(int, *http.Request) int {
		<-release
		return http.StatusOK
	})
	ep, _ := h.endpoint(h.a, tenant.Test, rc.srv.URL)
	h.published(h.a)
	waitFor(t, func() bool { return len(rc.requests()) == 1 })
	ctx, cancel := context.WithTimeout(h.ctx, 100*time.Millisecond)
	defer cancel()
	h.svc.Close(ctx)
	d := h.deliveries(h.a, tenant.Test, ep.ID)[0]
	if d.Status != webhook.Pending || d.Attempts != 0 || !d.LeasedUntil.IsZero() || h.deliverTasks() != 1 {
		t.Fatalf("after Close: %+v, %d tasks; want it released and queued", d, h.deliverTasks())
	}
}

// liveness is a process registry where the test says who is gone. The
// sweep after the write runs "in another process": the test changes id.
type liveness struct {
	mu    sync.Mutex
	id    string
	gone  map[string]bool
	asked [][]string
}

func (l *liveness) ID() string { l.mu.Lock(); defer l.mu.Unlock(); return l.id }

func (l *liveness) Gone(_ context.Context, ids []string) ([]string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.asked = append(l.asked, ids)
	var out []string
	for _, id := range ids {
		if l.gone[id] {
			out = append(out, id)
		}
	}
	return out, nil
}

func (l *liveness) set(id string, gone ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.id, l.gone = id, map[string]bool{}
	for _, g := range gone {
		l.gone[g] = true
	}
}

// A held delivery names its process; another process's sweep takes it
// over as soon as that process is gone, long before its lease lapses, and
// leaves it alone while the process lives. A process never asks about its
// own holds.
func TestHeldDeliveryOfGoneProcessTakenOverAtOnce(t *testing.T) {
	lv := &liveness{id: "proc-1"}
	h := newHarness(t, openStore(t), func(_ *harness, c *webhook.Config) { c.Liveness = lv })
	rc := newReceiver(t, h.clock, false, nil)
	ep, _ := h.endpoint(h.a, tenant.Test, rc.srv.URL)
	_, ds := h.written(h.a) // and never Published: the process is gone
	if len(ds) != 1 || ds[0].LeasedBy != "proc-1" || ds[0].LeasedUntil.IsZero() {
		t.Fatalf("held delivery does not name its process: %+v", ds)
	}
	r := &requeuer{q: h.q}
	h.clock.advance(3 * time.Second) // past the hold's grace, well within its lease

	// The holder's own sweep: it is alive, it asks nobody.
	if err := h.svc.Sweep(h.ctx, r); err != nil || h.q.len() != 0 || len(lv.asked) != 0 {
		t.Fatalf("own sweep: %v, %d tasks, asked %v", err, h.q.len(), lv.asked)
	}
	// Another process's sweep while the holder lives.
	lv.set("proc-2")
	if err := h.svc.Sweep(h.ctx, r); err != nil || h.q.len() != 0 {
		t.Fatalf("sweep while the holder lives: %v, %d tasks", err, h.q.len())
	}
	if len(lv.asked) != 1 || len(lv.asked[0]) != 1 || lv.asked[0][0] != "proc-1" {
		t.Fatalf("asked about %v, want [[proc-1]]", lv.asked)
	}
	// The holder is gone.
	lv.set("proc-2", "proc-1")
	if err := h.svc.Sweep(h.ctx, r); err != nil || h.q.len() != 1 {
		t.Fatalf("sweep once the holder is gone: %v, %d tasks", err, h.q.len())
	}
	h.drive(h.clock.Now().Add(time.Minute))
	if d := h.deliveries(h.a, tenant.Test, ep.ID)[0]; d.Status != webhook.Succeeded || d.Attempts != 1 || len(rc.requests()) != 1 {
		t.Fatalf("taken over: %+v, %d requests", d, len(rc.requests()))
	}
}

// A process told that a holder died (by the workers' beats) takes the
// holder's held deliveries over at once, asking nobody and without the
// hold's grace; a live holder's and its own are left alone.
func TestTakeOverFromDeadHolder(t *testing.T) {
	lv := &liveness{id: "proc-1"}
	h := newHarness(t, openStore(t), func(_ *harness, c *webhook.Config) { c.Liveness = lv })
	rc := newReceiver(t, h.clock, false, nil)
	ep, _ := h.endpoint(h.a, tenant.Test, rc.srv.URL)
	_, dead := h.written(h.a)
	lv.set("proc-2")
	_, live := h.written(h.a)
	if len(dead) != 1 || dead[0].LeasedBy != "proc-1" || len(live) != 1 || live[0].LeasedBy != "proc-2" {
		t.Fatalf("holds: %+v %+v", dead, live)
	}
	r := &requeuer{q: h.q}
	for _, holder := range []string{"proc-2", "proc-3", ""} { // itself, a holder of nothing, nobody
		if err := h.svc.TakeOverFrom(h.ctx, r, holder); err != nil || h.q.len() != 0 {
			t.Fatalf("take over from %q: %v, %d tasks", holder, err, h.q.len())
		}
	}
	if err := h.svc.TakeOverFrom(h.ctx, r, "proc-1"); err != nil || h.q.len() != 1 || len(lv.asked) != 0 {
		t.Fatalf("take over from the dead holder: %v, %d tasks, asked %v", err, h.q.len(), lv.asked)
	}
	h.drive(h.clock.Now())
	for _, d := range h.deliveries(h.a, tenant.Test, ep.ID) {
		switch d.ID {
		case dead[0].ID:
			if d.Status != webhook.Succeeded || d.Attempts != 1 {
				t.Fatalf("taken over: %+v", d)
			}
		case live[0].ID:
			if d.Status != webhook.Pending || d.Attempts != 0 || d.LeasedBy != "proc-2" {
				t.Fatalf("a live holder's: %+v", d)
			}
		}
	}
	if n := len(rc.requests()); n != 1 {
		t.Fatalf("%d requests, want the taken-over one", n)
	}
}

// A task's attempt leases its delivery under the process's liveness id
// too, so that a process that dies mid-attempt is taken over the same way
// as one that held a first attempt (TakeOverFrom), not once the lease
// lapses.
func TestTakeOverFromDeadAttempt(t *testing.T) {
	lv := &liveness{id: "proc-1"}
	h := newHarness(t, openStore(t), func(_ *harness, c *webhook.Config) { c.Liveness = lv })
	rc := newReceiver(t, h.clock, false, nil)
	ep, _ := h.endpoint(h.a, tenant.Test, rc.srv.URL)
	h.event(h.a, tenant.Test, outbox.VerificationCompleted)
	pub, _ := h.q.pop()
	if err := h.run(pub); err != nil {
		t.Fatal(err)
	}
	deliver, ok := h.q.pop()
	if !ok || deliver.typ != webhook.TaskDeliver {
		t.Fatalf("no delivery task after the publish: %+v", deliver)
	}
	// proc-1 claims the attempt as Deliver does, then dies: nothing is
	// recorded and the lease runs for the timeout and its margin.
	d := h.deliveries(h.a, tenant.Test, ep.ID)[0]
	now := h.clock.Now()
	cl, claimed, err := h.s.ClaimWebhookDelivery(h.ctx, d.InsurerID, d.ID, now, now.Add(time.Minute), lv.ID())
	if err != nil || !claimed {
		t.Fatalf("claim: %v %v", claimed, err)
	}
	lv.set("proc-2")
	r := &requeuer{q: h.q}
	if err := h.svc.TakeOverFrom(h.ctx, r, "proc-1"); err != nil || h.q.len() != 1 || len(lv.asked) != 0 {
		t.Fatalf("take over from the dead attempt's process: %v, %d tasks, asked %v", err, h.q.len(), lv.asked)
	}
	h.drive(h.clock.Now())
	got := h.deliveries(h.a, tenant.Test, ep.ID)[0]
	if got.Status != webhook.Succeeded || got.Attempts != 1 || len(rc.requests()) != 1 {
		t.Fatalf("taken over: %+v, %d requests (lease was until %s)", got, len(rc.requests()), cl.LeasedUntil)
	}
	// Deliver's own claims named the process that ran them: proc-2 ran
	// the taken-over attempt, and the attempt of a second event.
	h.event(h.a, tenant.Test, outbox.VerificationCompleted)
	h.drive(h.clock.Now())
	for _, d := range h.deliveries(h.a, tenant.Test, ep.ID) {
		if d.Status != webhook.Succeeded || d.Attempts != 1 || d.LeasedBy != "proc-2" {
			t.Fatalf("a delivery attempted by a task of proc-2: %+v", d)
		}
	}
}
