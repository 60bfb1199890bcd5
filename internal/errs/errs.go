// Package errs is the one small set of error kinds the whole service shares.
//
// Domain code returns *Error values built with E, Invalid or Wrap; transports
// map Kind to their own vocabulary in exactly one place (graph/errors.go for
// GraphQL extensions.code, worker/policy.go for retry decisions). A message on
// an *Error is safe to show to a client; it must never carry personal data.
// Anything that is not an *Error is Internal, and its text is only logged.
package errs

import (
	"errors"
	"fmt"
	"strings"
)

// Kind classifies an error for transports.
type Kind int

const (
	Internal Kind = iota
	Invalid
	NotFound
	Conflict
	Unauthenticated
	Forbidden
	FailedPrecondition
	RateLimited
	BudgetExceeded
	Unavailable
)

var kindNames = [...]string{
	Internal:           "internal",
	Invalid:            "invalid",
	NotFound:           "not_found",
	Conflict:           "conflict",
	Unauthenticated:    "unauthenticated",
	Forbidden:          "forbidden",
	FailedPrecondition: "failed_precondition",
	RateLimited:        "rate_limited",
	BudgetExceeded:     "budget_exceeded",
	Unavailable:        "unavailable",
}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// FieldError names one bad input field by its path in the request
// (for example "documents[1].expiryDate").
type FieldError struct {
	Path    string `json:"path"`
	Message string `json:"message"`
}

// Error is a classified error. Msg is safe to show to a client.
type Error struct {
	Kind   Kind
	Msg    string
	Fields []FieldError
	// RetryAfterSeconds is set on RateLimited and Unavailable errors when the
	// caller knows how long to wait.
	RetryAfterSeconds int
	// Err is the cause; it is logged, never shown.
	Err error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Kind.String())
	if e.Msg != "" {
		b.WriteString(": ")
		b.WriteString(e.Msg)
	}
	for _, f := range e.Fields {
		fmt.Fprintf(&b, "; %s: %s", f.Path, f.Message)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// E builds a classified error with a client-safe message.
func E(kind Kind, format string, args ...any) *Error {
	return &Error{Kind: kind, Msg: fmt.Sprintf(format, args...)}
}

// Wrap classifies cause under kind with a client-safe message. The cause's
// text is kept for logs only.
func Wrap(cause error, kind Kind, msg string) *Error {
	return &Error{Kind: kind, Msg: msg, Err: cause}
}

// Invalid reports every bad field at once. It returns nil when fields is
// empty, so callers can collect problems and return Invalid(problems...).
func InvalidFields(fields ...FieldError) error {
	if len(fields) == 0 {
		return nil
	}
	return &Error{Kind: Invalid, Msg: "invalid input", Fields: fields}
}

// KindOf returns the Kind of the first *Error in err's chain, Internal when
// there is none, and Internal for nil.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Internal
}

// Is reports whether err is classified as kind.
func Is(err error, kind Kind) bool {
	return err != nil && KindOf(err) == kind
}

// As returns the first *Error in err's chain.
func As(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// Fields collects field errors for a Validate method.
type Fields []FieldError

// Add records a problem with the field at path.
func (f *Fields) Add(path, format string, args ...any) {
	*f = append(*f, FieldError{Path: path, Message: fmt.Sprintf(format, args...)})
}

// Err returns the collected problems as one Invalid error, or nil.
func (f Fields) Err() error { return InvalidFields(f...) }
