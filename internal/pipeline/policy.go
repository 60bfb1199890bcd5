package pipeline

import (
	"context"
	"encoding/json"
	"time"

	"github.com/borderproof/borderproof/internal/errs"
	"github.com/borderproof/borderproof/internal/risk"
	"github.com/borderproof/borderproof/internal/tenant"
	"github.com/borderproof/borderproof/internal/verification"
)

// PolicyStore is what policy administration needs.
type PolicyStore interface {
	RiskPolicy(ctx context.Context, insurerID string) (risk.Policy, bool, error)
	PutRiskPolicy(ctx context.Context, p risk.Policy) error
	// RiskPolicies lists the stored versions, newest first, at most 50.
	RiskPolicies(ctx context.Context, insurerID string) ([]risk.Policy, error)
	Verifications(ctx context.Context, insurerID, mode string, f verification.Filter, after string, limit int) ([]verification.Verification, error)
}

// Policies lets an insurer's admins read, change and try out their risk
// policy. Every change is a new version; verifications keep the version
// they were scored with.
type Policies struct {
	st  PolicyStore
	now func() time.Time
}

// NewPolicies builds the policy administration service.
func NewPolicies(st PolicyStore) *Policies { return &Policies{st: st, now: time.Now} }

// Current returns the caller's current policy (the default, version 1,
// until one is stored).
func (s *Policies) Current(ctx context.Context) (risk.Policy, error) {
	p, err := tenant.Authorize(ctx, tenant.ScopeAdmin)
	if err != nil {
		return risk.Policy{}, err
	}
	return s.current(ctx, p.Insurer.ID)
}

func (s *Policies) current(ctx context.Context, insurerID string) (risk.Policy, error) {
	pol, ok, err := s.st.RiskPolicy(ctx, insurerID)
	if err != nil {
		return risk.Policy{}, err
	}
	if !ok {
		pol = risk.DefaultPolicy()
		pol.InsurerID = insurerID
	}
	return pol, nil
}

// Versions lists the caller's policy versions, newest first (at most 50).
// Until one is stored, the default is the only version, version 1.
func (s *Policies) Versions(ctx context.Context) ([]risk.Policy, error) {
	p, err := tenant.Authorize(ctx, tenant.ScopeAdmin)
	if err != nil {
		return nil, err
	}
	vs, err := s.st.RiskPolicies(ctx, p.Insurer.ID)
	if err != nil {
		return nil, err
	}
	if len(vs) == 0 {
		def := risk.DefaultPolicy()
		def.InsurerID = p.Insurer.ID
		vs = []risk.Policy{def}
	}
	return vs, nil
}

// draft reads a policy document and numbers it as the next version.
func (s *Policies) draft(ctx context.Context, insurerID string, doc []byte) (risk.Policy, error) {
	cur, err := s.current(ctx, insurerID)
	if err != nil {
		return risk.Policy{}, err
	}
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(doc, &probe); err != nil {
		return risk.Policy{}, errs.InvalidFields(errs.FieldError{Path: "policy", Message: "must be a JSON object"})
	}
	// The service numbers versions; a client's version is ignored.
	probe["version"] = json.RawMessage("1")
	probe["insurerId"], _ = json.Marshal(insurerID)
	norm, _ := json.Marshal(probe)
	p, err := risk.ParsePolicy(norm)
	if err != nil {
		return risk.Policy{}, err
	}
	p.InsurerID, p.Version, p.CreatedAt = insurerID, cur.Version+1, s.now().UTC().Truncate(time.Second)
	if err := p.Validate(); err != nil {
		return risk.Policy{}, err
	}
	return p, nil
}

// Update validates doc (a policy in JSON) and stores it as the next
// version. Two admins racing for one version: the second gets CONFLICT.
func (s *Policies) Update(ctx context.Context, doc []byte) (risk.Policy, error) {
	p, err := tenant.Authorize(ctx, tenant.ScopeAdmin)
	if err != nil {
		return risk.Policy{}, err
	}
	pol, err := s.draft(ctx, p.Insurer.ID, doc)
	if err != nil {
		return risk.Policy{}, err
	}
	if err := s.st.PutRiskPolicy(ctx, pol); err != nil {
		return risk.Policy{}, err
	}
	return pol, nil
}

// Simulate rescores the caller's latest completed verifications (at most
// limit, in the key's mode) under a draft policy and reports how decisions
// would move. Nothing is stored.
func (s *Policies) Simulate(ctx context.Context, doc []byte, limit int) (risk.Summary, error) {
	p, err := tenant.Authorize(ctx, tenant.ScopeAdmin)
	if err != nil {
		return risk.Summary{}, err
	}
	if limit <= 0 || limit > 5000 {
		limit = 1000
	}
	pol, err := s.draft(ctx, p.Insurer.ID, doc)
	if err != nil {
		return risk.Summary{}, err
	}
	vs, err := s.st.Verifications(ctx, p.Insurer.ID, string(p.Mode()), verification.Filter{Status: verification.StatusCompleted}, "", limit)
	if err != nil {
		return risk.Summary{}, err
	}
	stored := make([]risk.StoredInput, 0, len(vs))
	for _, v := range vs {
		if v.Outcome == nil {
			continue
		}
		stored = append(stored, risk.StoredInput{VerificationID: v.ID, Input: Input(v), Outcome: *v.Outcome})
	}
	return risk.Simulate(stored, pol), nil
}
