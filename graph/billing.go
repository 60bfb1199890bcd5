package graph

import (
	"context"
	"time"

	"github.com/graphql-go/graphql"

	"github.com/borderproof/borderproof/internal/billing"
	"github.com/borderproof/borderproof/internal/errs"
	"github.com/borderproof/borderproof/internal/tenant"
)

// BillingService is what the billing resolvers need (*billing.Service).
type BillingService interface {
	IsOperator(insurerID string) bool
	Usage(ctx context.Context, q billing.UsageQuery) (billing.UsageReport, error)
	InvoicePreview(ctx context.Context, insurerID, mode string, month time.Time) (billing.InvoicePreview, error)
	ExportUsage(ctx context.Context, in billing.ExportInput) (billing.Export, error)
	PartnerCosts(ctx context.Context, mode string, from, to time.Time) ([]billing.PartnerCost, error)
	Budget(ctx context.Context, insurerID string) (billing.BudgetStatus, error)
	SetBudget(ctx context.Context, in billing.SetBudgetInput) (billing.BudgetStatus, error)
	Reconciliations(ctx context.Context, limit int) ([]billing.ReconciliationRun, error)
}

// billingCaller authorises a billing resolver and returns the caller.
func (b *builder) billingCaller(ctx context.Context, scope tenant.Scope) (tenant.Principal, error) {
	if b.d.Billing == nil {
		return tenant.Principal{}, b.fail(ctx, errs.E(errs.Unavailable, "billing is not configured"))
	}
	pr, err := tenant.Authorize(ctx, scope)
	if err != nil {
		return pr, b.fail(ctx, err)
	}
	return pr, nil
}

// billOperator reports whether the caller may read every insurer's billing:
// an admin key of an operator insurer.
func (b *builder) billOperator(pr tenant.Principal) bool {
	return pr.Has(tenant.ScopeAdmin) && b.d.Billing.IsOperator(pr.Insurer.ID)
}

// billingDays reads the from and to Date arguments.
func billingDays(args map[string]any) (from, to time.Time, err error) {
	var f errs.Fields
	from, ferr := billing.ParseDay(billArg(args, "from"))
	if ferr != nil {
		f.Add("from", "must be a date (YYYY-MM-DD)")
	}
	to, terr := billing.ParseDay(billArg(args, "to"))
	if terr != nil {
		f.Add("to", "must be a date (YYYY-MM-DD)")
	}
	return from, to, f.Err()
}

func billArg(args map[string]any, name string) string {
	s, _ := args[name].(string)
	return s
}

