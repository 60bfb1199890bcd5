package webhook

import (
	"context"
	"time"

	"github.com/borderproof/borderproof/internal/outbox"
	"github.com/borderproof/borderproof/internal/tenant"
)

// Store persists endpoints, deliveries and attempts. internal/store
// implements it (its one Store type serves every domain, hence the
// "Webhook" in the method names). Every method that reads or writes one insurer's rows takes
// the insurer id, and a row of another insurer (or, where a mode is given,
// of the other mode) answers errs.NotFound.
type Store interface {
	CreateWebhookEndpoint(ctx context.Context, e Endpoint) error
	WebhookEndpoint(ctx context.Context, insurerID string, mode tenant.Mode, id string) (Endpoint, error)
	// UpdateWebhookEndpoint writes URL, Description, Events, Enabled,
	// DisabledReason, DisabledAt, FailingSince, Secrets and UpdatedAt.
	UpdateWebhookEndpoint(ctx context.Context, e Endpoint) error
	// DeleteWebhookEndpoint deletes the endpoint with its deliveries and attempts.
	DeleteWebhookEndpoint(ctx context.Context, insurerID string, mode tenant.Mode, id string) error
	// WebhookEndpoints returns up to limit endpoints with ids after after
	// (empty: from the start), in id order.
	WebhookEndpoints(ctx context.Context, insurerID string, mode tenant.Mode, after string, limit int) ([]Endpoint, error)
	// EnabledWebhookEndpoints returns every enabled endpoint of the insurer and mode.
	EnabledWebhookEndpoints(ctx context.Context, insurerID string, mode tenant.Mode) ([]Endpoint, error)

	// EventToPublish loads an event by id alone: the publish task carries
	// only the id, and the tenant comes from the row.
	EventToPublish(ctx context.Context, eventID string) (outbox.Event, error)
	// WebhookEvent loads an event of one insurer.
	WebhookEvent(ctx context.Context, insurerID, eventID string) (outbox.Event, error)
	// CreateWebhookDeliveries inserts the deliveries, skipping any whose (event,
	// endpoint) pair exists, and marks the event published at `at` unless
	// it is, in one transaction. It returns every delivery of the event
	// that is pending and not yet attempted (the ones to enqueue), and
	// whether this call marked the event published.
	CreateWebhookDeliveries(ctx context.Context, insurerID, eventID string, ds []Delivery, at time.Time) ([]Delivery, bool, error)
	// MarkOutboxEventPublished sets the event's published time unless it is set,
	// and reports whether this call set it.
	MarkOutboxEventPublished(ctx context.Context, insurerID, eventID string, at time.Time) (bool, error)
	// CreateWebhookTestDelivery inserts ev (already published) and d, which
	// delivers it, in one transaction.
	CreateWebhookTestDelivery(ctx context.Context, ev outbox.Event, d Delivery) error

	// WebhookDelivery loads one delivery of the insurer, in either mode.
	WebhookDelivery(ctx context.Context, insurerID, id string) (Delivery, error)
	// WebhookDeliveries returns up to f.Limit deliveries, newest first.
	WebhookDeliveries(ctx context.Context, f DeliveryFilter) ([]Delivery, error)
	// WebhookAttempts returns the attempts of the deliveries, by delivery id,
	// each in attempt order.
	WebhookAttempts(ctx context.Context, insurerID string, deliveryIDs []string) (map[string][]Attempt, error)
	// ClaimWebhookDelivery leases a pending delivery whose attempt is due at now
	// and whose lease (if any) has expired, until leaseUntil, for the
	// process whose liveness id is holder ("" when it has none). It
	// returns the delivery as it stands and whether this call leased it;
	// with a lease, also what the attempt needs: the delivery's endpoint
	// (of its mode) and its event, each nil when gone.
	ClaimWebhookDelivery(ctx context.Context, insurerID, id string, now, leaseUntil time.Time, holder string) (Claim, bool, error)
	// ReleaseWebhookDelivery drops a lease without recording an attempt.
	ReleaseWebhookDelivery(ctx context.Context, insurerID, id string) error
	// RecordWebhookAttempt stores r in one transaction; see AttemptResult. It
	// answers errs.Conflict when the delivery's attempt count is no longer
	// r.Attempt.Number-1 (another worker recorded that attempt).
	RecordWebhookAttempt(ctx context.Context, r AttemptResult) error
	// AbandonWebhookDelivery fails a pending delivery without an attempt (its
	// endpoint is disabled), clearing its lease.
	AbandonWebhookDelivery(ctx context.Context, insurerID, id, reason string, at time.Time) error
	// ReplayWebhookDelivery puts a finished delivery back to pending with a fresh
	// schedule, due at now. A pending one answers errs.FailedPrecondition.
	ReplayWebhookDelivery(ctx context.Context, insurerID string, mode tenant.Mode, id string, now time.Time) (Delivery, error)
	// ReplayFailedWebhookDeliveries replays up to limit failed deliveries of the
	// endpoint created at or after since, and returns them.
	ReplayFailedWebhookDeliveries(ctx context.Context, insurerID string, mode tenant.Mode, endpointID string, since, now time.Time, limit int) ([]Delivery, error)
	// OverdueWebhookDeliveries returns, across insurers, up to limit pending,
	// unleased deliveries due before before: the sweeper re-enqueues them.
	OverdueWebhookDeliveries(ctx context.Context, before time.Time, limit int) ([]Delivery, error)
	// LeasedWebhookDeliveries returns, across insurers, up to limit pending
	// deliveries due before before whose lease has not expired but ends
	// before leasedBefore: the sweeper looks for attempts whose worker
	// died.
	LeasedWebhookDeliveries(ctx context.Context, before, leasedBefore time.Time, limit int) ([]Delivery, error)
	// HeldWebhookDeliveries returns, across insurers, up to limit pending
	// deliveries written before heldBefore whose lease, still running at
	// now, names the process that holds it (LeasedBy): the sweeper takes
	// over those whose process is gone.
	HeldWebhookDeliveries(ctx context.Context, heldBefore, now time.Time, limit int) ([]Delivery, error)
	// BreakWebhookLease drops a delivery's lease when it still is the
	// lease the caller saw (leasedUntil), and reports whether it did.
	BreakWebhookLease(ctx context.Context, insurerID, id string, leasedUntil time.Time) (bool, error)
}

