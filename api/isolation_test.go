package api_test

import (
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
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
	"github.com/graphql-go/graphql"
	"github.com/redis/go-redis/v9"

	"github.com/borderproof/borderproof/api"
	"github.com/borderproof/borderproof/graph"
	"github.com/borderproof/borderproof/internal/billing"
	billingstripe "github.com/borderproof/borderproof/internal/billing/stripe"
	"github.com/borderproof/borderproof/internal/blob"
	"github.com/borderproof/borderproof/internal/country"
	"github.com/borderproof/borderproof/internal/evidence"
	"github.com/borderproof/borderproof/internal/id"
	"github.com/borderproof/borderproof/internal/obs"
	"github.com/borderproof/borderproof/internal/outbox"
	"github.com/borderproof/borderproof/internal/pipeline"
	"github.com/borderproof/borderproof/internal/risk"
	"github.com/borderproof/borderproof/internal/store"
	"github.com/borderproof/borderproof/internal/store/storetest"
	"github.com/borderproof/borderproof/internal/tenant"
	"github.com/borderproof/borderproof/internal/testenv"
	"github.com/borderproof/borderproof/internal/vault"
	"github.com/borderproof/borderproof/internal/verification"
	"github.com/borderproof/borderproof/internal/webhook"
)

// fullStack is the server assembled as cmd/borderproof assembles it:
// verifications on the vault, billing with its ledger, exports to blob
// storage and (optionally) Stripe, evidence, webhooks and the live
// subscription endpoint, so every resolver of the schema is reachable.
type fullStack struct {
	*stack
	schema   graphql.Schema
	handler  http.Handler
	billing  *billing.Service
	webhooks *webhook.Service
	hub      *webhook.Hub
	queue    *recordingQueue
	evidence *evidence.Service
}

// recordingQueue keeps the tasks the services queue, so a test can run
// them (a webhook delivery) as the worker would.
type recordingQueue struct {
	mu    sync.Mutex
	tasks []queuedTask
}

type queuedTask struct {
	typ     string
	payload []byte
}

func (q *recordingQueue) Enqueue(_ context.Context, typ string, payload []byte, _, _ string, _ time.Duration) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.tasks = append(q.tasks, queuedTask{typ: typ, payload: slices.Clone(payload)})
	return nil
}

// take removes and returns the queued tasks of one type.
func (q *recordingQueue) take(typ string) [][]byte {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out [][]byte
	kept := q.tasks[:0]
	for _, t := range q.tasks {
		if t.typ == typ {
			out = append(out, t.payload)
		} else {
			kept = append(kept, t)
		}
	}
	q.tasks = kept
	return out
}

type fullOptions struct {
	// redis uses the real Redis rate limiter; without it requests are not
	// limited (fuzzing sends thousands).
	redis bool
	// stripeURL and stripeKey configure billing's test-mode Stripe client.
	stripeURL, stripeKey string
	// level is the log level (Info when zero).
	level slog.Level
}

