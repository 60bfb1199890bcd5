package webhook_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/borderproof/borderproof/internal/errs"
	"github.com/borderproof/borderproof/internal/id"
	"github.com/borderproof/borderproof/internal/outbox"
	"github.com/borderproof/borderproof/internal/store"
	"github.com/borderproof/borderproof/internal/store/storetest"
	"github.com/borderproof/borderproof/internal/tenant"
	"github.com/borderproof/borderproof/internal/vault"
	"github.com/borderproof/borderproof/internal/webhook"
)

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// clock is the test clock that drives the retry schedule.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.After(c.now) {
		c.now = t
	}
}

func (c *clock) advance(d time.Duration) { c.set(c.Now().Add(d)) }

// task is a queued task of the fake queue.
type task struct {
	typ     string
	payload []byte
	id      string
	due     time.Time
	seq     int
}

// queue is an in-memory Enqueuer with asynq's task id semantics: an id is
// taken while its task is queued.
type queue struct {
	mu    sync.Mutex
	clock *clock
	tasks map[string]task
	seq   int
	// log records every accepted enqueue.
	log []task
	// down refuses every enqueue, as a Redis that is gone.
	down bool
}

func newQueue(c *clock) *queue { return &queue{clock: c, tasks: map[string]task{}} }

func (q *queue) Enqueue(_ context.Context, typ string, payload []byte, taskID, queueName string, in time.Duration) error {
	if queueName != webhook.Queue {
		return errs.E(errs.Internal, "wrong queue %s", queueName)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.down {
		return errs.E(errs.Unavailable, "queue is down")
	}
	if _, taken := q.tasks[taskID]; taken {
		return nil
	}
	q.seq++
	t := task{typ: typ, payload: payload, id: taskID, due: q.clock.Now().Add(in), seq: q.seq}
	q.tasks[taskID] = t
	q.log = append(q.log, t)
	return nil
}

// pop removes and returns the task due first.
func (q *queue) pop() (task, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	var list []task
	for _, t := range q.tasks {
		list = append(list, t)
	}
	if len(list) == 0 {
		return task{}, false
	}
	sort.Slice(list, func(i, j int) bool {
		if !list[i].due.Equal(list[j].due) {
			return list[i].due.Before(list[j].due)
		}
		return list[i].seq < list[j].seq
	})
	delete(q.tasks, list[0].id)
	return list[0], true
}

func (q *queue) push(t task) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.tasks[t.id] = t
}

func (q *queue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.tasks)
}

// broadcast records broadcast events.
type broadcast struct {
	mu     sync.Mutex
	events []outbox.Event
}

func (b *broadcast) Broadcast(ev outbox.Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.events = append(b.events, ev)
}

func (b *broadcast) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.events)
}

// harness is a webhook service on a real store, a real vault, the fake
// queue and the test clock.
type harness struct {
	t     testing.TB
	ctx   context.Context
	s     *store.Store
	svc   *webhook.Service
	clock *clock
	q     *queue
	bc    *broadcast
	// insurers: a and b, both LIVE insurers (they may hold both modes).
	a, b string
}

// option adjusts the harness before the service is built (receivers
// created here can use h.clock).
type option func(h *harness, cfg *webhook.Config)

