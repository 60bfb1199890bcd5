package partner

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/sony/gobreaker/v2"
	"golang.org/x/sync/semaphore"
	"golang.org/x/time/rate"

	"github.com/borderproof/borderproof/internal/breaker"
	"github.com/borderproof/borderproof/internal/errs"
)

// Resilient wraps a Partner with the per-partner policy from its config:
// a timeout per attempt, retries with jittered exponential backoff on
// retryable failures only, Retry-After honoured, a circuit breaker whose
// openings back off (internal/breaker: OpenFor, doubled by each failed
// trial up to MaxOpenFor), a client-side rate limiter, a bound on calls in
// flight, and metrics.
//
// Errors it returns are *errs.Error: RateLimited (with RetryAfterSeconds)
// when the partner or our own limiter says wait, Unavailable (with
// RetryAfterSeconds) when the breaker is open, both of which the worker
// treats as "try later", not as a failure. An open breaker names the time
// left until its trial call, and a half-open one whose trial calls are
// under way a second: a check turned away late in an outage then comes
// back when the partner may be tried again.
type Resilient struct {
	inner   Partner
	cfg     PartnerConfig
	breaker *breaker.Breaker[Result]
	limiter *rate.Limiter
	sem     *semaphore.Weighted
	m       *Metrics
	log     *slog.Logger
}

var _ Partner = (*Resilient)(nil)

// Wrap returns p behind the resilience policy in cfg (defaults applied as
// in ParseConfig). m may be nil for no metrics.
func Wrap(p Partner, cfg PartnerConfig, m *Metrics, logger *slog.Logger) *Resilient {
	c := Config{Partners: []PartnerConfig{cfg}}
	c.applyDefaults()
	cfg = c.Partners[0]
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if m == nil {
		m, _ = NewMetrics(nil)
	}
	r := &Resilient{
		inner:   p,
		cfg:     cfg,
		limiter: rate.NewLimiter(rate.Limit(cfg.RateLimit.PerSecond), cfg.RateLimit.Burst),
		sem:     semaphore.NewWeighted(int64(cfg.MaxInFlight)),
		m:       m,
		log:     logger.With("partner", p.Name()),
	}
	name := p.Name()
	m.breaker.WithLabelValues(name).Set(0)
	r.breaker = breaker.New[Result](breaker.Settings{
		Name:             name,
		Failures:         cfg.Breaker.Failures,
		HalfOpenRequests: cfg.Breaker.HalfOpenRequests,
		OpenFor:          cfg.Breaker.OpenFor,
		MaxOpenFor:       cfg.Breaker.MaxOpenFor,
		OnStateChange: func(from, to gobreaker.State, openFor time.Duration) {
			m.breaker.WithLabelValues(name).Set(float64(breakerValue(to)))
			if to == gobreaker.StateOpen {
				r.log.Warn("partner circuit breaker", "from", from.String(), "to", to.String(), "open_for", openFor)
				return
			}
			r.log.Warn("partner circuit breaker", "from", from.String(), "to", to.String())
		},
		IsSuccessful: breakerSuccess,
		IsExcluded: func(err error) bool {
			return errors.Is(err, context.Canceled)
		},
	})
	return r
}

func breakerValue(s gobreaker.State) int {
	switch s {
	case gobreaker.StateHalfOpen:
		return 1
	case gobreaker.StateOpen:
		return 2
	}
	return 0
}

// breakerSuccess counts only partner-side failures against the breaker: a
// rejected request, an unknown reference or a rate limit mean the partner is
// up.
func breakerSuccess(err error) bool {
	if err == nil {
		return true
	}
	switch errs.KindOf(err) {
	case errs.Unavailable, errs.Internal:
		return false
	}
	return true
}

// Name returns the wrapped partner's name.
func (r *Resilient) Name() string { return r.inner.Name() }

// Jurisdiction returns the wrapped partner's jurisdiction.
func (r *Resilient) Jurisdiction() string { return r.inner.Jurisdiction() }

// Config returns the partner's effective config.
func (r *Resilient) Config() PartnerConfig { return r.cfg }

// Unwrap returns the wrapped client.
func (r *Resilient) Unwrap() Partner { return r.inner }

// BreakerState returns "closed", "half-open" or "open".
func (r *Resilient) BreakerState() string { return r.breaker.State().String() }

// IdempotentCheck reports whether Check may be retried after an attempt the
// partner may have processed.
func (r *Resilient) IdempotentCheck() bool {
	if i, ok := r.inner.(Idempotency); ok {
		return i.IdempotentCheck()
	}
	return false
}

