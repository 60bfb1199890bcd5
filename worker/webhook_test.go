package worker

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/borderproof/borderproof/internal/errs"
	"github.com/borderproof/borderproof/internal/id"
	"github.com/borderproof/borderproof/internal/outbox"
	"github.com/borderproof/borderproof/internal/queue"
	"github.com/borderproof/borderproof/internal/store"
	"github.com/borderproof/borderproof/internal/store/storetest"
	"github.com/borderproof/borderproof/internal/tenant"
	"github.com/borderproof/borderproof/internal/testenv"
	"github.com/borderproof/borderproof/internal/vault"
	"github.com/borderproof/borderproof/internal/webhook"
)

// webhookRedisDB is the Redis database of the webhook tests; they flush it.
const webhookRedisDB = 5

type fakeWebhooks struct {
	mu        sync.Mutex
	published []string
	delivered []webhook.DeliverPayload
	swept     int
	err       error
}

func (f *fakeWebhooks) Publish(_ context.Context, eventID string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.published = append(f.published, eventID)
	return f.err
}

func (f *fakeWebhooks) Deliver(_ context.Context, p webhook.DeliverPayload) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.delivered = append(f.delivered, p)
	return f.err
}

func (f *fakeWebhooks) Sweep(context.Context, webhook.Requeuer) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.swept++
	return f.err
}

func webhookHandler(t *testing.T, hs []Handler, typ string) func(context.Context, []byte) error {
	t.Helper()
	for _, h := range hs {
		if h.Type == typ {
			return func(ctx context.Context, p []byte) error { return classify(h.Fn(ctx, p)) }
		}
	}
	t.Fatalf("no handler for %s", typ)
	return nil
}

