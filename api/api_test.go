package api_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/borderproof/borderproof/api"
	"github.com/borderproof/borderproof/graph"
	"github.com/borderproof/borderproof/internal/obs"
	"github.com/borderproof/borderproof/internal/store"
	"github.com/borderproof/borderproof/internal/store/storetest"
	"github.com/borderproof/borderproof/internal/tenant"
	"github.com/borderproof/borderproof/internal/testenv"
	"github.com/borderproof/borderproof/internal/vault"
	"github.com/borderproof/borderproof/internal/verification"
)

type stack struct {
	srv     *httptest.Server
	store   *store.Store
	tenants *tenant.Service
	logs    *syncBuffer
	full    string // every scope
	readKey string // verifications:read only
	revoked string
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// newStack builds the real server on a real store and the real Redis rate
// limiter (its own DB index), with a small rate so a burst trips it.
func newStack(t testing.TB, d store.Dialect, perSecond, burst int) *stack {
	t.Helper()
	ctx := context.Background()
	st := storetest.Open(t, d)
	logs := &syncBuffer{}
	log := obs.NewLogger(logs, slog.LevelInfo)
	tenants := tenant.NewService(st, nil, log)
	kp, err := vault.NewLocalFile(filepath.Join(t.TempDir(), "vault.key"), log)
	if err != nil {
		t.Fatal(err)
	}
	vlt, err := vault.New(vault.Config{}, kp, st, log)
	if err != nil {
		t.Fatal(err)
	}
	verifs := verification.NewService(verification.Deps{Store: st, Audit: st, Sealer: vlt, Queue: nopQueue{}, Log: log})
	schema, err := graph.NewSchema(graph.Deps{Tenants: tenants, Verifications: verifs, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	rc := redis.NewClient(&redis.Options{Addr: testenv.Require(t, testenv.RedisAddrVar), DB: 3})
	t.Cleanup(func() { rc.Close() })
	reg := obs.NewRegistry()
	srv := api.New(api.DefaultConfig(), api.Deps{
		Tenants: tenants, Executor: graph.NewExecutor(schema, graph.DefaultLimits, log),
		Limiter: api.NewRedisLimiter(rc, perSecond, burst), Registry: reg, Log: log,
		Ready: []api.Check{{Name: "database", Ping: st.Ping}},
	})
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)

	ins, err := tenants.CreateInsurer(ctx, tenant.CreateInsurerInput{Name: "Acme Mutual", Country: "FRA", Region: "EU"})
	if err != nil {
		t.Fatal(err)
	}
	mk := func(scopes ...tenant.Scope) string {
		_, plain, err := tenants.CreateKey(ctx, tenant.CreateKeyInput{InsurerID: ins.ID, Mode: tenant.Test, Scopes: scopes})
		if err != nil {
			t.Fatal(err)
		}
		return plain
	}
	s := &stack{srv: hs, store: st, tenants: tenants, logs: logs,
		full: mk(tenant.AllScopes...), readKey: mk(tenant.ScopeVerificationsRead)}
	rk := mk(tenant.ScopeAdmin)
	p, _ := tenants.Authenticate(ctx, rk)
	if err := tenants.RevokeKey(ctx, ins.ID, p.Key.ID); err != nil {
		t.Fatal(err)
	}
	s.revoked = rk
	return s
}

type nopQueue struct{}

func (nopQueue) Enqueue(context.Context, string, []byte, string, string, time.Duration) error {
	return nil
}

type gqlResponse struct {
	Data   map[string]any `json:"data"`
	Errors []struct {
		Message    string         `json:"message"`
		Extensions map[string]any `json:"extensions"`
	} `json:"errors"`
}

func (s *stack) do(t testing.TB, key string, body []byte) (int, http.Header, gqlResponse) {
	t.Helper()
	return s.doWith(t, key, body, nil)
}

func (s *stack) doWith(t testing.TB, key string, body []byte, headers map[string]string) (int, http.Header, gqlResponse) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.srv.URL+"/graphql", bytes.NewReader(body))
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var out gqlResponse
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("response is not JSON (%d): %s", res.StatusCode, raw)
	}
	return res.StatusCode, res.Header, out
}

