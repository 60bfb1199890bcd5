package graph

import "github.com/graphql-go/graphql"

// WebhookService is what the webhook resolvers need.
type WebhookService interface{}

func (b *builder) webhookQueries() graphql.Fields   { return graphql.Fields{} }
func (b *builder) webhookMutations() graphql.Fields { return graphql.Fields{} }
