package graph

import "github.com/graphql-go/graphql"

// BillingService is what the billing resolvers need.
type BillingService interface{}

func (b *builder) billingQueries() graphql.Fields   { return graphql.Fields{} }
func (b *builder) billingMutations() graphql.Fields { return graphql.Fields{} }
