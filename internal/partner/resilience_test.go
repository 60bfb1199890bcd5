package partner_test

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/borderproof/borderproof/internal/errs"
	"github.com/borderproof/borderproof/internal/partner"
)

// fake is a Partner whose answers a test scripts.
type fake struct {
	calls      atomic.Int32
	idempotent bool
	answer     func(ctx context.Context, n int) (partner.Result, error)
}

func (f *fake) Name() string          { return "fake" }
func (f *fake) Jurisdiction() string  { return "USA" }
func (f *fake) IdempotentCheck() bool { return f.idempotent }
func (f *fake) Check(ctx context.Context, _ partner.Request) (partner.Result, error) {
	return f.answer(ctx, int(f.calls.Add(1)))
}
func (f *fake) Poll(ctx context.Context, _ string) (partner.Result, error) {
	return f.answer(ctx, int(f.calls.Add(1)))
}

func status(code int, retryAfter string) error {
	h := http.Header{}
	if retryAfter != "" {
		h.Set("Retry-After", retryAfter)
	}
	return partner.StatusError("fake", code, "X", h)
}

func testConfig() partner.PartnerConfig {
	return partner.PartnerConfig{
		Name: "fake", Timeout: time.Second, Attempts: 3,
		BackoffBase: time.Millisecond, BackoffMax: 5 * time.Millisecond, MaxRetryAfter: 1500 * time.Millisecond,
		RateLimit:   partner.RateLimit{PerSecond: 1000, Burst: 1000},
		MaxInFlight: 4,
		Breaker:     partner.BreakerConfig{Failures: 100, OpenFor: time.Minute},
	}
}

var ok = partner.Result{Outcome: partner.OutcomeClear}

func TestRetries(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name       string
		idempotent bool
		first      error
		wantCalls  int32
		wantKind   errs.Kind // of the final error; -1 for success
	}{
		{"503 retried", true, status(503, ""), 2, -1},
		{"500 retried when idempotent", true, status(500, ""), 2, -1},
		{"500 not retried without idempotency", false, status(500, ""), 1, errs.Unavailable},
		{"503 not processed retried without idempotency", false, status(503, ""), 2, -1},
		{"429 retried without idempotency", false, status(429, "0"), 2, -1},
		{"400 never retried", true, status(400, ""), 1, errs.Invalid},
		{"401 never retried", true, status(401, ""), 1, errs.Unauthenticated},
		{"404 never retried", true, status(404, ""), 1, errs.NotFound},
		{"409 never retried", true, status(409, ""), 1, errs.Conflict},
		{"429 with long Retry-After handed back", true, status(429, "120"), 1, errs.RateLimited},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := &fake{idempotent: tc.idempotent, answer: func(_ context.Context, n int) (partner.Result, error) {
				if n == 1 {
					return partner.Result{}, tc.first
				}
				return ok, nil
			}}
			r := partner.Wrap(f, testConfig(), nil, nil)
			res, err := r.Check(t.Context(), partner.Request{CheckID: "chk_1"})
			if got := f.calls.Load(); got != tc.wantCalls {
				t.Fatalf("calls = %d, want %d (err %v)", got, tc.wantCalls, err)
			}
			if tc.wantKind == -1 {
				if err != nil || res.Outcome != partner.OutcomeClear {
					t.Fatalf("got %v, %v; want success", res, err)
				}
				return
			}
			if errs.KindOf(err) != tc.wantKind {
				t.Fatalf("kind = %v, want %v (%v)", errs.KindOf(err), tc.wantKind, err)
			}
			if tc.wantKind == errs.RateLimited {
				if e, _ := errs.As(err); e.RetryAfterSeconds != 120 {
					t.Fatalf("RetryAfterSeconds = %d, want 120", e.RetryAfterSeconds)
				}
			}
		})
	}
}

func TestRetryAfterHonoured(t *testing.T) {
	t.Parallel()
	var first, second time.Time
	f := &fake{idempotent: true, answer: func(_ context.Context, n int) (partner.Result, error) {
		if n == 1 {
			first = time.Now()
			return partner.Result{}, status(429, "1")
		}
		second = time.Now()
		return ok, nil
	}}
	if _, err := partner.Wrap(f, testConfig(), nil, nil).Check(t.Context(), partner.Request{}); err != nil {
		t.Fatal(err)
	}
	if gap := second.Sub(first); gap < time.Second {
		t.Fatalf("retried after %v, before Retry-After of 1s", gap)
	}
}

func TestAttemptsExhausted(t *testing.T) {
	t.Parallel()
	f := &fake{idempotent: true, answer: func(context.Context, int) (partner.Result, error) {
		return partner.Result{}, status(502, "")
	}}
	_, err := partner.Wrap(f, testConfig(), nil, nil).Poll(t.Context(), "case")
	if f.calls.Load() != 3 || !errs.Is(err, errs.Unavailable) {
		t.Fatalf("calls %d err %v; want 3 calls and Unavailable", f.calls.Load(), err)
	}
}

