package graph_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/graphql-go/graphql"

	"github.com/borderproof/borderproof/graph"
	"github.com/borderproof/borderproof/internal/billing"
	"github.com/borderproof/borderproof/internal/errs"
	"github.com/borderproof/borderproof/internal/tenant"
)

type billFake struct {
	operator  string
	usageQ    billing.UsageQuery
	budgetIn  billing.SetBudgetInput
	exportIn  billing.ExportInput
	previewed time.Time
}

func (f *billFake) IsOperator(id string) bool { return id == f.operator }

func (f *billFake) Usage(_ context.Context, q billing.UsageQuery) (billing.UsageReport, error) {
	f.usageQ = q
	return billing.UsageReport{Query: q, Lines: []billing.UsageLine{
		{Day: q.From, Meter: billing.MeterWatchlist, Quantity: 3, Amount: billing.Money{Minor: 9_000_000_000, Currency: "EUR"}},
	}, Totals: []billing.UsageLine{{Quantity: 3, Amount: billing.Money{Minor: 9_000_000_000, Currency: "EUR"}}}}, nil
}

func (f *billFake) InvoicePreview(_ context.Context, insurerID, mode string, month time.Time) (billing.InvoicePreview, error) {
	f.previewed = month
	return billing.InvoicePreview{InsurerID: insurerID, Mode: mode, Month: month,
		LedgerTotal:      []billing.UsageLine{{Amount: billing.Money{Minor: 100, Currency: "EUR"}}},
		StripeConfigured: true,
		Stripe: &billing.StripeInvoice{ID: "upcoming_1", Currency: "EUR", Subtotal: 130, Total: 130,
			Lines: []billing.InvoiceLine{{Description: "Watchlist", Meter: billing.MeterWatchlist, Quantity: 4, Amount: 130, Currency: "EUR"}}}}, nil
}

func (f *billFake) ExportUsage(_ context.Context, in billing.ExportInput) (billing.Export, error) {
	f.exportIn = in
	return billing.Export{ID: "exp_1", Format: in.Format, From: in.From, To: in.To.AddDate(0, 0, 1), Rows: 2, URL: "https://blob/x",
		ExpiresAt: time.Now().Add(15 * time.Minute)}, nil
}

func (f *billFake) PartnerCosts(context.Context, string, time.Time, time.Time) ([]billing.PartnerCost, error) {
	return []billing.PartnerCost{{InsurerID: "ins_a", Meter: billing.MeterWatchlist, Quantity: 2,
		Cost: billing.Money{Minor: 10, Currency: "EUR"}, Billed: billing.Money{Minor: 50, Currency: "EUR"}}}, nil
}

func (f *billFake) Budget(_ context.Context, insurerID string) (billing.BudgetStatus, error) {
	return billing.BudgetStatus{InsurerID: insurerID, Month: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), Spend: billing.Money{Currency: "EUR"}}, nil
}

func (f *billFake) SetBudget(_ context.Context, in billing.SetBudgetInput) (billing.BudgetStatus, error) {
	f.budgetIn = in
	if in.Currency != "EUR" {
		return billing.BudgetStatus{}, errs.Fields{{Path: "currency", Message: "must be the plan's currency, EUR"}}.Err()
	}
	return billing.BudgetStatus{InsurerID: in.InsurerID, Budget: billing.Budget{CapMinor: in.CapMinor, Currency: in.Currency, Hard: in.Hard},
		Month: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), Spend: billing.Money{Minor: 900, Currency: "EUR"}, Reached: []int{80}}, nil
}

func (f *billFake) Reconciliations(context.Context, int) ([]billing.ReconciliationRun, error) {
	return []billing.ReconciliationRun{{ID: "rec_1", Mode: "LIVE", Compared: 4, Differences: []billing.Difference{
		{InsurerID: "ins_a", Meter: billing.MeterWatchlist, StripeCustomerID: "cus_a", Ledger: 3, Synced: 3, Stripe: 2}}}}, nil
}

