package webhook

import (
	"crypto/hmac"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/borderproof/borderproof/internal/errs"
)

// DefaultTolerance is how far webhook-timestamp may be from the receiver's
// clock, in either direction, when Verify is given a tolerance of zero.
const DefaultTolerance = 5 * time.Minute

// SkipTimestampCheck, passed as Verify's tolerance, verifies the signature
// without checking how old the message is: for replaying stored messages,
// never for live traffic.
const SkipTimestampCheck time.Duration = -1

// maxTimestampDigits bounds webhook-timestamp (int64 seconds).
const maxTimestampDigits = 18

// Verification errors, usable with errors.Is. Verify returns them wrapped in
// an *errs.Error whose message is safe to show to the sender.
var (
	ErrMissingHeader       = errors.New("missing webhook header")
	ErrInvalidTimestamp    = errors.New("invalid webhook timestamp")
	ErrTimestampTooOld     = errors.New("webhook timestamp too old")
	ErrTimestampTooNew     = errors.New("webhook timestamp too new")
	ErrNoMatchingSignature = errors.New("no matching webhook signature")
)

// Verify checks that body and the Standard Webhooks headers h were signed
// with secret ("whsec_…" or the bare base64 key) and that webhook-timestamp
// lies strictly within tolerance of now (zero means DefaultTolerance;
// SkipTimestampCheck skips the check). Any one "v1" entry of
// webhook-signature may match; entries of other versions are ignored.
// Signatures are compared in constant time.
//
// Errors wrap ErrMissingHeader, ErrInvalidTimestamp, ErrTimestampTooOld,
// ErrTimestampTooNew or ErrNoMatchingSignature with kind
// errs.Unauthenticated (a receiver answers 401), or ErrInvalidSecret with
// kind errs.Invalid. Verify does not detect replays within the tolerance:
// receivers should also treat webhook-id as an idempotency key.
func Verify(secret string, h http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	key, err := decodeSecret(secret)
	if err != nil {
		return err
	}
	msgID := h.Get(HeaderID)
	tsHeader := h.Get(HeaderTimestamp)
	sigHeader := h.Get(HeaderSignature)
	for _, hv := range [...]struct{ name, value string }{
		{HeaderID, msgID}, {HeaderTimestamp, tsHeader}, {HeaderSignature, sigHeader},
	} {
		if hv.value == "" {
			return unauthenticated("missing "+hv.name+" header", ErrMissingHeader)
		}
	}
	unix, err := parseTimestamp(tsHeader)
	if err != nil {
		return err
	}
	if tolerance == 0 {
		tolerance = DefaultTolerance
	}
	if tolerance > 0 {
		// Compare instants, not durations: now.Sub saturates for far-off
		// timestamps and its negation would overflow.
		ts := time.Unix(unix, 0)
		switch {
		case !ts.After(now.Add(-tolerance)):
			return unauthenticated("webhook timestamp is too old", ErrTimestampTooOld)
		case !ts.Before(now.Add(tolerance)):
			return unauthenticated("webhook timestamp is too far in the future", ErrTimestampTooNew)
		}
	}
	want := []byte(signature(key, msgID, unix, body))
	for _, entry := range strings.Fields(sigHeader) {
		version, sig, ok := strings.Cut(entry, ",")
		if !ok || version != signatureVersion {
			continue
		}
		if hmac.Equal([]byte(sig), want) {
			return nil
		}
	}
	return unauthenticated("webhook signature does not match", ErrNoMatchingSignature)
}

// parseTimestamp reads webhook-timestamp: decimal Unix seconds, digits only.
func parseTimestamp(s string) (int64, error) {
	bad := unauthenticated("webhook-timestamp header is not Unix seconds", ErrInvalidTimestamp)
	if len(s) > maxTimestampDigits {
		return 0, bad
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, bad
		}
	}
	unix, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, bad
	}
	return unix, nil
}

func unauthenticated(msg string, cause error) error {
	return &errs.Error{Kind: errs.Unauthenticated, Msg: msg, Err: cause}
}