func TestAttemptTimeout(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.Timeout = 20 * time.Millisecond
	cfg.Attempts = 2
	f := &fake{idempotent: true, answer: func(ctx context.Context, _ int) (partner.Result, error) {
		<-ctx.Done()
		return partner.Result{}, partner.TransportError("fake", ctx.Err())
	}}
	_, err := partner.Wrap(f, cfg, nil, nil).Check(t.Context(), partner.Request{})
	if f.calls.Load() != 2 || !partner.IsTimeout(err) || !errs.Is(err, errs.Unavailable) {
		t.Fatalf("calls %d err %v; want 2 timed-out attempts", f.calls.Load(), err)
	}
}

func TestBreakerOpensAndHalfOpens(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.Attempts = 1
	cfg.Breaker = partner.BreakerConfig{Failures: 3, OpenFor: 100 * time.Millisecond, HalfOpenRequests: 1}
	var healthy atomic.Bool
	f := &fake{idempotent: true, answer: func(context.Context, int) (partner.Result, error) {
		if healthy.Load() {
			return ok, nil
		}
		return partner.Result{}, status(500, "")
	}}
	reg := prometheus.NewRegistry()
	m, err := partner.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	r := partner.Wrap(f, cfg, m, nil)
	for range 3 {
		if _, err := r.Check(t.Context(), partner.Request{}); !errs.Is(err, errs.Unavailable) {
			t.Fatalf("err = %v", err)
		}
	}
	if r.BreakerState() != "open" {
		t.Fatalf("breaker %s after 3 failures", r.BreakerState())
	}
	_, err = r.Check(t.Context(), partner.Request{})
	e, _ := errs.As(err)
	if f.calls.Load() != 3 || e == nil || e.Kind != errs.Unavailable || e.RetryAfterSeconds != 1 {
		t.Fatalf("open breaker: calls %d err %v", f.calls.Load(), err)
	}
	if got := gauge(t, reg, "borderproof_partner_breaker_state"); got != 2 {
		t.Fatalf("breaker_state gauge = %v, want 2", got)
	}
	time.Sleep(150 * time.Millisecond)
	healthy.Store(true)
	if _, err := r.Check(t.Context(), partner.Request{}); err != nil {
		t.Fatalf("half-open trial: %v", err)
	}
	if r.BreakerState() != "closed" || f.calls.Load() != 4 {
		t.Fatalf("breaker %s calls %d after a good trial", r.BreakerState(), f.calls.Load())
	}
}

// TestBreakerSaysWhenToTryAgain: a call the open breaker turns away is
// told to come back when the breaker half-opens, not a whole OpenFor
// later; one turned away while the half-open trial is under way, in a
// second.
func TestBreakerSaysWhenToTryAgain(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.Attempts = 1
	cfg.Breaker = partner.BreakerConfig{Failures: 1, OpenFor: 3 * time.Second, HalfOpenRequests: 1}
	var healthy atomic.Bool
	trial := make(chan struct{})
	release := make(chan struct{})
	f := &fake{idempotent: true, answer: func(context.Context, int) (partner.Result, error) {
		if !healthy.Load() {
			return partner.Result{}, status(503, "")
		}
		close(trial)
		<-release
		return ok, nil
	}}
	r := partner.Wrap(f, cfg, nil, nil)
	retryAfter := func() int {
		t.Helper()
		_, err := r.Check(t.Context(), partner.Request{})
		e, _ := errs.As(err)
		if e == nil || e.Kind != errs.Unavailable {
			t.Fatalf("turned away: %v", err)
		}
		return e.RetryAfterSeconds
	}
	opened := time.Now()
	retryAfter() // the failure that opens it
	if got := retryAfter(); got != 3 {
		t.Fatalf("right after opening: retry after %d s, want 3", got)
	}
	time.Sleep(1100 * time.Millisecond)
	if got, left := retryAfter(), time.Until(opened.Add(3*time.Second)); got < 1 || got >= 3 || time.Duration(got)*time.Second < left {
		t.Fatalf("%s before it half-opens: retry after %d s", left.Round(time.Millisecond), got)
	}
	time.Sleep(time.Until(opened.Add(3*time.Second + 100*time.Millisecond)))
	healthy.Store(true)
	done := make(chan error, 1)
	go func() { _, err := r.Check(t.Context(), partner.Request{}); done <- err }()
	<-trial
	if got := retryAfter(); got != 1 {
		t.Fatalf("while the trial is under way: retry after %d s, want 1", got)
	}
	close(release)
	if err := <-done; err != nil || r.BreakerState() != "closed" {
		t.Fatalf("trial: %v, breaker %s", err, r.BreakerState())
	}
}