func query(q string) []byte {
	b, _ := json.Marshal(map[string]any{"query": q})
	return b
}

// snapshot digests every row of every table except the throttled
// last-used stamp, so a test can prove a request changed nothing.
func snapshot(t testing.TB, st *store.Store) string {
	t.Helper()
	h := sha256.New()
	for _, q := range []string{
		`SELECT id, name, country, region, mode, retention_days, settings, created_at FROM insurers ORDER BY id`,
		`SELECT id, insurer_id, prefix, mode, scopes, created_at, COALESCE(revoked_at, 0) FROM api_keys ORDER BY id`,
		`SELECT COUNT(*) FROM audit_log`,
		`SELECT COUNT(*) FROM verifications`,
		`SELECT COUNT(*) FROM outbox_events`,
		`SELECT COUNT(*) FROM insurer_keys`,
	} {
		rows, err := st.DB().Query(q)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintln(h, vals...)
		}
		rows.Close()
	}
	return hex.EncodeToString(h.Sum(nil))
}

func TestViewer(t *testing.T) {
	for _, d := range storetest.Backends {
		t.Run(string(d), func(t *testing.T) {
			s := newStack(t, d, 1000, 1000)
			code, h, res := s.do(t, s.full, query(`{ viewer { id name mode scopes } }`))
			if code != 200 || len(res.Errors) > 0 {
				t.Fatalf("viewer: %d %+v", code, res)
			}
			v := res.Data["viewer"].(map[string]any)
			if v["name"] != "Acme Mutual" || v["mode"] != "TEST" || len(v["scopes"].([]any)) != len(tenant.AllScopes) || !strings.HasPrefix(v["id"].(string), "ins_") {
				t.Fatalf("viewer: %+v", v)
			}
			if !strings.HasPrefix(h.Get("X-Request-Id"), "req_") {
				t.Fatalf("request id header: %q", h.Get("X-Request-Id"))
			}
		})
	}
}

func TestBadRequestsAreRejectedAndChangeNothing(t *testing.T) {
	s := newStack(t, store.SQLite, 1000, 1000)
	before := snapshot(t, s.store)
	deep := "{" + strings.Repeat("viewer {", 30) + "id" + strings.Repeat("}", 31)
	var wide strings.Builder
	wide.WriteString("{")
	for i := range 6000 {
		fmt.Fprintf(&wide, " a%d: viewer { id name }", i)
	}
	wide.WriteString("}")
	cases := []struct {
		name   string
		key    string
		body   []byte
		status int
		code   string
	}{
		{"no key", "", query(`{ viewer { id } }`), 401, "UNAUTHENTICATED"},
		{"wrong key", "bp_test_" + strings.Repeat("A", 43), query(`{ viewer { id } }`), 401, "UNAUTHENTICATED"},
		{"garbage key", "hunter2", query(`{ viewer { id } }`), 401, "UNAUTHENTICATED"},
		{"revoked key", s.revoked, query(`{ viewer { id } }`), 401, "UNAUTHENTICATED"},
		{"missing scope", s.readKey, query(`{ apiKeys { id } }`), 200, "FORBIDDEN"},
		{"malformed JSON", s.full, []byte(`{"query": `), 400, "INVALID_INPUT"},
		{"not an object", s.full, []byte(`[1,2,3]`), 400, "INVALID_INPUT"},
		{"empty query", s.full, query(``), 400, "INVALID_INPUT"},
		{"syntax error", s.full, query(`{ viewer { id `), 400, "INVALID_INPUT"},
		{"unknown field", s.full, query(`{ nope }`), 400, "INVALID_INPUT"},
		{"2 MiB body", s.full, append(append([]byte(`{"query":"`), bytes.Repeat([]byte("a"), 2<<20)...), '"', '}'), 413, "INVALID_INPUT"},
		{"30 levels deep", s.full, query(deep), 400, "INVALID_INPUT"},
		{"very wide", s.full, query(wide.String()), 400, "INVALID_INPUT"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, _, res := s.do(t, c.key, c.body)
			if status != c.status {
				t.Fatalf("status %d, want %d: %+v", status, c.status, res)
			}
			if len(res.Errors) == 0 || res.Errors[0].Extensions["code"] != c.code {
				t.Fatalf("want code %s: %+v", c.code, res)
			}
			if rid, _ := res.Errors[0].Extensions["requestId"].(string); !strings.HasPrefix(rid, "req_") {
				t.Fatalf("error lacks requestId: %+v", res.Errors[0])
			}
			if strings.Contains(c.name, "deep") && !strings.Contains(res.Errors[0].Message, "depth") {
				t.Fatalf("deep query rejected for another reason: %s", res.Errors[0].Message)
			}
			if strings.Contains(c.name, "wide") && !strings.Contains(res.Errors[0].Message, "cost") {
				t.Fatalf("wide query rejected for another reason: %s", res.Errors[0].Message)
			}
		})
	}
	if after := snapshot(t, s.store); after != before {
		t.Fatal("a rejected request changed rows")
	}
}

