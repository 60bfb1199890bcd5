package console

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/borderproof/borderproof/internal/errs"
	"github.com/borderproof/borderproof/internal/tenant"
	"github.com/borderproof/borderproof/internal/webhook"
)

// Webhooks is what the webhooks page needs of webhook.Service; nil shows
// "not configured". The page and its actions check webhooks:manage first.
type Webhooks interface {
	ListEndpoints(ctx context.Context, in webhook.ListEndpointsInput) (webhook.EndpointPage, error)
	ListDeliveries(ctx context.Context, in webhook.ListDeliveriesInput) (webhook.DeliveryPage, error)
	Attempts(ctx context.Context, insurerID string, deliveryIDs []string) (map[string][]webhook.Attempt, error)
	ReplayDelivery(ctx context.Context, insurerID string, mode tenant.Mode, id string) (webhook.Delivery, error)
	ReplayDeliveries(ctx context.Context, in webhook.ReplayInput) (int, error)
	SendTest(ctx context.Context, insurerID string, mode tenant.Mode, endpointID string) (webhook.Delivery, error)
	RotateSecret(ctx context.Context, insurerID string, mode tenant.Mode, id string) (webhook.Endpoint, string, error)
}

const (
	// healthWindow is how many recent deliveries the success rate counts.
	healthWindow = 50
	// shownDeliveries is how many recent deliveries each endpoint lists.
	shownDeliveries = 10
)

var webhookNotices = map[string]string{
	"replayed":  "The delivery was queued again.",
	"test-sent": "A webhook.test message was queued for the endpoint.",
}

type webhooksData struct {
	Endpoints []endpointHealth
	More      bool
	// Rotated is the endpoint whose secret was just rotated, with the new
	// secret, shown this once.
	Rotated   *webhook.Endpoint
	NewSecret string
	// Since is the default of the replay form (24 hours ago, UTC).
	Since string
}

// endpointHealth is an endpoint with its recent deliveries.
type endpointHealth struct {
	webhook.Endpoint
	// Rate is the share of finished recent deliveries that succeeded, in
	// percent; Finished is how many there were (0: no rate).
	Rate       int
	Finished   int
	Deliveries []deliveryRow
}

type deliveryRow struct {
	webhook.Delivery
	// Latency of the last attempt; zero when unknown.
	Latency time.Duration
}

func (c *Console) webhooks(w http.ResponseWriter, r *http.Request, rq *request) {
	if _, err := tenant.Authorize(r.Context(), tenant.ScopeWebhooksManage); err != nil {
		c.fail(w, r, rq, err)
		return
	}
	if c.d.Webhooks == nil {
		c.notConfigured(w, r, rq, "Webhooks", "webhooks")
		return
	}
	d, err := c.webhooksFor(r, rq)
	if err != nil {
		c.fail(w, r, rq, err)
		return
	}
	c.render(w, r, http.StatusOK, "webhooks", c.webhooksView(r, rq, d))
}

func (c *Console) webhooksView(r *http.Request, rq *request, d *webhooksData) *view {
	v := c.newView(r, rq, "Webhooks", "webhooks", d)
	q := r.URL.Query()
	if msg, ok := webhookNotices[q.Get("notice")]; ok && v.Notice == "" {
		v.Notice = msg
	}
	if q.Get("notice") == "replayed-many" {
		if n, err := strconv.Atoi(q.Get("n")); err == nil && n >= 0 {
			v.Notice = strconv.Itoa(n) + " failed deliveries were queued again."
			if n == 1 {
				v.Notice = "1 failed delivery was queued again."
			}
		}
	}
	return v
}

