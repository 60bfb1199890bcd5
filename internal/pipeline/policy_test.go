package pipeline_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/borderproof/borderproof/internal/errs"
	"github.com/borderproof/borderproof/internal/pipeline"
	"github.com/borderproof/borderproof/internal/risk"
	"github.com/borderproof/borderproof/internal/tenant"
	"github.com/borderproof/borderproof/internal/verification"
)

type memPolicies struct {
	versions []risk.Policy
	vs       []verification.Verification
}

func (m *memPolicies) RiskPolicy(_ context.Context, insurerID string) (risk.Policy, bool, error) {
	if len(m.versions) == 0 {
		return risk.Policy{}, false, nil
	}
	return m.versions[len(m.versions)-1], true, nil
}

func (m *memPolicies) PutRiskPolicy(_ context.Context, p risk.Policy) error {
	for _, v := range m.versions {
		if v.Version == p.Version {
			return errs.E(errs.Conflict, "taken")
		}
	}
	m.versions = append(m.versions, p)
	return nil
}

func (m *memPolicies) RiskPolicies(context.Context, string) ([]risk.Policy, error) {
	out := make([]risk.Policy, 0, len(m.versions))
	for i := len(m.versions) - 1; i >= 0; i-- {
		out = append(out, m.versions[i])
	}
	return out, nil
}

func (m *memPolicies) Verifications(context.Context, string, string, verification.Filter, string, int) ([]verification.Verification, error) {
	return m.vs, nil
}

func TestPolicyVersionsAndSimulation(t *testing.T) {
	admin := tenant.WithPrincipal(context.Background(), tenant.Principal{Insurer: tenant.Insurer{ID: "ins_a"},
		Key: tenant.APIKey{ID: "key_a", Mode: tenant.Test, Scopes: []tenant.Scope{tenant.ScopeAdmin}}})
	reader := tenant.WithPrincipal(context.Background(), tenant.Principal{Insurer: tenant.Insurer{ID: "ins_a"},
		Key: tenant.APIKey{ID: "key_b", Mode: tenant.Test, Scopes: []tenant.Scope{tenant.ScopeVerificationsRead}}})
	// One stored outcome: an overstay decided REVIEW under the default policy.
	v := verification.Verification{ID: "ver_1", Product: "TRAVEL", Checks: []verification.Check{{ID: "chk_1", Type: risk.CheckBorderMovements,
		Status: risk.CheckCompleted, Signals: []risk.Signal{{Code: risk.SignalOverstay, CheckID: "chk_1", CheckType: string(risk.CheckBorderMovements)}}}}}
	out := risk.Score(pipeline.Input(v), risk.DefaultPolicy())
	v.Outcome = &out
	st := &memPolicies{vs: []verification.Verification{v}}
	svc := pipeline.NewPolicies(st)

	cur, err := svc.Current(admin)
	if err != nil || cur.Version != 1 {
		t.Fatalf("default policy: %+v %v", cur.Version, err)
	}
	if _, err := svc.Current(reader); !errs.Is(err, errs.Forbidden) {
		t.Fatalf("without admin: %v", err)
	}
	if _, err := svc.Update(admin, []byte(`{"weights": {"OVERSTAY": 500}}`)); !errs.Is(err, errs.Invalid) {
		t.Fatalf("invalid policy accepted: %v", err)
	}
	draft := risk.DefaultPolicy()
	draft.Weights[risk.SignalOverstay] = 80
	doc, _ := json.Marshal(draft)
	sum, err := svc.Simulate(admin, doc, 100)
	if err != nil || sum.Total != 1 || sum.PolicyVersion != 2 {
		t.Fatalf("simulate: %+v %v", sum, err)
	}
	if sum.ScoreRaised != 1 {
		t.Fatalf("raising the overstay weight raised no score: %+v", sum)
	}
	if len(st.versions) != 0 {
		t.Fatal("simulation stored a policy")
	}
	p, err := svc.Update(admin, doc)
	if err != nil || p.Version != 2 || p.InsurerID != "ins_a" || p.Weights[risk.SignalOverstay] != 80 {
		t.Fatalf("update: %+v %v", p, err)
	}
	if cur, _ := svc.Current(admin); cur.Version != 2 {
		t.Fatalf("current after update: %d", cur.Version)
	}
	vs, err := svc.Versions(admin)
	if err != nil || len(vs) != 1 || vs[0].Version != 2 {
		t.Fatalf("versions after update: %d %v", len(vs), err)
	}
	if _, err := svc.Versions(reader); !errs.Is(err, errs.Forbidden) {
		t.Fatalf("versions without admin: %v", err)
	}
}

func TestPolicyVersionsDefault(t *testing.T) {
	admin := tenant.WithPrincipal(context.Background(), tenant.Principal{Insurer: tenant.Insurer{ID: "ins_a"},
		Key: tenant.APIKey{ID: "key_a", Mode: tenant.Test, Scopes: []tenant.Scope{tenant.ScopeAdmin}}})
	vs, err := pipeline.NewPolicies(&memPolicies{}).Versions(admin)
	if err != nil || len(vs) != 1 || vs[0].Version != 1 || vs[0].InsurerID != "ins_a" {
		t.Fatalf("versions without a stored policy: %+v %v", vs, err)
	}
}
