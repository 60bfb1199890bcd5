package store_test

import (
	"context"
	"database/sql"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/borderproof/borderproof/internal/errs"
	"github.com/borderproof/borderproof/internal/store"
	"github.com/borderproof/borderproof/internal/testenv"
)

// TestClassifyMakesAnUnreachableDatabaseAWait checks that what a database
// that is down produces (a refused connection, a connection the server
// ends) becomes Unavailable with a short Retry-After and its cause kept,
// and that what a statement's own failure produces, or an error that
// already has a kind, is left alone.
func TestClassifyMakesAnUnreachableDatabaseAWait(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	down := testenv.RefusedPostgres(t)
	if !store.Unreachable(down) {
		t.Fatalf("refused connection not unreachable: %v", down)
	}
	got := store.Classify(down)
	e, ok := errs.As(got)
	if !ok || e.Kind != errs.Unavailable || e.RetryAfterSeconds != store.UnreachableRetryAfter {
		t.Fatalf("Classify(refused) = %#v, want Unavailable retry after %d", got, store.UnreachableRetryAfter)
	}
	var connect *pgconn.ConnectError
	if !errors.As(got, &connect) {
		t.Fatalf("cause lost: %v", got)
	}
	if store.Classify(nil) != nil {
		t.Fatal("Classify(nil) is not nil")
	}
	invalid := errs.Wrap(down, errs.Invalid, "bad input")
	if store.Classify(invalid) != error(invalid) {
		t.Fatal("an error with a kind of its own was reclassified")
	}

	db, err := sql.Open("pgx", testenv.Require(t, testenv.PostgresURLVar))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	c, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var x int
	statement := c.QueryRowContext(ctx, `SELECT 1/0`).Scan(&x)
	if statement == nil || store.Unreachable(statement) || store.Classify(statement) != statement {
		t.Fatalf("a statement's own failure was taken for an outage: %v", statement)
	}
	// The server ends the connection, as it does to every client when it
	// shuts down (57P01).
	_, ended := c.ExecContext(ctx, `SELECT pg_terminate_backend(pg_backend_pid())`)
	if ended == nil {
		t.Fatal("the server did not end the connection")
	}
	if !store.Unreachable(ended) || !errs.Is(store.Classify(ended), errs.Unavailable) {
		t.Fatalf("a connection the server ended is not unreachable: %v", ended)
	}
}
