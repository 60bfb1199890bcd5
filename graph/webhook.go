package graph

import (
	"context"
	"time"

	"github.com/graphql-go/graphql"

	"github.com/borderproof/borderproof/internal/errs"
	"github.com/borderproof/borderproof/internal/tenant"
	"github.com/borderproof/borderproof/internal/webhook"
)

// WebhookService is what the webhook resolvers need (*webhook.Service).
type WebhookService interface {
	CreateEndpoint(ctx context.Context, in webhook.CreateEndpointInput) (webhook.Endpoint, string, error)
	Endpoint(ctx context.Context, insurerID string, mode tenant.Mode, id string) (webhook.Endpoint, error)
	UpdateEndpoint(ctx context.Context, in webhook.UpdateEndpointInput) (webhook.Endpoint, error)
	DeleteEndpoint(ctx context.Context, insurerID string, mode tenant.Mode, id string) error
	ListEndpoints(ctx context.Context, in webhook.ListEndpointsInput) (webhook.EndpointPage, error)
	RotateSecret(ctx context.Context, insurerID string, mode tenant.Mode, id string) (webhook.Endpoint, string, error)
	SendTest(ctx context.Context, insurerID string, mode tenant.Mode, endpointID string) (webhook.Delivery, error)
	Delivery(ctx context.Context, insurerID string, mode tenant.Mode, id string) (webhook.Delivery, error)
	ListDeliveries(ctx context.Context, in webhook.ListDeliveriesInput) (webhook.DeliveryPage, error)
	Attempts(ctx context.Context, insurerID string, deliveryIDs []string) (map[string][]webhook.Attempt, error)
	ReplayDelivery(ctx context.Context, insurerID string, mode tenant.Mode, id string) (webhook.Delivery, error)
	ReplayDeliveries(ctx context.Context, in webhook.ReplayInput) (int, error)
}

// webhookCaller authorises a webhook resolver: the webhooks:manage scope
// and a configured service. Every webhook operation acts on the caller's
// insurer in the key's mode.
func (b *builder) webhookCaller(p graphql.ResolveParams) (tenant.Principal, error) {
	pr, err := tenant.Authorize(p.Context, tenant.ScopeWebhooksManage)
	if err != nil {
		return pr, b.fail(p.Context, err)
	}
	if b.d.Webhooks == nil {
		return pr, b.fail(p.Context, errs.E(errs.Unavailable, "webhooks are not configured"))
	}
	return pr, nil
}

// webhookResolver wraps a resolver body with authorisation and error
// mapping.
func (b *builder) webhookResolver(fn func(p graphql.ResolveParams, pr tenant.Principal) (any, error)) graphql.FieldResolveFn {
	return func(p graphql.ResolveParams) (any, error) {
		pr, err := b.webhookCaller(p)
		if err != nil {
			return nil, err
		}
		out, err := fn(p, pr)
		if err != nil {
			return nil, b.fail(p.Context, err)
		}
		return out, nil
	}
}

func webhookArg(args map[string]any, name string) string {
	s, _ := args[name].(string)
	return s
}

