package graph

import (
	"context"
	"encoding/json"

	"github.com/graphql-go/graphql"

	"github.com/borderproof/borderproof/internal/risk"
)

// PolicyService administers risk policies (pipeline.Policies).
type PolicyService interface {
	Current(ctx context.Context) (risk.Policy, error)
	Update(ctx context.Context, doc []byte) (risk.Policy, error)
	Simulate(ctx context.Context, doc []byte, limit int) (risk.Summary, error)
}

func policyValue(p risk.Policy) (map[string]any, error) {
	doc, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	return map[string]any{"version": p.Version, "createdAt": p.CreatedAt, "document": string(doc)}, nil
}

func (b *builder) riskPolicyType() *graphql.Object {
	if t, ok := b.types["RiskPolicy"]; ok {
		return t.(*graphql.Object)
	}
	o := graphql.NewObject(graphql.ObjectConfig{
		Name:        "RiskPolicy",
		Description: "An insurer's scoring policy: weights, thresholds, hard rules, checks and visa conditions per product.",
		Fields: graphql.Fields{
			"version":   {Type: nonNull(graphql.Int), Description: "Every change is a new version; outcomes record the version that scored them."},
			"createdAt": {Type: b.dateTime(), Description: "Null for the built-in default."},
			"document":  {Type: nonNull(graphql.String), Description: "The policy as JSON (the shape updateRiskPolicy takes)."},
		},
	})
	b.types["RiskPolicy"] = o
	return o
}

func (b *builder) riskQueries() graphql.Fields {
	return graphql.Fields{
		"riskPolicy": {
			Type:        nonNull(b.riskPolicyType()),
			Description: "The current risk policy (admin scope).",
			Resolve: func(p graphql.ResolveParams) (any, error) {
				if b.d.Policies == nil {
					return nil, b.unavailable(p)
				}
				pol, err := b.d.Policies.Current(p.Context)
				if err != nil {
					return nil, b.fail(p.Context, err)
				}
				v, err := policyValue(pol)
				if err != nil {
					return nil, b.fail(p.Context, err)
				}
				return v, nil
			},
		},
	}
}

func (b *builder) riskMutations() graphql.Fields {
	transition := graphql.NewObject(graphql.ObjectConfig{
		Name: "DecisionTransition",
		Fields: graphql.Fields{
			"from":  {Type: nonNull(graphql.String)},
			"to":    {Type: nonNull(graphql.String)},
			"count": {Type: nonNull(graphql.Int)},
		},
	})
	change := graphql.NewObject(graphql.ObjectConfig{
		Name: "DecisionChange",
		Fields: graphql.Fields{
			"verificationId": {Type: nonNull(graphql.ID)},
			"from":           {Type: nonNull(graphql.String)},
			"to":             {Type: nonNull(graphql.String)},
			"fromScore":      {Type: nonNull(graphql.Int)},
			"toScore":        {Type: nonNull(graphql.Int)},
		},
	})
	simulation := graphql.NewObject(graphql.ObjectConfig{
		Name:        "PolicySimulation",
		Description: "What a draft policy would change in recent outcomes; nothing is stored.",
		Fields: graphql.Fields{
			"policyVersion": {Type: nonNull(graphql.Int), Description: "The version the draft would get."},
			"total":         {Type: nonNull(graphql.Int)},
			"changed":       {Type: nonNull(graphql.Int), Description: "Verifications whose decision would change."},
			"scoreRaised":   {Type: nonNull(graphql.Int)},
			"scoreLowered":  {Type: nonNull(graphql.Int)},
			"transitions":   {Type: listOf(transition)},
			"examples":      {Type: listOf(change)},
		},
	})
	return graphql.Fields{
		"updateRiskPolicy": {
			Type:        nonNull(b.riskPolicyType()),
			Description: "Validate a policy (JSON) and store it as the next version (admin scope). Every bad field is reported.",
			Args:        graphql.FieldConfigArgument{"policy": {Type: nonNull(graphql.String)}},
			Resolve: func(p graphql.ResolveParams) (any, error) {
				if b.d.Policies == nil {
					return nil, b.unavailable(p)
				}
				pol, err := b.d.Policies.Update(p.Context, []byte(str(p.Args["policy"])))
				if err != nil {
					return nil, b.fail(p.Context, err)
				}
				v, err := policyValue(pol)
				if err != nil {
					return nil, b.fail(p.Context, err)
				}
				return v, nil
			},
		},
		"simulateRiskPolicy": {
			Type:        nonNull(simulation),
			Description: "Rescore recent completed verifications under a draft policy without changing anything (admin scope).",
			Args:        graphql.FieldConfigArgument{"policy": {Type: nonNull(graphql.String)}, "limit": {Type: graphql.Int, DefaultValue: 1000}},
			Resolve: func(p graphql.ResolveParams) (any, error) {
				if b.d.Policies == nil {
					return nil, b.unavailable(p)
				}
				limit, _ := p.Args["limit"].(int)
				sum, err := b.d.Policies.Simulate(p.Context, []byte(str(p.Args["policy"])), limit)
				if err != nil {
					return nil, b.fail(p.Context, err)
				}
				ts := make([]map[string]any, len(sum.Transitions))
				for i, t := range sum.Transitions {
					ts[i] = map[string]any{"from": string(t.From), "to": string(t.To), "count": t.Count}
				}
				ex := make([]map[string]any, len(sum.Examples))
				for i, c := range sum.Examples {
					ex[i] = map[string]any{"verificationId": c.VerificationID, "from": string(c.From), "to": string(c.To), "fromScore": c.FromScore, "toScore": c.ToScore}
				}
				return map[string]any{"policyVersion": sum.PolicyVersion, "total": sum.Total, "changed": sum.Changed,
					"scoreRaised": sum.ScoreRaised, "scoreLowered": sum.ScoreLowered, "transitions": ts, "examples": ex}, nil
			},
		},
	}
}
