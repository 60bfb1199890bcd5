package api_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/borderproof/borderproof/internal/store"
)

const submitMutation = `mutation Submit($input: SubmitVerificationInput!) {
  submitVerification(input: $input) { replayed verification { id status checks { type status } } } }`

func submitBody(t *testing.T, holder map[string]any) []byte {
	t.Helper()
	b, _ := json.Marshal(map[string]any{"query": submitMutation, "variables": map[string]any{"input": map[string]any{
		"externalReference": "policy-0001",
		"policyholder":      holder,
		"documents":         []any{map[string]any{"type": "PASSPORT", "number": "L898902C3", "issuingCountry": "SWE", "expiryDate": "2030-04-15"}},
		"consent":           map[string]any{"reference": "consent-123", "obtainedAt": "2026-11-27T10:00:00Z", "lawfulBasis": "CONSENT", "purposes": []string{"UNDERWRITING"}},
	}}})
	return b
}

func holder() map[string]any {
	return map[string]any{"givenNames": "Anna Maria", "surname": "Eriksson", "dateOfBirth": "1974-08-12",
		"nationality": "SWE", "sex": "F", "residenceCountry": "SWE"}
}

// TestSubmitAndReadOverHTTP is the README's walk-through as a test: submit,
// replay with the Idempotency-Key header, read back, read personal data.
func TestSubmitAndReadOverHTTP(t *testing.T) {
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		t.Run(string(d), func(t *testing.T) {
			s := newStack(t, d, 1000, 1000)
			status, _, res := s.doWith(t, s.full, submitBody(t, holder()), map[string]string{"Idempotency-Key": "abc"})
			if status != 200 || len(res.Errors) > 0 {
				t.Fatalf("submit: %d %+v", status, res)
			}
			v := res.Data["submitVerification"].(map[string]any)["verification"].(map[string]any)
			if v["status"] != "QUEUED" || len(v["checks"].([]any)) != 5 {
				t.Fatalf("submitted: %+v", v)
			}
			_, _, again := s.doWith(t, s.full, submitBody(t, holder()), map[string]string{"Idempotency-Key": "abc"})
			p := again.Data["submitVerification"].(map[string]any)
			if p["replayed"] != true || p["verification"].(map[string]any)["id"] != v["id"] {
				t.Fatalf("replay: %+v", again)
			}
			q, _ := json.Marshal(map[string]any{"query": `query($id: ID!) { verification(id: $id) { id status consent { lawfulBasis } policyholder { surname documents { number } } } }`,
				"variables": map[string]any{"id": v["id"]}})
			_, _, read := s.doWith(t, s.full, q, map[string]string{"X-Purpose": "UNDERWRITING"})
			got := read.Data["verification"].(map[string]any)
			ph := got["policyholder"].(map[string]any)
			if ph["surname"] != "Eriksson" || got["consent"].(map[string]any)["lawfulBasis"] != "CONSENT" {
				t.Fatalf("read: %+v", read)
			}
			// Without pii:read the field is FORBIDDEN and the rest answers.
			_, _, limited := s.doWith(t, s.readKey, q, nil)
			if limited.Data["verification"].(map[string]any)["id"] != v["id"] || len(limited.Errors) != 1 || limited.Errors[0].Extensions["code"] != "FORBIDDEN" {
				t.Fatalf("read without pii:read: %+v", limited)
			}
		})
	}
}

func TestSubmitInvalidInputOverHTTP(t *testing.T) {
	s := newStack(t, store.SQLite, 1000, 1000)
	before := snapshot(t, s.store)
	h := holder()
	h["dateOfBirth"] = "1974-02-30"
	h["nationality"] = "XXQ"
	_, _, res := s.do(t, s.full, submitBody(t, h))
	if len(res.Errors) != 1 || res.Errors[0].Extensions["code"] != "INVALID_INPUT" {
		t.Fatalf("invalid: %+v", res)
	}
	fields, _ := res.Errors[0].Extensions["fields"].([]any)
	paths := map[string]bool{}
	for _, f := range fields {
		paths[f.(map[string]any)["path"].(string)] = true
	}
	if !paths["policyholder.dateOfBirth"] || !paths["policyholder.nationality"] {
		t.Fatalf("fields: %+v", fields)
	}
	// An enum value graphql-go refuses while coercing: the message must not
	// echo the policyholder's details back.
	h = holder()
	h["sex"] = "Q"
	_, _, res = s.do(t, s.full, submitBody(t, h))
	if len(res.Errors) == 0 || res.Errors[0].Extensions["code"] != "INVALID_INPUT" || strings.Contains(res.Errors[0].Message, "Eriksson") {
		t.Fatalf("coercion error: %+v", res)
	}
	if after := snapshot(t, s.store); after != before {
		t.Fatal("invalid submissions changed rows")
	}
}
