package graph

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/graphql-go/graphql"

	"github.com/borderproof/borderproof/internal/outbox"
	"github.com/borderproof/borderproof/internal/webhook"
)

// webhookEndpointType is WebhookEndpoint; its source is webhook.Endpoint.
func (b *builder) webhookEndpointType() *graphql.Object {
	if t, ok := b.types["WebhookEndpoint"]; ok {
		return t.(*graphql.Object)
	}
	reason := graphql.NewEnum(graphql.EnumConfig{
		Name:        "WebhookDisabledReason",
		Description: "Why an endpoint receives nothing.",
		Values: graphql.EnumValueConfigMap{
			"MANUAL":  {Value: string(webhook.DisabledManually), Description: "Disabled through the API."},
			"GONE":    {Value: string(webhook.DisabledGone), Description: "The endpoint answered 410 Gone."},
			"FAILING": {Value: string(webhook.DisabledFailing), Description: "Every attempt failed for five days."},
		},
	})
	prop := func(f func(webhook.Endpoint) any) graphql.FieldResolveFn {
		return func(p graphql.ResolveParams) (any, error) { return f(p.Source.(webhook.Endpoint)), nil }
	}
	o := graphql.NewObject(graphql.ObjectConfig{
		Name: "WebhookEndpoint",
		Description: "A URL that receives signed events (Standard Webhooks). Its signing secret is shown only " +
			"when the endpoint is created or its secret rotated.",
		Fields: graphql.Fields{
			"id":  {Type: graphql.NewNonNull(graphql.ID), Resolve: prop(func(e webhook.Endpoint) any { return e.ID })},
			"url": {Type: graphql.NewNonNull(graphql.String), Resolve: prop(func(e webhook.Endpoint) any { return e.URL })},
			"description": {Type: graphql.String, Resolve: prop(func(e webhook.Endpoint) any {
				if e.Description == "" {
					return nil
				}
				return e.Description
			})},
			"events": {
				Type:        graphql.NewNonNull(graphql.NewList(graphql.NewNonNull(graphql.String))),
				Description: "Subscribed event types: " + strings.Join(outbox.Types, ", ") + ".",
				Resolve:     prop(func(e webhook.Endpoint) any { return e.Events }),
			},
			"mode":           {Type: graphql.NewNonNull(b.modeEnum()), Description: "LIVE endpoints receive LIVE events only; TEST endpoints TEST events only.", Resolve: prop(func(e webhook.Endpoint) any { return string(e.Mode) })},
			"enabled":        {Type: graphql.NewNonNull(graphql.Boolean), Resolve: prop(func(e webhook.Endpoint) any { return e.Enabled })},
			"disabledReason": {Type: reason, Resolve: prop(func(e webhook.Endpoint) any { return webhookNullString(string(e.DisabledReason)) })},
			"disabledAt":     {Type: b.dateTime(), Resolve: prop(func(e webhook.Endpoint) any { return e.DisabledAt })},
			"failingSince": {Type: b.dateTime(), Description: "The first failed attempt since the last successful one; null while healthy.",
				Resolve: prop(func(e webhook.Endpoint) any { return e.FailingSince })},
			"previousSecretExpiresAt": {Type: b.dateTime(), Description: "Until then, messages carry a second signature made with the secret replaced by the last rotation.",
				Resolve: prop(func(e webhook.Endpoint) any { return e.PreviousSecretExpiresAt(time.Now()) })},
			"createdAt": {Type: graphql.NewNonNull(b.dateTime()), Resolve: prop(func(e webhook.Endpoint) any { return e.CreatedAt })},
			"updatedAt": {Type: graphql.NewNonNull(b.dateTime()), Resolve: prop(func(e webhook.Endpoint) any { return e.UpdatedAt })},
		},
	})
	b.types["WebhookEndpoint"] = o
	return o
}

func webhookNullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func (b *builder) webhookDeliveryStatusEnum() *graphql.Enum {
	if t, ok := b.types["WebhookDeliveryStatus"]; ok {
		return t.(*graphql.Enum)
	}
	e := graphql.NewEnum(graphql.EnumConfig{
		Name: "WebhookDeliveryStatus",
		Values: graphql.EnumValueConfigMap{
			"PENDING":   {Value: string(webhook.Pending), Description: "An attempt is scheduled (nextAttemptAt)."},
			"SUCCEEDED": {Value: string(webhook.Succeeded), Description: "The endpoint answered 2xx."},
			"FAILED":    {Value: string(webhook.Failed), Description: "The retry schedule ran out, or the endpoint answered 410 or was disabled; it can be replayed."},
		},
	})
	b.types["WebhookDeliveryStatus"] = e
	return e
}

// webhookDeliveryNode is WebhookDelivery's source: the delivery and the batch
// that loads the attempts of every delivery in the same result at once.
type webhookDeliveryNode struct {
	d     webhook.Delivery
	batch *webhookAttemptBatch
}

// webhookAttemptBatch loads attempts for a set of deliveries in one query, the
// first time any of them asks.
type webhookAttemptBatch struct {
	once sync.Once
	load func() (map[string][]webhook.Attempt, error)
	res  map[string][]webhook.Attempt
	err  error
}

func (a *webhookAttemptBatch) get(id string) ([]webhook.Attempt, error) {
	a.once.Do(func() { a.res, a.err = a.load() })
	return a.res[id], a.err
}

// webhookDeliveryNodes wraps deliveries of one insurer with a shared batch.
func (b *builder) webhookDeliveryNodes(ctx context.Context, insurerID string, ds ...webhook.Delivery) []webhookDeliveryNode {
	ids := make([]string, len(ds))
	for i, d := range ds {
		ids[i] = d.ID
	}
	batch := &webhookAttemptBatch{load: func() (map[string][]webhook.Attempt, error) {
		return b.d.Webhooks.Attempts(ctx, insurerID, ids)
	}}
	out := make([]webhookDeliveryNode, len(ds))
	for i, d := range ds {
		out[i] = webhookDeliveryNode{d: d, batch: batch}
	}
	return out
}

