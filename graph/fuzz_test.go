package graph_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/graphql-go/graphql"

	"github.com/borderproof/borderproof/graph"
	"github.com/borderproof/borderproof/internal/obs"
	"github.com/borderproof/borderproof/internal/store"
	"github.com/borderproof/borderproof/internal/store/storetest"
	"github.com/borderproof/borderproof/internal/tenant"
	"github.com/borderproof/borderproof/internal/vault"
	"github.com/borderproof/borderproof/internal/verification"
)

// clientCodes is the fixed list of extensions.code values. INTERNAL is
// left out on purpose: no input may cause one.
var clientCodes = []string{"INVALID_INPUT", "NOT_FOUND", "CONFLICT", "UNAUTHENTICATED", "FORBIDDEN", "RATE_LIMITED",
	"BUDGET_EXCEEDED", "UNAVAILABLE"}

const fuzzSubmit = `mutation Submit($input: SubmitVerificationInput!) {
  submitVerification(input: $input) { replayed warnings verification { id status checks { type status } } } }`

// submitFields are the string fields of SubmitVerificationInput the fuzzer
// fills, in the order of the fuzz arguments.
var submitFields = []string{
	"policyholder.givenNames", "policyholder.surname", "policyholder.dateOfBirth", "policyholder.nationality",
	"policyholder.sex", "policyholder.residenceCountry",
	"documents.0.type", "documents.0.number", "documents.0.issuingCountry", "documents.0.expiryDate", "documents.0.mrz.0",
	"consent.reference", "consent.obtainedAt", "consent.lawfulBasis", "consent.purposes.0",
	"metadata", "externalReference",
}

// submitVariables builds $input from the fuzzed strings. Each two bits of
// shape change one field's JSON type (as is, a list around it, a number,
// or null) and the high bits change the structure, the way a careless or
// hostile client would.
func submitVariables(vals []string, shape uint64) map[string]any {
	input := map[string]any{
		"policyholder": map[string]any{},
		"documents":    []any{map[string]any{"mrz": []any{nil}}},
		"consent":      map[string]any{"purposes": []any{nil}},
	}
	for i, p := range submitFields {
		var v any = vals[i]
		switch (shape >> (2 * i)) & 3 {
		case 1:
			v = []any{vals[i]}
		case 2:
			v = float64(len(vals[i])) + 0.5
		case 3:
			v = nil
		}
		set(input, strings.Split(p, "."), v)
	}
	hi := shape >> 40
	if hi&1 != 0 {
		input["policyholder"] = vals[1] // a string where an object belongs
	}
	if hi&2 != 0 {
		input["documents"] = input["documents"].([]any)[0] // one object where a list belongs
	}
	if hi&4 != 0 {
		input["unexpected"] = vals[0] // a field the type does not have
	}
	if hi&8 != 0 {
		input["checks"] = []any{vals[7], "WATCHLIST"}
	}
	if hi&16 != 0 {
		input["policy"] = map[string]any{"reference": vals[16], "product": vals[4], "startDate": vals[9], "coverageCountry": vals[3]}
	}
	if hi&32 != 0 {
		input["documents"] = []any{}
	}
	return map[string]any{"input": input}
}

func set(m map[string]any, keys []string, v any) {
	var cur any = m
	for i, k := range keys {
		last := i == len(keys)-1
		switch c := cur.(type) {
		case map[string]any:
			if last {
				c[k] = v
				return
			}
			cur = c[k]
		case []any:
			if last {
				c[0] = v
				return
			}
			cur = c[0]
		}
	}
}

// stringsIn lists every string in a decoded JSON value.
func stringsIn(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, x := range v {
			out = append(out, stringsIn(x)...)
		}
		return out
	case map[string]any:
		var out []string
		for _, x := range v {
			out = append(out, stringsIn(x)...)
		}
		return out
	}
	return nil
}

