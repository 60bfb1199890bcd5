package graph

import (
	"math"
	"strconv"
	"time"

	"github.com/graphql-go/graphql"
	"github.com/graphql-go/graphql/language/ast"

	"github.com/borderproof/borderproof/internal/billing"
)

// billCached returns the type registered under name, building it once.
func billCached[T graphql.Type](b *builder, name string, build func() T) T {
	if t, ok := b.types[name]; ok {
		return t.(T)
	}
	t := build()
	b.types[name] = t
	return t
}

// longScalar is a 64-bit integer (graphql's Int is 32-bit): amounts in
// minor units and quantities.
func (b *builder) longScalar() *graphql.Scalar {
	return billCached(b, "Long", func() *graphql.Scalar {
		return graphql.NewScalar(graphql.ScalarConfig{
			Name:        "Long",
			Description: "A 64-bit integer, as a JSON number (amounts in minor units, quantities).",
			Serialize: func(v any) any {
				switch n := v.(type) {
				case int64:
					return n
				case int:
					return int64(n)
				}
				return nil
			},
			ParseValue: func(v any) any {
				switch n := v.(type) {
				case int:
					return int64(n)
				case int64:
					return n
				case float64:
					if n == math.Trunc(n) && math.Abs(n) < 1<<53 {
						return int64(n)
					}
				case string:
					if i, err := strconv.ParseInt(n, 10, 64); err == nil {
						return i
					}
				}
				return nil
			},
			ParseLiteral: func(v ast.Value) any {
				if iv, ok := v.(*ast.IntValue); ok {
					if i, err := strconv.ParseInt(iv.Value, 10, 64); err == nil {
						return i
					}
				}
				return nil
			},
		})
	})
}

func (b *builder) amountType() *graphql.Object {
	return billCached(b, "Amount", func() *graphql.Object {
		return graphql.NewObject(graphql.ObjectConfig{
			Name:        "Amount",
			Description: "Money: an integer number of minor units (cents) of an ISO 4217 currency. Never a float.",
			Fields: graphql.Fields{
				"minor":    {Type: graphql.NewNonNull(b.longScalar())},
				"currency": {Type: graphql.NewNonNull(graphql.String)},
			},
		})
	})
}

func (b *builder) usageGroupEnum() *graphql.Enum {
	return billCached(b, "UsageGroup", func() *graphql.Enum {
		return graphql.NewEnum(graphql.EnumConfig{
			Name:        "UsageGroup",
			Description: "A dimension of a usage report.",
			Values: graphql.EnumValueConfigMap{
				"DAY":     {Value: string(billing.GroupDay), Description: "Calendar day, UTC."},
				"MONTH":   {Value: string(billing.GroupMonth), Description: "Calendar month, UTC."},
				"METER":   {Value: string(billing.GroupMeter)},
				"PARTNER": {Value: string(billing.GroupPartner), Description: "The partner service that answered."},
			},
		})
	})
}

func (b *builder) exportFormatEnum() *graphql.Enum {
	return billCached(b, "ExportFormat", func() *graphql.Enum {
		return graphql.NewEnum(graphql.EnumConfig{
			Name:   "ExportFormat",
			Values: graphql.EnumValueConfigMap{"CSV": {Value: "CSV", Description: "RFC 4180, UTF-8, with a header row."}},
		})
	})
}

func (b *builder) usageLineType() *graphql.Object {
	return billCached(b, "UsageLine", func() *graphql.Object {
		return graphql.NewObject(graphql.ObjectConfig{
			Name:        "UsageLine",
			Description: "One group of a usage report; fields not grouped on are null.",
			Fields: graphql.Fields{
				"insurerId": {Type: graphql.ID, Description: "Set in all-insurer reports."},
				"day":       {Type: b.date()},
				"month":     {Type: graphql.String, Description: "YYYY-MM."},
				"meter":     {Type: graphql.String, Description: "document_registry_checks, immigration_status_checks, border_movement_checks, watchlist_screenings."},
				"partner":   {Type: graphql.String},
				"quantity":  {Type: graphql.NewNonNull(b.longScalar())},
				"amount":    {Type: graphql.NewNonNull(b.amountType())},
			},
		})
	})
}