// TestBreakerBacksOff: a trial call that fails opens the breaker for twice
// as long, up to MaxOpenFor, and turned-away calls are told so; the
// partner sees one call per opening.
func TestBreakerBacksOff(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.Attempts = 1
	cfg.Breaker = partner.BreakerConfig{Failures: 1, OpenFor: time.Second, MaxOpenFor: 2 * time.Second, HalfOpenRequests: 1}
	f := &fake{idempotent: true, answer: func(context.Context, int) (partner.Result, error) {
		return partner.Result{}, status(503, "")
	}}
	r := partner.Wrap(f, cfg, nil, nil)
	check := func() *errs.Error {
		t.Helper()
		_, err := r.Check(t.Context(), partner.Request{})
		e, _ := errs.As(err)
		if e == nil || e.Kind != errs.Unavailable {
			t.Fatalf("err = %v", err)
		}
		return e
	}
	check() // opens it for 1 s
	if e := check(); e.RetryAfterSeconds != 1 {
		t.Fatalf("first opening: retry after %d s, want 1", e.RetryAfterSeconds)
	}
	for i, want := range []int{2, 2} {
		time.Sleep(time.Duration(i+1)*time.Second + 100*time.Millisecond) // the opening ends
		if e := check(); e.RetryAfterSeconds != 0 {
			t.Fatalf("the trial was turned away: retry after %d s", e.RetryAfterSeconds)
		}
		if e := check(); e.RetryAfterSeconds != want {
			t.Fatalf("after a failed trial: retry after %d s, want %d", e.RetryAfterSeconds, want)
		}
	}
	if n := f.calls.Load(); n != 3 {
		t.Fatalf("partner called %d times, want 3 (one per opening)", n)
	}
}

func TestBreakerIgnoresClientErrors(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.Breaker = partner.BreakerConfig{Failures: 2, OpenFor: time.Minute}
	f := &fake{idempotent: true, answer: func(context.Context, int) (partner.Result, error) {
		return partner.Result{}, status(422, "")
	}}
	r := partner.Wrap(f, cfg, nil, nil)
	for range 5 {
		_, _ = r.Check(t.Context(), partner.Request{})
	}
	if r.BreakerState() != "closed" {
		t.Fatalf("breaker %s after client errors", r.BreakerState())
	}
}

func TestClientRateLimit(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.RateLimit = partner.RateLimit{PerSecond: 0.5, Burst: 1, MaxWait: 10 * time.Millisecond}
	f := &fake{idempotent: true, answer: func(context.Context, int) (partner.Result, error) { return ok, nil }}
	r := partner.Wrap(f, cfg, nil, nil)
	if _, err := r.Check(t.Context(), partner.Request{}); err != nil {
		t.Fatal(err)
	}
	_, err := r.Check(t.Context(), partner.Request{})
	e, _ := errs.As(err)
	if e == nil || e.Kind != errs.RateLimited || e.RetryAfterSeconds < 1 || f.calls.Load() != 1 {
		t.Fatalf("second call: %v (calls %d); want RateLimited before calling", err, f.calls.Load())
	}
}

func TestInFlightBound(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.MaxInFlight = 1
	release := make(chan struct{})
	started := make(chan struct{})
	f := &fake{idempotent: true, answer: func(context.Context, int) (partner.Result, error) {
		close(started)
		<-release
		return ok, nil
	}}
	r := partner.Wrap(f, cfg, nil, nil)
	var wg sync.WaitGroup
	wg.Go(func() { _, _ = r.Check(t.Context(), partner.Request{}) })
	<-started
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Millisecond)
	defer cancel()
	_, err := r.Check(ctx, partner.Request{})
	close(release)
	wg.Wait()
	if !errs.Is(err, errs.Unavailable) || f.calls.Load() != 1 {
		t.Fatalf("second call while one in flight: %v, calls %d", err, f.calls.Load())
	}
}

func gauge(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("metric %s not registered", name)
	return 0
}

func TestMetricsRegisterTwice(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	if _, err := partner.NewMetrics(reg); err != nil {
		t.Fatal(err)
	}
	m, err := partner.NewMetrics(reg)
	if err != nil {
		t.Fatalf("second registration: %v", err)
	}
	f := &fake{idempotent: true, answer: func(context.Context, int) (partner.Result, error) { return ok, nil }}
	if _, err := partner.Wrap(f, testConfig(), m, nil).Check(t.Context(), partner.Request{}); err != nil {
		t.Fatal(err)
	}
	mfs, _ := reg.Gather()
	found := false
	for _, mf := range mfs {
		if mf.GetName() == "borderproof_partner_calls_total" {
			for _, l := range mf.GetMetric()[0].GetLabel() {
				if l.GetName() == "outcome" && l.GetValue() == "CLEAR" {
					found = true
				}
			}
		}
	}
	if !found {
		t.Fatal("calls_total{outcome=CLEAR} not recorded")
	}
}
