package webhook

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/borderproof/borderproof/internal/breaker"
	"github.com/borderproof/borderproof/internal/errs"
	"github.com/borderproof/borderproof/internal/obs"
	"github.com/borderproof/borderproof/internal/outbox"
)

// UserAgent identifies delivery requests.
const UserAgent = "BorderProof-Webhooks/1"

// dueSlack lets an attempt run this much before its time: the task that
// carries it was scheduled from another machine's clock.
const dueSlack = time.Second

// leaseMargin is how long a lease outlives the attempt's timeout, so that
// the attempt is recorded before another worker may take the delivery over.
const leaseMargin = 30 * time.Second

// Envelope is the body of every message, by the Standard Webhooks
// specification: the event type, when the event happened, and its data
// (ids, statuses, decisions, scores, bands, reason codes and links; never
// personal data). The body is the same on every attempt and replay.
type Envelope struct {
	Type      string          `json:"type"`
	Timestamp time.Time       `json:"timestamp"`
	Data      json.RawMessage `json:"data"`
}

// Deliver makes the due attempt of one delivery: it POSTs the signed
// envelope to the endpoint, records the attempt, and schedules the next one
// or finishes the delivery. The message id (webhook-id) is the delivery id,
// the same on every attempt and replay, so a receiver can deduplicate on it.
//
// Outcomes: 2xx succeeds; 410 fails the delivery and disables the endpoint;
// 408, 429, 5xx, timeouts and connection errors are retried on the
// schedule, later when Retry-After asks for it (up to RetryAfterCap); a 3xx
// or another 4xx is retried too but flags the delivery. An endpoint that
// has failed every attempt for DisableAfter is disabled, with an audit
// entry. The schedule lives in the database (next attempt time), and each
// attempt's task is queued with a delay, so the clock drives it.
//
// Deliver returns an errs.Unavailable error carrying RetryAfterSeconds,
// which the worker neither counts as a failure nor gives up on, when the
// attempt must wait: it is not yet due, another worker holds it, the
// endpoint has too many attempts in flight or its circuit breaker is open.
// It tolerates running twice, concurrently, for one delivery.
func (s *Service) Deliver(ctx context.Context, p DeliverPayload) error {
	if p.EndpointID == "" {
		d, err := s.store.WebhookDelivery(ctx, p.InsurerID, p.DeliveryID)
		if err != nil {
			return err
		}
		p.EndpointID = d.EndpointID
	}
	// The endpoint's gate comes first, before any query, so that a
	// delivery to an endpoint whose breaker is open costs next to nothing.
	g := s.gates.get(p.EndpointID)
	if w := g.held(); w > 0 {
		return postpone("webhook endpoint is unavailable (circuit open)", max(w, time.Second))
	}
	if !g.acquire(ctx, g.slotWait(s.cfg.SlotWait)) {
		return postpone("webhook endpoint has too many deliveries in flight", time.Second)
	}
	defer g.release()

	now := s.now()
	// The lease names this process, so that should it die, whoever sees
	// it die takes the attempt over (TakeOverFrom) without waiting for
	// the lease to lapse.
	holder := ""
	if s.cfg.Liveness != nil {
		holder = s.cfg.Liveness.ID()
	}
	cl, claimed, err := s.store.ClaimWebhookDelivery(ctx, p.InsurerID, p.DeliveryID, now.Add(dueSlack), now.Add(s.cfg.Timeout+leaseMargin), holder)
	if err != nil {
		return err
	}
	d := cl.Delivery
	if !claimed {
		_, err := ready(d, now)
		return err
	}
	release := func() {
		if err := s.store.ReleaseWebhookDelivery(context.WithoutCancel(ctx), d.InsurerID, d.ID); err != nil {
			s.log.WarnContext(ctx, "release webhook delivery", "delivery", d.ID, "err", err)
		}
	}
	if d.EndpointID != p.EndpointID {
		release()
		return errs.E(errs.Invalid, "webhook delivery task names another endpoint")
	}
	if cl.Endpoint == nil {
		return nil // deleted with its deliveries
	}
	ep := *cl.Endpoint
	if !ep.Enabled {
		return s.store.AbandonWebhookDelivery(ctx, d.InsurerID, d.ID, "webhook endpoint is disabled", now)
	}
	if cl.Event == nil {
		// Purged by retention: nothing left to send.
		return s.store.AbandonWebhookDelivery(ctx, d.InsurerID, d.ID, "event is no longer available", now)
	}
	out, err := s.attempt(ctx, ep, d, *cl.Event, now, g)
	if err != nil {
		release()
		return err
	}
	return s.record(ctx, ep, d, now, out)
}

