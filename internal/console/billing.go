package console

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/borderproof/borderproof/internal/billing"
	"github.com/borderproof/borderproof/internal/errs"
	"github.com/borderproof/borderproof/internal/tenant"
)

// Billing is what the billing page needs of billing.Service; nil shows
// "not configured". The service takes the insurer id from its caller; the
// page checks billing:read first (admin to change the budget), as the
// GraphQL resolvers do.
type Billing interface {
	Budget(ctx context.Context, insurerID string) (billing.BudgetStatus, error)
	SetBudget(ctx context.Context, in billing.SetBudgetInput) (billing.BudgetStatus, error)
	InvoicePreview(ctx context.Context, insurerID, mode string, month time.Time) (billing.InvoicePreview, error)
	Usage(ctx context.Context, q billing.UsageQuery) (billing.UsageReport, error)
	ExportUsage(ctx context.Context, in billing.ExportInput) (billing.Export, error)
}

// billingNotices are the messages a billing or webhooks redirect may show
// beside the shared ones.
var billingNotices = map[string]string{
	"budget-saved":   "The budget was saved.",
	"budget-removed": "The budget was removed: there is no monthly cap.",
}

type billingData struct {
	From, To string // the period, YYYY-MM-DD, both included
	// Month names the invoice preview's month, BudgetMonth the budget's.
	Month, BudgetMonth string
	Budget             billing.BudgetStatus
	// Used is the spend in percent of the cap (0 without a cap); CapMajor
	// is the cap in major units for the form.
	Used     int
	CapMajor string
	Currency string
	Preview  billing.InvoicePreview
	ByDay    billing.UsageReport
	ByMeter  billing.UsageReport
	DayChart *barChart
	// MeterChart charts amounts per meter in the chart currency.
	MeterChart *barChart
	CanSet     bool
	// Export is a download link shown when the browser cannot be sent to
	// it (another origin than the console's, which form-action forbids).
	Export *billing.Export
}

// period reads the from/to dates of the page, defaulting to the current
// month up to today.
func (c *Console) period(r *http.Request) (from, to time.Time, err error) {
	now := c.cfg.Now().UTC()
	from, to = billing.MonthStart(now), billing.DayStart(now)
	var f errs.Fields
	if s := r.FormValue("from"); s != "" {
		if from, err = billing.ParseDay(s); err != nil {
			f.Add("from", "must be a date (YYYY-MM-DD)")
		}
	}
	if s := r.FormValue("to"); s != "" {
		if to, err = billing.ParseDay(s); err != nil {
			f.Add("to", "must be a date (YYYY-MM-DD)")
		}
	}
	if err := f.Err(); err != nil {
		return from, to, err
	}
	if to.Before(from) {
		return from, to, errs.Fields{{Path: "to", Message: "must not be before from"}}.Err()
	}
	return from, to, nil
}

func (c *Console) billing(w http.ResponseWriter, r *http.Request, rq *request) {
	if _, err := tenant.Authorize(r.Context(), tenant.ScopeBillingRead); err != nil {
		c.fail(w, r, rq, err)
		return
	}
	if c.d.Billing == nil {
		c.notConfigured(w, r, rq, "Billing", "billing")
		return
	}
	from, to, err := c.period(r)
	if err != nil {
		c.fail(w, r, rq, err)
		return
	}
	d, err := c.billingFor(r, rq, from, to)
	if err != nil {
		c.fail(w, r, rq, err)
		return
	}
	c.render(w, r, http.StatusOK, "billing", c.billingView(r, rq, d))
}

func (c *Console) billingView(r *http.Request, rq *request, d *billingData) *view {
	v := c.newView(r, rq, "Billing", "billing", d)
	if msg, ok := billingNotices[r.URL.Query().Get("notice")]; ok && v.Notice == "" {
		v.Notice = msg
	}
	return v
}

