package verification

import (
	"context"
	"time"

	"github.com/borderproof/borderproof/internal/audit"
	"github.com/borderproof/borderproof/internal/outbox"
)

// NewVerification is everything written in the submit transaction.
type NewVerification struct {
	Verification Verification // with Checks and Consent
	WrappedKey   []byte
	SealedPII    []byte
	BlindIndex   []BlindEntry
}

// BlindEntry is one keyed digest of a normalised identifier.
type BlindEntry struct {
	Kind   string
	Digest string
}

// Store persists verifications. Every method takes the insurer id and the
// mode; a row of another insurer or mode answers errs.NotFound.
type Store interface {
	// CreateVerification inserts the verification, its checks, consent and
	// blind-index entries in one transaction. When the idempotency key is
	// already taken it writes nothing and returns the existing row with
	// created=false.
	CreateVerification(ctx context.Context, nv NewVerification) (v Verification, created bool, err error)
	VerificationByIdempotencyKey(ctx context.Context, insurerID, mode, key string) (Verification, error)
	Verification(ctx context.Context, insurerID, mode, id string) (Verification, error)
	Verifications(ctx context.Context, insurerID, mode string, f Filter, after string, limit int) ([]Verification, error)
	Sealed(ctx context.Context, insurerID, mode, id string) (wrappedKey, sealed []byte, err error)
	// BlindMatches lists other verifications of the insurer sharing a digest.
	BlindMatches(ctx context.Context, insurerID, kind, digest, exceptID string) ([]string, error)
	// Cancel moves a non-terminal verification to CANCELLED and its open
	// checks to SKIPPED, with the event, in one transaction.
	Cancel(ctx context.Context, insurerID, mode, id string, at time.Time, ev outbox.Event) (Verification, error)
	// Erase deletes the wrapped key, the sealed data and the blind-index
	// entries, records who and why, and writes the audit entry and event.
	Erase(ctx context.Context, insurerID, id, actor, reason string, at time.Time, entry audit.Entry, ev outbox.Event) (Verification, error)
	// ReviewQueue lists REVIEW decisions without a review, oldest first;
	// after is the last id of the previous page.
	ReviewQueue(ctx context.Context, insurerID, mode, after string, limit int) ([]Verification, error)
	// ResolveReview records a review on a completed REVIEW outcome that has
	// none yet, with its event, in one transaction.
	ResolveReview(ctx context.Context, insurerID, mode, id string, r Review, ev outbox.Event) (Verification, error)
	// ExpiredVerifications lists verifications created before cutoff and
	// not erased.
	ExpiredVerifications(ctx context.Context, insurerID string, cutoff time.Time, limit int) ([]Ref, error)
}

// Ref names a verification of an insurer in a mode.
type Ref struct {
	ID   string
	Mode string
}