// shifted replaces every letter and digit of every string by the next one
// of its class, keeping lengths and shapes, so a second run tells text the
// service wrote from text it echoed.
func shifted(v any) any {
	switch v := v.(type) {
	case string:
		return strings.Map(func(r rune) rune {
			switch {
			case r == 'z':
				return 'a'
			case r == 'Z':
				return 'A'
			case r == '9':
				return '0'
			case r < utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r)):
				return r + 1
			case unicode.IsLetter(r) || unicode.IsDigit(r):
				return r ^ 1
			}
			return r
		}, v)
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = shifted(x)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[k] = shifted(x)
		}
		return out
	}
	return v
}

// fuzzError is one error as a client sees it.
type fuzzError struct {
	Message    string `json:"message"`
	Extensions struct {
		Code   string `json:"code"`
		Fields []struct {
			Path    string `json:"path"`
			Message string `json:"message"`
		} `json:"fields"`
	} `json:"extensions"`
}

// texts are the words of an error a client reads.
func (e fuzzError) texts() []string {
	out := []string{e.Message}
	for _, f := range e.Extensions.Fields {
		out = append(out, f.Path, f.Message)
	}
	return out
}

func run(t *testing.T, ex *graph.Executor, ctx context.Context, vars map[string]any) []fuzzError {
	t.Helper()
	// Round-trip through JSON: the executor sees what the HTTP layer hands
	// it, never a Go value a client could not send.
	b, err := json.Marshal(vars)
	if err != nil {
		t.Skip("not representable as JSON")
	}
	var decoded map[string]any
	if err := json.Unmarshal(b, &decoded); err != nil {
		t.Fatal(err)
	}
	out := ex.Execute(ctx, graph.Request{Query: fuzzSubmit, Variables: decoded}, false)
	if out.Status >= 500 {
		t.Fatalf("status %d", out.Status)
	}
	raw, err := json.Marshal(out.Result)
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		Errors []fuzzError `json:"errors"`
	}
	if err := json.Unmarshal(raw, &res); err != nil {
		t.Fatal(err)
	}
	for _, e := range res.Errors {
		if !slices.Contains(clientCodes, e.Extensions.Code) {
			t.Fatalf("error without a client code: %s", raw)
		}
	}
	return res.Errors
}

// leaks returns a run of at least minEcho bytes of a string variable that
// an error message repeats; "" when none does.
const minEcho = 6

func leaks(values []string, errors []fuzzError, vocabulary string) string {
	for _, v := range values {
		for i := 0; i+minEcho <= len(v); i++ {
			w := v[i : i+minEcho]
			if strings.Contains(vocabulary, w) {
				continue // the schema's own words ("policy" of "policyholder")
			}
			for _, e := range errors {
				for _, txt := range e.texts() {
					if strings.Contains(txt, w) {
						return w
					}
				}
			}
		}
	}
	return ""
}

// schemaVocabulary is every type, field, input field and enum value name of
// the schema, one per line: words an error may name whatever the input was.
func schemaVocabulary(schema graphql.Schema) string {
	var b strings.Builder
	for name, t := range schema.TypeMap() {
		b.WriteString(name + "\n")
		switch t := t.(type) {
		case *graphql.Object:
			for f := range t.Fields() {
				b.WriteString(f + "\n")
			}
		case *graphql.InputObject:
			for f := range t.Fields() {
				b.WriteString(f + "\n")
			}
		case *graphql.Enum:
			for _, v := range t.Values() {
				b.WriteString(v.Name + "\n")
			}
		}
	}
	return b.String()
}