// billingFor loads everything the billing page shows for a period.
func (c *Console) billingFor(r *http.Request, rq *request, from, to time.Time) (*billingData, error) {
	ctx, ins, mode := r.Context(), rq.p.Insurer.ID, string(rq.p.Mode())
	d := &billingData{From: from.Format(time.DateOnly), To: to.Format(time.DateOnly), CanSet: rq.p.Has(tenant.ScopeAdmin)}
	var err error
	if d.Budget, err = c.d.Billing.Budget(ctx, ins); err != nil {
		return nil, err
	}
	if d.Preview, err = c.d.Billing.InvoicePreview(ctx, ins, mode, from); err != nil {
		return nil, err
	}
	d.Month, d.BudgetMonth = billing.MonthStart(from).Format("January 2006"), d.Budget.Month.UTC().Format("January 2006")
	q := billing.UsageQuery{InsurerID: ins, Mode: mode, From: from, To: to, GroupBy: []billing.Group{billing.GroupDay}}
	if d.ByDay, err = c.d.Billing.Usage(ctx, q); err != nil {
		return nil, err
	}
	q.GroupBy = []billing.Group{billing.GroupMeter}
	if d.ByMeter, err = c.d.Billing.Usage(ctx, q); err != nil {
		return nil, err
	}

	b := d.Budget
	d.Currency = b.Budget.Currency
	if d.Currency == "" {
		d.Currency = b.Spend.Currency
	}
	if b.Budget.Set() {
		d.CapMajor = strings.TrimSuffix(money(b.Budget.CapMinor, b.Budget.Currency), " "+b.Budget.Currency)
		d.Used = int(min(b.Spend.Minor*100/b.Budget.CapMinor, 999))
	}

	cur := chartCurrency(d.ByDay.Totals, d.Currency)
	byDay := map[string]int64{}
	for _, l := range d.ByDay.Lines {
		if l.Amount.Currency == cur {
			byDay[l.Day.UTC().Format(time.DateOnly)] += l.Amount.Minor
		}
	}
	var days []bar
	for day := from; !day.After(to); day = day.AddDate(0, 0, 1) {
		k := day.Format(time.DateOnly)
		days = append(days, bar{Label: k, Short: day.Format("02"), Value: byDay[k]})
	}
	d.DayChart = newBarChart("Amount per day", cur, days)
	var meters []bar
	for _, l := range d.ByMeter.Lines {
		if l.Amount.Currency == cur {
			meters = append(meters, bar{Label: label(string(l.Meter)), Short: label(string(l.Meter)), Value: l.Amount.Minor})
		}
	}
	d.MeterChart = newBarChart("Amount per meter", cur, meters)
	return d, nil
}

// chartCurrency is the currency the charts draw: the one with the largest
// total (amounts are never added across currencies), else fallback.
func chartCurrency(totals []billing.UsageLine, fallback string) string {
	cur, best := fallback, int64(-1)
	for _, t := range totals {
		if t.Amount.Minor > best {
			cur, best = t.Amount.Currency, t.Amount.Minor
		}
	}
	return cur
}

// setBudget sets or removes the monthly cap (admins only).
func (c *Console) setBudget(w http.ResponseWriter, r *http.Request, rq *request) {
	p, err := tenant.Authorize(r.Context(), tenant.ScopeAdmin)
	if err != nil {
		c.fail(w, r, rq, err)
		return
	}
	if c.d.Billing == nil {
		c.notConfigured(w, r, rq, "Billing", "billing")
		return
	}
	cur := strings.ToUpper(strings.TrimSpace(r.PostFormValue("currency")))
	minor, err := parseMoney(r.PostFormValue("cap"), cur)
	if err == nil {
		_, err = c.d.Billing.SetBudget(r.Context(), billing.SetBudgetInput{InsurerID: p.Insurer.ID, CapMinor: minor,
			Currency: cur, Hard: r.PostFormValue("kind") == "hard"})
	}
	if err != nil {
		c.billingError(w, r, rq, err)
		return
	}
	notice := "budget-saved"
	if minor == 0 {
		notice = "budget-removed"
	}
	c.seeOther(w, r, c.cfg.Base+"/billing", notice)
}

// exportUsage creates a CSV export of the period and sends the browser to
// its signed link.
func (c *Console) exportUsage(w http.ResponseWriter, r *http.Request, rq *request) {
	p, err := tenant.Authorize(r.Context(), tenant.ScopeBillingRead)
	if err != nil {
		c.fail(w, r, rq, err)
		return
	}
	if c.d.Billing == nil {
		c.notConfigured(w, r, rq, "Billing", "billing")
		return
	}
	from, to, err := c.period(r)
	if err == nil {
		var e billing.Export
		e, err = c.d.Billing.ExportUsage(r.Context(), billing.ExportInput{InsurerID: p.Insurer.ID, Mode: string(p.Mode()),
			From: from, To: to, Format: "CSV", Actor: rq.user.ID})
		if err == nil {
			w.Header().Set("Cache-Control", "no-store")
			if sameOriginURL(r, e.URL) {
				http.Redirect(w, r, e.URL, http.StatusSeeOther)
				return
			}
			// The CSP's form-action refuses a redirect to another
			// origin: offer the link instead.
			d, lerr := c.billingFor(r, rq, from, to)
			if lerr != nil {
				c.fail(w, r, rq, lerr)
				return
			}
			d.Export = &e
			c.render(w, r, http.StatusOK, "billing", c.billingView(r, rq, d))
			return
		}
	}
	c.billingError(w, r, rq, err)
}

