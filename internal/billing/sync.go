package billing

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/time/rate"

	"github.com/borderproof/borderproof/internal/errs"
	"github.com/borderproof/borderproof/internal/id"
)

// Sync sends unsynced usage to Stripe as meter events, for every mode that
// has a Stripe client (TEST usage only with a test-mode client). Each row is
// one event whose identifier is the row id, so a row sent twice (a crash
// between Stripe's answer and our commit, two overlapping runs after a lease
// expired) is billed once: Stripe refuses the duplicate and the adapter
// reports it as accepted. A row is marked synced only after Stripe accepted
// it. Rows older than Stripe's window are recorded as issues and never sent.
// 429 and 5xx answers are retried with backoff, honouring Retry-After; a row
// that still fails is left for the next run.
func (s *Service) Sync(ctx context.Context) ([]SyncRun, error) {
	var out []SyncRun
	for _, mode := range s.sc.Modes() {
		r, err := s.syncMode(ctx, mode)
		out = append(out, r)
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

func (s *Service) syncMode(ctx context.Context, mode string) (SyncRun, error) {
	client := s.sc.For(mode)
	run := SyncRun{ID: id.New("bsr"), Mode: mode, StartedAt: s.now().UTC()}
	if n, err := s.st.CountUnsyncedWithoutCustomer(ctx, mode); err == nil {
		s.m.unsyncedNoCust.WithLabelValues(mode).Set(float64(n))
		if n > 0 {
			s.log.WarnContext(ctx, "unsynced usage of insurers without a Stripe customer; run admin billing sync-customers", "mode", mode, "rows", n)
		}
	}
	var runErr error
	for run.Claimed < s.cfg.Sync.MaxPerRun {
		if err := ctx.Err(); err != nil {
			runErr = err
			break
		}
		now := s.now().UTC()
		limit := min(s.cfg.Sync.BatchSize, s.cfg.Sync.MaxPerRun-run.Claimed)
		batch, err := s.st.ClaimUnsynced(ctx, mode, now, now.Add(s.cfg.Sync.Lease), limit)
		if err != nil {
			runErr = err
			break
		}
		if len(batch) == 0 {
			break
		}
		run.Claimed += len(batch)
		accepted, failed, err := s.syncBatch(ctx, client, mode, batch, now, &run)
		run.Accepted += accepted
		run.Failed += failed
		if err != nil {
			runErr = err
			break
		}
		if accepted == 0 && failed > 0 {
			// Nothing got through: Stripe is down or refusing; stop here
			// rather than lease every row for nothing.
			break
		}
	}
	run.FinishedAt = s.now().UTC()
	if runErr != nil {
		run.Error = safeMessage(runErr)
	}
	if err := s.st.SaveSyncRun(context.WithoutCancel(ctx), run); err != nil && runErr == nil {
		runErr = err
	}
	return run, runErr
}

// syncBatch sends one leased batch and records the outcome of every row.
func (s *Service) syncBatch(ctx context.Context, client Stripe, mode string, batch []Pending, now time.Time, run *SyncRun) (accepted, failed int, err error) {
	cutoff := now.Add(-s.cfg.Sync.MaxAge)
	var tooOld []SyncIssue
	var send []Pending
	for _, p := range batch {
		if p.Usage.OccurredAt.Before(cutoff) {
			tooOld = append(tooOld, SyncIssue{UsageID: p.Usage.ID, InsurerID: p.Usage.InsurerID, Mode: mode, Meter: p.Usage.Meter,
				Quantity: p.Usage.Quantity, Kind: IssueTooOld, Detail: "older than Stripe's meter event window; invoice it by hand",
				OccurredAt: p.Usage.OccurredAt, RecordedAt: now})
			continue
		}
		send = append(send, p)
	}
	if len(tooOld) > 0 {
		if err := s.st.RecordSyncIssues(ctx, tooOld); err != nil {
			return 0, 0, err
		}
		for _, is := range tooOld {
			s.m.syncTooOld.WithLabelValues(mode, string(is.Meter)).Inc()
		}
		run.TooOld += len(tooOld)
		s.log.WarnContext(ctx, "usage too old for Stripe recorded as sync issues", "mode", mode, "rows", len(tooOld))
	}

	var mu sync.Mutex
	var ok, bad []string
	var rejected []SyncIssue
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.cfg.Sync.Concurrency)
	th := s.thr[mode]
	for _, p := range send {
		g.Go(func() error {
			err := s.sendOne(gctx, client, th, mode, p)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok = append(ok, p.Usage.ID)
			default:
				bad = append(bad, p.Usage.ID)
				if k := errs.KindOf(err); k != errs.RateLimited && k != errs.Unavailable && gctx.Err() == nil {
					rejected = append(rejected, SyncIssue{UsageID: p.Usage.ID, InsurerID: p.Usage.InsurerID, Mode: mode, Meter: p.Usage.Meter,
						Quantity: p.Usage.Quantity, Kind: IssueRejected, Detail: safeMessage(err), OccurredAt: p.Usage.OccurredAt, RecordedAt: now})
				}
			}
			return nil
		})
	}
	_ = g.Wait()
	// Record what happened even when the task's context ended meanwhile.
	wctx := context.WithoutCancel(ctx)
	if err := s.st.MarkSynced(wctx, ok, s.now().UTC()); err != nil {
		return 0, 0, err
	}
	if err := s.st.ReleaseClaims(wctx, bad); err != nil {
		return len(ok), 0, err
	}
	if len(rejected) > 0 {
		if err := s.st.RecordSyncIssues(wctx, rejected); err != nil {
			return len(ok), len(bad), err
		}
	}
	s.m.syncEvents.WithLabelValues(mode, "accepted").Add(float64(len(ok)))
	s.m.syncEvents.WithLabelValues(mode, "failed").Add(float64(len(bad)))
	return len(ok), len(bad), ctx.Err()
}

