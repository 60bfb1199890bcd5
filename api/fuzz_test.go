package api_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/borderproof/borderproof/internal/store"
	"github.com/borderproof/borderproof/internal/tenant"
)

// clientCodes is the fixed list of extensions.code values a client can
// receive. INTERNAL is a code too, but no request may cause one while the
// database is healthy, so the fuzzer treats it as a failure.
var clientCodes = []string{"INVALID_INPUT", "NOT_FOUND", "CONFLICT", "UNAUTHENTICATED", "FORBIDDEN", "RATE_LIMITED",
	"BUDGET_EXCEEDED", "UNAVAILABLE"}

// fuzzSeeds are real requests: the README's walk-through, every feature's
// queries and mutations, and the malformed bodies clients do send.
func fuzzSeeds() []string {
	b, _ := json.Marshal(map[string]any{"query": submitMutation, "variables": map[string]any{"input": map[string]any{
		"externalReference": "policy-0001",
		"policyholder":      holder(),
		"documents":         []any{map[string]any{"type": "PASSPORT", "number": "L898902C3", "issuingCountry": "SWE", "expiryDate": "2030-04-15"}},
		"consent":           map[string]any{"reference": "consent-123", "obtainedAt": "2026-11-27T10:00:00Z", "lawfulBasis": "CONSENT", "purposes": []string{"UNDERWRITING"}},
	}}})
	return []string{
		string(b),
		`{"query":"{ viewer { id name mode scopes apiKeyId country region } }"}`,
		`{"query":"query($id: ID!) { verification(id: $id) { id status consent { lawfulBasis } policyholder { surname documents { number } } checks { type status reasons } outcome { score band decision reasons { code points } } evidence { url } } }","variables":{"id":"ver_01jdq0000000000000000000"}}`,
		`{"query":"query($f: VerificationFilter) { verifications(first: 5, filter: $f) { edges { cursor node { id } } pageInfo { hasNextPage endCursor } } }","variables":{"f":{"status":"COMPLETED","createdFrom":"2026-01-01T00:00:00Z"}}}`,
		`{"query":"{ reviewQueue(first: 3) { nodes { id } } auditLog(first: 2, filter: {action: \"pii.read\"}) { nodes { id detail } } }"}`,
		`{"query":"mutation { resolveReview(id: \"ver_x\", decision: APPROVE, note: \"ok\") { id } }"}`,
		`{"query":"mutation($id: ID!) { cancelVerification(id: $id) { id } eraseVerification(id: $id, reason: \"request\") { id } }","variables":{"id":"ver_x"}}`,
		`{"query":"mutation($in: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $in) { secret endpoint { id url events } } }","variables":{"in":{"url":"https://127.0.0.1:9/hook","events":["verification.completed"],"description":"desk"}}}`,
		`{"query":"mutation { updateWebhookEndpoint(id: \"whk_x\", input: {enabled: false, clearDescription: true}) { id } rotateWebhookSecret(id: \"whk_x\") { secret } }"}`,
		`{"query":"{ webhookEndpoints { nodes { id } } webhookDeliveries(status: FAILED, first: 100) { nodes { id attempts { number statusCode } } } }"}`,
		`{"query":"mutation { replayWebhookDeliveries(endpointId: \"whk_x\", since: \"2026-11-01T00:00:00Z\") }"}`,
		`{"query":"query($from: Date!, $to: Date!) { usage(from: $from, to: $to, groupBy: [DAY, METER]) { lines { day meter quantity amount { minor currency } } } invoicePreview(period: \"2026-11\") { stripeConfigured note } budget { month } }","variables":{"from":"2026-11-01","to":"2026-11-30"}}`,
		`{"query":"mutation { exportUsage(from: \"2026-11-01\", to: \"2026-11-02\") { rows url } setBudget(capMinor: 100000, currency: \"EUR\", hard: true) { month } }"}`,
		`{"query":"{ partnerCosts(from: \"2026-11-01\", to: \"2026-11-02\") { meter } reconciliation(limit: 1) { id } apiKeys { id } }"}`,
		`{"query":"subscription { verificationUpdated { eventId } }"}`,
		`{"query":"query A { viewer { id } } query B { apiKeys { id } }","operationName":"B"}`,
		`{"query":"{ __schema { queryType { fields { name args { name } } } } }"}`,
		`{"query":"query($n: Int = \"Eriksson\") { verifications(first: $n) { nodes { id } } }"}`,
		`{"query":"{ verifications(first: 1000) { nodes { id } } }"}`,
		`{"query":"{ viewer { ...F } } fragment F on Viewer { ...F }"}`,
		`{"query":"{ viewer { id } }","variables":[1,2]}`,
		`{"query":`, `[]`, `null`, `"x"`, ``, `{"query":"{ viewer { id "}`,
	}
}

// FuzzGraphQLRequest posts arbitrary bodies through the whole handler
// (middleware, authentication, executor, every resolver) with one of four
// credentials: the answer is never a 5xx other than 503, always a JSON
// object, and every error carries a code from the fixed list and the
// request id.
func FuzzGraphQLRequest(f *testing.F) {
	s := newFullStack(f, store.SQLite, fullOptions{})
	ins, keys := s.insurer(f, "Fuzz Mutual", tenant.Test, tenant.Test)
	_, readPlain, err := s.tenants.CreateKey(f.Context(), tenant.CreateKeyInput{InsurerID: ins.ID, Mode: tenant.Test,
		Scopes: []tenant.Scope{tenant.ScopeVerificationsRead}})
	if err != nil {
		f.Fatal(err)
	}
	credentials := []string{"Bearer " + keys[tenant.Test], "Bearer " + readPlain, "", "Bearer bp_test_" + strings.Repeat("A", 43)}
	for i, body := range fuzzSeeds() {
		f.Add([]byte(body), uint8(i%2))
	}
	f.Add([]byte(`{"query":"{ viewer { id } }"}`), uint8(2))
	f.Add([]byte(`{"query":"{ viewer { id } }"}`), uint8(3))

	f.Fuzz(func(t *testing.T, body []byte, who uint8) {
		req := httptest.NewRequest(http.MethodPost, "/graphql", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if c := credentials[int(who)%len(credentials)]; c != "" {
			req.Header.Set("Authorization", c)
		}
		rec := httptest.NewRecorder()
		s.handler.ServeHTTP(rec, req)
		if rec.Code >= 500 && rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
		if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Fatalf("Content-Type %q", ct)
		}
		var res map[string]json.RawMessage
		if err := json.Unmarshal(rec.Body.Bytes(), &res); err != nil {
			t.Fatalf("body is not a JSON object (%d): %s", rec.Code, rec.Body)
		}
		for k := range res {
			if k != "data" && k != "errors" {
				t.Fatalf("unexpected member %q: %s", k, rec.Body)
			}
		}
		var errors []struct {
			Message    string         `json:"message"`
			Extensions map[string]any `json:"extensions"`
		}
		if raw, ok := res["errors"]; ok {
			if err := json.Unmarshal(raw, &errors); err != nil || len(errors) == 0 {
				t.Fatalf("errors is not a list of errors: %s", rec.Body)
			}
		} else if rec.Code != http.StatusOK {
			t.Fatalf("status %d without errors: %s", rec.Code, rec.Body)
		}
		for _, e := range errors {
			code, _ := e.Extensions["code"].(string)
			rid, _ := e.Extensions["requestId"].(string)
			if !slices.Contains(clientCodes, code) || !strings.HasPrefix(rid, "req_") || e.Message == "" {
				t.Fatalf("error outside the contract (%d): %s", rec.Code, rec.Body)
			}
		}
	})
}
