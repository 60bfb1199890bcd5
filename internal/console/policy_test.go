package console_test

import (
	"context"
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/borderproof/borderproof/internal/console"
	"github.com/borderproof/borderproof/internal/pipeline"
	"github.com/borderproof/borderproof/internal/risk"
	"github.com/borderproof/borderproof/internal/store"
	"github.com/borderproof/borderproof/internal/user"
)

// The domain service is what the console is wired with.
var _ console.Policies = (*pipeline.Policies)(nil)

var policyDoc = regexp.MustCompile(`(?s)<textarea id="policy-doc"[^>]*>(.*?)</textarea>`)

// policyJSON is a full policy document with one weight changed.
func policyJSON(t *testing.T, change func(m map[string]any)) string {
	t.Helper()
	raw, _ := json.Marshal(risk.DefaultPolicy())
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	change(m)
	out, _ := json.MarshalIndent(m, "", "  ")
	return string(out)
}

// TestRiskPolicy edits the risk policy over the pipeline service on SQLite.
func TestRiskPolicy(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, store.SQLite, func(_ *console.Config, d *console.Deps) {
		d.Policies = pipeline.NewPolicies(d.Settings.(*store.Store))
	})
	stored := func() int {
		t.Helper()
		vs, err := e.st.RiskPolicies(ctx, e.ins.ID)
		if err != nil {
			t.Fatal(err)
		}
		return len(vs)
	}
	id := e.submitOne(t, "REF-POLICY")
	e.decide(t, id, risk.DecisionReview, 40)

	for _, r := range []user.Role{user.RoleUnderwriter, user.RoleFinance} {
		c := e.client(t).signIn(r)
		must(t, c.get("/console/settings"), http.StatusForbidden)
		tok := c.csrf("/console/account")
		must(t, c.post("/console/settings/risk-policy", url.Values{"csrf": {tok}, "policy": {policyJSON(t, func(map[string]any) {})}}), http.StatusForbidden)
		must(t, c.post("/console/settings/risk-policy/simulate", url.Values{"csrf": {tok}, "policy": {"{}"}}), http.StatusForbidden)
	}

	a := e.client(t).signIn(user.RoleAdmin)
	p := a.get("/console/settings")
	must(t, p, http.StatusOK, "Risk policy", `id="policy-version">1<`, "the built-in default", `<label for="policy-doc">`,
		`action="/console/settings/risk-policy"`, `formaction="/console/settings/risk-policy/simulate"`)
	m := policyDoc.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatal("no policy editor")
	}
	var shown map[string]any
	if err := json.Unmarshal([]byte(html.UnescapeString(m[1])), &shown); err != nil || shown["weights"] == nil {
		t.Fatalf("the editor does not hold the policy: %v", err)
	}
	tok := csrfField.FindStringSubmatch(p.body)[1]

	// Both forms need the session's token.
	valid := policyJSON(t, func(m map[string]any) { m["weights"].(map[string]any)[string(risk.SignalOverstay)] = 80 })
	must(t, a.post("/console/settings/risk-policy", url.Values{"policy": {valid}}), http.StatusForbidden, "did not come from the console")
	must(t, a.post("/console/settings/risk-policy", url.Values{"csrf": {"forged"}, "policy": {valid}}), http.StatusForbidden)
	must(t, a.post("/console/settings/risk-policy/simulate", url.Values{"policy": {valid}}), http.StatusForbidden, "did not come from the console")
	if n := stored(); n != 0 {
		t.Fatalf("refused requests stored %d versions", n)
	}

	// Trying a draft shows the summary and keeps the draft, storing nothing.
	p = a.post("/console/settings/risk-policy/simulate", url.Values{"csrf": {tok}, "policy": {valid}})
	must(t, p, http.StatusOK, `id="policy-simulation"`, "Tried on 1 recent verification(s), nothing saved", "Decisions now and under the draft", "<tr><td>REVIEW</td><td>")
	if m := policyDoc.FindStringSubmatch(p.body); m == nil || html.UnescapeString(m[1]) != valid {
		t.Fatal("the tried draft is not kept in the editor")
	}
	if n := stored(); n != 0 {
		t.Fatalf("a simulation stored %d versions", n)
	}

	// Invalid input: every field error, the text kept, nothing stored.
	invalid := policyJSON(t, func(m map[string]any) {
		m["weights"].(map[string]any)[string(risk.SignalOverstay)] = 500
		m["bands"] = map[string]any{"medium": 90, "high": 10, "critical": 75}
	})
	p = a.post("/console/settings/risk-policy", url.Values{"csrf": {tok}, "policy": {invalid}})
	must(t, p, http.StatusBadRequest, `id="policy-errors"`, "weights.OVERSTAY</code>: points must be between 0 and 100",
		"bands.high</code>: must be greater than bands.medium", `aria-invalid="true"`)
	if m := policyDoc.FindStringSubmatch(p.body); m == nil || html.UnescapeString(m[1]) != invalid {
		t.Fatal("the refused text is not kept in the editor")
	}
	if n := stored(); n != 0 {
		t.Fatalf("an invalid policy stored %d versions", n)
	}
	must(t, a.post("/console/settings/risk-policy", url.Values{"csrf": {tok}, "policy": {"not json"}}), http.StatusBadRequest,
		"policy</code>: must be a JSON object", "not json")
	must(t, a.post("/console/settings/risk-policy/simulate", url.Values{"csrf": {tok}, "policy": {invalid}}), http.StatusBadRequest,
		"weights.OVERSTAY</code>: points must be between 0 and 100")

	// A valid policy becomes the next version, then the one after.
	must(t, a.post("/console/settings/risk-policy", url.Values{"csrf": {tok}, "policy": {valid}}), http.StatusOK,
		"Saved as version 2.", `id="policy-version">2<`)
	p = a.post("/console/settings/risk-policy", url.Values{"csrf": {tok}, "policy": {valid}})
	must(t, p, http.StatusOK, "Saved as version 3.", `id="policy-version">3<`)
	vs, err := e.st.RiskPolicies(ctx, e.ins.ID)
	if err != nil || len(vs) != 2 || vs[0].Version != 3 || vs[0].Weights[risk.SignalOverstay] != 80 {
		t.Fatalf("stored versions: %d %v", len(vs), err)
	}
	rows := regexp.MustCompile(`(?s)<table class="list" id="policy-versions">.*?</table>`).FindString(p.body)
	if !strings.Contains(rows, "<td>3</td>") || !strings.Contains(rows, "<td>2</td>") || strings.Index(rows, "<td>3</td>") > strings.Index(rows, "<td>2</td>") {
		t.Fatalf("versions table: %s", rows)
	}
}

// TestRiskPolicyNotConfigured shows the section without the service.
func TestRiskPolicyNotConfigured(t *testing.T) {
	e := newEnv(t, store.SQLite)
	a := e.client(t).signIn(user.RoleAdmin)
	p := a.get("/console/settings")
	must(t, p, http.StatusOK, "Risk policy", "Editing the risk policy is not configured")
	if strings.Contains(p.body, `id="policy-doc"`) {
		t.Fatal("an editor without a service")
	}
	tok := csrfField.FindStringSubmatch(p.body)[1]
	must(t, a.post("/console/settings/risk-policy", url.Values{"csrf": {tok}, "policy": {"{}"}}), http.StatusServiceUnavailable, "Risk policy is not configured")
}