func TestWebhookHandlers(t *testing.T) {
	if webhook.Queue != queue.Critical {
		t.Fatalf("webhook queue %q is not queue.Critical", webhook.Queue)
	}
	ctx := context.Background()
	f := &fakeWebhooks{}
	hs := WebhookHandlers(f, nil)
	publish := webhookHandler(t, hs, outbox.TaskPublish)
	deliver := webhookHandler(t, hs, webhook.TaskDeliver)
	sweep := webhookHandler(t, hs, webhook.TaskSweep)

	if err := publish(ctx, outbox.EncodePublish("evt_1")); err != nil {
		t.Fatal(err)
	}
	d := webhook.Delivery{ID: "dlv_1", InsurerID: "ins_1", EndpointID: "whk_1"}
	if err := deliver(ctx, webhook.EncodeDeliver(d)); err != nil {
		t.Fatal(err)
	}
	if err := sweep(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if len(f.published) != 1 || f.published[0] != "evt_1" || len(f.delivered) != 1 ||
		f.delivered[0] != (webhook.DeliverPayload{V: 1, InsurerID: "ins_1", EndpointID: "whk_1", DeliveryID: "dlv_1"}) || f.swept != 1 {
		t.Fatalf("calls: %+v", f)
	}
	// Malformed payloads are not retried.
	for _, c := range []struct {
		fn      func(context.Context, []byte) error
		payload string
	}{{publish, `{}`}, {publish, `nope`}, {deliver, `{"v":1}`}, {deliver, `[]`}} {
		if err := c.fn(ctx, []byte(c.payload)); !IsSkipRetry(err) {
			t.Fatalf("payload %s: %v", c.payload, err)
		}
	}
	// A postponement is retried and not counted as a failure.
	f.err = &errs.Error{Kind: errs.Unavailable, Msg: "webhook endpoint is unavailable (circuit open)", RetryAfterSeconds: 30}
	err := deliver(ctx, webhook.EncodeDeliver(d))
	if IsSkipRetry(err) || IsFailure(err) || RetryDelay(0, err, nil) != 30*time.Second {
		t.Fatalf("postponed: skip=%v failure=%v delay=%v", IsSkipRetry(err), IsFailure(err), RetryDelay(0, err, nil))
	}
	f.err = errs.E(errs.NotFound, "webhook delivery not found")
	if err := deliver(ctx, webhook.EncodeDeliver(d)); !IsSkipRetry(err) {
		t.Fatalf("missing delivery: %v", err)
	}
}

// webhookStack is the webhook service on SQLite and a flushed Redis
// database of its own.
type webhookStack struct {
	store *store.Store
	svc   *webhook.Service
	q     *queue.Enqueuer
	opt   asynq.RedisClientOpt
	log   *slog.Logger
}

func newWebhookStack(t *testing.T) webhookStack {
	t.Helper()
	addr := testenv.Require(t, testenv.RedisAddrVar)
	rc := redis.NewClient(&redis.Options{Addr: addr, DB: webhookRedisDB})
	t.Cleanup(func() { rc.Close() })
	if err := rc.FlushDB(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	opt := asynq.RedisClientOpt{Addr: addr, DB: webhookRedisDB}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	s := storetest.Open(t, store.SQLite)
	kek, err := vault.NewLocalFile(filepath.Join(t.TempDir(), "kek"), log)
	if err != nil {
		t.Fatal(err)
	}
	v, err := vault.New(vault.Config{}, kek, &vault.MemKeyStore{}, log)
	if err != nil {
		t.Fatal(err)
	}
	q := queue.NewEnqueuer(opt)
	t.Cleanup(func() { q.Close() })
	allow, _ := webhook.ParseAllowlist("127.0.0.0/8")
	svc, err := webhook.New(webhook.Config{Allow: allow, Schedule: []time.Duration{0, time.Second, time.Second}, Timeout: 5 * time.Second},
		s, v, WebhookEnqueuer(q), nil, log)
	if err != nil {
		t.Fatal(err)
	}
	return webhookStack{store: s, svc: svc, q: q, opt: opt, log: log}
}

// TestWebhookSweepTakesOverADeadAttempt: a delivery leased longer ago
// than an attempt lasts, by an attempt whose task no live worker holds (its
// worker died), is taken over by the sweep instead of after the lease and
// asynq's own recovery; a fresh lease, or one whose task is still queued,
// stands.
func TestWebhookSweepTakesOverADeadAttempt(t *testing.T) {
	ctx := context.Background()
	ws := newWebhookStack(t)
	ins := tenant.Insurer{ID: id.New(id.Insurer), Name: "Insurer", Country: "FRA", Region: "EU", Mode: tenant.Live, RetentionDays: 30, CreatedAt: time.Now()}
	if err := ws.store.CreateInsurer(ctx, ins); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ws.svc.CreateEndpoint(ctx, webhook.CreateEndpointInput{InsurerID: ins.ID, Mode: tenant.Test, URL: "http://127.0.0.1:9/hooks",
		Events: []string{outbox.VerificationCompleted}}); err != nil {
		t.Fatal(err)
	}
	evID := id.New(id.Event)
	if _, err := ws.store.DB().ExecContext(ctx, `INSERT INTO outbox_events (id, insurer_id, mode, type, subject_id, payload, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, evID, ins.ID, string(tenant.Test), outbox.VerificationCompleted, "ver_1", `{}`, time.Now().UnixMicro()); err != nil {
		t.Fatal(err)
	}
	if err := ws.svc.Publish(ctx, evID); err != nil {
		t.Fatal(err)
	}
	insp := asynq.NewInspector(ws.opt)
	defer insp.Close()
	tasks, err := insp.ListPendingTasks(webhook.Queue)
	if err != nil || len(tasks) != 1 {
		t.Fatalf("deliver tasks: %d %v", len(tasks), err)
	}
	p, err := webhook.DecodeDeliver(tasks[0].Payload)
	if err != nil {
		t.Fatal(err)
	}
	// The attempt was due 20 s ago.
	now := time.Now()
	past := now.Add(-20 * time.Second)
	if _, err := ws.store.DB().ExecContext(ctx, `UPDATE webhook_deliveries SET next_attempt_at = ? WHERE id = ?`, past.UnixMicro(), p.DeliveryID); err != nil {
		t.Fatal(err)
	}
	rq := NewRequeue(ws.opt, ws.log)
	defer rq.Close()
	// claim leases the delivery as Deliver does (the test service's
	// 5 s timeout and a 30 s margin) at the time given.
	claim := func(at time.Time) time.Time {
		t.Helper()
		lease := at.Add(35 * time.Second).Truncate(time.Microsecond)
		if _, claimed, err := ws.store.ClaimWebhookDelivery(ctx, ins.ID, p.DeliveryID, at, lease, ""); err != nil || !claimed {
			t.Fatalf("claim: %v %v", claimed, err)
		}
		return lease
	}
	sweep := func() webhook.Delivery {
		t.Helper()
		if err := ws.svc.Sweep(ctx, rq); err != nil {
			t.Fatal(err)
		}
		return ws.delivery(t, ins.ID, p.DeliveryID)
	}

	// An attempt leased a moment ago may still be running, whatever Redis
	// says of its task: its lease stands.
	fresh := claim(now)
	if err := insp.DeleteTask(webhook.Queue, tasks[0].ID); err != nil {
		t.Fatal(err)
	}
	if d := sweep(); !d.LeasedUntil.Equal(fresh) {
		t.Fatalf("a fresh lease was broken: %+v", d)
	}
	if ok, err := ws.store.BreakWebhookLease(ctx, ins.ID, p.DeliveryID, fresh); err != nil || !ok {
		t.Fatal(ok, err)
	}

	// Leased 19 s ago, longer than an attempt lasts, but its task is queued
	// again: the lease stands.
	old := claim(past.Add(time.Second))
	if err := ws.q.Enqueue(ctx, webhook.TaskDeliver, tasks[0].Payload, tasks[0].ID, webhook.Queue, 0); err != nil {
		t.Fatal(err)
	}
	if d := sweep(); !d.LeasedUntil.Equal(old) {
		t.Fatalf("the lease of a queued attempt was broken: %+v", d)
	}
	// Its task is gone with its worker: the sweep breaks the lease and
	// queues the attempt again.
	if err := insp.DeleteTask(webhook.Queue, tasks[0].ID); err != nil {
		t.Fatal(err)
	}
	if d := sweep(); !d.LeasedUntil.IsZero() {
		t.Fatalf("lease kept until %v", d.LeasedUntil)
	}
	if info, err := insp.GetTaskInfo(webhook.Queue, tasks[0].ID); err != nil || info.Type != webhook.TaskDeliver {
		t.Fatalf("attempt not queued again: %+v %v", info, err)
	}
}

func (ws webhookStack) delivery(t *testing.T, insurerID, id string) webhook.Delivery {
	t.Helper()
	d, err := ws.store.WebhookDelivery(context.Background(), insurerID, id)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestWebhookOverAsynq runs the real path on Redis: an outbox event's
// publish task fans out, the deliver task fails once, the next attempt is
// queued with a delay from the database's schedule, and the receiver gets
// the message twice with one webhook-id.
func TestWebhookOverAsynq(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ws := newWebhookStack(t)
	s, svc, q, opt, log := ws.store, ws.svc, ws.q, ws.opt, ws.log

	var mu sync.Mutex
	var ids []string
	got := make(chan struct{}, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		mu.Lock()
		ids = append(ids, r.Header.Get(webhook.HeaderID))
		n := len(ids)
		mu.Unlock()
		if n == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
		} else {
			w.WriteHeader(http.StatusOK)
		}
		got <- struct{}{}
	}))
	t.Cleanup(srv.Close)

	ins := tenant.Insurer{ID: id.New(id.Insurer), Name: "Insurer", Country: "FRA", Region: "EU", Mode: tenant.Live, RetentionDays: 30, CreatedAt: time.Now()}
	if err := s.CreateInsurer(ctx, ins); err != nil {
		t.Fatal(err)
	}
	ep, _, err := svc.CreateEndpoint(ctx, webhook.CreateEndpointInput{InsurerID: ins.ID, Mode: tenant.Test, URL: srv.URL,
		Events: []string{outbox.VerificationCompleted}})
	if err != nil {
		t.Fatal(err)
	}
	evID := id.New(id.Event)
	payload, _ := json.Marshal(map[string]any{"verificationId": "ver_1", "status": "COMPLETED"})
	if _, err := s.DB().ExecContext(ctx, `INSERT INTO outbox_events (id, insurer_id, mode, type, subject_id, payload, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, evID, ins.ID, string(tenant.Test), outbox.VerificationCompleted, "ver_1", string(payload), time.Now().UnixMicro()); err != nil {
		t.Fatal(err)
	}

	w := New(ctx, Config{Concurrency: 4, ShutdownTimeout: 5 * time.Second}, opt, log, WebhookHandlers(svc, nil), nil)
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	if err := q.Enqueue(ctx, outbox.TaskPublish, outbox.EncodePublish(evID), evID, queue.Critical, 0); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		select {
		case <-got:
		case <-time.After(20 * time.Second):
			t.Fatalf("receiver got %d of 2 requests", i)
		}
	}
	// The success is recorded after the response; wait for it.
	deadline := time.Now().Add(10 * time.Second)
	var d webhook.Delivery
	for time.Now().Before(deadline) {
		p, err := svc.ListDeliveries(ctx, webhook.ListDeliveriesInput{InsurerID: ins.ID, Mode: tenant.Test, EndpointID: ep.ID})
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Deliveries) == 1 && p.Deliveries[0].Status == webhook.Succeeded {
			d = p.Deliveries[0]
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if d.Status != webhook.Succeeded || d.Attempts != 2 {
		t.Fatalf("delivery: %+v", d)
	}
	mu.Lock()
	if len(ids) != 2 || ids[0] != d.ID || ids[1] != d.ID {
		t.Fatalf("webhook ids %v, want the delivery id %s twice", ids, d.ID)
	}
	mu.Unlock()
	cancel()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
}