func TestRateLimitIsSharedPerKey(t *testing.T) {
	s := newStack(t, store.SQLite, 1, 5)
	codes := map[int]int{}
	var retry string
	for range 12 {
		status, h, res := s.do(t, s.full, query(`{ viewer { id } }`))
		codes[status]++
		if status == 429 {
			retry = h.Get("Retry-After")
			if res.Errors[0].Extensions["code"] != "RATE_LIMITED" {
				t.Fatalf("429 without RATE_LIMITED: %+v", res)
			}
		}
	}
	if codes[200] < 5 || codes[200] > 7 || codes[429] < 5 {
		t.Fatalf("burst of 12 at 1/s burst 5: %v", codes)
	}
	if retry == "" || retry == "0" {
		t.Fatalf("Retry-After = %q", retry)
	}
	// Another key has its own bucket.
	if status, _, _ := s.do(t, s.readKey, query(`{ viewer { id } }`)); status != 200 {
		t.Fatalf("other key limited: %d", status)
	}
}

func TestHealthAndMetrics(t *testing.T) {
	s := newStack(t, store.SQLite, 1000, 1000)
	s.do(t, s.full, query(`{ viewer { id } }`))
	for path, want := range map[string]string{
		"/healthz": `"ok"`,
		"/readyz":  `"database":"ok"`,
		"/metrics": `borderproof_http_requests_total{code="200",operation="query:viewer"} 1`,
	} {
		res, err := http.Get(s.srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || !strings.Contains(string(b), want) {
			t.Fatalf("%s: %d %s", path, res.StatusCode, b)
		}
	}
	if strings.Contains(s.logs.String(), s.full) {
		t.Fatal("an API key reached the logs")
	}
}

// Two api replicas hold two limiters on one Redis: they spend one bucket.
func TestRateLimitSpansReplicas(t *testing.T) {
	addr := testenv.Require(t, testenv.RedisAddrVar)
	a := redis.NewClient(&redis.Options{Addr: addr, DB: 3})
	b := redis.NewClient(&redis.Options{Addr: addr, DB: 3})
	defer a.Close()
	defer b.Close()
	la, lb := api.NewRedisLimiter(a, 1, 4), api.NewRedisLimiter(b, 1, 4)
	key := fmt.Sprintf("replica-test-%d", time.Now().UnixNano())
	allowed := 0
	for i := range 10 {
		l := la
		if i%2 == 1 {
			l = lb
		}
		ok, _, err := l.Allow(context.Background(), key)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			allowed++
		}
	}
	if allowed < 4 || allowed > 5 {
		t.Fatalf("two replicas allowed %d of 10 at burst 4", allowed)
	}
}