// ready reports whether d's attempt may run at now; when it may not, the
// error says when to try again (nil: never, the delivery is finished).
func ready(d Delivery, now time.Time) (bool, error) {
	switch {
	case d.Status != Pending:
		return false, nil
	case d.NextAttemptAt.After(now.Add(dueSlack)):
		return false, postpone("webhook delivery is not due yet", d.NextAttemptAt.Sub(now))
	case d.LeasedUntil.After(now):
		return false, postpone("webhook delivery is being attempted", d.LeasedUntil.Sub(now))
	}
	return true, nil
}

// postpone is the error that makes the worker try again after wait
// without counting a failure.
func postpone(msg string, wait time.Duration) error {
	secs := int(math.Ceil(wait.Seconds()))
	if secs < 1 {
		secs = 1
	}
	return &errs.Error{Kind: errs.Unavailable, Msg: msg, RetryAfterSeconds: secs}
}

// outcome is what one POST produced.
type outcome struct {
	status     int
	body       []byte
	latency    time.Duration
	err        string // client-safe description of a failed request
	retryAfter time.Duration
}

func (o outcome) ok() bool { return o.err == "" && o.status >= 200 && o.status < 300 }

// errAttemptFailed tells the breaker an attempt failed.
var errAttemptFailed = errors.New("webhook attempt failed")

// attempt loads the secrets, signs the event and POSTs. An error means no
// attempt was made (the lease must be released).
func (s *Service) attempt(ctx context.Context, ep Endpoint, d Delivery, ev outbox.Event, now time.Time, g *gate) (outcome, error) {
	body, err := EncodeEnvelope(ev)
	if err != nil {
		return outcome{}, err
	}
	kr, err := s.keyring(ctx, ep, now)
	if err != nil {
		return outcome{}, err
	}
	h, err := Headers(d.ID, now, body, kr.Active(now)...)
	if err != nil {
		return outcome{}, err
	}
	if g.cb == nil {
		out := s.post(ctx, ep.URL, h, body, now)
		g.observe(out.latency)
		if ctx.Err() != nil {
			return outcome{}, ctx.Err()
		}
		return out, nil
	}
	out, err := g.cb.Execute(func() (outcome, error) {
		out := s.post(ctx, ep.URL, h, body, now)
		g.observe(out.latency)
		if ctx.Err() != nil {
			return out, ctx.Err()
		}
		if !out.ok() {
			return out, errAttemptFailed
		}
		return out, nil
	})
	var open *breaker.OpenError
	switch {
	case errors.As(err, &open):
		return outcome{}, postpone("webhook endpoint is unavailable (circuit open)", max(open.Wait, time.Second))
	case err != nil && !errors.Is(err, errAttemptFailed):
		return outcome{}, err
	}
	return out, nil
}

// EncodeEnvelope is the message body of an event.
func EncodeEnvelope(ev outbox.Event) ([]byte, error) {
	data := ev.Payload
	if len(data) == 0 {
		data = json.RawMessage("{}")
	}
	return json.Marshal(Envelope{Type: ev.Type, Timestamp: ev.CreatedAt.UTC(), Data: data})
}

// post sends one request and reads at most MaxResponseBody bytes of the
// answer (and drains a little more so the connection can be reused).
func (s *Service) post(ctx context.Context, url string, h http.Header, body []byte, now time.Time) outcome {
	// A client span for the attempt; receivers' URLs stay out of it.
	ctx, span := obs.Tracer().Start(ctx, "webhook POST", trace.WithSpanKind(trace.SpanKindClient))
	defer span.End()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return outcome{err: "webhook URL is not valid"}
	}
	for k, v := range h {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", UserAgent)
	start := time.Now()
	resp, err := s.client.Do(req)
	if err != nil {
		span.SetStatus(codes.Error, "transport")
		return outcome{latency: time.Since(start), err: describe(err)}
	}
	defer resp.Body.Close()
	span.SetAttributes(attribute.Int("http.response.status_code", resp.StatusCode))
	out := outcome{status: resp.StatusCode}
	out.body, err = io.ReadAll(io.LimitReader(resp.Body, MaxResponseBody))
	if err == nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	}
	out.latency = time.Since(start)
	if !out.ok() {
		out.retryAfter = retryAfter(resp.Header.Get("Retry-After"), now)
	}
	return out
}

