package graph

import (
	"github.com/graphql-go/graphql"

	"github.com/borderproof/borderproof/internal/tenant"
)

func (b *builder) modeEnum() *graphql.Enum {
	if t, ok := b.types["Mode"]; ok {
		return t.(*graphql.Enum)
	}
	e := graphql.NewEnum(graphql.EnumConfig{
		Name:        "Mode",
		Description: "LIVE data reaches real partners; TEST data reaches the sandbox only.",
		Values: graphql.EnumValueConfigMap{
			"LIVE": {Value: string(tenant.Live)},
			"TEST": {Value: string(tenant.Test)},
		},
	})
	b.types["Mode"] = e
	return e
}

func (b *builder) viewerField() *graphql.Field {
	viewer := graphql.NewObject(graphql.ObjectConfig{
		Name:        "Viewer",
		Description: "The insurer as seen through the API key of this request.",
		Fields: graphql.Fields{
			"id":       {Type: graphql.NewNonNull(graphql.ID), Description: "The insurer's id.", Resolve: viewerProp(func(p tenant.Principal) any { return p.Insurer.ID })},
			"name":     {Type: graphql.NewNonNull(graphql.String), Resolve: viewerProp(func(p tenant.Principal) any { return p.Insurer.Name })},
			"country":  {Type: graphql.NewNonNull(graphql.String), Resolve: viewerProp(func(p tenant.Principal) any { return p.Insurer.Country })},
			"region":   {Type: graphql.NewNonNull(graphql.String), Resolve: viewerProp(func(p tenant.Principal) any { return p.Insurer.Region })},
			"mode":     {Type: graphql.NewNonNull(b.modeEnum()), Description: "The key's data mode.", Resolve: viewerProp(func(p tenant.Principal) any { return string(p.Key.Mode) })},
			"apiKeyId": {Type: graphql.NewNonNull(graphql.ID), Resolve: viewerProp(func(p tenant.Principal) any { return p.Key.ID })},
			"scopes":   {Type: graphql.NewNonNull(graphql.NewList(graphql.NewNonNull(graphql.String))), Resolve: viewerProp(func(p tenant.Principal) any { return scopeStrings(p.Key.Scopes) })},
		},
	})
	return &graphql.Field{
		Type:        graphql.NewNonNull(viewer),
		Description: "Who is calling: the insurer, the key's mode and scopes.",
		Resolve: func(p graphql.ResolveParams) (any, error) {
			pr, err := tenant.PrincipalFrom(p.Context)
			if err != nil {
				return nil, b.fail(p.Context, err)
			}
			return pr, nil
		},
	}
}

func viewerProp(f func(tenant.Principal) any) graphql.FieldResolveFn {
	return func(p graphql.ResolveParams) (any, error) {
		return f(p.Source.(tenant.Principal)), nil
	}
}
