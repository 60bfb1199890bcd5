package webhook

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strings"
	"time"

	"github.com/borderproof/borderproof/internal/errs"
)

// SecretPrefix marks a Standard Webhooks symmetric signing secret: the
// secret is SecretPrefix followed by the standard base64 encoding of the key.
const SecretPrefix = "whsec_"

// Key lengths the Standard Webhooks specification allows for HMAC-SHA256
// signing secrets, in bytes. NewSecret uses secretBytes.
const (
	MinSecretBytes = 24
	MaxSecretBytes = 64
	secretBytes    = 32
)

// RotationOverlap is how long a rotated-out secret keeps signing alongside
// its successor, so receivers can switch secrets without dropping messages.
const RotationOverlap = 24 * time.Hour

// ErrInvalidSecret reports a signing secret that is empty or not base64.
var ErrInvalidSecret = errors.New("invalid webhook secret")

// NewSecret returns a fresh signing secret: "whsec_" followed by the base64
// encoding of 32 random bytes.
func NewSecret() string {
	key := make([]byte, secretBytes)
	// crypto/rand.Read never returns an error; it aborts the program if the
	// system's random source fails.
	_, _ = rand.Read(key)
	return SecretPrefix + base64.StdEncoding.EncodeToString(key)
}

// ValidateSecret checks a secret before it is stored for an endpoint: it
// must carry the whsec_ prefix and decode to 24–64 bytes. Sign and Verify
// are more lenient (any non-empty key, prefix optional) so that they
// interoperate with other Standard Webhooks implementations.
func ValidateSecret(secret string) error {
	if !strings.HasPrefix(secret, SecretPrefix) {
		return &errs.Error{Kind: errs.Invalid, Msg: "webhook secret must start with " + SecretPrefix, Err: ErrInvalidSecret}
	}
	key, err := decodeSecret(secret)
	if err != nil {
		return err
	}
	if len(key) < MinSecretBytes || len(key) > MaxSecretBytes {
		return &errs.Error{Kind: errs.Invalid, Msg: "webhook secret must encode between 24 and 64 bytes", Err: ErrInvalidSecret}
	}
	return nil
}

// decodeSecret returns the HMAC key of a secret: the base64 decoding of the
// part after the optional whsec_ prefix. Padding is optional. Errors never
// contain the secret.
func decodeSecret(secret string) ([]byte, error) {
	enc := strings.TrimRight(strings.TrimPrefix(secret, SecretPrefix), "=")
	if enc == "" {
		return nil, &errs.Error{Kind: errs.Invalid, Msg: "webhook secret is empty", Err: ErrInvalidSecret}
	}
	key, err := base64.RawStdEncoding.DecodeString(enc)
	if err != nil {
		return nil, &errs.Error{Kind: errs.Invalid, Msg: "webhook secret is not valid base64", Err: ErrInvalidSecret}
	}
	return key, nil
}

// Keyring is the set of secrets one endpoint signs with: the current secret
// and, for RotationOverlap after a rotation, the previous one. Its String
// method hides the secrets so a Keyring can be printed or logged safely.
type Keyring struct {
	Current       string
	Previous      string
	PreviousUntil time.Time
}

// Active returns the secrets to sign with at now, current first; pass them
// to Sign or Headers. It is empty when the keyring has no current secret.
func (k Keyring) Active(now time.Time) []string {
	if k.Current == "" {
		return nil
	}
	active := []string{k.Current}
	if k.Previous != "" && now.Before(k.PreviousUntil) {
		active = append(active, k.Previous)
	}
	return active
}

// Rotate makes next the current secret; the old current secret keeps
// signing until now+RotationOverlap. A previous secret still in its overlap
// is dropped: only one rotation is in flight at a time.
func (k Keyring) Rotate(next string, now time.Time) (Keyring, error) {
	if err := ValidateSecret(next); err != nil {
		return k, err
	}
	r := Keyring{Current: next}
	if k.Current != "" {
		r.Previous = k.Current
		r.PreviousUntil = now.Add(RotationOverlap)
	}
	return r, nil
}

// String hides the secrets.
func (k Keyring) String() string { return "webhook.Keyring{redacted}" }

// GoString hides the secrets from %#v.
func (k Keyring) GoString() string { return k.String() }
