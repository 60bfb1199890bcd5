package partner

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/borderproof/borderproof/internal/errs"
)

// CallError is the cause inside an *errs.Error a client returns for a failed
// partner call. It carries what the resilience layer needs to decide on a
// retry. Code is the partner's own error code; it never holds personal data.
type CallError struct {
	Partner    string
	Status     int    // HTTP status; 0 for transport failures
	Code       string // partner error code, e.g. "VEVO-429"
	RetryAfter time.Duration
	// NotProcessed is true when the partner certainly did not act on the
	// request (429, a refused connection, an open breaker), so repeating
	// it is safe even without an idempotency key.
	NotProcessed bool
	Err          error
}

func (e *CallError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "partner %s", e.Partner)
	if e.Status != 0 {
		fmt.Fprintf(&b, ": status %d", e.Status)
	}
	if e.Code != "" {
		fmt.Fprintf(&b, " code %s", e.Code)
	}
	if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	return b.String()
}

func (e *CallError) Unwrap() error { return e.Err }

// StatusError classifies a partner's non-2xx HTTP answer. code is the
// partner's error code from its error body (may be empty); header is the
// response header, read for Retry-After.
func StatusError(partner string, status int, code string, header http.Header) error {
	ce := &CallError{Partner: partner, Status: status, Code: code}
	ce.RetryAfter = ParseRetryAfter(header.Get("Retry-After"), time.Now())
	var kind errs.Kind
	var msg string
	switch {
	case status == http.StatusTooManyRequests:
		kind, msg = errs.RateLimited, "partner rate limit reached"
		ce.NotProcessed = true
	case status == http.StatusUnauthorized:
		kind, msg = errs.Unauthenticated, "partner rejected our credentials"
	case status == http.StatusForbidden:
		kind, msg = errs.Forbidden, "partner refused the request"
	case status == http.StatusNotFound:
		kind, msg = errs.NotFound, "partner does not know the reference"
	case status == http.StatusConflict:
		kind, msg = errs.Conflict, "partner reports a conflicting request"
	case status == http.StatusRequestTimeout, status == http.StatusBadGateway,
		status == http.StatusServiceUnavailable, status == http.StatusGatewayTimeout:
		kind, msg = errs.Unavailable, "partner temporarily unavailable"
		// 502/503 from a gateway mean the partner never saw the request;
		// a partner in maintenance says so with 503.
		ce.NotProcessed = status == http.StatusServiceUnavailable || status == http.StatusBadGateway
	case status >= 500:
		kind, msg = errs.Unavailable, "partner failed"
	case status >= 400:
		kind, msg = errs.Invalid, "partner rejected the request"
	default:
		kind, msg = errs.Internal, "unexpected partner answer"
	}
	e := errs.Wrap(ce, kind, msg)
	if ce.RetryAfter > 0 {
		e.RetryAfterSeconds = ceilSeconds(ce.RetryAfter)
	}
	return e
}

// TransportError classifies a failure to get any HTTP answer. A refused
// connection was not processed; a timeout or reset may have been.
func TransportError(partner string, err error) error {
	ce := &CallError{Partner: partner, Err: err}
	if errors.Is(err, context.Canceled) {
		return errs.Wrap(ce, errs.Unavailable, "partner call cancelled")
	}
	if errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
		ce.Code = "TIMEOUT"
		return errs.Wrap(ce, errs.Unavailable, "partner timed out")
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		ce.NotProcessed = true
	}
	return errs.Wrap(ce, errs.Unavailable, "partner unreachable")
}

// DecodeError classifies an answer the client could not understand.
func DecodeError(partner string, err error) error {
	return errs.Wrap(&CallError{Partner: partner, Code: "DECODE", Err: err}, errs.Internal, "unexpected partner answer")
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// IsTimeout reports whether err is a partner timeout.
func IsTimeout(err error) bool {
	var ce *CallError
	if errors.As(err, &ce) && ce.Code == "TIMEOUT" {
		return true
	}
	return errors.Is(err, context.DeadlineExceeded)
}

// ParseRetryAfter reads a Retry-After header: delay seconds or an HTTP date.
// It returns 0 when the header is absent or unreadable.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil {
		if n < 0 {
			return 0
		}
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

func ceilSeconds(d time.Duration) int {
	s := int(d / time.Second)
	if d%time.Second != 0 {
		s++
	}
	return s
}
