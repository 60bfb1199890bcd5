package worker

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/borderproof/borderproof/internal/billing"
	"github.com/borderproof/borderproof/internal/errs"
)

type fakeBilling struct {
	syncs    int
	rollUps  int
	from, to time.Time
	syncErr  error
}

func (f *fakeBilling) Sync(context.Context) ([]billing.SyncRun, error) {
	f.syncs++
	return []billing.SyncRun{{Mode: billing.ModeLive, Claimed: 3, Accepted: 3}}, f.syncErr
}

func (f *fakeBilling) ReconcileAll(_ context.Context, from, to time.Time) ([]billing.ReconciliationRun, error) {
	f.from, f.to = from, to
	return nil, nil
}

func (f *fakeBilling) RollUp(context.Context) (int, error) {
	f.rollUps++
	return 0, nil
}

func billingHandler(t *testing.T, hs []Handler, typ string) func(context.Context, []byte) error {
	t.Helper()
	for _, h := range hs {
		if h.Type == typ {
			// The same wrapping the server applies.
			return func(ctx context.Context, p []byte) error { return classify(h.Fn(ctx, asynq.NewTask(typ, p).Payload())) }
		}
	}
	t.Fatalf("no handler for %s", typ)
	return nil
}

func TestBillingHandlers(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 27, 2, 30, 5, 0, time.UTC)
	f := &fakeBilling{}
	hs := BillingHandlers(f, func() time.Time { return now }, slog.New(slog.DiscardHandler))

	sync := billingHandler(t, hs, billing.TaskSync)
	if err := sync(ctx, nil); err != nil || f.syncs != 1 {
		t.Fatalf("sync: %v (%d runs)", err, f.syncs)
	}
	// Stripe being down is retried later, and is not a task failure.
	f.syncErr = errs.E(errs.Unavailable, "Stripe is unavailable")
	if err := sync(ctx, nil); err == nil || IsSkipRetry(err) || IsFailure(err) {
		t.Fatalf("unavailable: %v", err)
	}

	rec := billingHandler(t, hs, billing.TaskReconcile)
	if err := rec(ctx, nil); err != nil || !f.from.Equal(time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)) || !f.to.Equal(time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("default day: %v %v %v", err, f.from, f.to)
	}
	if err := rec(ctx, billing.EncodeReconcile(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC))); err != nil || f.from.Day() != 1 {
		t.Fatalf("named day: %v %v", err, f.from)
	}
	if err := rec(ctx, []byte("{")); !IsSkipRetry(err) || !errors.Is(err, asynq.SkipRetry) {
		t.Fatalf("bad payload retried: %v", err)
	}

	roll := billingHandler(t, hs, billing.TaskRollUp)
	if err := roll(ctx, nil); err != nil || f.rollUps != 1 {
		t.Fatalf("roll-up: %v (%d runs)", err, f.rollUps)
	}

	p := BillingPeriodic()
	if len(p) != 3 || p[0].Type != billing.TaskSync || p[1].Type != billing.TaskReconcile || p[2].Type != billing.TaskRollUp ||
		p[2].Cron != "@every 10s" {
		t.Fatalf("periodic: %+v", p)
	}
}
