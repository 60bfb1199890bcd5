package graph_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/graphql-go/graphql"

	"github.com/borderproof/borderproof/graph"
)

// cacheSchema is a small schema: a list whose cost depends on its page
// size, an echo, and a mutation.
func cacheSchema(t *testing.T) graphql.Schema {
	t.Helper()
	item := graphql.NewObject(graphql.ObjectConfig{Name: "Item", Fields: graphql.Fields{
		"n": &graphql.Field{Type: graphql.Int},
	}})
	schema, err := graphql.NewSchema(graphql.SchemaConfig{
		Query: graphql.NewObject(graphql.ObjectConfig{Name: "Query", Fields: graphql.Fields{
			"items": &graphql.Field{Type: graphql.NewList(item), Args: graphql.FieldConfigArgument{"first": {Type: graphql.Int}},
				Resolve: func(p graphql.ResolveParams) (any, error) {
					first, _ := p.Args["first"].(int)
					out := make([]map[string]any, first)
					for i := range out {
						out[i] = map[string]any{"n": i}
					}
					return out, nil
				}},
			"echo": &graphql.Field{Type: graphql.String, Args: graphql.FieldConfigArgument{"s": {Type: graphql.String}},
				Resolve: func(p graphql.ResolveParams) (any, error) { return p.Args["s"], nil }},
		}}),
		Mutation: graphql.NewObject(graphql.ObjectConfig{Name: "Mutation", Fields: graphql.Fields{
			"touch": &graphql.Field{Type: graphql.Boolean, Resolve: func(graphql.ResolveParams) (any, error) { return true, nil }},
		}}),
	})
	if err != nil {
		t.Fatal(err)
	}
	return schema
}

// A valid document is parsed and validated once and served from the
// cache after; what depends on the request (variables, the cost they
// imply, the HTTP method) is still checked on every one.
func TestExecutorCachesValidDocuments(t *testing.T) {
	ex := graph.NewExecutor(cacheSchema(t), graph.Limits{MaxDepth: 5, MaxIntrospectionDepth: 10, MaxCost: 50, DefaultPage: 10},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx := context.Background()
	const list = `query List($first: Int) { items(first: $first) { n } }`
	run := func(q string, vars map[string]any, readOnly bool) graph.Outcome {
		return ex.Execute(ctx, graph.Request{Query: q, Variables: vars}, readOnly)
	}

	for i := range 3 {
		o := run(list, map[string]any{"first": 3 + i}, true)
		if o.Status != http.StatusOK || len(o.Result.Errors) > 0 || fmt.Sprint(o.Result.Data) != fmt.Sprint(map[string]any{"items": items(3 + i)}) {
			t.Fatalf("run %d: %d %+v", i, o.Status, o.Result)
		}
		if !ex.Cached(list) {
			t.Fatalf("run %d: valid document not kept", i)
		}
	}
	// The cost of the cached document with a page too large.
	if o := run(list, map[string]any{"first": 100}, true); o.Status != http.StatusBadRequest {
		t.Fatalf("cost over the limit with a cached document: %d %+v", o.Status, o.Result)
	}

	// A mutation kept from a POST is still refused over GET.
	const touch = `mutation { touch }`
	if o := run(touch, nil, false); o.Status != http.StatusOK || !ex.Cached(touch) {
		t.Fatalf("mutation: %d %+v", o.Status, o.Result)
	}
	if o := run(touch, nil, true); o.Status != http.StatusMethodNotAllowed {
		t.Fatalf("cached mutation over GET: %d", o.Status)
	}

	// Invalid documents are never kept, and fail every time.
	for _, q := range []string{`{ nope }`, `{ items(first: 2) { n } `, `query ($a:) { echo }`} {
		for range 2 {
			if o := run(q, nil, true); o.Status != http.StatusBadRequest || ex.Cached(q) {
				t.Fatalf("%q: %d, kept %v", q, o.Status, ex.Cached(q))
			}
		}
	}

	// A string spelled inline (a name, a document number) is not kept.
	for _, q := range []string{`{ echo(s: "ERIKSSON") }`, `query ($s: String = "ERIKSSON") { echo(s: $s) }`} {
		if o := run(q, nil, true); o.Status != http.StatusOK || ex.Cached(q) {
			t.Fatalf("%q: %d, kept %v", q, o.Status, ex.Cached(q))
		}
	}
	const echo = `query ($s: String) { echo(s: $s) }`
	if o := run(echo, map[string]any{"s": "ERIKSSON"}, true); o.Status != http.StatusOK || !ex.Cached(echo) ||
		o.Result.Data.(map[string]any)["echo"] != "ERIKSSON" {
		t.Fatalf("echo with a variable: %d %+v", o.Status, o.Result)
	}
}

// One cached document serves concurrent requests (run with -race).
func TestExecutorCachedDocumentConcurrent(t *testing.T) {
	ex := graph.NewExecutor(cacheSchema(t), graph.DefaultLimits, slog.New(slog.NewTextHandler(io.Discard, nil)))
	const q = `query List($first: Int) { items(first: $first) { n } }`
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 50 {
				n := (g+i)%5 + 1
				o := ex.Execute(context.Background(), graph.Request{Query: q, Variables: map[string]any{"first": n}}, true)
				if o.Status != http.StatusOK || fmt.Sprint(o.Result.Data) != fmt.Sprint(map[string]any{"items": items(n)}) {
					t.Errorf("concurrent run: %d %+v", o.Status, o.Result)
					return
				}
			}
		})
	}
	wg.Wait()
}

func items(n int) []any {
	out := make([]any, n)
	for i := range out {
		out[i] = map[string]any{"n": i}
	}
	return out
}

// A request whose client goes away during execution answers UNAVAILABLE
// and logs no error: it is not the service's fault, and an operator's
// error alerts must not fire on every closed connection.
func TestExecutorCancelledRequest(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	schema, err := graphql.NewSchema(graphql.SchemaConfig{Query: graphql.NewObject(graphql.ObjectConfig{Name: "Query", Fields: graphql.Fields{
		"slow": &graphql.Field{Type: graphql.String, Resolve: func(p graphql.ResolveParams) (any, error) {
			cancel() // the client closes the connection
			<-p.Context.Done()
			return nil, p.Context.Err()
		}},
	}})})
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	ex := graph.NewExecutor(schema, graph.DefaultLimits, slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	o := ex.Execute(ctx, graph.Request{Query: `{ slow }`}, true)
	if len(o.Result.Errors) != 1 || o.Result.Errors[0].Extensions["code"] != "UNAVAILABLE" {
		t.Fatalf("cancelled request: %+v", o.Result.Errors)
	}
	if strings.Contains(logs.String(), `"level":"ERROR"`) || !strings.Contains(logs.String(), "request cancelled") {
		t.Fatalf("logs of a cancelled request: %s", logs.String())
	}
}
