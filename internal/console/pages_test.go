package console_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/borderproof/borderproof/internal/billing"
	"github.com/borderproof/borderproof/internal/console"
	"github.com/borderproof/borderproof/internal/errs"
	"github.com/borderproof/borderproof/internal/store"
	"github.com/borderproof/borderproof/internal/tenant"
	"github.com/borderproof/borderproof/internal/user"
	"github.com/borderproof/borderproof/internal/webhook"
)

// The domain services are what the console is wired with.
var (
	_ console.Billing  = (*billing.Service)(nil)
	_ console.Webhooks = (*webhook.Service)(nil)
)

// fakeBilling answers for the insurer it is asked about and remembers the
// calls.
type fakeBilling struct {
	mu      sync.Mutex
	asked   string
	queries []billing.UsageQuery
	budget  *billing.SetBudgetInput
	export  *billing.ExportInput
	link    string
	stripe  bool
}

func (f *fakeBilling) Budget(_ context.Context, insurerID string) (billing.BudgetStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked = insurerID
	b := billing.Budget{CapMinor: 500000, Currency: "EUR", Hard: true}
	if f.budget != nil {
		b = billing.Budget{CapMinor: f.budget.CapMinor, Currency: f.budget.Currency, Hard: f.budget.Hard}
	}
	return billing.BudgetStatus{InsurerID: insurerID, Budget: b,
		Month: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), Spend: billing.Money{Minor: 123456, Currency: "EUR"}, Reached: []int{20}}, nil
}

func (f *fakeBilling) SetBudget(_ context.Context, in billing.SetBudgetInput) (billing.BudgetStatus, error) {
	if err := in.Validate(); err != nil {
		return billing.BudgetStatus{}, err
	}
	if in.CapMinor > 0 && in.Currency != "EUR" {
		return billing.BudgetStatus{}, errs.Fields{{Path: "currency", Message: "must be the plan's currency, EUR"}}.Err()
	}
	f.mu.Lock()
	f.budget = &in
	f.mu.Unlock()
	return f.Budget(context.Background(), in.InsurerID)
}

func (f *fakeBilling) InvoicePreview(_ context.Context, insurerID, mode string, _ time.Time) (billing.InvoicePreview, error) {
	line := billing.UsageLine{Meter: "verification_check", Quantity: 42, Amount: billing.Money{Minor: 4200, Currency: "EUR"}}
	p := billing.InvoicePreview{InsurerID: insurerID, Mode: mode, Ledger: []billing.UsageLine{line}, LedgerTotal: []billing.UsageLine{line},
		StripeConfigured: f.stripe}
	if f.stripe {
		p.Stripe = &billing.StripeInvoice{ID: "in_upcoming_77", Currency: "EUR", Total: 4300, Lines: []billing.InvoiceLine{
			{Description: "Verification checks × 42", Quantity: 42, Amount: 4300, Currency: "EUR"}}}
	}
	return p, nil
}

func (f *fakeBilling) Usage(_ context.Context, q billing.UsageQuery) (billing.UsageReport, error) {
	if err := q.Validate(); err != nil {
		return billing.UsageReport{}, err
	}
	f.mu.Lock()
	f.queries = append(f.queries, q)
	f.mu.Unlock()
	r := billing.UsageReport{Query: q}
	switch q.GroupBy[0] {
	case billing.GroupDay:
		r.Lines = []billing.UsageLine{
			{Day: q.From, Quantity: 3, Amount: billing.Money{Minor: 850, Currency: "EUR"}},
			{Day: q.From.AddDate(0, 0, 1), Quantity: 7, Amount: billing.Money{Minor: 2000, Currency: "EUR"}},
		}
	case billing.GroupMeter:
		r.Lines = []billing.UsageLine{
			{Meter: "immigration_status_checks", Quantity: 6, Amount: billing.Money{Minor: 1200, Currency: "EUR"}},
			{Meter: "document_checks", Quantity: 4, Amount: billing.Money{Minor: 1650, Currency: "EUR"}},
		}
	}
	r.Totals = []billing.UsageLine{{Quantity: 10, Amount: billing.Money{Minor: 2850, Currency: "EUR"}}}
	return r, nil
}