func (b *builder) usageReportType() *graphql.Object {
	return billCached(b, "UsageReport", func() *graphql.Object {
		lines := graphql.NewNonNull(graphql.NewList(graphql.NewNonNull(b.usageLineType())))
		return graphql.NewObject(graphql.ObjectConfig{
			Name: "UsageReport",
			Fields: graphql.Fields{
				"from":   {Type: graphql.NewNonNull(b.date())},
				"to":     {Type: graphql.NewNonNull(b.date()), Description: "Included."},
				"mode":   {Type: graphql.NewNonNull(b.modeEnum())},
				"lines":  {Type: lines},
				"totals": {Type: lines, Description: "One line per currency."},
			},
		})
	})
}

func (b *builder) invoicePreviewType() *graphql.Object {
	return billCached(b, "InvoicePreview", func() *graphql.Object {
		line := graphql.NewObject(graphql.ObjectConfig{
			Name: "StripeInvoiceLine",
			Fields: graphql.Fields{
				"description": {Type: graphql.NewNonNull(graphql.String)},
				"meter":       {Type: graphql.String, Description: "Our meter, when the line's price is metered by one."},
				"quantity":    {Type: graphql.NewNonNull(b.longScalar())},
				"amount":      {Type: graphql.NewNonNull(b.amountType())},
			},
		})
		inv := graphql.NewObject(graphql.ObjectConfig{
			Name: "StripeInvoice",
			Fields: graphql.Fields{
				"id":          {Type: graphql.NewNonNull(graphql.String)},
				"subtotal":    {Type: graphql.NewNonNull(b.amountType())},
				"total":       {Type: graphql.NewNonNull(b.amountType())},
				"periodStart": {Type: b.dateTime()},
				"periodEnd":   {Type: b.dateTime()},
				"lines":       {Type: graphql.NewNonNull(graphql.NewList(graphql.NewNonNull(line)))},
			},
		})
		return graphql.NewObject(graphql.ObjectConfig{
			Name: "InvoicePreview",
			Fields: graphql.Fields{
				"month":            {Type: graphql.NewNonNull(graphql.String), Description: "YYYY-MM."},
				"mode":             {Type: graphql.NewNonNull(b.modeEnum())},
				"ledger":           {Type: graphql.NewNonNull(graphql.NewList(graphql.NewNonNull(b.usageLineType()))), Description: "Per meter."},
				"ledgerTotal":      {Type: graphql.NewNonNull(graphql.NewList(graphql.NewNonNull(b.amountType()))), Description: "One per currency."},
				"stripeConfigured": {Type: graphql.NewNonNull(graphql.Boolean)},
				"stripe":           {Type: inv, Description: "Stripe's upcoming invoice; null when it could not be read (see note)."},
				"difference":       {Type: b.amountType(), Description: "Stripe's subtotal less the ledger total, when both are in one currency."},
				"note":             {Type: graphql.String},
			},
		})
	})
}

func (b *builder) budgetType() *graphql.Object {
	return billCached(b, "Budget", func() *graphql.Object {
		notice := graphql.NewObject(graphql.ObjectConfig{
			Name:        "BudgetNotice",
			Description: "A threshold reached this month; its usage.budget_threshold event was sent once.",
			Fields: graphql.Fields{
				"threshold": {Type: graphql.NewNonNull(graphql.Int), Description: "Percent of the cap."},
				"eventId":   {Type: graphql.NewNonNull(graphql.ID)},
				"spend":     {Type: graphql.NewNonNull(b.amountType())},
				"at":        {Type: graphql.NewNonNull(b.dateTime())},
			},
		})
		return graphql.NewObject(graphql.ObjectConfig{
			Name:        "Budget",
			Description: "The monthly cap on live usage and this month's spend.",
			Fields: graphql.Fields{
				"cap":     {Type: b.amountType(), Description: "Null: no cap."},
				"hard":    {Type: graphql.NewNonNull(graphql.Boolean), Description: "Hard caps refuse new live submissions once reached; soft ones warn."},
				"month":   {Type: graphql.NewNonNull(graphql.String), Description: "YYYY-MM, UTC."},
				"spend":   {Type: graphql.NewNonNull(b.amountType())},
				"reached": {Type: graphql.NewNonNull(graphql.NewList(graphql.NewNonNull(graphql.Int))), Description: "Thresholds (percent) reached."},
				"notices": {Type: graphql.NewNonNull(graphql.NewList(graphql.NewNonNull(notice)))},
			},
		})
	})
}

