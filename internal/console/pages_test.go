package console_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/borderproof/borderproof/internal/billing"
	"github.com/borderproof/borderproof/internal/console"
	"github.com/borderproof/borderproof/internal/store"
	"github.com/borderproof/borderproof/internal/user"
	"github.com/borderproof/borderproof/internal/webhook"
)

// fakeBilling answers for the insurer it is asked about and remembers it.
type fakeBilling struct{ asked string }

func (f *fakeBilling) Budget(_ context.Context, insurerID string) (billing.BudgetStatus, error) {
	f.asked = insurerID
	return billing.BudgetStatus{InsurerID: insurerID, Budget: billing.Budget{CapMinor: 500000, Currency: "EUR", Hard: true},
		Month: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), Spend: billing.Money{Minor: 123456, Currency: "EUR"}, Reached: []int{20}}, nil
}

func (f *fakeBilling) InvoicePreview(_ context.Context, insurerID, mode string, _ time.Time) (billing.InvoicePreview, error) {
	line := billing.UsageLine{Meter: "verification_check", Quantity: 42, Amount: billing.Money{Minor: 4200, Currency: "EUR"}}
	return billing.InvoicePreview{InsurerID: insurerID, Mode: mode, Ledger: []billing.UsageLine{line}, LedgerTotal: []billing.UsageLine{line}}, nil
}

type fakeWebhooks struct{}

func (fakeWebhooks) ListEndpoints(_ context.Context, in webhook.ListEndpointsInput) (webhook.EndpointPage, error) {
	return webhook.EndpointPage{Endpoints: []webhook.Endpoint{{ID: "whk_1", InsurerID: in.InsurerID, Mode: in.Mode,
		URL: "https://claims.acme.test/hooks", Events: []string{"verification.completed"}, Enabled: true}}}, nil
}

func (fakeWebhooks) ListDeliveries(_ context.Context, in webhook.ListDeliveriesInput) (webhook.DeliveryPage, error) {
	return webhook.DeliveryPage{Deliveries: []webhook.Delivery{{ID: "dlv_1", EventType: "verification.completed", Status: "DELIVERED",
		Attempts: 2, LastStatusCode: 204, CreatedAt: time.Now()}}}, nil
}

func TestBillingAndWebhookPages(t *testing.T) {
	fb := &fakeBilling{}
	e := newEnv(t, store.SQLite, func(_ *console.Config, d *console.Deps) { d.Billing, d.Webhooks = fb, fakeWebhooks{} })
	fin := e.client(t).signIn(user.RoleFinance)
	must(t, fin.get("/console/billing"), http.StatusOK, "1234.56 EUR", "5000.00 EUR", "hard", "42", "42.00 EUR", "ledger only")
	if fb.asked != e.ins.ID {
		t.Fatalf("billing asked about %q", fb.asked)
	}
	must(t, fin.get("/console/webhooks"), http.StatusForbidden, "webhooks:manage")
	uw := e.client(t).signIn(user.RoleUnderwriter)
	must(t, uw.get("/console/billing"), http.StatusForbidden, "billing:read")
	admin := e.client(t).signIn(user.RoleAdmin)
	must(t, admin.get("/console/webhooks"), http.StatusOK, "https://claims.acme.test/hooks", "HTTP 204", "verification.completed")
}
