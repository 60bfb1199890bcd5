package graph_test

import (
	"context"
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

	"github.com/graphql-go/graphql"

	"github.com/borderproof/borderproof/graph"
	"github.com/borderproof/borderproof/internal/id"
	"github.com/borderproof/borderproof/internal/store"
	"github.com/borderproof/borderproof/internal/store/storetest"
	"github.com/borderproof/borderproof/internal/tenant"
	"github.com/borderproof/borderproof/internal/vault"
	"github.com/borderproof/borderproof/internal/webhook"
)

// whQueue keeps the deliver tasks the service queues.
type whQueue struct {
	mu    sync.Mutex
	tasks [][]byte
}

func (q *whQueue) Enqueue(_ context.Context, typ string, payload []byte, _, _ string, _ time.Duration) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if typ == webhook.TaskDeliver {
		q.tasks = append(q.tasks, payload)
	}
	return nil
}

// whCounting counts the attempt loads, to check they are batched.
type whCounting struct {
	*webhook.Service
	mu    sync.Mutex
	loads int
}

func (c *whCounting) Attempts(ctx context.Context, insurerID string, ids []string) (map[string][]webhook.Attempt, error) {
	c.mu.Lock()
	c.loads++
	c.mu.Unlock()
	return c.Service.Attempts(ctx, insurerID, ids)
}

type whGraph struct {
	t      *testing.T
	schema graphql.Schema
	svc    *whCounting
	q      *whQueue
	a, b   string
}