func (b *builder) partnerCostType() *graphql.Object {
	return billCached(b, "PartnerCost", func() *graphql.Object {
		return graphql.NewObject(graphql.ObjectConfig{
			Name: "PartnerCost",
			Fields: graphql.Fields{
				"insurerId": {Type: graphql.NewNonNull(graphql.ID)},
				"meter":     {Type: graphql.NewNonNull(graphql.String)},
				"quantity":  {Type: graphql.NewNonNull(b.longScalar())},
				"cost":      {Type: graphql.NewNonNull(b.amountType()), Description: "What partners charged us."},
				"billed":    {Type: graphql.NewNonNull(b.amountType())},
				"margin":    {Type: b.amountType(), Description: "billed less cost, when both are in one currency."},
			},
		})
	})
}

func (b *builder) reconciliationType() *graphql.Object {
	return billCached(b, "ReconciliationRun", func() *graphql.Object {
		diff := graphql.NewObject(graphql.ObjectConfig{
			Name: "ReconciliationDifference",
			Fields: graphql.Fields{
				"insurerId":        {Type: graphql.NewNonNull(graphql.ID)},
				"meter":            {Type: graphql.NewNonNull(graphql.String)},
				"stripeCustomerId": {Type: graphql.NewNonNull(graphql.String)},
				"ledger":           {Type: graphql.NewNonNull(b.longScalar()), Description: "Every usage row of the period."},
				"synced":           {Type: graphql.NewNonNull(b.longScalar()), Description: "The rows Stripe accepted."},
				"stripe":           {Type: graphql.NewNonNull(b.longScalar()), Description: "Stripe's meter event summary."},
				"kind":             {Type: graphql.NewNonNull(graphql.String), Description: "PENDING_SYNC, MISSING_IN_STRIPE or EXTRA_IN_STRIPE."},
			},
		})
		return graphql.NewObject(graphql.ObjectConfig{
			Name: "ReconciliationRun",
			Fields: graphql.Fields{
				"id":          {Type: graphql.NewNonNull(graphql.ID)},
				"mode":        {Type: graphql.NewNonNull(b.modeEnum())},
				"from":        {Type: graphql.NewNonNull(b.dateTime())},
				"to":          {Type: graphql.NewNonNull(b.dateTime()), Description: "Excluded."},
				"startedAt":   {Type: graphql.NewNonNull(b.dateTime())},
				"finishedAt":  {Type: b.dateTime()},
				"compared":    {Type: graphql.NewNonNull(graphql.Int), Description: "Customer and meter pairs compared."},
				"error":       {Type: graphql.String},
				"differences": {Type: graphql.NewNonNull(graphql.NewList(graphql.NewNonNull(diff)))},
			},
		})
	})
}

func (b *builder) usageExportType() *graphql.Object {
	return billCached(b, "UsageExport", func() *graphql.Object {
		return graphql.NewObject(graphql.ObjectConfig{
			Name: "UsageExport",
			Fields: graphql.Fields{
				"id":        {Type: graphql.NewNonNull(graphql.ID)},
				"format":    {Type: graphql.NewNonNull(b.exportFormatEnum())},
				"from":      {Type: graphql.NewNonNull(b.date())},
				"to":        {Type: graphql.NewNonNull(b.date()), Description: "Included."},
				"rows":      {Type: graphql.NewNonNull(b.longScalar())},
				"url":       {Type: graphql.NewNonNull(graphql.String), Description: "A download link; anyone holding it can download the file until expiresAt."},
				"expiresAt": {Type: graphql.NewNonNull(b.dateTime())},
			},
		})
	})
}

func amountValue(m billing.Money) map[string]any {
	return map[string]any{"minor": m.Minor, "currency": m.Currency}
}

func usageLineValue(l billing.UsageLine) map[string]any {
	v := map[string]any{"quantity": l.Quantity, "amount": amountValue(l.Amount)}
	if l.InsurerID != "" {
		v["insurerId"] = l.InsurerID
	}
	if !l.Day.IsZero() {
		v["day"] = l.Day
	}
	if !l.Month.IsZero() {
		v["month"] = l.Month.Format("2006-01")
	}
	if l.Meter != "" {
		v["meter"] = string(l.Meter)
	}
	if l.Partner != "" {
		v["partner"] = l.Partner
	}
	return v
}

func usageLinesValue(ls []billing.UsageLine) []map[string]any {
	out := make([]map[string]any, len(ls))
	for i, l := range ls {
		out[i] = usageLineValue(l)
	}
	return out
}