func billingRun(t *testing.T, svc graph.BillingService, p *tenant.Principal, query string) (map[string]any, []map[string]any) {
	t.Helper()
	s, err := graph.NewSchema(graph.Deps{Billing: svc, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if p != nil {
		ctx = tenant.WithPrincipal(ctx, *p)
	}
	res := graphql.Do(graphql.Params{Schema: s, RequestString: query, Context: ctx})
	b, _ := json.Marshal(res)
	var out struct {
		Data   map[string]any   `json:"data"`
		Errors []map[string]any `json:"errors"`
	}
	_ = json.Unmarshal(b, &out)
	return out.Data, out.Errors
}

func billPrincipal(insurerID string, mode tenant.Mode, scopes ...tenant.Scope) *tenant.Principal {
	return &tenant.Principal{Insurer: tenant.Insurer{ID: insurerID}, Key: tenant.APIKey{ID: "key_1", InsurerID: insurerID, Mode: mode, Scopes: scopes}}
}

func billErrCode(errors []map[string]any) string {
	if len(errors) == 0 {
		return ""
	}
	ext, _ := errors[0]["extensions"].(map[string]any)
	code, _ := ext["code"].(string)
	return code
}

func TestBillingResolvers(t *testing.T) {
	f := &billFake{operator: "ins_op"}
	finance := billPrincipal("ins_a", tenant.Live, tenant.ScopeBillingRead)

	data, errors := billingRun(t, f, finance, `{ usage(from: "2026-11-01", to: "2026-11-30", groupBy: [DAY, METER]) {
		from to mode lines { day meter quantity amount { minor currency } } totals { amount { minor } } } }`)
	if len(errors) != 0 {
		t.Fatal(errors)
	}
	if f.usageQ.InsurerID != "ins_a" || f.usageQ.Mode != "LIVE" || len(f.usageQ.GroupBy) != 2 || f.usageQ.To.Day() != 30 {
		t.Fatalf("query: %+v", f.usageQ)
	}
	line := data["usage"].(map[string]any)["lines"].([]any)[0].(map[string]any)
	// Amounts beyond 32 bits survive as exact integers.
	if line["day"] != "2026-11-01" || line["amount"].(map[string]any)["minor"] != float64(9_000_000_000) || line["meter"] != "watchlist_screenings" {
		t.Fatalf("line: %v", line)
	}

	for _, tc := range []struct {
		name  string
		p     *tenant.Principal
		query string
		code  string
	}{
		{"no key", nil, `{ budget { hard } }`, "UNAUTHENTICATED"},
		{"wrong scope", billPrincipal("ins_a", tenant.Live, tenant.ScopeVerificationsRead), `{ budget { hard } }`, "FORBIDDEN"},
		{"foreign insurer", finance, `{ usage(from: "2026-11-01", to: "2026-11-02", insurerId: "ins_b") { mode } }`, "NOT_FOUND"},
		{"admin of a customer", billPrincipal("ins_a", tenant.Live, tenant.ScopeAdmin), `{ usage(from: "2026-11-01", to: "2026-11-02", insurerId: "ins_b") { mode } }`, "NOT_FOUND"},
		{"all insurers", finance, `{ usage(from: "2026-11-01", to: "2026-11-02", allInsurers: true) { mode } }`, "FORBIDDEN"},
		{"bad date", finance, `{ usage(from: "2026-11-31", to: "2026-12-01") { mode } }`, "INVALID_INPUT"},
		{"partner costs", billPrincipal("ins_a", tenant.Live, tenant.ScopeAdmin), `{ partnerCosts(from: "2026-11-01", to: "2026-11-02") { meter } }`, "FORBIDDEN"},
		{"reconciliation", finance, `{ reconciliation { id } }`, "FORBIDDEN"},
		{"set budget needs admin", finance, `mutation { setBudget(capMinor: 100, currency: "EUR", hard: true) { hard } }`, "FORBIDDEN"},
		{"bad period", finance, `{ invoicePreview(period: "2026-13") { month } }`, "INVALID_INPUT"},
	} {
		if _, errors := billingRun(t, f, tc.p, tc.query); billErrCode(errors) != tc.code {
			t.Errorf("%s: %v, want %s", tc.name, errors, tc.code)
		}
	}

	op := billPrincipal("ins_op", tenant.Live, tenant.ScopeAdmin)
	if _, errors := billingRun(t, f, op, `{ usage(from: "2026-11-01", to: "2026-11-02", insurerId: "ins_b") { mode } }`); len(errors) != 0 || f.usageQ.InsurerID != "ins_b" {
		t.Fatalf("operator for another insurer: %v %+v", errors, f.usageQ)
	}
	if _, errors := billingRun(t, f, op, `{ usage(from: "2026-11-01", to: "2026-11-02", allInsurers: true) { mode } }`); len(errors) != 0 || f.usageQ.InsurerID != "" {
		t.Fatalf("operator for all: %v %+v", errors, f.usageQ)
	}
	data, errors = billingRun(t, f, op, `{ partnerCosts(from: "2026-11-01", to: "2026-11-02") { insurerId cost { minor } billed { minor } margin { minor } }
		reconciliation { id differences { kind stripe } } }`)
	if len(errors) != 0 {
		t.Fatal(errors)
	}
	pc := data["partnerCosts"].([]any)[0].(map[string]any)
	if pc["margin"].(map[string]any)["minor"] != float64(40) {
		t.Fatalf("partner costs: %v", pc)
	}
	if d := data["reconciliation"].([]any)[0].(map[string]any)["differences"].([]any)[0].(map[string]any); d["kind"] != "MISSING_IN_STRIPE" {
		t.Fatalf("difference: %v", d)
	}

	data, errors = billingRun(t, f, finance, `{ invoicePreview(period: "2026-10") { month stripeConfigured ledgerTotal { minor }
		stripe { total { minor currency } lines { meter quantity } } difference { minor } } }`)
	if len(errors) != 0 || f.previewed.Month() != time.October {
		t.Fatal(errors, f.previewed)
	}
	if d := data["invoicePreview"].(map[string]any)["difference"].(map[string]any); d["minor"] != float64(30) {
		t.Fatalf("difference: %v", d)
	}

	data, errors = billingRun(t, f, finance, `mutation { exportUsage(from: "2026-11-01", to: "2026-11-30") { id url rows from to format } }`)
	if len(errors) != 0 || f.exportIn.Format != "CSV" || f.exportIn.Actor != "key_1" || f.exportIn.InsurerID != "ins_a" {
		t.Fatal(errors, f.exportIn)
	}
	if e := data["exportUsage"].(map[string]any); e["to"] != "2026-11-30" || e["rows"] != float64(2) {
		t.Fatalf("export: %v", e)
	}

	admin := billPrincipal("ins_a", tenant.Live, tenant.ScopeAdmin)
	data, errors = billingRun(t, f, admin, `mutation { setBudget(capMinor: 5000000000, currency: "EUR", hard: true) { cap { minor currency } hard spend { minor } reached } }`)
	if len(errors) != 0 || f.budgetIn.CapMinor != 5_000_000_000 || !f.budgetIn.Hard {
		t.Fatal(errors, f.budgetIn)
	}
	if bud := data["setBudget"].(map[string]any); bud["cap"].(map[string]any)["minor"] != float64(5_000_000_000) {
		t.Fatalf("budget: %v", bud)
	}
	if _, errors := billingRun(t, f, admin, `mutation { setBudget(capMinor: 1, currency: "USD", hard: false) { hard } }`); billErrCode(errors) != "INVALID_INPUT" {
		t.Fatalf("bad currency: %v", errors)
	}

	// Without the service the fields stay but answer UNAVAILABLE.
	if _, errors := billingRun(t, nil, finance, `{ budget { hard } }`); billErrCode(errors) != "UNAVAILABLE" {
		t.Fatalf("no service: %v", errors)
	}
	if _, errors := billingRun(t, f, finance, `{ budget { hard month reached notices { threshold } } }`); len(errors) != 0 {
		t.Fatal(errors)
	}
}