func newFullStack(t testing.TB, d store.Dialect, o fullOptions) *fullStack {
	t.Helper()
	st := storetest.Open(t, d)
	logs := &syncBuffer{}
	log := obs.NewLogger(logs, o.level)
	tenants := tenant.NewService(st, country.Region, log)
	dir := t.TempDir()
	kp, err := vault.NewLocalFile(filepath.Join(dir, "vault.key"), log)
	if err != nil {
		t.Fatal(err)
	}
	vlt, err := vault.New(vault.Config{}, kp, st, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(vlt.Close)
	blobs, err := blob.NewFS(blob.FSConfig{Root: filepath.Join(dir, "blobs"), BaseURL: "http://127.0.0.1:1",
		SigningKey: []byte(strings.Repeat("k", blob.MinSigningKeyLen))}, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { blobs.Close() })
	stripes, err := billingstripe.NewStripes(billingstripe.ModesConfig{TestAPIKey: o.stripeKey, APIBase: o.stripeURL}, log)
	if err != nil {
		t.Fatal(err)
	}
	reg := obs.NewRegistry()
	bm, err := billing.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	bill := billing.New(billing.Config{}, billing.Deps{Store: st, Blobs: blobs, Stripe: stripes, Metrics: bm, Logger: log})
	signer, err := evidence.GenerateSigner()
	if err != nil {
		t.Fatal(err)
	}
	ev := evidence.New(blobs, signer, st, log)
	queue := &recordingQueue{}
	verifs := verification.NewService(verification.Deps{Store: st, Audit: st, Sealer: vlt, Queue: queue, Budget: bill, Log: log})
	allow, err := webhook.ParseAllowlist("127.0.0.0/8")
	if err != nil {
		t.Fatal(err)
	}
	hub := webhook.NewHub(0)
	hooks, err := webhook.New(webhook.Config{Allow: allow}, st, vlt, queue, hub, log)
	if err != nil {
		t.Fatal(err)
	}
	schema, err := graph.NewSchema(graph.Deps{Tenants: tenants, Verifications: verifs, Evidence: ev, Webhooks: hooks, Billing: bill,
		Policies: pipeline.NewPolicies(st), Log: log})
	if err != nil {
		t.Fatal(err)
	}
	deps := api.Deps{
		Tenants: tenants, Executor: graph.NewExecutor(schema, graph.DefaultLimits, log), Registry: reg, Log: log,
		Ready: []api.Check{{Name: "database", Ping: st.Ping}},
		Mounts: map[string]http.Handler{
			blob.MountPath: blobs.Handler(),
			"/graphql/ws":  graph.NewSubscriptionHandler(graph.SubscriptionConfig{}, schema, tenants, hub, log),
		},
	}
	if o.redis {
		rc := redis.NewClient(&redis.Options{Addr: testenv.Require(t, testenv.RedisAddrVar), DB: 3})
		t.Cleanup(func() { rc.Close() })
		deps.Limiter = api.NewRedisLimiter(rc, 1000, 1000)
	}
	h := api.New(api.DefaultConfig(), deps).Handler()
	hs := httptest.NewServer(h)
	t.Cleanup(hs.Close)
	return &fullStack{stack: &stack{srv: hs, store: st, tenants: tenants, logs: logs}, schema: schema, handler: h, billing: bill,
		webhooks: hooks, hub: hub, queue: queue, evidence: ev}
}

// insurer creates an insurer and a key with every scope per mode asked.
func (f *fullStack) insurer(t testing.TB, name string, mode tenant.Mode, keyModes ...tenant.Mode) (tenant.Insurer, map[tenant.Mode]string) {
	t.Helper()
	ctx := context.Background()
	ins, err := f.tenants.CreateInsurer(ctx, tenant.CreateInsurerInput{Name: name, Country: "FRA", Mode: mode})
	if err != nil {
		t.Fatal(err)
	}
	keys := map[tenant.Mode]string{}
	for _, m := range keyModes {
		_, plain, err := f.tenants.CreateKey(ctx, tenant.CreateKeyInput{InsurerID: ins.ID, Mode: m, Scopes: tenant.AllScopes})
		if err != nil {
			t.Fatal(err)
		}
		keys[m] = plain
	}
	return ins, keys
}

// raw posts a GraphQL request and returns the status and the body.
func (f *fullStack) raw(t testing.TB, key, q string, vars map[string]any) (int, []byte) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": q, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, f.srv.URL+"/graphql", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("X-Purpose", "UNDERWRITING")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}

// must runs a request that has to succeed and returns its data.
func (f *fullStack) must(t testing.TB, key, q string, vars map[string]any) map[string]any {
	t.Helper()
	status, b := f.raw(t, key, q, vars)
	var r gqlResponse
	if err := json.Unmarshal(b, &r); err != nil || status != 200 || len(r.Errors) > 0 {
		t.Fatalf("%s: %d %s", q, status, b)
	}
	return r.Data
}

// path reads a value out of decoded JSON by dotted keys.
func path(v any, keys ...string) any {
	for _, k := range keys {
		m, _ := v.(map[string]any)
		v = m[k]
	}
	return v
}

// tenantData is what insurer A owns, by kind, for the probes to aim at.
type tenantData struct {
	insurer, verification, cancellable, endpoint, delivery, failedDelivery string
	// markers must never appear in a response to anyone but A (in A's
	// mode); insurerMarkers are A's insurer-level values, which A's other
	// mode may see.
	markers, insurerMarkers []string
}

const (
	aSurname   = "Zoltanowska"
	aGiven     = "Ingeborg Maja"
	aDocNumber = "XK4471932"
	aExtRef    = "alpha-policy-7731"
	aIdemKey   = "alpha-idem-0001"
	aHookURL   = "http://127.0.0.1:9/alpha-hook"
	aHookDesc  = "alpha underwriting inbox"
)

func alphaSubmission(extRef string) map[string]any {
	return map[string]any{
		"externalReference": extRef,
		"idempotencyKey":    aIdemKey,
		"metadata":          `{"branch":"alpha-north"}`,
		"policyholder": map[string]any{"givenNames": aGiven, "surname": aSurname, "dateOfBirth": "1969-03-21",
			"nationality": "POL", "sex": "F", "residenceCountry": "DEU"},
		"documents": []any{map[string]any{"type": "PASSPORT", "number": aDocNumber, "issuingCountry": "POL", "expiryDate": "2031-06-30"}},
		"consent":   map[string]any{"reference": "alpha-consent-9", "obtainedAt": "2026-11-27T10:00:00Z", "lawfulBasis": "CONSENT", "purposes": []string{"UNDERWRITING"}},
	}
}

// seedAlpha creates one of everything in insurer A's test mode: two
// verifications (one completed with a REVIEW outcome, one still queued),
// a personal-data read, a webhook endpoint with a pending and a failed
// delivery, a usage row, an export and a budget.
func seedAlpha(t *testing.T, f *fullStack, ins tenant.Insurer, key string) tenantData {
	t.Helper()
	ctx := context.Background()
	a := tenantData{insurer: ins.ID}
	sub := func(in map[string]any) map[string]any {
		d := f.must(t, key, `mutation($in: SubmitVerificationInput!) { submitVerification(input: $in) { verification { id checks { id } } } }`,
			map[string]any{"in": in})
		return path(d, "submitVerification", "verification").(map[string]any)
	}
	v := sub(alphaSubmission(aExtRef))
	a.verification = v["id"].(string)
	second := alphaSubmission(aExtRef + "-b")
	second["idempotencyKey"] = aIdemKey + "-b"
	a.cancellable = sub(second)["id"].(string)
	checkID := v["checks"].([]any)[0].(map[string]any)["id"].(string)

	// Reading personal data writes an audit entry.
	d := f.must(t, key, `query($id: ID!) { verification(id: $id) { policyholder { surname } } }`, map[string]any{"id": a.verification})
	if path(d, "verification", "policyholder", "surname") != aSurname {
		t.Fatalf("read back: %+v", d)
	}
	// Completed with a REVIEW outcome, so the review paths have a target.
	outcome, _ := json.Marshal(risk.Outcome{Score: 55, Band: risk.BandMedium, Decision: risk.DecisionReview, PolicyVersion: 1,
		Reasons: []risk.Reason{}})
	now := time.Now().UnixMicro()
	if _, err := f.store.DB().Exec(fmt.Sprintf(`UPDATE verifications SET status = 'COMPLETED', decision = 'REVIEW', score = 55, band = 'MEDIUM',
		outcome = '%s', policy_version = 1, completed_at = %d WHERE id = '%s'`, outcome, now, a.verification)); err != nil {
		t.Fatal(err)
	}
	d = f.must(t, key, `{ reviewQueue { nodes { id } } }`, nil)
	if n := path(d, "reviewQueue", "nodes").([]any); len(n) != 1 {
		t.Fatalf("review queue of A: %+v", d)
	}

	d = f.must(t, key, `mutation($in: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $in) { endpoint { id } secret } }`,
		map[string]any{"in": map[string]any{"url": aHookURL, "events": []string{"verification.completed"}, "description": aHookDesc}})
	a.endpoint = path(d, "createWebhookEndpoint", "endpoint", "id").(string)
	secret := path(d, "createWebhookEndpoint", "secret").(string)
	for _, dst := range []*string{&a.delivery, &a.failedDelivery} {
		d = f.must(t, key, `mutation($id: ID!) { sendTestWebhook(id: $id) { id } }`, map[string]any{"id": a.endpoint})
		*dst = path(d, "sendTestWebhook", "id").(string)
	}
	if _, err := f.store.DB().Exec(fmt.Sprintf(`UPDATE webhook_deliveries SET status = 'FAILED', next_attempt_at = NULL, completed_at = %d,
		attempts = 1, last_error = 'connection refused' WHERE id = '%s'`, now, a.failedDelivery)); err != nil {
		t.Fatal(err)
	}

	if _, err := f.billing.RecordUsage(ctx, billing.Usage{ID: id.New(id.Usage), InsurerID: ins.ID, Mode: string(tenant.Test),
		Meter: billing.MeterWatchlist, Quantity: 1, Partner: "watchlist", PartnerCost: billing.Money{Minor: 10, Currency: "EUR"},
		VerificationID: a.verification, CheckID: checkID, OccurredAt: time.Now().UTC()}); err != nil {
		t.Fatal(err)
	}
	today := time.Now().UTC().Format(time.DateOnly)
	d = f.must(t, key, `mutation($d: Date!) { exportUsage(from: $d, to: $d) { id rows url } }`, map[string]any{"d": today})
	if path(d, "exportUsage", "rows") != float64(1) {
		t.Fatalf("export of A: %+v", d)
	}
	exportID := path(d, "exportUsage", "id").(string)
	f.must(t, key, `mutation { setBudget(capMinor: 123457, currency: "EUR", hard: true) { month } }`, nil)

	// Every id A owns (the test-mode ones) and every value only A knows.
	a.markers = []string{a.verification, a.cancellable, a.endpoint, a.delivery, a.failedDelivery, exportID, checkID, secret,
		aSurname, aGiven, aDocNumber, aExtRef, aHookURL, aHookDesc, "alpha-consent-9", "alpha-north", "123457"}
	for _, q := range []string{
		`SELECT id FROM checks WHERE insurer_id = '%s'`, `SELECT id FROM outbox_events WHERE insurer_id = '%s'`,
		`SELECT id FROM consents WHERE insurer_id = '%s'`, `SELECT id FROM audit_log WHERE insurer_id = '%s'`,
	} {
		a.markers = append(a.markers, column(t, f.store, fmt.Sprintf(q, ins.ID))...)
	}
	a.insurerMarkers = append([]string{ins.ID, ins.Name}, column(t, f.store, fmt.Sprintf(`SELECT id FROM api_keys WHERE insurer_id = '%s'`, ins.ID))...)
	return a
}

func column(t testing.TB, st *store.Store, q string) []string {
	t.Helper()
	rows, err := st.DB().Query(q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

// insurerRows digests every row that carries the insurer's id, in every
// table (found from the catalogue, so new tables are covered), except the
// throttled last-used stamp of API keys.
func insurerRows(t testing.TB, st *store.Store, insurerID string) string {
	t.Helper()
	var tables []string
	if st.Dialect() == store.Postgres {
		tables = column(t, st, `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() ORDER BY 1`)
	} else {
		tables = column(t, st, `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY 1`)
	}
	h := sha256.New()
	covered := 0
	for _, table := range tables {
		where := ""
		probe, err := st.DB().Query(`SELECT * FROM ` + table + ` WHERE 1 = 0`)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := probe.Columns()
		probe.Close()
		switch {
		case table == "insurers":
			where = "id"
		case slices.Contains(cols, "insurer_id"):
			where = "insurer_id"
		default:
			continue
		}
		covered++
		rows, err := st.DB().Query(`SELECT * FROM ` + table + ` WHERE ` + where + ` = '` + insurerID + `' ORDER BY 1, 2`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			fmt.Fprint(h, table)
			for i, c := range cols {
				if c != "last_used_at" {
					fmt.Fprintf(h, "|%v", vals[i])
				}
			}
			fmt.Fprintln(h)
		}
		rows.Close()
	}
	if covered < 10 {
		t.Fatalf("only %d tables carry an insurer id: the catalogue query is wrong", covered)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// probe is one request aimed at another tenant's data.
type probe struct {
	query string
	// vars builds the variables from the target's ids.
	vars func(a tenantData) map[string]any
	// own marks a field that answers the caller's own data whatever is
	// asked (viewer, budget, create mutations): no unknown-id comparison.
	own bool
	// insurerWide marks data that belongs to the insurer rather than to a
	// mode (its keys, its audit log, its budget): another mode of the same
	// insurer may see it.
	insurerWide bool
	// check adds field-specific assertions on the decoded response.
	check func(r gqlResponse) error
}

// probes maps every root field to the requests that aim it at insurer A's
// data. TestTenantIsolation fails when a root field has no entry, so a new
// field is probed from the day it is added.
func probes() map[string][]probe {
	day := time.Now().UTC().Format(time.DateOnly)
	since := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	ids := func(keys ...string) func(a tenantData) map[string]any {
		return func(a tenantData) map[string]any {
			all := map[string]string{"ins": a.insurer, "ver": a.verification, "open": a.cancellable, "ep": a.endpoint,
				"dlv": a.delivery, "failed": a.failedDelivery}
			m := map[string]any{}
			for _, k := range keys {
				m[k] = all[k]
			}
			return m
		}
	}
	none := func(tenantData) map[string]any { return nil }
	policyDoc := func(tenantData) map[string]any {
		doc, _ := json.Marshal(risk.DefaultPolicy())
		return map[string]any{"p": string(doc)}
	}
	forbidden := func(r gqlResponse) error {
		if len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != "FORBIDDEN" {
			return fmt.Errorf("want FORBIDDEN (operators only): %+v", r.Errors)
		}
		return nil
	}
	noErrors := func(r gqlResponse) error {
		if len(r.Errors) > 0 {
			return fmt.Errorf("errors: %+v", r.Errors)
		}
		return nil
	}
	return map[string][]probe{
		// Queries.
		"viewer":  {{query: `{ viewer { id name mode apiKeyId } }`, vars: none, own: true, insurerWide: true, check: noErrors}},
		"apiKeys": {{query: `{ apiKeys { id prefix mode scopes } }`, vars: none, own: true, insurerWide: true, check: noErrors}},
		"auditLog": {
			{query: `query($ver: ID) { auditLog(filter: {verificationId: $ver}) { nodes { id verificationId detail } } }`, vars: ids("ver"), insurerWide: true},
			{query: `{ auditLog { nodes { id actor action verificationId detail } } }`, vars: none, own: true, insurerWide: true, check: noErrors},
		},
		"budget":         {{query: `{ budget { cap { minor currency } spend { minor } month } }`, vars: none, own: true, insurerWide: true, check: noErrors}},
		"invoicePreview": {{query: `{ invoicePreview { ledger { meter quantity } ledgerTotal { minor } mode note } }`, vars: none, own: true, check: noErrors}},
		"partnerCosts":   {{query: `query($d: Date!) { partnerCosts(from: $d, to: $d) { insurerId meter } }`, vars: func(tenantData) map[string]any { return map[string]any{"d": day} }, own: true, check: forbidden}},
		"reconciliation": {{query: `{ reconciliation { id differences { insurerId } } }`, vars: none, own: true, check: forbidden}},
		"reviewQueue":    {{query: `{ reviewQueue { nodes { id } } }`, vars: none}},
		"usage": {
			{query: `query($ins: ID, $d: Date!) { usage(insurerId: $ins, from: $d, to: $d) { lines { insurerId meter quantity } totals { quantity } } }`,
				vars: func(a tenantData) map[string]any { return map[string]any{"ins": a.insurer, "d": day} }},
			{query: `query($d: Date!) { usage(from: $d, to: $d, groupBy: [METER]) { lines { meter quantity } } }`,
				vars: func(tenantData) map[string]any { return map[string]any{"d": day} }},
		},
		"verification": {{query: `query($ver: ID!) { verification(id: $ver) { id status policyholder { surname } checks { id } evidence { url } } }`, vars: ids("ver")}},
		"verifications": {
			{query: `{ verifications { nodes { id externalReference } } }`, vars: none},
			{query: `query($ref: String) { verifications(filter: {externalReference: $ref}) { nodes { id } } }`,
				vars: func(tenantData) map[string]any { return map[string]any{"ref": aExtRef} }},
		},
		"webhookDeliveries": {
			{query: `query($ep: ID) { webhookDeliveries(endpointId: $ep) { nodes { id endpointId } } }`, vars: ids("ep")},
			{query: `{ webhookDeliveries(status: FAILED) { nodes { id } } }`, vars: none},
		},
		"webhookDelivery":  {{query: `query($dlv: ID!) { webhookDelivery(id: $dlv) { id attempts { number } } }`, vars: ids("dlv")}},
		"webhookEndpoint":  {{query: `query($ep: ID!) { webhookEndpoint(id: $ep) { id url description } }`, vars: ids("ep")}},
		"webhookEndpoints": {{query: `{ webhookEndpoints { nodes { id url } } }`, vars: none}},

		// Mutations.
		"cancelVerification": {{query: `mutation($open: ID!) { cancelVerification(id: $open) { id status } }`, vars: ids("open")}},
		"eraseVerification":  {{query: `mutation($ver: ID!) { eraseVerification(id: $ver, reason: "probe") { id erasedAt } }`, vars: ids("ver")}},
		"resolveReview":      {{query: `mutation($ver: ID!) { resolveReview(id: $ver, decision: APPROVE, note: "probe") { id review { decision } } }`, vars: ids("ver")}},
		"submitVerification": {{
			// A's idempotency key must not replay A's verification.
			query: `mutation($in: SubmitVerificationInput!) { submitVerification(input: $in) { replayed verification { id externalReference } } }`,
			vars: func(tenantData) map[string]any {
				in := alphaSubmission("probe-ref")
				in["policyholder"] = map[string]any{"surname": "Probe", "dateOfBirth": "1980-01-01", "nationality": "FRA", "sex": "X", "residenceCountry": "FRA"}
				in["documents"] = []any{map[string]any{"type": "PASSPORT", "number": "P000001", "issuingCountry": "FRA", "expiryDate": "2032-01-01"}}
				in["metadata"] = nil
				in["consent"] = map[string]any{"reference": "probe-consent", "obtainedAt": "2026-11-27T10:00:00Z", "lawfulBasis": "CONSENT", "purposes": []string{"UNDERWRITING"}}
				return map[string]any{"in": in}
			},
			own: true,
			check: func(r gqlResponse) error {
				if len(r.Errors) > 0 || path(r.Data, "submitVerification", "replayed") != false {
					return fmt.Errorf("another tenant's idempotency key replayed: %+v", r)
				}
				return nil
			},
		}},
		"createWebhookEndpoint": {{query: `mutation { createWebhookEndpoint(input: {url: "https://127.0.0.1:9/probe", events: ["verification.completed"]}) { endpoint { id } } }`,
			vars: none, own: true, check: noErrors}},
		"updateWebhookEndpoint":   {{query: `mutation($ep: ID!) { updateWebhookEndpoint(id: $ep, input: {description: "probe", enabled: false}) { id } }`, vars: ids("ep")}},
		"deleteWebhookEndpoint":   {{query: `mutation($ep: ID!) { deleteWebhookEndpoint(id: $ep) }`, vars: ids("ep")}},
		"rotateWebhookSecret":     {{query: `mutation($ep: ID!) { rotateWebhookSecret(id: $ep) { secret endpoint { id } } }`, vars: ids("ep")}},
		"sendTestWebhook":         {{query: `mutation($ep: ID!) { sendTestWebhook(id: $ep) { id } }`, vars: ids("ep")}},
		"replayWebhookDelivery":   {{query: `mutation($failed: ID!) { replayWebhookDelivery(id: $failed) { id status } }`, vars: ids("failed")}},
		"replayWebhookDeliveries": {{query: `mutation($ep: ID!, $since: DateTime!) { replayWebhookDeliveries(endpointId: $ep, since: $since) }`, vars: func(a tenantData) map[string]any { return map[string]any{"ep": a.endpoint, "since": since} }}},
		"exportUsage": {{query: `mutation($d: Date!) { exportUsage(from: $d, to: $d) { rows } }`, vars: func(tenantData) map[string]any { return map[string]any{"d": day} }, own: true,
			check: func(r gqlResponse) error {
				if len(r.Errors) > 0 || path(r.Data, "exportUsage", "rows") != float64(0) {
					return fmt.Errorf("export holds another tenant's or mode's rows: %+v", r)
				}
				return nil
			}}},
		"riskPolicy":         {{query: `{ riskPolicy { version document } }`, vars: none, own: true, insurerWide: true, check: noErrors}},
		"updateRiskPolicy":   {{query: `mutation($p: String!) { updateRiskPolicy(policy: $p) { version } }`, vars: policyDoc, own: true, insurerWide: true, check: noErrors}},
		"simulateRiskPolicy": {{query: `mutation($p: String!) { simulateRiskPolicy(policy: $p) { total changed examples { verificationId } } }`, vars: policyDoc, own: true, check: noErrors}},
		"setBudget":          {{query: `mutation { setBudget(capMinor: 500, currency: "EUR", hard: false) { cap { minor } } }`, vars: none, own: true, insurerWide: true, check: noErrors}},

		// Subscriptions run over /graphql/ws (see subscriptionProbe).
		"verificationUpdated": {{query: `subscription($ver: ID) { verificationUpdated(id: $ver) { eventId verificationId data } }`, vars: ids("ver")}},
	}
}

// takesID reports whether a root field has an ID argument, at any depth of
// its input objects.
func takesID(args []*graphql.Argument) bool {
	var walk func(t graphql.Type, seen map[string]bool) bool
	walk = func(t graphql.Type, seen map[string]bool) bool {
		switch t := t.(type) {
		case *graphql.NonNull:
			return walk(t.OfType, seen)
		case *graphql.List:
			return walk(t.OfType, seen)
		case *graphql.Scalar:
			return t.Name() == "ID"
		case *graphql.InputObject:
			if seen[t.Name()] {
				return false
			}
			seen[t.Name()] = true
			for _, f := range t.Fields() {
				if walk(f.Type, seen) {
					return true
				}
			}
		}
		return false
	}
	for _, a := range args {
		if walk(a.Type, map[string]bool{}) {
			return true
		}
	}
	return false
}

// rootFields lists the schema's root fields by operation type.
func rootFields(s graphql.Schema) map[string]map[string]*graphql.FieldDefinition {
	out := map[string]map[string]*graphql.FieldDefinition{}
	for name, o := range map[string]*graphql.Object{"query": s.QueryType(), "mutation": s.MutationType(), "subscription": s.SubscriptionType()} {
		if o != nil {
			out[name] = o.Fields()
		}
	}
	return out
}

var requestIDs = regexp.MustCompile(`"requestId":"[^"]*"`)

// normal strips what differs between two identical requests.
func normal(b []byte) string { return requestIDs.ReplaceAllString(string(b), `"requestId":""`) }

// empty reports whether a field's answer holds nothing: null, an empty
// list, a connection without nodes, zero, or an object whose lists are
// all empty.
func empty(v any) bool {
	switch v := v.(type) {
	case nil:
		return true
	case []any:
		return len(v) == 0
	case float64:
		return v == 0
	case map[string]any:
		lists := 0
		for _, x := range v {
			if l, ok := x.([]any); ok {
				if len(l) > 0 {
					return false
				}
				lists++
			}
		}
		return lists > 0
	}
	return false
}

// TestTenantIsolation aims every root field of the schema at insurer A's
// data with insurer B's key, and with a key of A's other mode: the answers
// hold nothing of A's (null, NOT_FOUND or empty, exactly as for an id that
// never existed; never FORBIDDEN, which would say the id exists), and A's
// rows are unchanged afterwards.
func TestTenantIsolation(t *testing.T) {
	for _, d := range storetest.Backends {
		t.Run(string(d), func(t *testing.T) {
			f := newFullStack(t, d, fullOptions{redis: true})
			table := probes()
			covered := 0
			for kind, fields := range rootFields(f.schema) {
				for name, fd := range fields {
					ps, ok := table[name]
					if !ok {
						t.Errorf("%s root field %q has no probe in probes(): add the requests that aim it at another tenant's data", kind, name)
						continue
					}
					covered++
					if takesID(fd.Args) && !slices.ContainsFunc(ps, func(p probe) bool { return !p.own && p.vars(tenantData{}) != nil }) {
						t.Errorf("%s root field %q takes an id but no probe passes one of A's ids", kind, name)
					}
				}
			}
			if covered < 25 {
				t.Fatalf("only %d root fields found", covered)
			}

			alpha, aKeys := f.insurer(t, "Alpha Assurance", tenant.Live, tenant.Test, tenant.Live)
			beta, bKeys := f.insurer(t, "Beta Insurance", tenant.Test, tenant.Test)
			a := seedAlpha(t, f, alpha, aKeys[tenant.Test])
			// Plaintext keys must never come back to anyone.
			secrets := []string{aKeys[tenant.Test], aKeys[tenant.Live], bKeys[tenant.Test]}

			for _, caller := range []struct {
				name    string
				key     string
				mode    tenant.Mode
				insurer string
				// sameInsurer: A's other mode, which may see A's insurer-level data.
				sameInsurer bool
			}{
				{"other insurer", bKeys[tenant.Test], tenant.Test, beta.ID, false},
				{"same insurer, live mode", aKeys[tenant.Live], tenant.Live, alpha.ID, true},
			} {
				t.Run(caller.name, func(t *testing.T) {
					before := insurerRows(t, f.store, alpha.ID)
					testRows := alphaTestRows(t, f.store, a)
					markers := slices.Clone(a.markers)
					if !caller.sameInsurer {
						markers = append(markers, a.insurerMarkers...)
					}
					// Queries first, so lists are read before the caller's own
					// mutations add to them.
					var names []string
					roots := rootFields(f.schema)
					for _, kind := range []string{"query", "mutation", "subscription"} {
						kindNames := make([]string, 0, len(roots[kind]))
						for n := range roots[kind] {
							kindNames = append(kindNames, n)
						}
						sort.Strings(kindNames)
						names = append(names, kindNames...)
					}
					for _, name := range names {
						for i, p := range table[name] {
							if caller.sameInsurer && p.insurerWide {
								continue
							}
							t.Run(fmt.Sprintf("%s#%d", name, i), func(t *testing.T) {
								if strings.HasPrefix(p.query, "subscription") {
									subscriptionProbe(t, f, caller.key, caller.insurer, caller.mode, a)
									return
								}
								runProbe(t, f, caller.key, name, p, a, caller.sameInsurer, append(markers, secrets...))
							})
						}
					}
					if !caller.sameInsurer {
						if after := insurerRows(t, f.store, alpha.ID); after != before {
							t.Error("another insurer's requests changed insurer A's rows")
						}
					}
					if after := alphaTestRows(t, f.store, a); after != testRows {
						t.Error("the requests changed insurer A's test-mode rows")
					}
				})
			}
		})
	}
}

// alphaTestRows digests A's test-mode data only, which A's live key must
// leave alone while it legitimately writes live rows of the same insurer.
func alphaTestRows(t testing.TB, st *store.Store, a tenantData) string {
	t.Helper()
	in := "('" + a.verification + "', '" + a.cancellable + "')"
	h := sha256.New()
	for _, q := range []string{
		`SELECT * FROM verifications WHERE id IN ` + in + ` ORDER BY id`,
		`SELECT * FROM checks WHERE verification_id IN ` + in + ` ORDER BY id`,
		`SELECT * FROM consents WHERE verification_id IN ` + in + ` ORDER BY id`,
		`SELECT id FROM outbox_events WHERE subject_id IN ` + in + ` ORDER BY id`,
		`SELECT id FROM audit_log WHERE verification_id IN ` + in + ` ORDER BY id`,
		`SELECT * FROM webhook_endpoints WHERE id = '` + a.endpoint + `'`,
		`SELECT * FROM webhook_deliveries WHERE endpoint_id = '` + a.endpoint + `' ORDER BY id`,
		`SELECT * FROM usage_events WHERE insurer_id = '` + a.insurer + `' AND mode = 'TEST' ORDER BY id`,
		`SELECT * FROM usage_exports WHERE insurer_id = '` + a.insurer + `' AND mode = 'TEST' ORDER BY id`,
	} {
		rows, err := st.DB().Query(q)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		n := 0
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
			n++
		}
		rows.Close()
		if n == 0 && !strings.Contains(q, "audit_log") && !strings.Contains(q, "outbox_events") {
			t.Fatalf("seed missing: %s", q)
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

func runProbe(t *testing.T, f *fullStack, key, field string, p probe, a tenantData, sameInsurer bool, markers []string) {
	t.Helper()
	status, body := f.raw(t, key, p.query, p.vars(a))
	var r gqlResponse
	if err := json.Unmarshal(body, &r); err != nil || status >= 500 {
		t.Fatalf("%d %s", status, body)
	}
	for _, m := range markers {
		if m != "" && strings.Contains(string(body), m) {
			t.Fatalf("the answer holds A's %q: %s", m, body)
		}
	}
	if p.check != nil {
		if err := p.check(r); err != nil {
			t.Fatal(err)
		}
	}
	if p.own {
		return
	}
	// Nothing of A's: null, empty or NOT_FOUND; never FORBIDDEN, which
	// would confirm that the id exists.
	for _, e := range r.Errors {
		if e.Extensions["code"] != "NOT_FOUND" {
			t.Fatalf("want nothing or NOT_FOUND, got %v: %s", e.Extensions["code"], body)
		}
	}
	if len(r.Errors) == 0 && !empty(r.Data[field]) {
		t.Fatalf("want an empty answer: %s", body)
	}
	// Exactly the answer to ids that never existed.
	unknown := tenantData{insurer: id.New(id.Insurer), verification: id.New(id.Verification), cancellable: id.New(id.Verification),
		endpoint: id.New(id.Webhook), delivery: id.New(id.Delivery), failedDelivery: id.New(id.Delivery)}
	if sameInsurer {
		unknown.insurer = a.insurer // the caller's own insurer
	}
	ustatus, ubody := f.raw(t, key, p.query, p.vars(unknown))
	for _, pair := range [][2]string{{a.insurer, unknown.insurer}, {a.verification, unknown.verification}, {a.cancellable, unknown.cancellable},
		{a.endpoint, unknown.endpoint}, {a.delivery, unknown.delivery}, {a.failedDelivery, unknown.failedDelivery}} {
		ubody = []byte(strings.ReplaceAll(string(ubody), pair[1], pair[0]))
	}
	if ustatus != status || normal(ubody) != normal(body) {
		t.Fatalf("A's id and an unknown id answer differently:\n A's:    %d %s\n unknown: %d %s", status, body, ustatus, ubody)
	}
}

type wsMessage struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// subscriptionProbe subscribes to A's verification with the caller's key,
// broadcasts an event of A's (test mode) and then one of the caller's own
// on the same subject, and expects the caller's own to arrive first.
func subscriptionProbe(t *testing.T, f *fullStack, key, insurerID string, mode tenant.Mode, a tenantData) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	url := "ws" + strings.TrimPrefix(f.srv.URL, "http") + "/graphql/ws"
	c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{graph.Subprotocol},
		HTTPHeader: http.Header{"Authorization": {"Bearer " + key}}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	var m wsMessage
	if err := wsjson.Write(ctx, c, wsMessage{Type: "connection_init"}); err != nil {
		t.Fatal(err)
	}
	if err := wsjson.Read(ctx, c, &m); err != nil || m.Type != "connection_ack" {
		t.Fatalf("ack: %+v %v", m, err)
	}
	before := f.hub.Len()
	q, _ := json.Marshal(graph.Request{Query: `subscription($id: ID) { verificationUpdated(id: $id) { eventId verificationId } }`,
		Variables: map[string]any{"id": a.verification}})
	if err := wsjson.Write(ctx, c, wsMessage{ID: "1", Type: "subscribe", Payload: q}); err != nil {
		t.Fatal(err)
	}
	for f.hub.Len() == before {
		if ctx.Err() != nil {
			t.Fatal("subscription never registered")
		}
		time.Sleep(5 * time.Millisecond)
	}
	theirs := id.New(id.Event)
	mine := id.New(id.Event)
	f.hub.Broadcast(outbox.Event{ID: theirs, InsurerID: a.insurer, Mode: string(tenant.Test), SubjectID: a.verification,
		Type: outbox.VerificationCompleted, Payload: []byte(`{}`), CreatedAt: time.Now()})
	f.hub.Broadcast(outbox.Event{ID: mine, InsurerID: insurerID, Mode: string(mode), SubjectID: a.verification,
		Type: outbox.VerificationCompleted, Payload: []byte(`{}`), CreatedAt: time.Now()})
	if err := wsjson.Read(ctx, c, &m); err != nil {
		t.Fatal(err)
	}
	if m.Type != "next" || !strings.Contains(string(m.Payload), mine) || strings.Contains(string(m.Payload), theirs) {
		t.Fatalf("first event: %s %s", m.Type, m.Payload)
	}
}
