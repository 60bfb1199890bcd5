package worker

import (
	"context"
	"log/slog"
	"time"

	"github.com/borderproof/borderproof/internal/billing"
	"github.com/borderproof/borderproof/internal/errs"
	"github.com/borderproof/borderproof/internal/queue"
)

// BillingService is what the billing task handlers need
// (*billing.Service).
type BillingService interface {
	Sync(ctx context.Context) ([]billing.SyncRun, error)
	ReconcileAll(ctx context.Context, from, to time.Time) ([]billing.ReconciliationRun, error)
	RollUp(ctx context.Context) (int, error)
}

// BillingHandlers handle billing:sync (send unsynced usage to Stripe),
// billing:reconcile (compare a day of the ledger with Stripe) and
// billing:rollup (price the usage rows the check pipeline wrote). now is
// the clock that decides the default reconciliation day.
func BillingHandlers(svc BillingService, now func() time.Time, log *slog.Logger) []Handler {
	return []Handler{
		{Type: billing.TaskSync, Fn: func(ctx context.Context, _ []byte) error {
			runs, err := svc.Sync(ctx)
			for _, r := range runs {
				if r.Claimed > 0 || r.Error != "" {
					log.InfoContext(ctx, "billing sync", "mode", r.Mode, "claimed", r.Claimed, "accepted", r.Accepted,
						"failed", r.Failed, "too_old", r.TooOld, "error", r.Error)
				}
			}
			return err
		}},
		{Type: billing.TaskReconcile, Fn: func(ctx context.Context, payload []byte) error {
			from, to, err := billing.DecodeReconcile(payload, now())
			if err != nil {
				return errs.Wrap(err, errs.Invalid, "bad reconcile payload")
			}
			runs, err := svc.ReconcileAll(ctx, from, to)
			for _, r := range runs {
				log.InfoContext(ctx, "billing reconciliation", "mode", r.Mode, "run_id", r.ID, "from", r.From, "to", r.To,
					"compared", r.Compared, "differences", len(r.Differences), "error", r.Error)
			}
			return err
		}},
		{Type: billing.TaskRollUp, Fn: func(ctx context.Context, _ []byte) error {
			_, err := svc.RollUp(ctx)
			return err
		}},
	}
}

// BillingPeriodic schedules the sync every minute and the reconciliation of
// the previous UTC day at 02:30 UTC, on the low queue, and the usage
// roll-up every billing.RollUpEvery on the default queue (the check
// pipeline also queues it after each billable check).
func BillingPeriodic() []Periodic {
	return []Periodic{
		{Cron: "* * * * *", Type: billing.TaskSync, Queue: queue.Low},
		{Cron: "30 2 * * *", Type: billing.TaskReconcile, Queue: queue.Low},
		{Cron: "@every " + billing.RollUpEvery.String(), Type: billing.TaskRollUp, Queue: queue.Default},
	}
}
