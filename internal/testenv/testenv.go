// Package testenv finds the real servers that tests talk to. The test script
// (scripts/test) starts them and exports their addresses; a test that needs
// one calls the matching function, which skips with a loud message when the
// server is absent on a developer machine and fails the test when CI=true.
package testenv

import (
	"context"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// Variables the test script exports.
const (
	PostgresURLVar = "BORDERPROOF_TEST_POSTGRES_URL"
	RedisAddrVar   = "BORDERPROOF_TEST_REDIS_ADDR"
	KMSEndpointVar = "BORDERPROOF_TEST_KMS_ENDPOINT"
	S3EndpointVar  = "BORDERPROOF_TEST_S3_ENDPOINT"
	StripeURLVar   = "BORDERPROOF_TEST_STRIPE_URL"
)

// Defaults used when the variable is unset: the services this project's
// machines run before any test starts.
var defaults = map[string]string{
	PostgresURLVar: "postgres://postgres@127.0.0.1:5432/test?sslmode=disable",
	RedisAddrVar:   "127.0.0.1:6379",
}

// InCI reports whether the tests run in CI, where a missing server fails.
func InCI() bool {
	v := strings.ToLower(os.Getenv("CI"))
	return v == "true" || v == "1"
}

// Require returns the value of the variable naming a server's address and
// checks that something listens there. When the variable is unset (and has no
// default) or nothing answers, the test is skipped with a loud message, or
// fails under CI=true.
func Require(t testing.TB, variable string) string {
	t.Helper()
	v := os.Getenv(variable)
	if v == "" {
		v = defaults[variable]
	}
	if v == "" {
		missing(t, variable, "is not set (run the tests through scripts/test)")
		return ""
	}
	if hp := hostPort(v); hp != "" {
		c, err := net.DialTimeout("tcp", hp, 2*time.Second)
		if err != nil {
			missing(t, variable, "points at "+hp+" where nothing answers")
			return ""
		}
		c.Close()
	}
	return v
}

func missing(t testing.TB, variable, why string) {
	t.Helper()
	msg := "!!! REAL SERVER MISSING: " + variable + " " + why
	if InCI() {
		t.Fatal(msg + " (CI=true: failing instead of skipping)")
	}
	t.Skip(msg + " — test SKIPPED")
}

// hostPort extracts host:port from a URL or returns s when it already is one.
func hostPort(s string) string {
	if i := strings.Index(s, "://"); i >= 0 {
		s = s[i+3:]
		if j := strings.LastIndex(s, "@"); j >= 0 {
			s = s[j+1:]
		}
		if j := strings.IndexAny(s, "/?"); j >= 0 {
			s = s[:j]
		}
	}
	if _, _, err := net.SplitHostPort(s); err != nil {
		return ""
	}
	return s
}

// RefusedPostgres returns the error a PostgreSQL client gets from a
// database that is down: a real connection refused on a loopback port
// nothing listens on (1).
func RefusedPostgres(t testing.TB) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgconn.Connect(ctx, "postgres://postgres@127.0.0.1:1/test?sslmode=disable&connect_timeout=2")
	if err == nil {
		c.Close(ctx)
		t.Fatal("a database answered on 127.0.0.1:1")
	}
	return err
}