// DeliveryFilter selects deliveries of one insurer and mode.
type DeliveryFilter struct {
	InsurerID string
	Mode      tenant.Mode
	// EndpointID and Status narrow the list when set.
	EndpointID string
	Status     DeliveryStatus
	// Before lists deliveries with ids before this one (newest first).
	Before string
	Limit  int
}

// AttemptResult is the outcome of one attempt, recorded atomically: the
// attempt row; the delivery's attempt count, step, status, next attempt,
// last status, last error and flag (Flag sets it, never clears it); its
// lease released; and the endpoint's health. Success clears the endpoint's
// FailingSince; a failure sets it to the attempt time when unset. Disable,
// when set, disables the endpoint if it is still enabled and writes an
// audit log entry (actor "system") in the same transaction.
type AttemptResult struct {
	InsurerID     string
	EndpointID    string
	Attempt       Attempt
	Status        DeliveryStatus
	NextAttemptAt time.Time
	Success       bool
	Flag          bool
	Disable       DisabledReason
	// EndpointFailing tells whether the endpoint was failing (had a
	// failing_since) when it was read for the attempt: a success clears
	// it only then, and a failure starts it only when it was not. An
	// endpoint that changes in between is settled by its next attempt.
	EndpointFailing bool
}

// Sealer seals signing secrets at rest. *vault.Vault implements it; the
// subject is the endpoint id and the purpose SecretPurpose.
type Sealer interface {
	NewSubjectKey(ctx context.Context, insurerID, subjectID string) ([]byte, error)
	Seal(ctx context.Context, insurerID, subjectID string, wrappedSubjectKey []byte, purpose string, plaintext []byte) ([]byte, error)
	Open(ctx context.Context, insurerID, subjectID string, wrappedSubjectKey []byte, purpose string, sealed []byte) ([]byte, error)
}

// Enqueuer queues a task whose id comes from a database row; a task with
// that id already present is success. processIn delays it.
type Enqueuer interface {
	Enqueue(ctx context.Context, typ string, payload []byte, taskID, queue string, processIn time.Duration) error
}

// Broadcaster receives every published event, for live subscribers (the
// GraphQL subscriptions). It must not block.
type Broadcaster interface {
	Broadcast(ev outbox.Event)
}

type noBroadcast struct{}

func (noBroadcast) Broadcast(outbox.Event) {}

// Claim is a delivery as ClaimWebhookDelivery leaves it, with its endpoint
// and event when it was leased (nil when deleted or purged).
type Claim struct {
	Delivery
	Endpoint *Endpoint
	Event    *outbox.Event
}