// describe turns a transport error into a message safe to show the
// insurer: it names the kind of failure, not our network's details.
func describe(err error) string {
	var ne net.Error
	var dns *net.DNSError
	var unknownCA x509.UnknownAuthorityError
	var certInvalid x509.CertificateInvalidError
	var hostname x509.HostnameError
	var tlsRecord tls.RecordHeaderError
	var tlsVerify *tls.CertificateVerificationError
	switch {
	case errors.Is(err, ErrForbiddenAddress):
		return "webhook endpoint must not point at a private, loopback or otherwise non-public address"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "request timed out"
	case errors.As(err, &dns):
		return "webhook endpoint host could not be resolved"
	case errors.As(err, &unknownCA), errors.As(err, &certInvalid), errors.As(err, &hostname),
		errors.As(err, &tlsRecord), errors.As(err, &tlsVerify):
		return "TLS handshake failed"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed before a response"
	}
	if e, ok := errs.As(err); ok && e.Msg != "" {
		return e.Msg // the guard's messages are client-safe
	}
	return "connection failed"
}

// retryAfter reads a Retry-After header: delay seconds or an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n <= 0 {
			return 0
		}
		if n > int64(365*24*time.Hour/time.Second) {
			n = int64(365 * 24 * time.Hour / time.Second)
		}
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// verdict is the policy applied to one outcome.
type verdict struct {
	success bool
	gone    bool // 410: stop and disable the endpoint
	flag    bool // a 3xx or a 4xx other than 408, 410, 429
}

func judge(o outcome) verdict {
	switch {
	case o.ok():
		return verdict{success: true}
	case o.err != "":
		return verdict{}
	case o.status == http.StatusGone:
		return verdict{gone: true}
	case o.status == http.StatusRequestTimeout, o.status == http.StatusTooManyRequests, o.status >= 500:
		return verdict{}
	}
	return verdict{flag: true}
}

// record stores the attempt and queues the next one.
func (s *Service) record(ctx context.Context, ep Endpoint, d Delivery, now time.Time, out outcome) error {
	v := judge(out)
	r := AttemptResult{
		InsurerID:  d.InsurerID,
		EndpointID: ep.ID,
		Attempt: Attempt{
			DeliveryID: d.ID, Number: d.Attempts + 1, AttemptedAt: now,
			StatusCode: out.status, Latency: out.latency, ResponseBody: out.body, Error: out.err,
		},
		Success:         v.success,
		Flag:            v.flag,
		EndpointFailing: !ep.FailingSince.IsZero(),
	}
	if !v.success && r.Attempt.Error == "" {
		r.Attempt.Error = fmt.Sprintf("endpoint answered HTTP %d", out.status)
	}
	failingSince := ep.FailingSince
	if failingSince.IsZero() {
		failingSince = now
	}
	step := d.Step + 1
	switch {
	case v.success:
		r.Status = Succeeded
	case v.gone:
		r.Status, r.Disable = Failed, DisabledGone
	case now.Sub(failingSince) >= s.cfg.DisableAfter:
		r.Status, r.Disable = Failed, DisabledFailing
	case step >= len(s.cfg.Schedule):
		r.Status = Failed
	default:
		r.Status, r.NextAttemptAt = Pending, now.Add(s.delay(step, out.retryAfter))
	}
	// The attempt happened: record it even if the task is being cancelled.
	rctx := context.WithoutCancel(ctx)
	if err := s.store.RecordWebhookAttempt(rctx, r); err != nil {
		if errs.Is(err, errs.Conflict) {
			return nil // another worker recorded this attempt
		}
		return err
	}
	s.cfg.Metrics.observe(r.Status, out.latency)
	if r.Disable != "" {
		s.gates.reset(ep.ID)
		s.log.WarnContext(ctx, "webhook endpoint disabled", "insurer", ep.InsurerID, "endpoint", ep.ID, "reason", string(r.Disable))
	}
	if r.Status == Pending {
		d.Attempts++
		if err := s.enqueue(rctx, d, r.NextAttemptAt.Sub(now)); err != nil {
			// Committed: the sweeper queues it once it is overdue.
			s.log.WarnContext(ctx, "enqueue webhook retry", "delivery", d.ID, "err", err)
		}
	}
	return nil
}