func usageReportValue(r billing.UsageReport) map[string]any {
	return map[string]any{"from": r.Query.From, "to": r.Query.To, "mode": r.Query.Mode,
		"lines": usageLinesValue(r.Lines), "totals": usageLinesValue(r.Totals)}
}

func invoicePreviewValue(p billing.InvoicePreview) map[string]any {
	totals := make([]map[string]any, len(p.LedgerTotal))
	for i, t := range p.LedgerTotal {
		totals[i] = amountValue(t.Amount)
	}
	v := map[string]any{"month": p.Month.Format("2006-01"), "mode": p.Mode, "ledger": usageLinesValue(p.Ledger),
		"ledgerTotal": totals, "stripeConfigured": p.StripeConfigured}
	if p.Note != "" {
		v["note"] = p.Note
	}
	if inv := p.Stripe; inv != nil {
		lines := make([]map[string]any, len(inv.Lines))
		for i, l := range inv.Lines {
			lines[i] = map[string]any{"description": l.Description, "quantity": l.Quantity,
				"amount": amountValue(billing.Money{Minor: l.Amount, Currency: l.Currency})}
			if l.Meter != "" {
				lines[i]["meter"] = string(l.Meter)
			}
		}
		v["stripe"] = map[string]any{"id": inv.ID, "subtotal": amountValue(billing.Money{Minor: inv.Subtotal, Currency: inv.Currency}),
			"total": amountValue(billing.Money{Minor: inv.Total, Currency: inv.Currency}), "periodStart": inv.PeriodStart,
			"periodEnd": inv.PeriodEnd, "lines": lines}
		var ledger int64
		same := true
		for _, t := range p.LedgerTotal {
			ledger += t.Amount.Minor
			same = same && t.Amount.Currency == inv.Currency
		}
		if same {
			v["difference"] = amountValue(billing.Money{Minor: inv.Subtotal - ledger, Currency: inv.Currency})
		}
	}
	return v
}

func budgetValue(s billing.BudgetStatus) map[string]any {
	notices := make([]map[string]any, len(s.Notices))
	for i, n := range s.Notices {
		notices[i] = map[string]any{"threshold": n.Threshold, "eventId": n.EventID, "spend": amountValue(n.Spend), "at": n.CreatedAt}
	}
	reached := s.Reached
	if reached == nil {
		reached = []int{}
	}
	v := map[string]any{"hard": s.Budget.Hard, "month": s.Month.Format("2006-01"), "spend": amountValue(s.Spend),
		"reached": reached, "notices": notices}
	if s.Budget.Set() {
		v["cap"] = amountValue(billing.Money{Minor: s.Budget.CapMinor, Currency: s.Budget.Currency})
	}
	return v
}

func partnerCostValue(c billing.PartnerCost) map[string]any {
	v := map[string]any{"insurerId": c.InsurerID, "meter": string(c.Meter), "quantity": c.Quantity,
		"cost": amountValue(c.Cost), "billed": amountValue(c.Billed)}
	if c.Cost.Currency == c.Billed.Currency || c.Cost.Minor == 0 {
		v["margin"] = amountValue(billing.Money{Minor: c.Billed.Minor - c.Cost.Minor, Currency: c.Billed.Currency})
	}
	return v
}

func reconciliationValue(r billing.ReconciliationRun) map[string]any {
	diffs := make([]map[string]any, len(r.Differences))
	for i, d := range r.Differences {
		diffs[i] = map[string]any{"insurerId": d.InsurerID, "meter": string(d.Meter), "stripeCustomerId": d.StripeCustomerID,
			"ledger": d.Ledger, "synced": d.Synced, "stripe": d.Stripe, "kind": d.Kind()}
	}
	v := map[string]any{"id": r.ID, "mode": r.Mode, "from": r.From, "to": r.To, "startedAt": r.StartedAt,
		"compared": r.Compared, "differences": diffs}
	if !r.FinishedAt.IsZero() {
		v["finishedAt"] = r.FinishedAt
	}
	if r.Error != "" {
		v["error"] = r.Error
	}
	return v
}

func usageExportValue(e billing.Export) map[string]any {
	return map[string]any{"id": e.ID, "format": e.Format, "from": e.From, "to": e.To.Add(-24 * time.Hour),
		"rows": e.Rows, "url": e.URL, "expiresAt": e.ExpiresAt}
}