func newHarness(t testing.TB, s *store.Store, opts ...option) *harness {
	t.Helper()
	h := &harness{t: t, ctx: context.Background(), s: s, clock: &clock{now: time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)}, bc: &broadcast{}}
	h.q = newQueue(h.clock)
	kek, err := vault.NewLocalFile(filepath.Join(t.TempDir(), "kek"), discard())
	if err != nil {
		t.Fatal(err)
	}
	v, err := vault.New(vault.Config{}, kek, &vault.MemKeyStore{}, discard())
	if err != nil {
		t.Fatal(err)
	}
	allow, err := webhook.ParseAllowlist("127.0.0.0/8", "::1")
	if err != nil {
		t.Fatal(err)
	}
	cfg := webhook.Config{Allow: allow, Now: h.clock.Now, Timeout: 5 * time.Second}
	for _, o := range opts {
		o(h, &cfg)
	}
	h.svc, err = webhook.New(cfg, s, v, h.q, h.bc, discard())
	if err != nil {
		t.Fatal(err)
	}
	for _, ins := range []*string{&h.a, &h.b} {
		*ins = id.New(id.Insurer)
		if err := s.CreateInsurer(h.ctx, tenant.Insurer{ID: *ins, Name: "Insurer", Country: "FRA", Region: "EU",
			Mode: tenant.Live, RetentionDays: 365, CreatedAt: h.clock.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	return h
}

// openStore opens a SQLite store (fast, no server) for tests that are not
// about the backend.
func openStore(t testing.TB) *store.Store { return storetest.Open(t, store.SQLite) }

func (h *harness) endpoint(insurer string, mode tenant.Mode, url string, events ...string) (webhook.Endpoint, string) {
	h.t.Helper()
	if len(events) == 0 {
		events = []string{outbox.VerificationCompleted}
	}
	e, secret, err := h.svc.CreateEndpoint(h.ctx, webhook.CreateEndpointInput{InsurerID: insurer, Mode: mode, URL: url, Events: events})
	if err != nil {
		h.t.Fatal(err)
	}
	return e, secret
}

// event writes an outbox event as a verification would and queues its
// publish task.
func (h *harness) event(insurer string, mode tenant.Mode, typ string) outbox.Event {
	h.t.Helper()
	now := h.clock.Now()
	ev := outbox.Event{ID: id.NewAt(id.Event, now), InsurerID: insurer, Mode: string(mode), Type: typ, SubjectID: "ver_01",
		Payload:   json.RawMessage(`{"verificationId":"ver_01","status":"COMPLETED","decision":"CLEAR","score":12,"band":"LOW","reasonCodes":[]}`),
		CreatedAt: now}
	q := `INSERT INTO outbox_events (id, insurer_id, mode, type, subject_id, payload, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`
	if h.s.Dialect() == store.SQLite {
		q = strings.ReplaceAll(q, "$", "?")
	}
	if _, err := h.s.DB().ExecContext(h.ctx, q, ev.ID, ev.InsurerID, ev.Mode, ev.Type, ev.SubjectID, string(ev.Payload), now.UnixMicro()); err != nil {
		h.t.Fatal(err)
	}
	h.q.mu.Lock()
	h.q.seq++
	h.q.tasks[ev.ID] = task{typ: outbox.TaskPublish, payload: outbox.EncodePublish(ev.ID), id: ev.ID, due: now, seq: h.q.seq}
	h.q.mu.Unlock()
	return ev
}

// run executes one task the way the worker would: an Unavailable error
// with a Retry-After puts the task back for later.
func (h *harness) run(t task) error {
	var err error
	switch t.typ {
	case outbox.TaskPublish:
		p, derr := outbox.DecodePublish(t.payload)
		if derr != nil {
			return derr
		}
		err = h.svc.Publish(h.ctx, p.EventID)
	case webhook.TaskDeliver:
		p, derr := webhook.DecodeDeliver(t.payload)
		if derr != nil {
			return derr
		}
		err = h.svc.Deliver(h.ctx, p)
	default:
		h.t.Fatalf("unexpected task type %s", t.typ)
	}
	if e, ok := errs.As(err); ok && e.Kind == errs.Unavailable && e.RetryAfterSeconds > 0 {
		t.due = h.clock.Now().Add(time.Duration(e.RetryAfterSeconds) * time.Second)
		h.q.push(t)
		return nil
	}
	return err
}

// drive runs queued tasks in due order, moving the clock to each task's
// due time, until the queue is empty or the clock passes until.
func (h *harness) drive(until time.Time) {
	h.t.Helper()
	for i := 0; ; i++ {
		if i > 10000 {
			h.t.Fatal("drive: too many tasks")
		}
		t, ok := h.q.pop()
		if !ok {
			return
		}
		if !until.IsZero() && t.due.After(until) {
			h.q.push(t)
			return
		}
		h.clock.set(t.due)
		if err := h.run(t); err != nil {
			h.t.Fatalf("task %s %s: %v", t.typ, t.id, err)
		}
	}
}

func (h *harness) deliveries(insurer string, mode tenant.Mode, endpointID string) []webhook.Delivery {
	h.t.Helper()
	p, err := h.svc.ListDeliveries(h.ctx, webhook.ListDeliveriesInput{InsurerID: insurer, Mode: mode, EndpointID: endpointID, First: 100})
	if err != nil {
		h.t.Fatal(err)
	}
	return p.Deliveries
}

func (h *harness) attempts(insurer, deliveryID string) []webhook.Attempt {
	h.t.Helper()
	m, err := h.svc.Attempts(h.ctx, insurer, []string{deliveryID})
	if err != nil {
		h.t.Fatal(err)
	}
	return m[deliveryID]
}

// received is one request a receiver got.
type received struct {
	header http.Header
	body   []byte
	at     time.Time // test clock time
}

// receiver is an httptest server on loopback whose answers a test scripts.
type receiver struct {
	srv    *httptest.Server
	clock  *clock
	mu     sync.Mutex
	got    []received
	answer func(n int, r *http.Request) int // n counts requests from 1
	header http.Header                      // sent with every answer
}

func newReceiver(t testing.TB, c *clock, tlsServer bool, answer func(n int, r *http.Request) int) *receiver {
	rc := &receiver{clock: c, answer: answer, header: http.Header{}}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.got = append(rc.got, received{header: r.Header.Clone(), body: body, at: c.Now()})
		n := len(rc.got)
		for k, v := range rc.header {
			w.Header()[k] = v
		}
		rc.mu.Unlock()
		code := http.StatusOK
		if rc.answer != nil {
			code = rc.answer(n, r)
		}
		w.WriteHeader(code)
		_, _ = io.WriteString(w, "ok")
	})
	if tlsServer {
		rc.srv = httptest.NewTLSServer(h)
	} else {
		rc.srv = httptest.NewServer(h)
	}
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) requests() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.got...)
}

// trusting returns a guarded client that also trusts the receivers' test
// certificates (live endpoints must use https).
func trusting(allow webhook.Allowlist, servers ...*httptest.Server) *http.Client {
	c := webhook.NewGuardedClient(webhook.GuardConfig{Allow: allow, RequestTimeout: 5 * time.Second})
	pool := x509.NewCertPool()
	for _, s := range servers {
		pool.AddCert(s.Certificate())
	}
	c.Transport.(*http.Transport).TLSClientConfig = &tls.Config{RootCAs: pool}
	return c
}