func (b *builder) billingQueries() graphql.Fields {
	return graphql.Fields{
		"usage": {
			Type: graphql.NewNonNull(b.usageReportType()),
			Description: "Usage quantities and amounts (minor units) of the caller's insurer in the key's mode, for the days from … to " +
				"(both included, UTC), grouped as asked (billing:read). Operators (admin keys of the operator tenant) may name " +
				"another insurer or ask for all insurers.",
			Args: graphql.FieldConfigArgument{
				"from":        {Type: graphql.NewNonNull(b.date())},
				"to":          {Type: graphql.NewNonNull(b.date())},
				"groupBy":     {Type: graphql.NewList(graphql.NewNonNull(b.usageGroupEnum()))},
				"insurerId":   {Type: graphql.ID, Description: "Operators only."},
				"allInsurers": {Type: graphql.Boolean, Description: "Operators only: every insurer, lines carry insurerId."},
			},
			Resolve: func(p graphql.ResolveParams) (any, error) {
				pr, err := b.billingCaller(p.Context, tenant.ScopeBillingRead)
				if err != nil {
					return nil, err
				}
				from, to, err := billingDays(p.Args)
				if err != nil {
					return nil, b.fail(p.Context, err)
				}
				q := billing.UsageQuery{InsurerID: pr.Insurer.ID, Mode: string(pr.Mode()), From: from, To: to}
				if gs, ok := p.Args["groupBy"].([]any); ok {
					for _, g := range gs {
						q.GroupBy = append(q.GroupBy, billing.Group(g.(string)))
					}
				}
				if other := billArg(p.Args, "insurerId"); other != "" && other != pr.Insurer.ID {
					if !b.billOperator(pr) {
						return nil, b.fail(p.Context, errs.E(errs.NotFound, "insurer not found"))
					}
					q.InsurerID = other
				}
				if all, _ := p.Args["allInsurers"].(bool); all {
					if !b.billOperator(pr) {
						return nil, b.fail(p.Context, errs.E(errs.Forbidden, "only operators may read every insurer's usage"))
					}
					q.InsurerID = ""
				}
				r, err := b.d.Billing.Usage(p.Context, q)
				if err != nil {
					return nil, b.fail(p.Context, err)
				}
				return usageReportValue(r), nil
			},
		},
		"invoicePreview": {
			Type: graphql.NewNonNull(b.invoicePreviewType()),
			Description: "Stripe's upcoming invoice beside the ledger's total for a month (billing:read). Without Stripe for the key's " +
				"mode the preview is the ledger only and stripeConfigured is false.",
			Args: graphql.FieldConfigArgument{
				"period": {Type: graphql.String, Description: "The month, YYYY-MM; the current month when omitted."},
			},
			Resolve: func(p graphql.ResolveParams) (any, error) {
				pr, err := b.billingCaller(p.Context, tenant.ScopeBillingRead)
				if err != nil {
					return nil, err
				}
				var month time.Time // the current month
				if s := billArg(p.Args, "period"); s != "" {
					if month, err = billing.ParseMonth(s); err != nil {
						return nil, b.fail(p.Context, errs.Fields{{Path: "period", Message: "must be a month (YYYY-MM)"}}.Err())
					}
				}
				v, err := b.d.Billing.InvoicePreview(p.Context, pr.Insurer.ID, string(pr.Mode()), month)
				if err != nil {
					return nil, b.fail(p.Context, err)
				}
				return invoicePreviewValue(v), nil
			},
		},
		"budget": {
			Type:        graphql.NewNonNull(b.budgetType()),
			Description: "The insurer's monthly budget on live usage and this month's spend (billing:read).",
			Resolve: func(p graphql.ResolveParams) (any, error) {
				pr, err := b.billingCaller(p.Context, tenant.ScopeBillingRead)
				if err != nil {
					return nil, err
				}
				v, err := b.d.Billing.Budget(p.Context, pr.Insurer.ID)
				if err != nil {
					return nil, b.fail(p.Context, err)
				}
				return budgetValue(v), nil
			},
		},
		"partnerCosts": {
			Type:        graphql.NewNonNull(graphql.NewList(graphql.NewNonNull(b.partnerCostType()))),
			Description: "What partners charged against what was billed, per insurer and meter, for the days from … to (operators).",
			Args: graphql.FieldConfigArgument{
				"from": {Type: graphql.NewNonNull(b.date())},
				"to":   {Type: graphql.NewNonNull(b.date())},
			},
			Resolve: func(p graphql.ResolveParams) (any, error) {
				pr, err := b.billingCaller(p.Context, tenant.ScopeAdmin)
				if err != nil {
					return nil, err
				}
				if !b.billOperator(pr) {
					return nil, b.fail(p.Context, errs.E(errs.Forbidden, "partner costs are for operators"))
				}
				from, to, err := billingDays(p.Args)
				if err != nil {
					return nil, b.fail(p.Context, err)
				}
				costs, err := b.d.Billing.PartnerCosts(p.Context, string(pr.Mode()), from, to)
				if err != nil {
					return nil, b.fail(p.Context, err)
				}
				out := make([]map[string]any, len(costs))
				for i, c := range costs {
					out[i] = partnerCostValue(c)
				}
				return out, nil
			},
		},
		"reconciliation": {
			Type:        graphql.NewNonNull(graphql.NewList(graphql.NewNonNull(b.reconciliationType()))),
			Description: "The latest reconciliations of the ledger with Stripe, newest first, with every difference (operators).",
			Args: graphql.FieldConfigArgument{
				"limit": {Type: graphql.Int, DefaultValue: 20, Description: "At most 100."},
			},
			Resolve: func(p graphql.ResolveParams) (any, error) {
				pr, err := b.billingCaller(p.Context, tenant.ScopeAdmin)
				if err != nil {
					return nil, err
				}
				if !b.billOperator(pr) {
					return nil, b.fail(p.Context, errs.E(errs.Forbidden, "reconciliation is for operators"))
				}
				limit, _ := p.Args["limit"].(int)
				runs, err := b.d.Billing.Reconciliations(p.Context, limit)
				if err != nil {
					return nil, b.fail(p.Context, err)
				}
				out := make([]map[string]any, len(runs))
				for i, r := range runs {
					out[i] = reconciliationValue(r)
				}
				return out, nil
			},
		},
	}
}

