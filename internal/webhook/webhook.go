package webhook

import (
	"time"

	"github.com/borderproof/borderproof/internal/tenant"
)

// Endpoint is a URL of one insurer, in one mode, that receives the events
// it subscribes to. A TEST endpoint receives only TEST events and is seen
// only with TEST keys; a LIVE endpoint likewise.
type Endpoint struct {
	ID          string
	InsurerID   string
	Mode        tenant.Mode
	URL         string
	Description string
	// Events are the subscribed event types (outbox.Types), sorted.
	Events []string
	// Enabled endpoints receive deliveries. DisabledReason says why one
	// does not.
	Enabled        bool
	DisabledReason DisabledReason
	DisabledAt     time.Time
	// FailingSince is the first failed attempt since the last successful
	// one; zero while the endpoint is healthy.
	FailingSince time.Time
	// Secrets are the signing secrets, sealed. They never leave the
	// service: a secret is shown once, when created or rotated.
	Secrets   SealedSecrets
	CreatedAt time.Time
	UpdatedAt time.Time
}

// PreviousSecretExpiresAt is when the secret replaced by the last rotation
// stops signing; zero when no previous secret is active at now.
func (e Endpoint) PreviousSecretExpiresAt(now time.Time) time.Time {
	if len(e.Secrets.Previous) == 0 || !now.Before(e.Secrets.PreviousUntil) {
		return time.Time{}
	}
	return e.Secrets.PreviousUntil
}

// SealedSecrets is an endpoint's Keyring as stored: both secrets sealed by
// the vault under the endpoint's own subject key (WrappedKey), with
// subject id = endpoint id and purpose SecretPurpose.
type SealedSecrets struct {
	WrappedKey    []byte
	Current       []byte
	Previous      []byte
	PreviousUntil time.Time
}

// SecretPurpose is the vault purpose of sealed signing secrets.
const SecretPurpose = "webhook_secret"

// DisabledReason says why an endpoint does not receive deliveries.
type DisabledReason string

const (
	// DisabledManually: the insurer disabled it.
	DisabledManually DisabledReason = "MANUAL"
	// DisabledGone: the endpoint answered 410 Gone.
	DisabledGone DisabledReason = "GONE"
	// DisabledFailing: every attempt failed for Config.DisableAfter.
	DisabledFailing DisabledReason = "FAILING"
)

// DeliveryStatus is where a delivery stands.
type DeliveryStatus string

const (
	// Pending deliveries have an attempt scheduled at NextAttemptAt.
	Pending DeliveryStatus = "PENDING"
	// Succeeded deliveries got a 2xx answer.
	Succeeded DeliveryStatus = "SUCCEEDED"
	// Failed deliveries used up the retry schedule, or their endpoint
	// answered 410 or was disabled; they can be replayed.
	Failed DeliveryStatus = "FAILED"
)

// Valid reports whether s is a known status.
func (s DeliveryStatus) Valid() bool { return s == Pending || s == Succeeded || s == Failed }

// Delivery is one event for one endpoint: unique per (event, endpoint).
// Its id is the Standard Webhooks message id (webhook-id header), the same
// on every attempt and replay, so receivers can deduplicate on it.
type Delivery struct {
	ID         string
	InsurerID  string
	Mode       tenant.Mode
	EndpointID string
	EventID    string
	EventType  string
	Status     DeliveryStatus
	// Attempts counts every attempt made, across replays.
	Attempts int
	// Step is the number of attempts made in the current run of the retry
	// schedule; a replay starts a new run at zero.
	Step          int
	NextAttemptAt time.Time
	LeasedUntil   time.Time
	// LeasedBy is the liveness id of the process that holds the lease,
	// for a first attempt of its own (Hold) or a task's attempt; "" when
	// that process has no liveness id.
	LeasedBy      string
	LastAttemptAt time.Time
	// LastStatusCode is the HTTP status of the last attempt; zero when it
	// got no response.
	LastStatusCode int
	LastError      string
	// Flagged deliveries got an answer that retrying is unlikely to fix
	// (a 3xx or a 4xx other than 408, 410 and 429): the endpoint is
	// probably misconfigured. They are retried all the same.
	Flagged     bool
	CreatedAt   time.Time
	CompletedAt time.Time
}

// Attempt is one HTTP request of a delivery.
type Attempt struct {
	DeliveryID string
	// Number counts the delivery's attempts from 1.
	Number      int
	AttemptedAt time.Time
	// StatusCode is zero when no response arrived.
	StatusCode int
	Latency    time.Duration
	// ResponseBody is the first MaxResponseBody bytes of the answer.
	ResponseBody []byte
	// Error is a client-safe description of a failure; empty on success.
	Error string
}

// MaxResponseBody is how much of a response body an attempt keeps.
const MaxResponseBody = 1024