func (f *fakeBilling) ExportUsage(_ context.Context, in billing.ExportInput) (billing.Export, error) {
	if err := in.Validate(); err != nil {
		return billing.Export{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.export = &in
	return billing.Export{ID: "exp_1", InsurerID: in.InsurerID, Rows: 10, URL: f.link, ExpiresAt: time.Now().Add(time.Hour)}, nil
}

// fakeWebhooks serves one endpoint of the insurer with three deliveries and
// records the actions.
type fakeWebhooks struct {
	mu       sync.Mutex
	ins      string
	replayed []string
	since    time.Time
	tested   []string
	rotated  []string
}

func (f *fakeWebhooks) ListEndpoints(_ context.Context, in webhook.ListEndpointsInput) (webhook.EndpointPage, error) {
	return webhook.EndpointPage{Endpoints: []webhook.Endpoint{{ID: "whk_1", InsurerID: in.InsurerID, Mode: in.Mode,
		URL: "https://claims.acme.test/hooks", Events: []string{"verification.completed"}, Enabled: true,
		FailingSince: time.Date(2026, 11, 19, 8, 0, 0, 0, time.UTC)}}}, nil
}

func (f *fakeWebhooks) ListDeliveries(_ context.Context, in webhook.ListDeliveriesInput) (webhook.DeliveryPage, error) {
	if in.EndpointID != "whk_1" {
		return webhook.DeliveryPage{}, errs.E(errs.NotFound, "webhook endpoint not found")
	}
	now := time.Now()
	return webhook.DeliveryPage{Deliveries: []webhook.Delivery{
		{ID: "dlv_1", EndpointID: "whk_1", EventType: "verification.completed", Status: webhook.Succeeded, Attempts: 2, LastStatusCode: 204, CreatedAt: now},
		{ID: "dlv_2", EndpointID: "whk_1", EventType: "verification.completed", Status: webhook.Succeeded, Attempts: 1, LastStatusCode: 200, CreatedAt: now},
		{ID: "dlv_3", EndpointID: "whk_1", EventType: "verification.review_required", Status: webhook.Failed, Attempts: 8, LastStatusCode: 503, CreatedAt: now},
		{ID: "dlv_4", EndpointID: "whk_1", EventType: "verification.completed", Status: webhook.Failed, Attempts: 8, LastError: "connection refused", CreatedAt: now},
	}}, nil
}

func (f *fakeWebhooks) Attempts(_ context.Context, insurerID string, ids []string) (map[string][]webhook.Attempt, error) {
	out := map[string][]webhook.Attempt{}
	for _, id := range ids {
		out[id] = []webhook.Attempt{{DeliveryID: id, Number: 1, Latency: 900 * time.Millisecond}, {DeliveryID: id, Number: 2, Latency: 137 * time.Millisecond}}
	}
	return out, nil
}

func (f *fakeWebhooks) check(insurerID string, mode tenant.Mode, id, prefix string) error {
	if insurerID != f.ins || mode != tenant.Test || !strings.HasPrefix(id, prefix) {
		return errs.E(errs.NotFound, "not found")
	}
	return nil
}

func (f *fakeWebhooks) ReplayDelivery(_ context.Context, insurerID string, mode tenant.Mode, id string) (webhook.Delivery, error) {
	if err := f.check(insurerID, mode, id, "dlv_"); err != nil {
		return webhook.Delivery{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.replayed = append(f.replayed, id)
	return webhook.Delivery{ID: id, Status: webhook.Pending}, nil
}

func (f *fakeWebhooks) ReplayDeliveries(_ context.Context, in webhook.ReplayInput) (int, error) {
	if err := f.check(in.InsurerID, in.Mode, in.EndpointID, "whk_"); err != nil {
		return 0, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.since = in.Since
	return 2, nil
}

func (f *fakeWebhooks) SendTest(_ context.Context, insurerID string, mode tenant.Mode, endpointID string) (webhook.Delivery, error) {
	if err := f.check(insurerID, mode, endpointID, "whk_"); err != nil {
		return webhook.Delivery{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tested = append(f.tested, endpointID)
	return webhook.Delivery{ID: "dlv_test"}, nil
}

func (f *fakeWebhooks) RotateSecret(_ context.Context, insurerID string, mode tenant.Mode, id string) (webhook.Endpoint, string, error) {
	if err := f.check(insurerID, mode, id, "whk_"); err != nil {
		return webhook.Endpoint{}, "", err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rotated = append(f.rotated, id)
	return webhook.Endpoint{ID: id, URL: "https://claims.acme.test/hooks", Enabled: true}, "whsec_" + strings.Repeat("k", 32) + id, nil
}

var today = time.Date(2026, 11, 20, 15, 4, 0, 0, time.UTC)

func billingEnv(t *testing.T) (*env, *fakeBilling, *fakeWebhooks) {
	fb, fw := &fakeBilling{link: "https://blobs.example/exports/exp_1.csv?sig=abc"}, &fakeWebhooks{}
	e := newEnv(t, store.SQLite, func(cfg *console.Config, d *console.Deps) {
		d.Billing, d.Webhooks = fb, fw
		cfg.Now = func() time.Time { return today }
	})
	fw.ins = e.ins.ID
	return e, fb, fw
}

var svgRect = regexp.MustCompile(`<rect x="\d+" y="(\d+)" width="\d+" height="(\d+)"`)

func TestBillingPage(t *testing.T) {
	e, fb, _ := billingEnv(t)
	fin := e.client(t).signIn(user.RoleFinance)
	p := fin.get("/console/billing")
	must(t, p, http.StatusOK, "1234.56 EUR", "5000.00 EUR", "hard", "42.00 EUR", "Stripe not configured",
		`value="2026-11-01"`, `value="2026-11-20"`, "<svg", "Amount per day", "Amount per meter", "28.50 EUR", "8.50 EUR",
		"Immigration status checks", "16.50 EUR", `<meter id="budget-used"`, "24 %", "Export CSV")
	if fb.asked != e.ins.ID {
		t.Fatalf("billing asked about %q", fb.asked)
	}
	if strings.Contains(p.body, `action="/console/billing/budget"`) {
		t.Fatal("finance is offered the budget form")
	}
	if strings.Contains(p.body, " style=") {
		t.Fatal("inline style on the billing page")
	}
	// One bar a day of the period, the tallest reaching the top of the
	// plot; the day without usage has none.
	rects := svgRect.FindAllStringSubmatch(p.body, -1)
	if len(rects) != 20+2 {
		t.Fatalf("%d bars, want 20 days and 2 meters", len(rects))
	}
	h0, _ := strconv.Atoi(rects[0][2])
	h1, _ := strconv.Atoi(rects[1][2])
	if h0 == 0 || h1 <= h0 || rects[1][1] != "16" || rects[2][2] != "0" {
		t.Fatalf("day bars: %v", rects[:3])
	}
	for _, q := range fb.queries {
		if q.InsurerID != e.ins.ID || q.Mode != "TEST" || !q.From.Equal(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)) ||
			!q.To.Equal(time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)) {
			t.Fatalf("usage query %+v", q)
		}
	}

	// A chosen period.
	must(t, fin.get("/console/billing?from=2026-10-01&to=2026-10-31"), http.StatusOK, `value="2026-10-31"`, "Usage from 2026-10-01 to 2026-10-31")
	must(t, fin.get("/console/billing?from=2026-10-31&to=2026-10-01"), http.StatusBadRequest, "must not be before from")
	must(t, fin.get("/console/billing?from=yesterday"), http.StatusBadRequest, "from")

	// Stripe's lines beside the ledger.
	fb.stripe = true
	must(t, fin.get("/console/billing"), http.StatusOK, "in_upcoming_77", "Verification checks × 42", "43.00 EUR")

	// Export: another origin's link is offered, a same-origin one is
	// followed.
	tok := fin.csrf("/console/billing")
	must(t, fin.post("/console/billing/export", url.Values{"from": {"2026-11-01"}, "to": {"2026-11-05"}}), http.StatusForbidden)
	if fb.export != nil {
		t.Fatal("an export without a CSRF token ran")
	}
	must(t, fin.post("/console/billing/export", url.Values{"csrf": {tok}, "from": {"2026-11-01"}, "to": {"2026-11-05"}}),
		http.StatusOK, "Export ready", `href="https://blobs.example/exports/exp_1.csv?sig=abc"`)
	if fb.export == nil || fb.export.InsurerID != e.ins.ID || fb.export.Format != "CSV" || fb.export.Actor != e.ids[user.RoleFinance] ||
		!fb.export.To.Equal(time.Date(2026, 11, 5, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("export %+v", fb.export)
	}
	fb.link = e.srv.URL + "/blobs/exports/exp_1.csv?sig=abc"
	p = fin.post("/console/billing/export", url.Values{"csrf": {tok}, "from": {"2026-11-01"}, "to": {"2026-11-05"}})
	must(t, p, http.StatusSeeOther)
	if p.header.Get("Location") != fb.link {
		t.Fatalf("export redirects to %q", p.header.Get("Location"))
	}

	// Only admins set the budget.
	must(t, fin.post("/console/billing/budget", url.Values{"csrf": {tok}, "cap": {"10"}, "currency": {"EUR"}, "kind": {"soft"}}),
		http.StatusForbidden, "admin")
	uw := e.client(t).signIn(user.RoleUnderwriter)
	must(t, uw.get("/console/billing"), http.StatusForbidden, "billing:read")
	must(t, uw.post("/console/billing/export", url.Values{"csrf": {uw.csrf("/console/account")}}), http.StatusForbidden, "billing:read")
}

func TestBillingBudget(t *testing.T) {
	e, fb, _ := billingEnv(t)
	a := e.client(t).signIn(user.RoleAdmin)
	p := a.get("/console/billing")
	must(t, p, http.StatusOK, `action="/console/billing/budget"`, `value="5000.00"`)
	tok := csrfField.FindStringSubmatch(p.body)[1]
	must(t, a.post("/console/billing/budget", url.Values{"cap": {"10"}, "currency": {"EUR"}, "kind": {"soft"}}), http.StatusForbidden)
	if fb.budget != nil {
		t.Fatal("a budget without a CSRF token was saved")
	}
	for _, tc := range []struct {
		cap, kind string
		status    int
		want      int64
		hard      bool
	}{
		{"750.5", "soft", http.StatusSeeOther, 75050, false},
		{"1200", "hard", http.StatusSeeOther, 120000, true},
		{"12.345", "hard", http.StatusBadRequest, 120000, true},
		{"-3", "hard", http.StatusBadRequest, 120000, true},
		{"abc", "hard", http.StatusBadRequest, 120000, true},
		{"", "hard", http.StatusSeeOther, 0, true},
	} {
		p := a.post("/console/billing/budget", url.Values{"csrf": {tok}, "cap": {tc.cap}, "currency": {"EUR"}, "kind": {tc.kind}})
		must(t, p, tc.status)
		if fb.budget == nil || fb.budget.CapMinor != tc.want || (tc.want > 0 && fb.budget.Hard != tc.hard) {
			t.Fatalf("cap %q: budget %+v", tc.cap, fb.budget)
		}
	}
	must(t, a.post("/console/billing/budget", url.Values{"csrf": {tok}, "cap": {"5"}, "currency": {"USD"}}), http.StatusBadRequest, "plan&#39;s currency")
	must(t, a.get("/console/billing?notice=budget-removed"), http.StatusOK, "The budget was removed")
}

func TestWebhooksPage(t *testing.T) {
	e, _, fw := billingEnv(t)
	fin := e.client(t).signIn(user.RoleFinance)
	must(t, fin.get("/console/webhooks"), http.StatusForbidden, "webhooks:manage")
	a := e.client(t).signIn(user.RoleAdmin)
	p := a.get("/console/webhooks")
	must(t, p, http.StatusOK, "https://claims.acme.test/hooks", "HTTP 204", "HTTP 503", "connection refused", "137 ms",
		"failing", "2026-11-19 08:00:00 UTC", "50 % of the last 4 finished deliveries", `value="2026-11-19T15:04"`)
	if strings.Contains(p.body, " style=") {
		t.Fatal("inline style on the webhooks page")
	}
	tok := csrfField.FindStringSubmatch(p.body)[1]

	posts := []string{"/console/webhooks/deliveries/dlv_3/replay", "/console/webhooks/endpoints/whk_1/replay",
		"/console/webhooks/endpoints/whk_1/test", "/console/webhooks/endpoints/whk_1/rotate"}
	for _, path := range posts {
		must(t, a.post(path, url.Values{"since": {"2026-11-19T00:00"}}), http.StatusForbidden, "did not come from the console")
		ftok := fin.csrf("/console/account")
		must(t, fin.post(path, url.Values{"csrf": {ftok}, "since": {"2026-11-19T00:00"}}), http.StatusForbidden, "webhooks:manage")
	}
	if len(fw.replayed)+len(fw.tested)+len(fw.rotated) != 0 || !fw.since.IsZero() {
		t.Fatal("a refused action reached the service")
	}

	p = a.post(posts[0], url.Values{"csrf": {tok}})
	must(t, p, http.StatusSeeOther)
	must(t, a.get(p.header.Get("Location")), http.StatusOK, "The delivery was queued again.")
	if len(fw.replayed) != 1 || fw.replayed[0] != "dlv_3" {
		t.Fatalf("replayed %v", fw.replayed)
	}

	p = a.post(posts[1], url.Values{"csrf": {tok}, "since": {"2026-11-19T06:30"}})
	must(t, p, http.StatusSeeOther)
	must(t, a.get(p.header.Get("Location")), http.StatusOK, "2 failed deliveries were queued again.")
	if !fw.since.Equal(time.Date(2026, 11, 19, 6, 30, 0, 0, time.UTC)) {
		t.Fatalf("replayed since %v", fw.since)
	}
	must(t, a.post(posts[1], url.Values{"csrf": {tok}, "since": {"last week"}}), http.StatusBadRequest, "since")

	p = a.post(posts[2], url.Values{"csrf": {tok}})
	must(t, p, http.StatusSeeOther)
	must(t, a.get(p.header.Get("Location")), http.StatusOK, "webhook.test message was queued")
	if len(fw.tested) != 1 || fw.tested[0] != "whk_1" {
		t.Fatalf("tested %v", fw.tested)
	}

	secret := "whsec_" + strings.Repeat("k", 32) + "whk_1"
	must(t, a.post(posts[3], url.Values{"csrf": {tok}}), http.StatusOK, "shown only once", secret)
	if len(fw.rotated) != 1 {
		t.Fatalf("rotated %v", fw.rotated)
	}
	if p := a.get("/console/webhooks"); strings.Contains(p.body, secret) {
		t.Fatal("the secret is shown again")
	}
	// Another insurer's or an unknown endpoint is not found.
	must(t, a.post("/console/webhooks/endpoints/zzz/rotate", url.Values{"csrf": {tok}}), http.StatusNotFound)
}
