package vault

import (
	"context"
	"errors"

	"github.com/borderproof/borderproof/internal/errs"
)

// Causes that callers may test with errors.Is. The errors this package
// returns are *errs.Error values wrapping them.
var (
	// ErrErased: the wrapped subject key is gone, the data was crypto-shredded.
	ErrErased = errors.New("vault: subject key erased")
	// ErrAuthentication: a sealed value or wrapped key failed authentication:
	// it was altered, or opened with the wrong insurer, verification or purpose.
	ErrAuthentication = errors.New("vault: message authentication failed")
	// ErrFormat: a sealed value or wrapped key is truncated or has an unknown
	// version.
	ErrFormat = errors.New("vault: unknown or malformed format")
	// ErrProviderMismatch: a stored insurer key was wrapped by another key
	// provider than the one configured.
	ErrProviderMismatch = errors.New("vault: insurer key wrapped by another provider")
)

func erased() error {
	return errs.Wrap(ErrErased, errs.FailedPrecondition, "personal data has been erased")
}

func authFailed(what string) error {
	return errs.Wrap(ErrAuthentication, errs.Internal, what+" could not be opened")
}

func badFormat(what string) error {
	return errs.Wrap(ErrFormat, errs.Internal, what+" has an unknown format")
}

// unavailable classifies a failure to reach a key service or a store; the
// cause is kept for the log.
func unavailable(cause error) error {
	if _, ok := errs.As(cause); ok {
		return cause
	}
	if errors.Is(cause, context.Canceled) || errors.Is(cause, context.DeadlineExceeded) {
		return errs.Wrap(cause, errs.Unavailable, "key service did not answer in time")
	}
	return errs.Wrap(cause, errs.Unavailable, "key service unavailable")
}
