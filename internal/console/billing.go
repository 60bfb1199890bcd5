package console

import (
	"context"
	"net/http"
	"time"

	"github.com/borderproof/borderproof/internal/billing"
	"github.com/borderproof/borderproof/internal/tenant"
)

// Billing is what the billing page needs of billing.Service; nil shows
// "not configured". The service takes the insurer id from its caller; the
// page checks billing:read first, as the GraphQL resolvers do.
type Billing interface {
	Budget(ctx context.Context, insurerID string) (billing.BudgetStatus, error)
	InvoicePreview(ctx context.Context, insurerID, mode string, month time.Time) (billing.InvoicePreview, error)
}

type billingData struct {
	Budget  billing.BudgetStatus
	Preview billing.InvoicePreview
}

func (c *Console) billing(w http.ResponseWriter, r *http.Request, rq *request) {
	p, err := tenant.Authorize(r.Context(), tenant.ScopeBillingRead)
	if err != nil {
		c.fail(w, r, rq, err)
		return
	}
	if c.d.Billing == nil {
		c.notConfigured(w, r, rq, "Billing", "billing")
		return
	}
	var d billingData
	if d.Budget, err = c.d.Billing.Budget(r.Context(), p.Insurer.ID); err != nil {
		c.fail(w, r, rq, err)
		return
	}
	if d.Preview, err = c.d.Billing.InvoicePreview(r.Context(), p.Insurer.ID, string(p.Mode()), c.cfg.Now()); err != nil {
		c.fail(w, r, rq, err)
		return
	}
	c.render(w, r, http.StatusOK, "billing", c.newView(r, rq, "Billing", "billing", &d))
}
