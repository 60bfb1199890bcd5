package graph_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/borderproof/borderproof/graph"
	"github.com/borderproof/borderproof/internal/store"
	"github.com/borderproof/borderproof/internal/testenv"
)

// TestAnUnreachableDatabaseIsUnavailableToClients checks that a resolver
// that finds the database down answers UNAVAILABLE with a retry hint when
// the schema classifies errors as the service does, where it would
// otherwise be INTERNAL, and that the answer names nothing of the cause.
func TestAnUnreachableDatabaseIsUnavailableToClients(t *testing.T) {
	ctx := context.Background()
	down := testenv.RefusedPostgres(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, tc := range []struct {
		name     string
		classify func(error) error
		code     string
		retry    any
	}{
		{"classified", store.Classify, "UNAVAILABLE", store.UnreachableRetryAfter},
		{"unclassified", nil, "INTERNAL", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := graph.Fail(ctx, graph.Deps{Log: log, Classify: tc.classify}, down)
			ge, ok := err.(*graph.Error)
			if !ok {
				t.Fatalf("got %T", err)
			}
			if ge.Ext["code"] != tc.code || ge.Ext["retryAfterSeconds"] != tc.retry {
				t.Fatalf("extensions %v, want code %s retryAfterSeconds %v", ge.Ext, tc.code, tc.retry)
			}
			if strings.Contains(ge.Message, "127.0.0.1") || strings.Contains(ge.Message, "dial") {
				t.Fatalf("message shows the cause: %q", ge.Message)
			}
		})
	}
}