// Check calls the partner's Check under the policy.
func (r *Resilient) Check(ctx context.Context, req Request) (Result, error) {
	return r.call(ctx, "check", r.IdempotentCheck(), func(ctx context.Context) (Result, error) {
		return r.inner.Check(ctx, req)
	})
}

// Poll calls the partner's Poll under the policy. Polling is read-only and
// always retried.
func (r *Resilient) Poll(ctx context.Context, ref string) (Result, error) {
	return r.call(ctx, "poll", true, func(ctx context.Context) (Result, error) {
		return r.inner.Poll(ctx, ref)
	})
}

func (r *Resilient) call(ctx context.Context, op string, idempotent bool, fn func(context.Context) (Result, error)) (res Result, err error) {
	name := r.inner.Name()
	start := time.Now()
	defer func() {
		r.m.duration.WithLabelValues(name, op).Observe(time.Since(start).Seconds())
		outcome := string(res.Outcome)
		if err != nil {
			outcome = errs.KindOf(err).String()
		}
		r.m.calls.WithLabelValues(name, op, outcome).Inc()
	}()

	if err := r.sem.Acquire(ctx, 1); err != nil {
		return Result{}, errs.Wrap(err, errs.Unavailable, "partner call cancelled while waiting for a slot")
	}
	defer r.sem.Release(1)
	inFlight := r.m.inFlight.WithLabelValues(name)
	inFlight.Inc()
	defer inFlight.Dec()

	for attempt := 1; ; attempt++ {
		if err := r.waitToken(ctx); err != nil {
			return Result{}, err
		}
		res, err := r.breaker.Execute(func() (Result, error) {
			actx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
			defer cancel()
			return fn(actx)
		})
		if err == nil {
			return res, nil
		}
		var open *breaker.OpenError
		if errors.As(err, &open) {
			e := errs.Wrap(&CallError{Partner: name, Code: "BREAKER_OPEN", NotProcessed: true, Err: err},
				errs.Unavailable, "partner circuit open")
			e.RetryAfterSeconds = max(ceilSeconds(open.Wait), 1)
			return Result{}, e
		}
		if ctx.Err() != nil {
			return Result{}, err
		}
		var ce *CallError
		errors.As(err, &ce)
		kind := errs.KindOf(err)
		retryable := (kind == errs.Unavailable || kind == errs.RateLimited) &&
			(idempotent || (ce != nil && ce.NotProcessed))
		if !retryable || attempt >= r.cfg.Attempts {
			return Result{}, err
		}
		delay := r.backoff(attempt)
		if ce != nil && ce.RetryAfter > 0 {
			if ce.RetryAfter > r.cfg.MaxRetryAfter {
				// Longer than we are willing to hold a worker: hand the
				// wait back to the caller.
				return Result{}, err
			}
			delay = max(delay, ce.RetryAfter)
		}
		r.m.retries.WithLabelValues(name).Inc()
		r.log.DebugContext(ctx, "partner call retry", "op", op, "attempt", attempt, "kind", kind.String(), "delay", delay)
		if err := sleep(ctx, delay); err != nil {
			return Result{}, errs.Wrap(err, errs.Unavailable, "partner call cancelled during backoff")
		}
	}
}

// waitToken takes a token from the client-side limiter, waiting up to
// MaxWait; a longer wait is returned as RateLimited with the delay.
func (r *Resilient) waitToken(ctx context.Context) error {
	rv := r.limiter.Reserve()
	if !rv.OK() {
		return errs.E(errs.RateLimited, "partner rate limit reached")
	}
	d := rv.Delay()
	if d == 0 {
		return nil
	}
	if d > r.cfg.RateLimit.MaxWait {
		rv.Cancel()
		e := errs.E(errs.RateLimited, "partner rate limit reached")
		e.RetryAfterSeconds = ceilSeconds(d)
		return e
	}
	if err := sleep(ctx, d); err != nil {
		rv.Cancel()
		return errs.Wrap(err, errs.Unavailable, "partner call cancelled while rate limited")
	}
	return nil
}

// backoff is full-jitter exponential: a random delay in [base/2, cap] where
// cap = min(max, base * 2^(attempt-1)).
func (r *Resilient) backoff(attempt int) time.Duration {
	c := r.cfg.BackoffBase << (attempt - 1)
	if c <= 0 || c > r.cfg.BackoffMax {
		c = r.cfg.BackoffMax
	}
	half := c / 2
	return half + rand.N(c-half+1)
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