// webhooksFor loads the endpoints, their recent deliveries and the last
// attempt of each.
func (c *Console) webhooksFor(r *http.Request, rq *request) (*webhooksData, error) {
	ctx, ins, mode := r.Context(), rq.p.Insurer.ID, rq.p.Mode()
	page, err := c.d.Webhooks.ListEndpoints(ctx, webhook.ListEndpointsInput{InsurerID: ins, Mode: mode, First: webhook.MaxPageSize})
	if err != nil {
		return nil, err
	}
	d := &webhooksData{More: page.HasNextPage, Since: c.cfg.Now().UTC().Add(-24 * time.Hour).Format("2006-01-02T15:04")}
	var shown []string
	for _, e := range page.Endpoints {
		dp, err := c.d.Webhooks.ListDeliveries(ctx, webhook.ListDeliveriesInput{InsurerID: ins, Mode: mode, EndpointID: e.ID,
			First: healthWindow})
		if err != nil {
			return nil, err
		}
		h := endpointHealth{Endpoint: e}
		ok := 0
		for i, dl := range dp.Deliveries {
			switch dl.Status {
			case webhook.Succeeded:
				ok++
				h.Finished++
			case webhook.Failed:
				h.Finished++
			}
			if i < shownDeliveries {
				h.Deliveries = append(h.Deliveries, deliveryRow{Delivery: dl})
				shown = append(shown, dl.ID)
			}
		}
		if h.Finished > 0 {
			h.Rate = ok * 100 / h.Finished
		}
		d.Endpoints = append(d.Endpoints, h)
	}
	attempts, err := c.d.Webhooks.Attempts(ctx, ins, shown)
	if err != nil {
		return nil, err
	}
	for i := range d.Endpoints {
		for j := range d.Endpoints[i].Deliveries {
			row := &d.Endpoints[i].Deliveries[j]
			var last webhook.Attempt
			for _, a := range attempts[row.ID] {
				if a.Number >= last.Number {
					last = a
				}
			}
			row.Latency = last.Latency
		}
	}
	return d, nil
}

// webhookAction authorizes a webhook action and hands over the principal.
func (c *Console) webhookAction(w http.ResponseWriter, r *http.Request, rq *request) (tenant.Principal, bool) {
	p, err := tenant.Authorize(r.Context(), tenant.ScopeWebhooksManage)
	if err != nil {
		c.fail(w, r, rq, err)
		return p, false
	}
	if c.d.Webhooks == nil {
		c.notConfigured(w, r, rq, "Webhooks", "webhooks")
		return p, false
	}
	return p, true
}

func (c *Console) replayDelivery(w http.ResponseWriter, r *http.Request, rq *request) {
	p, ok := c.webhookAction(w, r, rq)
	if !ok {
		return
	}
	if _, err := c.d.Webhooks.ReplayDelivery(r.Context(), p.Insurer.ID, p.Mode(), r.PathValue("id")); err != nil {
		c.fail(w, r, rq, err)
		return
	}
	c.seeOther(w, r, c.cfg.Base+"/webhooks", "replayed")
}

// replayFailed replays the endpoint's failed deliveries created since the
// form's time (UTC).
func (c *Console) replayFailed(w http.ResponseWriter, r *http.Request, rq *request) {
	p, ok := c.webhookAction(w, r, rq)
	if !ok {
		return
	}
	since, err := parseSince(r.PostFormValue("since"))
	if err != nil {
		c.fail(w, r, rq, err)
		return
	}
	n, err := c.d.Webhooks.ReplayDeliveries(r.Context(), webhook.ReplayInput{InsurerID: p.Insurer.ID, Mode: p.Mode(),
		EndpointID: r.PathValue("id"), Since: since})
	if err != nil {
		c.fail(w, r, rq, err)
		return
	}
	http.Redirect(w, r, c.cfg.Base+"/webhooks?notice=replayed-many&n="+strconv.Itoa(n), http.StatusSeeOther)
}

// parseSince reads a datetime-local value (or a date) as UTC.
func parseSince(s string) (time.Time, error) {
	for _, layout := range []string{"2006-01-02T15:04", "2006-01-02T15:04:05", time.DateOnly} {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t, nil
		}
	}
	return time.Time{}, errs.Fields{{Path: "since", Message: "must be a date and time (YYYY-MM-DDTHH:MM, UTC)"}}.Err()
}

func (c *Console) sendTest(w http.ResponseWriter, r *http.Request, rq *request) {
	p, ok := c.webhookAction(w, r, rq)
	if !ok {
		return
	}
	if _, err := c.d.Webhooks.SendTest(r.Context(), p.Insurer.ID, p.Mode(), r.PathValue("id")); err != nil {
		c.fail(w, r, rq, err)
		return
	}
	c.seeOther(w, r, c.cfg.Base+"/webhooks", "test-sent")
}

// rotateSecret shows the new secret once, on the page that answers the
// form; it is never shown again.
func (c *Console) rotateSecret(w http.ResponseWriter, r *http.Request, rq *request) {
	p, ok := c.webhookAction(w, r, rq)
	if !ok {
		return
	}
	e, secret, err := c.d.Webhooks.RotateSecret(r.Context(), p.Insurer.ID, p.Mode(), r.PathValue("id"))
	if err != nil {
		c.fail(w, r, rq, err)
		return
	}
	d, err := c.webhooksFor(r, rq)
	if err != nil {
		c.fail(w, r, rq, err)
		return
	}
	d.Rotated, d.NewSecret = &e, secret
	c.render(w, r, http.StatusOK, "webhooks", c.webhooksView(r, rq, d))
}