func newWHGraph(t *testing.T) *whGraph {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	s := storetest.Open(t, store.SQLite)
	kek, err := vault.NewLocalFile(filepath.Join(t.TempDir(), "kek"), log)
	if err != nil {
		t.Fatal(err)
	}
	v, err := vault.New(vault.Config{}, kek, &vault.MemKeyStore{}, log)
	if err != nil {
		t.Fatal(err)
	}
	allow, _ := webhook.ParseAllowlist("127.0.0.0/8")
	g := &whGraph{t: t, q: &whQueue{}}
	svc, err := webhook.New(webhook.Config{Allow: allow}, s, v, g.q, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	g.svc = &whCounting{Service: svc}
	g.schema, err = graph.NewSchema(graph.Deps{Webhooks: g.svc, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	for _, ins := range []*string{&g.a, &g.b} {
		*ins = id.New(id.Insurer)
		if err := s.CreateInsurer(context.Background(), tenant.Insurer{ID: *ins, Name: "I", Country: "FRA", Region: "EU", Mode: tenant.Live, RetentionDays: 30, CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	return g
}

func whPrincipal(insurerID string, mode tenant.Mode, scopes ...tenant.Scope) *tenant.Principal {
	if len(scopes) == 0 {
		scopes = []tenant.Scope{tenant.ScopeWebhooksManage}
	}
	return &tenant.Principal{Insurer: tenant.Insurer{ID: insurerID}, Key: tenant.APIKey{ID: "key_1", InsurerID: insurerID, Mode: mode, Scopes: scopes}}
}

// do runs a request and returns data and the first error's code.
func (g *whGraph) do(p *tenant.Principal, query string, vars map[string]any) (map[string]any, string, []map[string]any) {
	g.t.Helper()
	ctx := context.Background()
	if p != nil {
		ctx = tenant.WithPrincipal(ctx, *p)
	}
	res := graphql.Do(graphql.Params{Schema: g.schema, RequestString: query, VariableValues: vars, Context: ctx})
	b, _ := json.Marshal(res)
	var out struct {
		Data   map[string]any   `json:"data"`
		Errors []map[string]any `json:"errors"`
	}
	_ = json.Unmarshal(b, &out)
	code := ""
	if len(out.Errors) > 0 {
		ext, _ := out.Errors[0]["extensions"].(map[string]any)
		code, _ = ext["code"].(string)
	}
	return out.Data, code, out.Errors
}

func (g *whGraph) ok(p *tenant.Principal, query string, vars map[string]any) map[string]any {
	g.t.Helper()
	data, _, errors := g.do(p, query, vars)
	if len(errors) > 0 {
		g.t.Fatalf("%s: %v", query, errors)
	}
	return data
}

// deliverAll runs the queued deliver tasks.
func (g *whGraph) deliverAll() {
	g.t.Helper()
	g.q.mu.Lock()
	tasks := g.q.tasks
	g.q.tasks = nil
	g.q.mu.Unlock()
	for _, t := range tasks {
		p, err := webhook.DecodeDeliver(t)
		if err != nil {
			g.t.Fatal(err)
		}
		if err := g.svc.Deliver(context.Background(), p); err != nil {
			g.t.Fatal(err)
		}
	}
}

func path(m map[string]any, keys ...string) any {
	var v any = m
	for _, k := range keys {
		v = v.(map[string]any)[k]
	}
	return v
}

func TestWebhookResolvers(t *testing.T) {
	g := newWHGraph(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, "thanks")
	}))
	t.Cleanup(srv.Close)
	a := whPrincipal(g.a, tenant.Test)

	const create = `mutation($in: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $in) {
		secret endpoint { id url description events mode enabled disabledReason createdAt } } }`
	data := g.ok(a, create, map[string]any{"in": map[string]any{"url": srv.URL + "/a", "events": []any{"verification.completed", "verification.failed"}, "description": "claims"}})
	secret := path(data, "createWebhookEndpoint", "secret").(string)
	ep := path(data, "createWebhookEndpoint", "endpoint").(map[string]any)
	epID := ep["id"].(string)
	if !strings.HasPrefix(secret, webhook.SecretPrefix) || ep["mode"] != "TEST" || ep["enabled"] != true || ep["description"] != "claims" ||
		len(ep["events"].([]any)) != 2 || ep["disabledReason"] != nil {
		t.Fatalf("created: %v", data)
	}
	g.ok(a, create, map[string]any{"in": map[string]any{"url": srv.URL + "/b", "events": []any{"verification.completed"}}})

	// Validation errors name the field.
	_, code, errors := g.do(whPrincipal(g.a, tenant.Live), create, map[string]any{"in": map[string]any{"url": "http://hooks.example.com", "events": []any{"verification.completed"}}})
	if code != "INVALID_INPUT" || !strings.Contains(fmt.Sprint(errors), "url") {
		t.Fatalf("live http URL: %s %v", code, errors)
	}

	// Update with an explicit clear flag, disable and enable.
	const update = `mutation($id: ID!, $in: UpdateWebhookEndpointInput!) { updateWebhookEndpoint(id: $id, input: $in) {
		description enabled disabledReason disabledAt events } }`
	data = g.ok(a, update, map[string]any{"id": epID, "in": map[string]any{"clearDescription": true, "enabled": false}})
	u := data["updateWebhookEndpoint"].(map[string]any)
	if u["description"] != nil || u["enabled"] != false || u["disabledReason"] != "MANUAL" || u["disabledAt"] == nil || len(u["events"].([]any)) != 2 {
		t.Fatalf("updated: %v", u)
	}
	data = g.ok(a, update, map[string]any{"id": epID, "in": map[string]any{"enabled": true, "events": []any{"verification.completed"}}})
	if u := data["updateWebhookEndpoint"].(map[string]any); u["enabled"] != true || u["disabledReason"] != nil || len(u["events"].([]any)) != 1 {
		t.Fatalf("re-enabled: %v", u)
	}

	// Relay paging.
	data = g.ok(a, `{ webhookEndpoints(first: 1) { edges { cursor node { id } } pageInfo { hasNextPage endCursor } } }`, nil)
	conn := data["webhookEndpoints"].(map[string]any)
	if path(conn, "pageInfo", "hasNextPage") != true || len(conn["edges"].([]any)) != 1 {
		t.Fatalf("page 1: %v", conn)
	}
	after := path(conn, "pageInfo", "endCursor").(string)
	data = g.ok(a, `query($after: String) { webhookEndpoints(first: 1, after: $after) { nodes { id } pageInfo { hasNextPage } } }`, map[string]any{"after": after})
	if path(data, "webhookEndpoints", "pageInfo", "hasNextPage") != false {
		t.Fatalf("page 2: %v", data)
	}

	// Test messages, delivered, listed with their attempts in one load.
	for range 2 {
		data = g.ok(a, `mutation($id: ID!) { sendTestWebhook(id: $id) { id status eventType attemptCount } }`, map[string]any{"id": epID})
		if d := data["sendTestWebhook"].(map[string]any); d["status"] != "PENDING" || d["eventType"] != "webhook.test" {
			t.Fatalf("test message: %v", d)
		}
	}
	g.deliverAll()
	loads := g.svc.loads
	data = g.ok(a, `query($ep: ID) { webhookDeliveries(endpointId: $ep, status: SUCCEEDED) { nodes { id status attemptCount
		attempts { number statusCode durationMs responseBody error } } } }`, map[string]any{"ep": epID})
	nodes := path(data, "webhookDeliveries", "nodes").([]any)
	if len(nodes) != 2 {
		t.Fatalf("deliveries: %v", data)
	}
	for _, n := range nodes {
		d := n.(map[string]any)
		at := d["attempts"].([]any)
		if d["status"] != "SUCCEEDED" || len(at) != 1 || path(at[0].(map[string]any), "statusCode") != float64(200) ||
			at[0].(map[string]any)["responseBody"] != "thanks" || at[0].(map[string]any)["error"] != nil {
			t.Fatalf("delivery: %v", d)
		}
	}
	if g.svc.loads-loads != 1 {
		t.Fatalf("attempts loaded %d times for one page", g.svc.loads-loads)
	}
	dlvID := nodes[0].(map[string]any)["id"].(string)

	// Replays.
	data = g.ok(a, `mutation($id: ID!) { replayWebhookDelivery(id: $id) { id status attemptCount attempts { number } } }`, map[string]any{"id": dlvID})
	if d := data["replayWebhookDelivery"].(map[string]any); d["status"] != "PENDING" || d["id"] != dlvID || len(d["attempts"].([]any)) != 1 {
		t.Fatalf("replay: %v", d)
	}
	data = g.ok(a, `mutation($ep: ID!, $since: DateTime!) { replayWebhookDeliveries(endpointId: $ep, since: $since) }`,
		map[string]any{"ep": epID, "since": time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)})
	if data["replayWebhookDeliveries"] != float64(0) {
		t.Fatalf("bulk replay of no failures: %v", data)
	}

	// Rotation.
	data = g.ok(a, `mutation($id: ID!) { rotateWebhookSecret(id: $id) { secret endpoint { previousSecretExpiresAt } } }`, map[string]any{"id": epID})
	if s := path(data, "rotateWebhookSecret", "secret"); s == secret || !strings.HasPrefix(s.(string), webhook.SecretPrefix) ||
		path(data, "rotateWebhookSecret", "endpoint", "previousSecretExpiresAt") == nil {
		t.Fatalf("rotate: %v", data)
	}

	// Another insurer, or the other mode, gets NOT_FOUND for every id.
	for _, p := range []*tenant.Principal{whPrincipal(g.b, tenant.Test), whPrincipal(g.a, tenant.Live)} {
		for _, q := range []struct {
			query string
			vars  map[string]any
		}{
			{`query($id: ID!) { webhookEndpoint(id: $id) { id } }`, map[string]any{"id": epID}},
			{`query($id: ID!) { webhookDelivery(id: $id) { id } }`, map[string]any{"id": dlvID}},
			{`query($id: ID) { webhookDeliveries(endpointId: $id) { nodes { id } } }`, map[string]any{"id": epID}},
			{update, map[string]any{"id": epID, "in": map[string]any{"clearDescription": true}}},
			{`mutation($id: ID!) { deleteWebhookEndpoint(id: $id) }`, map[string]any{"id": epID}},
			{`mutation($id: ID!) { rotateWebhookSecret(id: $id) { secret } }`, map[string]any{"id": epID}},
			{`mutation($id: ID!) { sendTestWebhook(id: $id) { id } }`, map[string]any{"id": epID}},
			{`mutation($id: ID!) { replayWebhookDelivery(id: $id) { id } }`, map[string]any{"id": dlvID}},
			{`mutation($id: ID!) { replayWebhookDeliveries(endpointId: $id, since: "2026-01-01T00:00:00Z") }`, map[string]any{"id": epID}},
		} {
			if _, code, errors := g.do(p, q.query, q.vars); code != "NOT_FOUND" {
				t.Fatalf("%s as %s/%s: %s %v", q.query, p.Insurer.ID, p.Key.Mode, code, errors)
			}
		}
		data = g.ok(p, `{ webhookEndpoints { nodes { id } } webhookDeliveries { nodes { id } } }`, nil)
		if len(path(data, "webhookEndpoints", "nodes").([]any)) != 0 || len(path(data, "webhookDeliveries", "nodes").([]any)) != 0 {
			t.Fatalf("foreign lists: %v", data)
		}
	}

	// Scope and authentication.
	if _, code, _ := g.do(whPrincipal(g.a, tenant.Test, tenant.ScopeVerificationsRead), `{ webhookEndpoints { nodes { id } } }`, nil); code != "FORBIDDEN" {
		t.Fatalf("without webhooks:manage: %s", code)
	}
	if _, code, _ := g.do(nil, `{ webhookEndpoints { nodes { id } } }`, nil); code != "UNAUTHENTICATED" {
		t.Fatalf("anonymous: %s", code)
	}
	if _, code, _ := g.do(a, `{ webhookEndpoints(after: "bogus") { nodes { id } } }`, nil); code != "INVALID_INPUT" {
		t.Fatalf("bad cursor: %s", code)
	}

	data = g.ok(a, `mutation($id: ID!) { deleteWebhookEndpoint(id: $id) }`, map[string]any{"id": epID})
	if data["deleteWebhookEndpoint"] != epID {
		t.Fatalf("delete: %v", data)
	}
	if _, code, _ := g.do(a, `query($id: ID!) { webhookEndpoint(id: $id) { id } }`, map[string]any{"id": epID}); code != "NOT_FOUND" {
		t.Fatalf("deleted endpoint: %s", code)
	}
}

func TestWebhookResolversUnconfigured(t *testing.T) {
	s, err := graph.NewSchema(graph.Deps{Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx := tenant.WithPrincipal(context.Background(), *whPrincipal("ins_a", tenant.Test))
	res := graphql.Do(graphql.Params{Schema: s, RequestString: `{ webhookEndpoints { nodes { id } } }`, Context: ctx})
	if len(res.Errors) == 0 || res.Errors[0].Extensions["code"] != "UNAVAILABLE" {
		t.Fatalf("%+v", res.Errors)
	}
}
