package store

import (
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/borderproof/borderproof/internal/errs"
)

// UnreachableRetryAfter is the wait Classify puts on an unreachable
// database: long enough not to spin against a server that is down, short
// enough that work resumes within seconds of its return.
const UnreachableRetryAfter = 2

// Unreachable reports whether err says the database (or another service
// over the network) could not be reached or went away mid-statement: a
// refused, reset or broken connection, or a server shutting down, starting
// up or out of connections. A statement the server refused on its merits
// (a constraint, a syntax error, a serialisation failure) is not: only
// waiting can cure the first, and waiting does nothing for the second.
func Unreachable(err error) bool {
	if err == nil {
		return false
	}
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		// Class 08: connection exception; 57P01-03: admin or crash
		// shutdown, cannot connect now; 53300: too many connections.
		return strings.HasPrefix(pg.Code, "08") || strings.HasPrefix(pg.Code, "57P") || pg.Code == "53300"
	}
	var connect *pgconn.ConnectError
	if errors.As(err, &connect) {
		return true
	}
	if errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	var op *net.OpError
	return errors.As(err, &op)
}

// Classify returns err as errs.Unavailable, retryable after
// UnreachableRetryAfter seconds and keeping err in its chain for the log,
// when it is Unreachable and carries no kind of its own (or Internal); any
// other error is returned as it is. The worker and the API apply it to
// what they are about to report, so that an outage of the database is a
// wait (a task retried in seconds without counting as a failure, a client
// told UNAVAILABLE with retryAfterSeconds) rather than an internal error.
func Classify(err error) error {
	if e, ok := errs.As(err); ok && e.Kind != errs.Internal {
		return err
	}
	if !Unreachable(err) {
		return err
	}
	return &errs.Error{Kind: errs.Unavailable, Msg: "the database is unavailable; retry shortly",
		RetryAfterSeconds: UnreachableRetryAfter, Err: err}
}
