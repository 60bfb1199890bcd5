package api_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/borderproof/borderproof/internal/billing"
	"github.com/borderproof/borderproof/internal/id"
	"github.com/borderproof/borderproof/internal/store"
	"github.com/borderproof/borderproof/internal/tenant"
	"github.com/borderproof/borderproof/internal/testenv"
	"github.com/borderproof/borderproof/internal/webhook"
)

// TestSecretsNeverReachTheLogs runs a whole flow at debug level, the most
// the service ever logs, with billing talking to stripe-mock: keys are
// created, used, mistyped and revoked; a policyholder is submitted (once
// with values the schema refuses), read and erased; a webhook endpoint is
// created, delivered to, rotated and delivered to again; usage goes to
// Stripe and an invoice preview comes back. The log then holds no API key,
// no webhook secret, no Stripe key and no personal value.
func TestSecretsNeverReachTheLogs(t *testing.T) {
	ctx := context.Background()
	var buf [12]byte
	_, _ = rand.Read(buf[:])
	stripeKey := "sk_test_" + hex.EncodeToString(buf[:])
	s := newFullStack(t, store.SQLite, fullOptions{redis: true, level: slog.LevelDebug,
		stripeURL: testenv.Require(t, testenv.StripeURLVar), stripeKey: stripeKey})

	ins, keys := s.insurer(t, "Secretive Mutual", tenant.Test, tenant.Test)
	key := keys[tenant.Test]
	_, readKey, err := s.tenants.CreateKey(ctx, tenant.CreateKeyInput{InsurerID: ins.ID, Mode: tenant.Test, Scopes: []tenant.Scope{tenant.ScopeVerificationsRead}})
	if err != nil {
		t.Fatal(err)
	}
	_, revoked, err := s.tenants.CreateKey(ctx, tenant.CreateKeyInput{InsurerID: ins.ID, Mode: tenant.Test, Scopes: tenant.AllScopes})
	if err != nil {
		t.Fatal(err)
	}
	p, _ := s.tenants.Authenticate(ctx, revoked)
	if err := s.tenants.RevokeKey(ctx, ins.ID, p.Key.ID); err != nil {
		t.Fatal(err)
	}
	mistyped := key[:len(key)-4] + "AAAA"
	if _, err := s.billing.Setup(ctx); err != nil {
		t.Fatalf("billing setup against stripe-mock: %v", err)
	}
	if _, err := s.billing.SyncCustomers(ctx, []tenant.Insurer{ins}); err != nil {
		t.Fatalf("customers: %v", err)
	}

	personal := []string{"Oyelaran-Whitcombe", "Temitope Josephine", "1981-11-05", "QZ7731904", "consent-secret-ref"}
	input := map[string]any{
		"externalReference": "policy-secret",
		"policyholder": map[string]any{"givenNames": personal[1], "surname": personal[0], "dateOfBirth": personal[2],
			"nationality": "NGA", "sex": "F", "residenceCountry": "GBR"},
		"documents": []any{map[string]any{"type": "PASSPORT", "number": personal[3], "issuingCountry": "NGA", "expiryDate": "2031-01-31"}},
		"consent":   map[string]any{"reference": personal[4], "obtainedAt": "2026-11-27T10:00:00Z", "lawfulBasis": "CONSENT", "purposes": []string{"UNDERWRITING"}},
	}
	submit := `mutation($in: SubmitVerificationInput!) { submitVerification(input: $in) { verification { id checks { id } } } }`
	d := s.must(t, key, submit, map[string]any{"in": input})
	ver := path(d, "submitVerification", "verification").(map[string]any)
	verID := ver["id"].(string)
	checkID := ver["checks"].([]any)[0].(map[string]any)["id"].(string)
	d = s.must(t, key, `query($id: ID!) { verification(id: $id) { policyholder { surname givenNames dateOfBirth documents { number } } } }`,
		map[string]any{"id": verID})
	if path(d, "verification", "policyholder", "surname") != personal[0] {
		t.Fatalf("read back: %+v", d)
	}
	// Values the schema refuses, in the places a careless client puts them.
	bad := map[string]any{}
	_ = json.Unmarshal(must(json.Marshal(input)), &bad)
	bad["policyholder"].(map[string]any)["sex"] = personal[0]
	bad["policyholder"].(map[string]any)["dateOfBirth"] = []any{personal[1]}
	bad["documents"].([]any)[0].(map[string]any)["type"] = personal[3]
	if status, b := s.raw(t, key, submit, map[string]any{"in": bad}); status != 200 || !strings.Contains(string(b), "INVALID_INPUT") {
		t.Fatalf("refused input: %d %s", status, b)
	}
	// Personal data without the scope, with a revoked key and a mistyped one.
	s.raw(t, readKey, `query($id: ID!) { verification(id: $id) { policyholder { surname } } }`, map[string]any{"id": verID})
	for _, k := range []string{revoked, mistyped} {
		if status, _ := s.raw(t, k, `{ viewer { id } }`, nil); status != http.StatusUnauthorized {
			t.Fatalf("key %s…: %d", k[:12], status)
		}
	}

	// A receiver that checks nothing but counts the signed deliveries.
	var received atomic.Int32
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if r.Header.Get("webhook-signature") != "" {
			received.Add(1)
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer rcv.Close()
	d = s.must(t, key, `mutation($in: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $in) { secret endpoint { id } } }`,
		map[string]any{"in": map[string]any{"url": rcv.URL + "/hook", "events": []string{"verification.completed"}}})
	secrets := []string{path(d, "createWebhookEndpoint", "secret").(string)}
	endpoint := path(d, "createWebhookEndpoint", "endpoint", "id").(string)
	deliver := func() {
		t.Helper()
		s.must(t, key, `mutation($id: ID!) { sendTestWebhook(id: $id) { id } }`, map[string]any{"id": endpoint})
		for _, payload := range s.queue.take(webhook.TaskDeliver) {
			p, err := webhook.DecodeDeliver(payload)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.webhooks.Deliver(ctx, p); err != nil {
				t.Fatalf("deliver: %v", err)
			}
		}
	}
	deliver()
	d = s.must(t, key, `mutation($id: ID!) { rotateWebhookSecret(id: $id) { secret } }`, map[string]any{"id": endpoint})
	secrets = append(secrets, path(d, "rotateWebhookSecret", "secret").(string))
	deliver()
	if received.Load() != 2 {
		t.Fatalf("the receiver got %d signed deliveries, want 2", received.Load())
	}

	// Usage to Stripe, and Stripe's invoice preview back.
	if _, err := s.billing.RecordUsage(ctx, billing.Usage{ID: id.New(id.Usage), InsurerID: ins.ID, Mode: string(tenant.Test),
		Meter: billing.MeterWatchlist, Quantity: 1, Partner: "watchlist", PartnerCost: billing.Money{Minor: 10, Currency: "EUR"},
		VerificationID: verID, CheckID: checkID, OccurredAt: time.Now().UTC()}); err != nil {
		t.Fatal(err)
	}
	runs, err := s.billing.Sync(ctx)
	if err != nil || len(runs) == 0 || runs[0].Accepted != 1 {
		t.Fatalf("sync to stripe-mock: %+v %v", runs, err)
	}
	d = s.must(t, key, `{ invoicePreview { stripeConfigured note } }`, nil)
	if path(d, "invoicePreview", "stripeConfigured") != true {
		t.Fatalf("preview: %+v", d)
	}
	s.must(t, key, `mutation($id: ID!) { eraseVerification(id: $id, reason: "data subject request") { erasedAt } }`, map[string]any{"id": verID})

	logs := s.logs.String()
	// The log was written: requests and Stripe calls are in it.
	for _, want := range []string{"mutation:submitVerification", "mutation:rotateWebhookSecret", "status\":401", "stripe: Requesting POST"} {
		if !strings.Contains(logs, want) {
			t.Errorf("the log never mentions %q; is it wired?\n%s", want, logs)
		}
	}
	forbidden := map[string]string{"Stripe key": stripeKey, "Stripe key body": strings.TrimPrefix(stripeKey, "sk_test_")}
	for i, k := range []string{key, readKey, revoked, mistyped} {
		forbidden["API key "+string(rune('0'+i))] = k
		forbidden["API key body "+string(rune('0'+i))] = k[len("bp_test_"):]
	}
	for i, sec := range secrets {
		forbidden["webhook secret "+string(rune('0'+i))] = sec
		forbidden["webhook secret body "+string(rune('0'+i))] = strings.TrimPrefix(sec, "whsec_")
	}
	for _, v := range personal {
		forbidden["personal value "+v] = v
	}
	for what, v := range forbidden {
		if len(v) < 8 {
			t.Fatalf("%s is too short to search for: %q", what, v)
		}
		if strings.Contains(logs, v) {
			t.Errorf("the log holds the %s", what)
		}
	}
	if t.Failed() {
		t.Logf("log:\n%s", logs)
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}
