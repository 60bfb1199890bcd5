package graph_test

import (
	"flag"
	"io"
	"log/slog"
	"os"
	"testing"

	"github.com/borderproof/borderproof/graph"
)

var update = flag.Bool("update", false, "rewrite graph/schema.graphql from the code")

// TestSchemaGolden fails when the schema built in code drifts from
// graph/schema.graphql. Run `go test ./graph -run Golden -update` after an
// intended change and review the diff.
func TestSchemaGolden(t *testing.T) {
	s, err := graph.NewSchema(graph.Deps{Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	got := graph.PrintSchema(s)
	if *update {
		if err := os.WriteFile("schema.graphql", []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile("schema.graphql")
	if err != nil {
		t.Fatalf("read golden: %v (run with -update)", err)
	}
	if string(want) != got {
		t.Fatalf("schema drifted from graph/schema.graphql; run go test ./graph -run Golden -update and review.\n--- got ---\n%s", got)
	}
}