func (b *builder) billingMutations() graphql.Fields {
	return graphql.Fields{
		"exportUsage": {
			Type: graphql.NewNonNull(b.usageExportType()),
			Description: "Writes the usage rows of the days from … to (both included, UTC) of the key's mode to a file and answers a " +
				"short-lived download link (billing:read). Columns: internal/billing/EXPORT.md. No personal data.",
			Args: graphql.FieldConfigArgument{
				"from":   {Type: graphql.NewNonNull(b.date())},
				"to":     {Type: graphql.NewNonNull(b.date())},
				"format": {Type: b.exportFormatEnum(), DefaultValue: "CSV"},
			},
			Resolve: func(p graphql.ResolveParams) (any, error) {
				pr, err := b.billingCaller(p.Context, tenant.ScopeBillingRead)
				if err != nil {
					return nil, err
				}
				from, to, err := billingDays(p.Args)
				if err != nil {
					return nil, b.fail(p.Context, err)
				}
				format := billArg(p.Args, "format")
				if format == "" {
					format = "CSV"
				}
				e, err := b.d.Billing.ExportUsage(p.Context, billing.ExportInput{InsurerID: pr.Insurer.ID, Mode: string(pr.Mode()),
					From: from, To: to, Format: format, Actor: pr.Key.ID})
				if err != nil {
					return nil, b.fail(p.Context, err)
				}
				return usageExportValue(e), nil
			},
		},
		"setBudget": {
			Type: graphql.NewNonNull(b.budgetType()),
			Description: "Sets the monthly cap on live usage in minor units of the plan's currency; 0 removes it (admin). At 80% and " +
				"100% a usage.budget_threshold event is sent once a month each. Above a hard cap new live submissions are refused " +
				"with BUDGET_EXCEEDED; a soft cap only warns.",
			Args: graphql.FieldConfigArgument{
				"capMinor": {Type: graphql.NewNonNull(b.longScalar())},
				"currency": {Type: graphql.NewNonNull(graphql.String)},
				"hard":     {Type: graphql.NewNonNull(graphql.Boolean)},
			},
			Resolve: func(p graphql.ResolveParams) (any, error) {
				pr, err := b.billingCaller(p.Context, tenant.ScopeAdmin)
				if err != nil {
					return nil, err
				}
				capMinor, ok := p.Args["capMinor"].(int64)
				if !ok {
					return nil, b.fail(p.Context, errs.Fields{{Path: "capMinor", Message: "must be a whole number of minor units"}}.Err())
				}
				hard, _ := p.Args["hard"].(bool)
				v, err := b.d.Billing.SetBudget(p.Context, billing.SetBudgetInput{InsurerID: pr.Insurer.ID, CapMinor: capMinor,
					Currency: billArg(p.Args, "currency"), Hard: hard})
				if err != nil {
					return nil, b.fail(p.Context, err)
				}
				return budgetValue(v), nil
			},
		},
	}
}
