package console

import (
	"context"
	"net/http"

	"github.com/borderproof/borderproof/internal/tenant"
	"github.com/borderproof/borderproof/internal/webhook"
)

// Webhooks is what the webhooks page needs of webhook.Service; nil shows
// "not configured". The page checks webhooks:manage first.
type Webhooks interface {
	ListEndpoints(ctx context.Context, in webhook.ListEndpointsInput) (webhook.EndpointPage, error)
	ListDeliveries(ctx context.Context, in webhook.ListDeliveriesInput) (webhook.DeliveryPage, error)
}

type webhooksData struct {
	Endpoints  webhook.EndpointPage
	Deliveries webhook.DeliveryPage
}

func (c *Console) webhooks(w http.ResponseWriter, r *http.Request, rq *request) {
	p, err := tenant.Authorize(r.Context(), tenant.ScopeWebhooksManage)
	if err != nil {
		c.fail(w, r, rq, err)
		return
	}
	if c.d.Webhooks == nil {
		c.notConfigured(w, r, rq, "Webhooks", "webhooks")
		return
	}
	var d webhooksData
	if d.Endpoints, err = c.d.Webhooks.ListEndpoints(r.Context(), webhook.ListEndpointsInput{InsurerID: p.Insurer.ID,
		Mode: p.Mode(), First: 100}); err != nil {
		c.fail(w, r, rq, err)
		return
	}
	if d.Deliveries, err = c.d.Webhooks.ListDeliveries(r.Context(), webhook.ListDeliveriesInput{InsurerID: p.Insurer.ID,
		Mode: p.Mode(), First: 50}); err != nil {
		c.fail(w, r, rq, err)
		return
	}
	c.render(w, r, http.StatusOK, "webhooks", c.newView(r, rq, "Webhooks", "webhooks", &d))
}
