// Package outbox names the events the service emits and the task that
// publishes them. Events are rows written in the same transaction as the
// state change that causes them (table outbox_events); after commit the
// writer enqueues TaskPublish with the event id as the asynq task id, and
// the sweeper re-enqueues any event still unpublished, so an event is never
// lost between commit and enqueue.
package outbox

import (
	"encoding/json"
	"fmt"
	"time"
)

// Event types, stable forever: they reach webhook receivers.
const (
	VerificationCompleted      = "verification.completed"
	VerificationReviewRequired = "verification.review_required"
	VerificationReviewed       = "verification.reviewed"
	VerificationFailed         = "verification.failed"
	VerificationProvisional    = "verification.provisional"
	VerificationCancelled      = "verification.cancelled"
	VerificationErased         = "verification.erased"
	CheckAwaitingPartner       = "check.awaiting_partner"
	UsageBudgetThreshold       = "usage.budget_threshold"
	WebhookTest                = "webhook.test"
)

// Types lists every event type an endpoint may subscribe to.
var Types = []string{
	VerificationCompleted, VerificationReviewRequired, VerificationReviewed, VerificationFailed,
	VerificationProvisional, VerificationCancelled, VerificationErased, CheckAwaitingPartner, UsageBudgetThreshold,
}

// Event is one outbox row. Payload holds ids, statuses, decisions, scores
// and reason codes: never personal data.
type Event struct {
	ID          string
	InsurerID   string
	Mode        string
	Type        string
	SubjectID   string
	Payload     json.RawMessage
	CreatedAt   time.Time
	PublishedAt time.Time
}

// TaskPublish fans an event out to webhook endpoints and live subscribers.
const TaskPublish = "event:publish"

// PublishPayload is TaskPublish's payload: ids only.
type PublishPayload struct {
	V       int    `json:"v"`
	EventID string `json:"event_id"`
}

// EncodePublish builds TaskPublish's payload.
func EncodePublish(eventID string) []byte {
	b, _ := json.Marshal(PublishPayload{V: 1, EventID: eventID})
	return b
}

// DecodePublish reads TaskPublish's payload.
func DecodePublish(b []byte) (PublishPayload, error) {
	var p PublishPayload
	if err := json.Unmarshal(b, &p); err != nil || p.EventID == "" {
		return p, fmt.Errorf("bad %s payload", TaskPublish)
	}
	return p, nil
}
