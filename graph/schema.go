// Package graph is the GraphQL API: the schema built in code with
// graphql-go, thin resolvers that call domain services, and the one mapping
// from error kinds to extensions.code. graph/schema.graphql is the schema's
// golden print; a test fails when it drifts.
package graph

import (
	"context"
	"log/slog"

	"github.com/graphql-go/graphql"

	"github.com/borderproof/borderproof/internal/tenant"
)

// Deps are the domain services the resolvers call.
type Deps struct {
	Tenants *tenant.Service
	Log     *slog.Logger
}

// builder holds the types while the schema is assembled, so that no type is
// a package-level global.
type builder struct {
	d     Deps
	types map[string]graphql.Type
}

// NewSchema builds the schema.
func NewSchema(d Deps) (graphql.Schema, error) {
	b := &builder{d: d, types: map[string]graphql.Type{}}
	query := graphql.NewObject(graphql.ObjectConfig{
		Name: "Query",
		Fields: graphql.Fields{
			"viewer":  b.viewerField(),
			"apiKeys": b.apiKeysField(),
		},
	})
	return graphql.NewSchema(graphql.SchemaConfig{Query: query})
}

// fail converts a domain error for graphql-go.
func (b *builder) fail(ctx context.Context, err error) error {
	return ToGraphQL(ctx, b.d.Log, err)
}