// webhookDeliveryType is WebhookDelivery; its source is webhookDeliveryNode.
func (b *builder) webhookDeliveryType() *graphql.Object {
	if t, ok := b.types["WebhookDelivery"]; ok {
		return t.(*graphql.Object)
	}
	attempt := graphql.NewObject(graphql.ObjectConfig{
		Name:        "WebhookAttempt",
		Description: "One HTTP request of a delivery.",
		Fields: graphql.Fields{
			"number":      {Type: graphql.NewNonNull(graphql.Int), Description: "Counts the delivery's attempts from 1, across replays.", Resolve: webhookAttemptProp(func(a webhook.Attempt) any { return a.Number })},
			"attemptedAt": {Type: graphql.NewNonNull(b.dateTime()), Resolve: webhookAttemptProp(func(a webhook.Attempt) any { return a.AttemptedAt })},
			"statusCode":  {Type: graphql.Int, Description: "Null when no response arrived.", Resolve: webhookAttemptProp(func(a webhook.Attempt) any { return webhookNullInt(a.StatusCode) })},
			"durationMs":  {Type: graphql.NewNonNull(graphql.Int), Resolve: webhookAttemptProp(func(a webhook.Attempt) any { return int(a.Latency.Milliseconds()) })},
			"responseBody": {Type: graphql.String, Description: "The first KiB of the response, as text.", Resolve: webhookAttemptProp(func(a webhook.Attempt) any {
				if len(a.ResponseBody) == 0 {
					return nil
				}
				return strings.ToValidUTF8(string(a.ResponseBody), "\uFFFD")
			})},
			"error": {Type: graphql.String, Description: "Why the attempt failed; null on success.", Resolve: webhookAttemptProp(func(a webhook.Attempt) any { return webhookNullString(a.Error) })},
		},
	})
	prop := func(f func(webhook.Delivery) any) graphql.FieldResolveFn {
		return func(p graphql.ResolveParams) (any, error) { return f(p.Source.(webhookDeliveryNode).d), nil }
	}
	o := graphql.NewObject(graphql.ObjectConfig{
		Name:        "WebhookDelivery",
		Description: "One event for one endpoint.",
		Fields: graphql.Fields{
			"id": {Type: graphql.NewNonNull(graphql.ID), Description: "Also the message id: the webhook-id header, the same on every attempt and replay. Deduplicate on it.",
				Resolve: prop(func(d webhook.Delivery) any { return d.ID })},
			"endpointId":     {Type: graphql.NewNonNull(graphql.ID), Resolve: prop(func(d webhook.Delivery) any { return d.EndpointID })},
			"eventId":        {Type: graphql.NewNonNull(graphql.ID), Resolve: prop(func(d webhook.Delivery) any { return d.EventID })},
			"eventType":      {Type: graphql.NewNonNull(graphql.String), Resolve: prop(func(d webhook.Delivery) any { return d.EventType })},
			"status":         {Type: graphql.NewNonNull(b.webhookDeliveryStatusEnum()), Resolve: prop(func(d webhook.Delivery) any { return string(d.Status) })},
			"attemptCount":   {Type: graphql.NewNonNull(graphql.Int), Resolve: prop(func(d webhook.Delivery) any { return d.Attempts })},
			"nextAttemptAt":  {Type: b.dateTime(), Resolve: prop(func(d webhook.Delivery) any { return webhookPendingTime(d) })},
			"lastAttemptAt":  {Type: b.dateTime(), Resolve: prop(func(d webhook.Delivery) any { return d.LastAttemptAt })},
			"lastStatusCode": {Type: graphql.Int, Resolve: prop(func(d webhook.Delivery) any { return webhookNullInt(d.LastStatusCode) })},
			"lastError":      {Type: graphql.String, Resolve: prop(func(d webhook.Delivery) any { return webhookNullString(d.LastError) })},
			"flagged": {Type: graphql.NewNonNull(graphql.Boolean), Description: "An answer that retrying is unlikely to fix (a redirect, or a 4xx other than 408, 410, 429): check the endpoint.",
				Resolve: prop(func(d webhook.Delivery) any { return d.Flagged })},
			"createdAt":   {Type: graphql.NewNonNull(b.dateTime()), Resolve: prop(func(d webhook.Delivery) any { return d.CreatedAt })},
			"completedAt": {Type: b.dateTime(), Resolve: prop(func(d webhook.Delivery) any { return d.CompletedAt })},
			"attempts": {
				Type:        graphql.NewNonNull(graphql.NewList(graphql.NewNonNull(attempt))),
				Description: "Every attempt, oldest first.",
				Resolve: func(p graphql.ResolveParams) (any, error) {
					n := p.Source.(webhookDeliveryNode)
					list, err := n.batch.get(n.d.ID)
					if err != nil {
						return nil, b.fail(p.Context, err)
					}
					if list == nil {
						list = []webhook.Attempt{}
					}
					return list, nil
				},
			},
		},
	})
	b.types["WebhookDelivery"] = o
	return o
}

func webhookPendingTime(d webhook.Delivery) time.Time {
	if d.Status != webhook.Pending {
		return time.Time{}
	}
	return d.NextAttemptAt
}

func webhookAttemptProp(f func(webhook.Attempt) any) graphql.FieldResolveFn {
	return func(p graphql.ResolveParams) (any, error) { return f(p.Source.(webhook.Attempt)), nil }
}

func webhookNullInt(n int) any {
	if n == 0 {
		return nil
	}
	return n
}
