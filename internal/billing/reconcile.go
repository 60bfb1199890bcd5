package billing

import (
	"context"
	"time"

	"github.com/borderproof/borderproof/internal/errs"
	"github.com/borderproof/borderproof/internal/id"
)

// ReconcileAll reconciles [from, to) for every mode that has a Stripe
// client.
func (s *Service) ReconcileAll(ctx context.Context, from, to time.Time) ([]ReconciliationRun, error) {
	var out []ReconciliationRun
	for _, mode := range s.sc.Modes() {
		r, err := s.Reconcile(ctx, mode, from, to)
		out = append(out, r)
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

// Reconcile compares, for every insurer with a Stripe customer in the mode
// and every meter, the ledger's quantity with occurred_at in [from, to)
// (whole UTC days) with Stripe's meter event summary for the same window,
// and records every pair that differs. The run is recorded even when it
// fails part way, with its error.
func (s *Service) Reconcile(ctx context.Context, mode string, from, to time.Time) (ReconciliationRun, error) {
	from, to = DayStart(from), DayStart(to)
	run := ReconciliationRun{ID: id.New("rec"), Mode: mode, From: from, To: to, StartedAt: s.now().UTC()}
	err := s.reconcile(ctx, mode, &run)
	run.FinishedAt = s.now().UTC()
	result := "ok"
	switch {
	case err != nil:
		run.Error = safeMessage(err)
		result = "error"
	case len(run.Differences) > 0:
		result = "differences"
	}
	s.m.reconcileRuns.WithLabelValues(mode, result).Inc()
	if err == nil {
		counts := map[[2]string]int{}
		for _, d := range run.Differences {
			counts[[2]string{string(d.Meter), d.Kind()}]++
		}
		for _, m := range BillableMeters() {
			for _, k := range []string{"PENDING_SYNC", "MISSING_IN_STRIPE", "EXTRA_IN_STRIPE"} {
				s.m.reconcileDiffs.WithLabelValues(mode, string(m), k).Set(float64(counts[[2]string{string(m), k}]))
			}
		}
	}
	if serr := s.st.SaveReconciliation(context.WithoutCancel(ctx), run); serr != nil && err == nil {
		err = serr
	}
	if len(run.Differences) > 0 {
		s.log.WarnContext(ctx, "billing reconciliation found differences", "mode", mode, "run_id", run.ID, "differences", len(run.Differences))
	}
	return run, err
}

func (s *Service) reconcile(ctx context.Context, mode string, run *ReconciliationRun) error {
	client := s.sc.For(mode)
	if client == nil {
		return errs.E(errs.FailedPrecondition, "Stripe is not configured for %s usage", mode)
	}
	if !run.To.After(run.From) {
		return errs.E(errs.Invalid, "the period must end after it starts")
	}
	meters, err := s.st.StripeMeters(ctx, mode)
	if err != nil {
		return err
	}
	for _, m := range BillableMeters() {
		if meters[m] == "" {
			return errs.E(errs.FailedPrecondition, "Stripe meter %s is not set up; run admin billing setup", m)
		}
	}
	accounts, err := s.st.Accounts(ctx)
	if err != nil {
		return err
	}
	for _, acc := range accounts {
		cust := acc.CustomerFor(mode)
		if cust == "" {
			continue
		}
		totals, err := s.st.LedgerTotals(ctx, acc.InsurerID, mode, run.From, run.To)
		if err != nil {
			return err
		}
		byMeter := map[Meter]MeterTotal{}
		for _, t := range totals {
			byMeter[t.Meter] = t
		}
		for _, m := range BillableMeters() {
			got, err := client.MeterEventSummary(ctx, meters[m], cust, run.From, run.To)
			if err != nil {
				return err
			}
			run.Compared++
			ours := byMeter[m]
			if got != ours.Quantity || got != ours.Synced {
				run.Differences = append(run.Differences, Difference{InsurerID: acc.InsurerID, Meter: m, StripeCustomerID: cust,
					Ledger: ours.Quantity, Synced: ours.Synced, Stripe: got})
			}
		}
	}
	return nil
}

// ReconcileTaskPeriod is the period the daily reconcile task covers when its
// payload names none: the previous UTC day.
func ReconcileTaskPeriod(now time.Time) (from, to time.Time) {
	to = DayStart(now)
	return to.AddDate(0, 0, -1), to
}
