// Package graph is the GraphQL API: the schema built in code with
// graphql-go, thin resolvers that call domain services, and the one mapping
// from error kinds to extensions.code. graph/schema.graphql is the schema's
// golden print; a test fails when it drifts.
package graph

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/graphql-go/graphql"
	"github.com/graphql-go/graphql/language/ast"
	"github.com/graphql-go/graphql/language/kinds"

	"github.com/borderproof/borderproof/internal/evidence"
	"github.com/borderproof/borderproof/internal/tenant"
	"github.com/borderproof/borderproof/internal/verification"
)

// Deps are the domain services the resolvers call. A nil service leaves
// its part of the schema in place but answers UNAVAILABLE.
type Deps struct {
	Tenants       *tenant.Service
	Verifications *verification.Service
	Evidence      EvidenceService
	Policies      PolicyService
	Webhooks      WebhookService
	Billing       BillingService
	Log           *slog.Logger
	// Classify, when set, sees every resolver error before it becomes a
	// client error and may give it a kind (store.Classify: an unreachable
	// database is UNAVAILABLE with retryAfterSeconds, not INTERNAL).
	Classify func(error) error
}

// EvidenceService reads signed evidence bundles (internal/evidence).
type EvidenceService interface {
	// Link reads and checks the manifest, with a short-lived download link.
	Link(ctx context.Context, insurerID, verificationID string, ttl time.Duration) (evidence.Manifest, string, error)
}

// builder holds the types while the schema is assembled, so that no type is
// a package-level global.
type builder struct {
	d     Deps
	types map[string]graphql.Type
}

// NewSchema builds the schema. Each feature contributes its root fields
// from its own file.
func NewSchema(d Deps) (graphql.Schema, error) {
	b := &builder{d: d, types: map[string]graphql.Type{}}
	queries := graphql.Fields{
		"viewer":  b.viewerField(),
		"apiKeys": b.apiKeysField(),
	}
	mutations := graphql.Fields{}
	for _, part := range []struct {
		q, m graphql.Fields
	}{
		{b.verificationQueries(), b.verificationMutations()},
		{b.reviewQueries(), b.reviewMutations()},
		{b.riskQueries(), b.riskMutations()},
		{b.webhookQueries(), b.webhookMutations()},
		{b.billingQueries(), b.billingMutations()},
	} {
		if err := merge(queries, part.q); err != nil {
			return graphql.Schema{}, err
		}
		if err := merge(mutations, part.m); err != nil {
			return graphql.Schema{}, err
		}
	}
	cfg := graphql.SchemaConfig{Query: graphql.NewObject(graphql.ObjectConfig{Name: "Query", Fields: queries})}
	if len(mutations) > 0 {
		cfg.Mutation = graphql.NewObject(graphql.ObjectConfig{Name: "Mutation", Fields: mutations})
	}
	if subs := b.webhookSubscriptions(); len(subs) > 0 {
		cfg.Subscription = graphql.NewObject(graphql.ObjectConfig{Name: "Subscription", Fields: subs})
	}
	schema, err := graphql.NewSchema(cfg)
	if err != nil {
		return schema, err
	}
	warmEnums(schema)
	return schema, nil
}

// warmEnums builds every enum's lazy lookup tables before the schema is
// shared: graphql-go v0.8.1 fills them on first use without a lock, which
// races when two requests coerce the same enum at once. graphql-go's own
// introspection enums (__TypeKind, __DirectiveLocation) are package values
// in every schema, so two schemas built at once (tests in parallel) would
// race here too: warming takes warmMu.
func warmEnums(s graphql.Schema) {
	warmMu.Lock()
	defer warmMu.Unlock()
	for _, t := range s.TypeMap() {
		e, ok := t.(*graphql.Enum)
		if !ok || len(e.Values()) == 0 {
			continue
		}
		v := e.Values()[0]
		e.ParseValue(v.Name)
		e.Serialize(v.Value)
		e.ParseLiteral(&ast.EnumValue{Kind: kinds.EnumValue, Value: v.Name})
	}
}

var warmMu sync.Mutex

func merge(dst, src graphql.Fields) error {
	for k, v := range src {
		if _, dup := dst[k]; dup {
			return fmt.Errorf("graph: root field %s defined twice", k)
		}
		dst[k] = v
	}
	return nil
}

// fail converts a domain error for graphql-go.
func (b *builder) fail(ctx context.Context, err error) error {
	if b.d.Classify != nil {
		err = b.d.Classify(err)
	}
	return ToGraphQL(ctx, b.d.Log, err)
}