// sameOriginURL reports whether link is a path or a URL on the request's
// own host.
func sameOriginURL(r *http.Request, link string) bool {
	u, err := url.Parse(link)
	if err != nil {
		return false
	}
	if u.Host == "" {
		return u.Scheme == "" && strings.HasPrefix(link, "/") && !strings.HasPrefix(link, "//")
	}
	return u.Host == r.Host && (u.Scheme == "http" || u.Scheme == "https")
}

// billingError shows a refused form on the billing page.
func (c *Console) billingError(w http.ResponseWriter, r *http.Request, rq *request, err error) {
	if !errs.Is(err, errs.Invalid) && !errs.Is(err, errs.FailedPrecondition) {
		c.fail(w, r, rq, err)
		return
	}
	from, to, perr := c.period(r)
	if perr != nil {
		now := c.cfg.Now().UTC()
		from, to = billing.MonthStart(now), billing.DayStart(now)
	}
	d, lerr := c.billingFor(r, rq, from, to)
	if lerr != nil {
		c.fail(w, r, rq, lerr)
		return
	}
	e, _ := errs.As(err)
	v := c.billingView(r, rq, d)
	v.Error = fieldMessages(e)
	status := http.StatusBadRequest
	if !errs.Is(err, errs.Invalid) {
		status = http.StatusConflict
	}
	c.render(w, r, status, "billing", v)
}

// parseMoney reads an amount in major units ("5000", "5000.5", "5000.50")
// as minor units of currency. Empty means zero.
func parseMoney(s, currency string) (int64, error) {
	s = strings.ReplaceAll(strings.TrimSpace(s), " ", "")
	if s == "" {
		return 0, nil
	}
	bad := errs.Fields{{Path: "cap", Message: "must be an amount such as 5000.00"}}.Err()
	decimals := 2
	if zero := money(1, currency); !strings.Contains(zero, ".") {
		decimals = 0
	}
	whole, frac, dot := strings.Cut(s, ".")
	if whole == "" || len(frac) > decimals || (dot && frac == "") || strings.HasPrefix(whole, "-") || strings.HasPrefix(whole, "+") {
		return 0, bad
	}
	for len(frac) < decimals {
		frac += "0"
	}
	n, err := strconv.ParseInt(whole+frac, 10, 64)
	if err != nil || n < 0 || n > 1e15 {
		return 0, bad
	}
	return n, nil
}

// bar is one bar of a chart.
type bar struct {
	Label string // full label, for the tooltip
	Short string // axis label
	Value int64  // minor units
}

// barChart is a server-drawn SVG bar chart: geometry is computed here and
// written as SVG attributes, colours come from app.css classes.
type barChart struct {
	Title     string
	Currency  string
	Width     int
	Height    int
	Bars      []chartBar
	MaxLabel  string // the top of the scale, formatted
	Baseline  int    // y of the axis
	LabelY    int
	Empty     bool
	EveryNth  int
	ScaleLine int
}

type chartBar struct {
	X, Y, W, H int
	LabelX     int
	Label      string
	Short      string
	Amount     string
	ShowLabel  bool
}

const (
	chartHeight = 180
	chartTop    = 16
	chartBottom = 24
	chartLeft   = 8
)

func newBarChart(title, currency string, bars []bar) *barChart {
	ch := &barChart{Title: title, Currency: currency, Height: chartHeight, Baseline: chartHeight - chartBottom,
		LabelY: chartHeight - 8, ScaleLine: chartTop}
	slot := 36
	switch {
	case len(bars) > 20:
		slot = 18
	case len(bars) <= 10:
		// Few bars (meters) carry words: make room for them.
		for _, b := range bars {
			slot = max(slot, min(150, 7*len(b.Short)+8))
		}
	}
	ch.Width = max(chartLeft*2+slot*len(bars), 240)
	var top int64
	for _, b := range bars {
		top = max(top, b.Value)
	}
	ch.Empty = top == 0
	ch.MaxLabel = money(top, currency)
	// Label every nth bar so the axis stays legible.
	ch.EveryNth = 1
	if len(bars) > 16 {
		ch.EveryNth = (len(bars) + 15) / 16
	}
	plot := ch.Baseline - chartTop
	for i, b := range bars {
		h := 0
		if top > 0 {
			h = int(b.Value * int64(plot) / top)
		}
		if b.Value > 0 && h < 1 {
			h = 1
		}
		x := chartLeft + i*slot
		ch.Bars = append(ch.Bars, chartBar{X: x + 2, Y: ch.Baseline - h, W: slot - 4, H: h, LabelX: x + slot/2,
			Label: b.Label, Short: b.Short, Amount: money(b.Value, currency), ShowLabel: i%ch.EveryNth == 0})
	}
	return ch
}

// String describes the chart for its accessible name.
func (ch *barChart) String() string {
	if ch.Currency == "" {
		return ch.Title + "; the table below lists the values"
	}
	return fmt.Sprintf("%s in %s; the table below lists the values", ch.Title, ch.Currency)
}