// FuzzVariableCoercion sends random variables for submitVerification's
// input through the executor with an authorised context: it never panics,
// every error carries a client code, and no error repeats personal data: no
// run of six bytes of a string variable appears in an error unless it is
// part of a name of the schema or also appears when every letter and digit
// of the input is changed (then it is the service's own text).
func FuzzVariableCoercion(f *testing.F) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st := storetest.Open(f, store.SQLite)
	kp, err := vault.NewLocalFile(filepath.Join(f.TempDir(), "vault.key"), log)
	if err != nil {
		f.Fatal(err)
	}
	vlt, err := vault.New(vault.Config{}, kp, st, log)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(vlt.Close)
	tenants := tenant.NewService(st, nil, log)
	ins, err := tenants.CreateInsurer(context.Background(), tenant.CreateInsurerInput{Name: "Fuzz Mutual", Country: "SWE", Region: "EU"})
	if err != nil {
		f.Fatal(err)
	}
	verifs := verification.NewService(verification.Deps{Store: st, Audit: st, Sealer: vlt, Queue: &whQueue{}, Log: log})
	schema, err := graph.NewSchema(graph.Deps{Tenants: tenants, Verifications: verifs, Log: log})
	if err != nil {
		f.Fatal(err)
	}
	ex := graph.NewExecutor(schema, graph.DefaultLimits, log)
	vocabulary := schemaVocabulary(schema)
	ctx := tenant.WithPrincipal(obs.WithRequestID(context.Background(), "req_fuzz"), tenant.Principal{Insurer: ins,
		Key: tenant.APIKey{ID: "key_fuzz", InsurerID: ins.ID, Mode: tenant.Test, Scopes: tenant.AllScopes}})

	valid := []string{"Anna Maria", "Eriksson", "1974-08-12", "SWE", "F", "SWE",
		"PASSPORT", "L898902C3", "SWE", "2030-04-15", "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
		"consent-123", "2026-11-27T10:00:00Z", "CONSENT", "UNDERWRITING", `{"branch":"north"}`, "policy-0001"}
	seed := func(shape uint64, edit func(v []string)) {
		v := slices.Clone(valid)
		if edit != nil {
			edit(v)
		}
		f.Add(v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10], v[11], v[12], v[13], v[14], v[15], v[16], shape)
	}
	seed(0, nil)
	seed(0, func(v []string) { v[4] = "Eriksson Anna" })                           // an enum holding a name
	seed(0, func(v []string) { v[2] = "Eriksson-1974" })                           // a date holding a name
	seed(0, func(v []string) { v[2] = "1974-02-30"; v[3] = "XXQ" })                // domain validation
	seed(0, func(v []string) { v[12] = "last tuesday"; v[13] = "BECAUSE I SAID" }) // DateTime and enum
	seed(0, func(v []string) { v[15] = `{"surname":"Eriksson"` })                  // broken metadata
	seed(0, func(v []string) { v[10] = "P<SWEERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<" })
	seed(1<<2|2<<4, nil)          // given names as a list, surname as a number
	seed(3<<2|3<<4|3<<8, nil)     // required fields null
	seed(1<<40|4<<40, nil)        // policyholder a string, an unknown field
	seed(2<<40|8<<40|16<<40, nil) // documents one object, checks and policy
	seed(32<<40, func(v []string) { v[1] = strings.Repeat("Ö", 300) })

	f.Fuzz(func(t *testing.T, given, surname, dob, nationality, sex, residence, docType, docNumber, issuing, expiry, mrz,
		consentRef, obtainedAt, basis, purpose, metadata, extRef string, shape uint64) {
		vals := []string{given, surname, dob, nationality, sex, residence, docType, docNumber, issuing, expiry, mrz,
			consentRef, obtainedAt, basis, purpose, metadata, extRef}
		vars := submitVariables(vals, shape)
		errors := run(t, ex, ctx, vars)
		w := leaks(stringsIn(vars), errors, vocabulary)
		if w == "" {
			return
		}
		// The same request with every letter and digit changed: a run that
		// still appears is the service's own text.
		again := run(t, ex, ctx, shifted(vars).(map[string]any))
		for _, e := range again {
			for _, txt := range e.texts() {
				if strings.Contains(txt, w) {
					return
				}
			}
		}
		t.Fatalf("an error repeats %q of the input: %+v", w, errors)
	})
}
