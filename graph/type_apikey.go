package graph

import (
	"github.com/graphql-go/graphql"

	"github.com/borderproof/borderproof/internal/tenant"
)

func (b *builder) apiKeysField() *graphql.Field {
	key := graphql.NewObject(graphql.ObjectConfig{
		Name:        "ApiKey",
		Description: "An API key of the caller's insurer. The secret itself is shown only once, at creation.",
		Fields: graphql.Fields{
			"id":         {Type: graphql.NewNonNull(graphql.ID), Resolve: keyProp(func(k tenant.APIKey) any { return k.ID })},
			"name":       {Type: graphql.NewNonNull(graphql.String), Resolve: keyProp(func(k tenant.APIKey) any { return k.Name })},
			"prefix":     {Type: graphql.NewNonNull(graphql.String), Description: "The visible start of the key, for identification.", Resolve: keyProp(func(k tenant.APIKey) any { return k.Prefix })},
			"mode":       {Type: graphql.NewNonNull(b.modeEnum()), Resolve: keyProp(func(k tenant.APIKey) any { return string(k.Mode) })},
			"scopes":     {Type: graphql.NewNonNull(graphql.NewList(graphql.NewNonNull(graphql.String))), Resolve: keyProp(func(k tenant.APIKey) any { return scopeStrings(k.Scopes) })},
			"purposes":   {Type: graphql.NewNonNull(graphql.NewList(graphql.NewNonNull(graphql.String))), Description: "Consent purposes the key may declare; empty means any.", Resolve: keyProp(func(k tenant.APIKey) any { return append([]string{}, k.Purposes...) })},
			"createdAt":  {Type: graphql.NewNonNull(b.dateTime()), Resolve: keyProp(func(k tenant.APIKey) any { return k.CreatedAt })},
			"lastUsedAt": {Type: b.dateTime(), Description: "Recorded at most once a minute.", Resolve: keyProp(func(k tenant.APIKey) any { return k.LastUsedAt })},
			"revokedAt":  {Type: b.dateTime(), Resolve: keyProp(func(k tenant.APIKey) any { return k.RevokedAt })},
		},
	})
	return &graphql.Field{
		Type:        graphql.NewNonNull(graphql.NewList(graphql.NewNonNull(key))),
		Description: "The insurer's API keys (admin scope).",
		Resolve: func(p graphql.ResolveParams) (any, error) {
			pr, err := tenant.Authorize(p.Context, tenant.ScopeAdmin)
			if err != nil {
				return nil, b.fail(p.Context, err)
			}
			keys, err := b.d.Tenants.APIKeys(p.Context, pr.Insurer.ID)
			if err != nil {
				return nil, b.fail(p.Context, err)
			}
			return keys, nil
		},
	}
}

func keyProp(f func(tenant.APIKey) any) graphql.FieldResolveFn {
	return func(p graphql.ResolveParams) (any, error) { return f(p.Source.(tenant.APIKey)), nil }
}

func scopeStrings(sc []tenant.Scope) []string {
	out := make([]string, len(sc))
	for i, s := range sc {
		out[i] = string(s)
	}
	return out
}