// delay is the wait before the attempt after step attempts of this run:
// the schedule's entry with jitter, or longer when the endpoint asked for
// it with Retry-After (up to RetryAfterCap).
func (s *Service) delay(step int, retryAfter time.Duration) time.Duration {
	d := s.cfg.Schedule[step]
	if s.cfg.Jitter > 0 {
		d = time.Duration(float64(d) * (1 + s.cfg.Jitter*(2*rand.Float64()-1)))
	}
	return max(d, min(retryAfter, s.cfg.RetryAfterCap))
}

// gates bound each endpoint's concurrent attempts in this process and hold
// its circuit breaker, so that one slow or dead endpoint cannot take every
// worker. Gates of endpoints not used lately are forgotten.
type gates struct {
	cfg Config
	mu  sync.Mutex
	m   *lru.Cache[string, *gate]
}

type gate struct {
	slots chan struct{}
	cb    *breaker.Breaker[outcome] // nil: breaker disabled

	mu   sync.Mutex
	ewma time.Duration // attempt latency, moving average; zero: none yet
}

// observe folds one attempt's latency into the moving average.
func (g *gate) observe(d time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ewma == 0 {
		g.ewma = d
		return
	}
	g.ewma += (d - g.ewma) / 5
}

// held is how long the endpoint's breaker stays open (zero: closed,
// half-open or disabled).
func (g *gate) held() time.Duration {
	if g.cb == nil {
		return 0
	}
	return g.cb.Held()
}

// minSlotWait is the least an attempt waits for a slot: a burst as large
// as a worker's concurrency, to an endpoint that answers in a millisecond,
// gets through in a few tens of milliseconds, where postponing it would
// cost a second or more.
const minSlotWait = 50 * time.Millisecond

// slotWait is how long an attempt waits for one of the endpoint's slots:
// about four of its recent attempts, at least minSlotWait, at most limit.
// A fast endpoint's burst queues briefly; a slow endpoint's attempts are
// postponed rather than holding workers.
func (g *gate) slotWait(limit time.Duration) time.Duration {
	return min(limit, max(4*g.latency(), minSlotWait))
}

func (g *gate) latency() time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.ewma
}

const maxGates = 10000

func newGates(cfg Config) *gates {
	m, _ := lru.New[string, *gate](maxGates) // errors only for a size <= 0
	return &gates{cfg: cfg, m: m}
}

func (gs *gates) get(endpointID string) *gate {
	gs.mu.Lock()
	defer gs.mu.Unlock()
	if g, ok := gs.m.Get(endpointID); ok {
		return g
	}
	g := &gate{slots: make(chan struct{}, gs.cfg.MaxInFlight)}
	if gs.cfg.BreakerFailures > 0 {
		g.cb = breaker.New[outcome](breaker.Settings{
			Name:       endpointID,
			Failures:   uint32(gs.cfg.BreakerFailures),
			OpenFor:    gs.cfg.BreakerCooldown,
			MaxOpenFor: gs.cfg.BreakerMaxCooldown,
			// Our own cancellation or deadline says nothing about the endpoint.
			IsExcluded: func(err error) bool {
				return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
			},
		})
	}
	gs.m.Add(endpointID, g)
	return g
}

// reset forgets an endpoint's breaker (enabled again, deleted, disabled).
func (gs *gates) reset(endpointID string) {
	gs.mu.Lock()
	defer gs.mu.Unlock()
	gs.m.Remove(endpointID)
}

// acquire takes a slot, waiting up to wait for one.
func (g *gate) acquire(ctx context.Context, wait time.Duration) bool {
	select {
	case g.slots <- struct{}{}:
		return true
	default:
	}
	if wait <= 0 {
		return false
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case g.slots <- struct{}{}:
		return true
	case <-t.C:
		return false
	case <-ctx.Done():
		return false
	}
}

func (g *gate) release() { <-g.slots }
