package worker

import (
	"context"
	"time"

	"github.com/borderproof/borderproof/internal/errs"
	"github.com/borderproof/borderproof/internal/outbox"
	"github.com/borderproof/borderproof/internal/queue"
	"github.com/borderproof/borderproof/internal/webhook"
)

// WebhookService is what the webhook task handlers need
// (*webhook.Service).
type WebhookService interface {
	Publish(ctx context.Context, eventID string) error
	Deliver(ctx context.Context, p webhook.DeliverPayload) error
	Sweep(ctx context.Context, r webhook.Requeuer) error
}

// WebhookHandlers handle event:publish (fan an outbox event out to the
// subscribed endpoints and live subscribers), webhook:deliver (one attempt
// of one delivery; the retry schedule lives in the database and each
// attempt queues the next with a delay, so asynq's own retries only cover
// postponements and crashes) and webhook:sweep (re-queue overdue
// deliveries whose task was lost, or whose worker died mid-attempt, through
// r).
func WebhookHandlers(svc WebhookService, r webhook.Requeuer) []Handler {
	return []Handler{
		{Type: outbox.TaskPublish, Fn: func(ctx context.Context, payload []byte) error {
			p, err := outbox.DecodePublish(payload)
			if err != nil {
				return errs.Wrap(err, errs.Invalid, "bad publish payload")
			}
			return svc.Publish(ctx, p.EventID)
		}},
		{Type: webhook.TaskDeliver, Fn: func(ctx context.Context, payload []byte) error {
			p, err := webhook.DecodeDeliver(payload)
			if err != nil {
				return err
			}
			return svc.Deliver(ctx, p)
		}},
		{Type: webhook.TaskSweep, Fn: func(ctx context.Context, _ []byte) error {
			return svc.Sweep(ctx, r)
		}},
	}
}

// WebhookPeriodic sweeps overdue deliveries as often as the outbox sweeper
// runs (SweepEvery), on the low queue.
func WebhookPeriodic() []Periodic {
	return []Periodic{{Cron: "@every " + SweepEvery.String(), Type: webhook.TaskSweep, Queue: queue.Low}}
}

// WebhookEnqueuer adapts the queue's enqueuer to webhook.Enqueuer, for the
// webhook service in both the api and the worker processes.
func WebhookEnqueuer(q *queue.Enqueuer) webhook.Enqueuer { return webhookEnqueuer{q} }

type webhookEnqueuer struct{ q *queue.Enqueuer }

func (e webhookEnqueuer) Enqueue(ctx context.Context, typ string, payload []byte, taskID, queueName string, processIn time.Duration) error {
	return e.q.Enqueue(ctx, typ, payload, taskID, queueName, processIn)
}