// sendOne sends one event, retrying rate limits and unavailability.
func (s *Service) sendOne(ctx context.Context, client Stripe, th *throttle, mode string, p Pending) error {
	ev := MeterEvent{Identifier: p.Usage.ID, EventName: string(p.Usage.Meter), CustomerID: p.StripeCustomerID,
		Value: p.Usage.Quantity, Timestamp: p.Usage.OccurredAt}
	var err error
	for attempt := 1; ; attempt++ {
		if err = th.wait(ctx); err != nil {
			return err
		}
		err = client.SendMeterEvent(ctx, ev)
		if err == nil {
			return nil
		}
		kind := errs.KindOf(err)
		if kind != errs.RateLimited && kind != errs.Unavailable {
			return err
		}
		if attempt >= s.cfg.Sync.MaxAttempts {
			return err
		}
		s.m.syncRetries.WithLabelValues(mode, kind.String()).Inc()
		d := backoff(s.cfg.Sync.BackoffBase, s.cfg.Sync.BackoffMax, attempt)
		if e, ok := errs.As(err); ok && e.RetryAfterSeconds > 0 {
			d = max(d, time.Duration(e.RetryAfterSeconds)*time.Second)
		}
		if kind == errs.RateLimited {
			// Every sender of the mode slows down, not just this one.
			th.pause(d)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(d):
		}
	}
}

// backoff is exponential with full jitter in [d/2, d].
func backoff(base, maxD time.Duration, attempt int) time.Duration {
	d := base << min(attempt-1, 20)
	if d <= 0 || d > maxD {
		d = maxD
	}
	return d/2 + rand.N(d/2+1)
}

// throttle spaces one mode's meter events: a token bucket at the configured
// rate, and a pause every sender honours after Stripe answered 429.
type throttle struct {
	lim   *rate.Limiter
	mu    sync.Mutex
	until time.Time
}

func newThrottle(perSecond float64, burst int) *throttle {
	return &throttle{lim: rate.NewLimiter(rate.Limit(perSecond), max(1, burst))}
}

func (t *throttle) pause(d time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if u := time.Now().Add(d); u.After(t.until) {
		t.until = u
	}
}

func (t *throttle) wait(ctx context.Context) error {
	t.mu.Lock()
	d := time.Until(t.until)
	t.mu.Unlock()
	if d > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(d):
		}
	}
	return t.lim.Wait(ctx)
}

// safeMessage is an error's client-safe text: the message of a classified
// error, else its kind.
func safeMessage(err error) string {
	if e, ok := errs.As(err); ok && e.Msg != "" {
		return e.Msg
	}
	return errs.KindOf(err).String()
}
