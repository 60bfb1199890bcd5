package bench

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/borderproof/borderproof/api"
	"github.com/borderproof/borderproof/graph"
	"github.com/borderproof/borderproof/internal/country"
	"github.com/borderproof/borderproof/internal/obs"
	"github.com/borderproof/borderproof/internal/queue"
	"github.com/borderproof/borderproof/internal/store"
	"github.com/borderproof/borderproof/internal/tenant"
	"github.com/borderproof/borderproof/internal/vault"
	"github.com/borderproof/borderproof/internal/verification"
)

// devLike serves the GraphQL API as dev mode assembles it (SQLite, an
// in-process Redis, a local vault key) but without a worker, and returns a
// client with a sandbox key.
func devLike(t *testing.T) *Client {
	t.Helper()
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	dir := t.TempDir()
	st, err := store.Open(ctx, filepath.Join(dir, "bp.db"), log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	redis, err := queue.StartEmbedded()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(redis.Close)
	opt, _ := queue.Config{URL: redis.URL()}.ConnOpt()
	q := queue.NewEnqueuer(opt)
	t.Cleanup(func() { q.Close() })
	kp, err := vault.NewLocalFile(filepath.Join(dir, "vault.key"), log)
	if err != nil {
		t.Fatal(err)
	}
	v, err := vault.New(vault.Config{}, kp, st, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	tenants := tenant.NewService(st, country.Region, log)
	verifs := verification.NewService(verification.Deps{Store: st, Audit: st, Sealer: v, Queue: q, Log: log})
	schema, err := graph.NewSchema(graph.Deps{Tenants: tenants, Verifications: verifs, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	srv := api.New(api.DefaultConfig(), api.Deps{
		Tenants: tenants, Executor: graph.NewExecutor(schema, graph.DefaultLimits, log),
		Registry: obs.NewRegistry(), Log: log, Mounts: map[string]http.Handler{},
	})
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	ins, err := tenants.CreateInsurer(ctx, tenant.CreateInsurerInput{Name: "Bench", Country: "FRA", Mode: tenant.Live})
	if err != nil {
		t.Fatal(err)
	}
	_, key, err := tenants.CreateKey(ctx, tenant.CreateKeyInput{InsurerID: ins.ID, Name: "bench", Mode: tenant.Test, Scopes: tenant.AllScopes})
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewClient(hs.URL+"/graphql", key, 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func TestAPISmoke(t *testing.T) {
	t.Parallel()
	c := devLike(t)
	res, err := RunAPI(context.Background(), c, APIConfig{Concurrency: 2, Duration: 600 * time.Millisecond, Phases: 2, Population: 5, RunID: "smoke"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range []OpResult{res.Viewer, res.Submit} {
		if o.OK == 0 || o.Errors != 0 || o.Latency.Count != o.OK || o.Latency.P50 <= 0 || o.Latency.P99 < o.Latency.P50 || o.Elapsed <= 0 {
			t.Errorf("%s: %+v", o.Op, o)
		}
	}
	l := res.Line()
	if l.ThroughputRatio <= 0 || l.SubmitsAccepted != res.Submit.OK {
		t.Fatalf("%+v", l)
	}
}

// Without a worker nothing is decided: everyone is submitted, polled, and
// counts as undecided when the run's time is up.
func TestQualitySmokeUndecided(t *testing.T) {
	t.Parallel()
	c := devLike(t)
	run, err := RunQuality(context.Background(), c, QualityConfig{Population: 6, Seed: 3, Concurrency: 3, Timeout: 1500 * time.Millisecond,
		PollInterval: 100 * time.Millisecond, RunID: "smoke"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if run.Submitted != 6 || len(run.SubmitErrors) != 0 {
		t.Fatalf("submitted %d, errors %v", run.Submitted, run.SubmitErrors)
	}
	r := run.Confusion.Result()
	if r.N != 6 || r.Undecided != 6 {
		t.Fatalf("%+v", r)
	}
}

func TestClientRetriesRateLimited(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if calls.Add(1) == 1 {
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusTooManyRequests)
			io.WriteString(w, `{"errors":[{"message":"slow down","extensions":{"code":"RATE_LIMITED"}}]}`)
			return
		}
		io.WriteString(w, `{"data":{"viewer":{"id":"ins_1"}}}`)
	}))
	defer hs.Close()
	c, err := NewClient(hs.URL, "k", 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Viewer(context.Background()); !RateLimited(err) {
		t.Fatalf("without retry: %v", err)
	}
	c.RetryRateLimited = true
	if err := c.Viewer(context.Background()); err != nil || calls.Load() != 2 {
		t.Fatalf("with retry: %v after %d calls", err, calls.Load())
	}
	if _, err := NewClient("http://203.0.113.9/graphql", "k", 1); err == nil {
		t.Fatal("a non-loopback URL was accepted")
	}
}