func webhookArgStrings(v any) []string {
	list, ok := v.([]any)
	if !ok {
		return nil
	}
	out := make([]string, 0, len(list))
	for _, x := range list {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func (b *builder) webhookQueries() graphql.Fields {
	endpoint := b.webhookEndpointType()
	delivery := b.webhookDeliveryType()
	return graphql.Fields{
		"webhookEndpoints": {
			Type:        graphql.NewNonNull(b.connection("WebhookEndpoint", endpoint)),
			Description: "The insurer's webhook endpoints in the key's mode, oldest first (webhooks:manage; first ≤ 100).",
			Args: graphql.FieldConfigArgument{
				"first": {Type: graphql.Int, DefaultValue: 20},
				"after": {Type: graphql.String},
			},
			Resolve: b.webhookResolver(func(p graphql.ResolveParams, pr tenant.Principal) (any, error) {
				after, err := decodeCursor(webhookArg(p.Args, "after"))
				if err != nil {
					return nil, err
				}
				first, _ := p.Args["first"].(int)
				page, err := b.d.Webhooks.ListEndpoints(p.Context, webhook.ListEndpointsInput{
					InsurerID: pr.Insurer.ID, Mode: pr.Mode(), First: first, After: after,
				})
				if err != nil {
					return nil, err
				}
				return connectionValue(page.Endpoints, func(e webhook.Endpoint) string { return e.ID }, page.HasNextPage), nil
			}),
		},
		"webhookEndpoint": {
			Type:        graphql.NewNonNull(endpoint),
			Description: "One webhook endpoint (webhooks:manage).",
			Args:        graphql.FieldConfigArgument{"id": {Type: graphql.NewNonNull(graphql.ID)}},
			Resolve: b.webhookResolver(func(p graphql.ResolveParams, pr tenant.Principal) (any, error) {
				return b.d.Webhooks.Endpoint(p.Context, pr.Insurer.ID, pr.Mode(), webhookArg(p.Args, "id"))
			}),
		},
		"webhookDeliveries": {
			Type:        graphql.NewNonNull(b.connection("WebhookDelivery", delivery)),
			Description: "Deliveries newest first, optionally of one endpoint and in one status, with their attempts (webhooks:manage; first ≤ 100).",
			Args: graphql.FieldConfigArgument{
				"endpointId": {Type: graphql.ID},
				"status":     {Type: b.webhookDeliveryStatusEnum()},
				"first":      {Type: graphql.Int, DefaultValue: 20},
				"after":      {Type: graphql.String},
			},
			Resolve: b.webhookResolver(func(p graphql.ResolveParams, pr tenant.Principal) (any, error) {
				after, err := decodeCursor(webhookArg(p.Args, "after"))
				if err != nil {
					return nil, err
				}
				first, _ := p.Args["first"].(int)
				page, err := b.d.Webhooks.ListDeliveries(p.Context, webhook.ListDeliveriesInput{
					InsurerID: pr.Insurer.ID, Mode: pr.Mode(), EndpointID: webhookArg(p.Args, "endpointId"),
					Status: webhook.DeliveryStatus(webhookArg(p.Args, "status")), First: first, After: after,
				})
				if err != nil {
					return nil, err
				}
				nodes := b.webhookDeliveryNodes(p.Context, pr.Insurer.ID, page.Deliveries...)
				return connectionValue(nodes, func(n webhookDeliveryNode) string { return n.d.ID }, page.HasNextPage), nil
			}),
		},
		"webhookDelivery": {
			Type:        graphql.NewNonNull(delivery),
			Description: "One delivery with its attempts (webhooks:manage).",
			Args:        graphql.FieldConfigArgument{"id": {Type: graphql.NewNonNull(graphql.ID)}},
			Resolve: b.webhookResolver(func(p graphql.ResolveParams, pr tenant.Principal) (any, error) {
				d, err := b.d.Webhooks.Delivery(p.Context, pr.Insurer.ID, pr.Mode(), webhookArg(p.Args, "id"))
				if err != nil {
					return nil, err
				}
				return b.webhookDeliveryNodes(p.Context, pr.Insurer.ID, d)[0], nil
			}),
		},
	}
}

func (b *builder) webhookMutations() graphql.Fields {
	endpoint := b.webhookEndpointType()
	delivery := b.webhookDeliveryType()
	events := graphql.NewList(graphql.NewNonNull(graphql.String))
	createInput := graphql.NewInputObject(graphql.InputObjectConfig{
		Name: "CreateWebhookEndpointInput",
		Fields: graphql.InputObjectConfigFieldMap{
			"url":         {Type: graphql.NewNonNull(graphql.String), Description: "https for LIVE keys; TEST keys may also use http."},
			"events":      {Type: graphql.NewNonNull(events), Description: "Event types to receive; at least one."},
			"description": {Type: graphql.String},
		},
	})
	updateInput := graphql.NewInputObject(graphql.InputObjectConfig{
		Name:        "UpdateWebhookEndpointInput",
		Description: "Fields left out stay as they are; null cannot clear a field, so clearing is explicit.",
		Fields: graphql.InputObjectConfigFieldMap{
			"url":              {Type: graphql.String},
			"events":           {Type: events, Description: "Replaces the subscribed event types; at least one."},
			"description":      {Type: graphql.String},
			"clearDescription": {Type: graphql.Boolean, Description: "Removes the description."},
			"enabled":          {Type: graphql.Boolean, Description: "Enabling an endpoint clears its failure history; disabling one fails its pending deliveries (replayable)."},
		},
	})
	secretPayload := func(name, desc string) *graphql.Object {
		return graphql.NewObject(graphql.ObjectConfig{
			Name: name,
			Fields: graphql.Fields{
				"endpoint": {Type: graphql.NewNonNull(endpoint), Resolve: func(p graphql.ResolveParams) (any, error) {
					return p.Source.(webhookSecretResult).endpoint, nil
				}},
				"secret": {Type: graphql.NewNonNull(graphql.String), Description: desc, Resolve: func(p graphql.ResolveParams) (any, error) {
					return p.Source.(webhookSecretResult).secret, nil
				}},
			},
		})
	}
	idArg := graphql.FieldConfigArgument{"id": {Type: graphql.NewNonNull(graphql.ID)}}
	return graphql.Fields{
		"createWebhookEndpoint": {
			Type: graphql.NewNonNull(secretPayload("CreateWebhookEndpointPayload",
				"The signing secret (whsec_…), shown this once: verify webhook-signature with it.")),
			Description: "Creates a webhook endpoint in the key's mode (webhooks:manage).",
			Args:        graphql.FieldConfigArgument{"input": {Type: graphql.NewNonNull(createInput)}},
			Resolve: b.webhookResolver(func(p graphql.ResolveParams, pr tenant.Principal) (any, error) {
				in, _ := p.Args["input"].(map[string]any)
				e, secret, err := b.d.Webhooks.CreateEndpoint(p.Context, webhook.CreateEndpointInput{
					InsurerID: pr.Insurer.ID, Mode: pr.Mode(), URL: webhookArg(in, "url"),
					Events: webhookArgStrings(in["events"]), Description: webhookArg(in, "description"),
				})
				if err != nil {
					return nil, err
				}
				return webhookSecretResult{endpoint: e, secret: secret}, nil
			}),
		},
		"updateWebhookEndpoint": {
			Type:        graphql.NewNonNull(endpoint),
			Description: "Changes a webhook endpoint (webhooks:manage).",
			Args: graphql.FieldConfigArgument{
				"id":    {Type: graphql.NewNonNull(graphql.ID)},
				"input": {Type: graphql.NewNonNull(updateInput)},
			},
			Resolve: b.webhookResolver(func(p graphql.ResolveParams, pr tenant.Principal) (any, error) {
				in, _ := p.Args["input"].(map[string]any)
				u := webhook.UpdateEndpointInput{InsurerID: pr.Insurer.ID, Mode: pr.Mode(), ID: webhookArg(p.Args, "id")}
				if v, ok := in["url"].(string); ok {
					u.URL = &v
				}
				if v, ok := in["events"]; ok {
					u.Events = webhookArgStrings(v)
					if u.Events == nil {
						u.Events = []string{}
					}
				}
				if v, ok := in["description"].(string); ok {
					u.Description = &v
				}
				u.ClearDescription, _ = in["clearDescription"].(bool)
				if v, ok := in["enabled"].(bool); ok {
					u.Enabled = &v
				}
				return b.d.Webhooks.UpdateEndpoint(p.Context, u)
			}),
		},
		"deleteWebhookEndpoint": {
			Type:        graphql.NewNonNull(graphql.ID),
			Description: "Deletes a webhook endpoint with its delivery history and returns its id (webhooks:manage).",
			Args:        idArg,
			Resolve: b.webhookResolver(func(p graphql.ResolveParams, pr tenant.Principal) (any, error) {
				id := webhookArg(p.Args, "id")
				if err := b.d.Webhooks.DeleteEndpoint(p.Context, pr.Insurer.ID, pr.Mode(), id); err != nil {
					return nil, err
				}
				return id, nil
			}),
		},
		"rotateWebhookSecret": {
			Type: graphql.NewNonNull(secretPayload("RotateWebhookSecretPayload",
				"The new signing secret, shown this once. The old one keeps signing beside it for 24 hours (see previousSecretExpiresAt).")),
			Description: "Gives an endpoint a new signing secret (webhooks:manage).",
			Args:        idArg,
			Resolve: b.webhookResolver(func(p graphql.ResolveParams, pr tenant.Principal) (any, error) {
				e, secret, err := b.d.Webhooks.RotateSecret(p.Context, pr.Insurer.ID, pr.Mode(), webhookArg(p.Args, "id"))
				if err != nil {
					return nil, err
				}
				return webhookSecretResult{endpoint: e, secret: secret}, nil
			}),
		},
		"sendTestWebhook": {
			Type:        graphql.NewNonNull(delivery),
			Description: "Sends a webhook.test message to this endpoint only (webhooks:manage).",
			Args:        idArg,
			Resolve: b.webhookResolver(func(p graphql.ResolveParams, pr tenant.Principal) (any, error) {
				d, err := b.d.Webhooks.SendTest(p.Context, pr.Insurer.ID, pr.Mode(), webhookArg(p.Args, "id"))
				if err != nil {
					return nil, err
				}
				return b.webhookDeliveryNodes(p.Context, pr.Insurer.ID, d)[0], nil
			}),
		},
		"replayWebhookDelivery": {
			Type:        graphql.NewNonNull(delivery),
			Description: "Sends a finished delivery again, with the same message id and a fresh retry schedule (webhooks:manage).",
			Args:        idArg,
			Resolve: b.webhookResolver(func(p graphql.ResolveParams, pr tenant.Principal) (any, error) {
				d, err := b.d.Webhooks.ReplayDelivery(p.Context, pr.Insurer.ID, pr.Mode(), webhookArg(p.Args, "id"))
				if err != nil {
					return nil, err
				}
				return b.webhookDeliveryNodes(p.Context, pr.Insurer.ID, d)[0], nil
			}),
		},
		"replayWebhookDeliveries": {
			Type: graphql.NewNonNull(graphql.Int),
			Description: "Replays the endpoint's FAILED deliveries created since the given time, at most 1000 per call " +
				"(call again for more), and returns how many (webhooks:manage).",
			Args: graphql.FieldConfigArgument{
				"endpointId": {Type: graphql.NewNonNull(graphql.ID)},
				"since":      {Type: graphql.NewNonNull(b.dateTime())},
			},
			Resolve: b.webhookResolver(func(p graphql.ResolveParams, pr tenant.Principal) (any, error) {
				since, _ := p.Args["since"].(time.Time)
				return b.d.Webhooks.ReplayDeliveries(p.Context, webhook.ReplayInput{
					InsurerID: pr.Insurer.ID, Mode: pr.Mode(), EndpointID: webhookArg(p.Args, "endpointId"), Since: since,
				})
			}),
		},
	}
}

// webhookSecretResult is the source of the payloads that show a secret once.
type webhookSecretResult struct {
	endpoint webhook.Endpoint
	secret   string
}
