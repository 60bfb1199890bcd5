package billing

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"time"

	"github.com/borderproof/borderproof/internal/errs"
)

// Config is billing's tunables.
type Config struct {
	// OperatorInsurers are the insurers whose admin keys may read every
	// insurer's billing and partner costs (the service operator's own
	// tenant). Every other key sees its own insurer only.
	OperatorInsurers []string
	Sync             SyncConfig
	// ExportLinkTTL is how long an export's download link works.
	ExportLinkTTL time.Duration
}

// SyncConfig tunes the Stripe meter event sync.
type SyncConfig struct {
	// BatchSize rows are leased per round trip to the database.
	BatchSize int
	// Concurrency bounds meter event requests in flight.
	Concurrency int
	// RatePerSecond bounds meter event requests per second per mode
	// (Stripe allows 1,000 per second in live mode, far fewer in test mode).
	RatePerSecond float64
	// MaxAttempts bounds the tries of one event in one run; a row that
	// still fails is left for the next run.
	MaxAttempts int
	BackoffBase time.Duration
	BackoffMax  time.Duration
	// Lease is how long a run holds the rows it leased.
	Lease time.Duration
	// MaxPerRun bounds the rows one run handles, so a task ends in time.
	MaxPerRun int
	// MaxAge is the oldest usage Stripe still accepts as a meter event
	// (35 days, less a margin); older rows are reported, not sent.
	MaxAge time.Duration
}

func (c Config) withDefaults() Config {
	s := &c.Sync
	if s.BatchSize <= 0 {
		s.BatchSize = 500
	}
	if s.Concurrency <= 0 {
		s.Concurrency = 8
	}
	if s.RatePerSecond <= 0 {
		s.RatePerSecond = 100
	}
	if s.MaxAttempts <= 0 {
		s.MaxAttempts = 5
	}
	if s.BackoffBase <= 0 {
		s.BackoffBase = 250 * time.Millisecond
	}
	if s.BackoffMax <= 0 {
		s.BackoffMax = 10 * time.Second
	}
	if s.Lease <= 0 {
		s.Lease = 5 * time.Minute
	}
	if s.MaxPerRun <= 0 {
		s.MaxPerRun = 50_000
	}
	if s.MaxAge <= 0 {
		s.MaxAge = 35*24*time.Hour - time.Hour
	}
	if c.ExportLinkTTL <= 0 {
		c.ExportLinkTTL = 15 * time.Minute
	}
	return c
}

// Deps are the service's collaborators.
type Deps struct {
	Store Store
	// Blobs receives exports; nil refuses exports with Unavailable.
	Blobs Blobs
	// Stripe holds a client per mode; zero keeps usage in the ledger only.
	Stripe  Stripes
	Metrics *Metrics
	Logger  *slog.Logger
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Service is billing's API for the GraphQL resolvers, the worker and the
// admin commands.
type Service struct {
	cfg   Config
	st    Store
	blobs Blobs
	sc    Stripes
	m     *Metrics
	log   *slog.Logger
	now   func() time.Time
	thr   map[string]*throttle
}

// New builds the service.
func New(cfg Config, d Deps) *Service {
	cfg = cfg.withDefaults()
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Metrics == nil {
		d.Metrics, _ = NewMetrics(nil)
	}
	s := &Service{cfg: cfg, st: d.Store, blobs: d.Blobs, sc: d.Stripe, m: d.Metrics, log: d.Logger, now: d.Now,
		thr: map[string]*throttle{}}
	for _, mode := range d.Stripe.Modes() {
		s.thr[mode] = newThrottle(cfg.Sync.RatePerSecond, cfg.Sync.Concurrency)
	}
	return s
}

// IsOperator reports whether the insurer's admin keys may read every
// insurer's billing.
func (s *Service) IsOperator(insurerID string) bool {
	return insurerID != "" && slices.Contains(s.cfg.OperatorInsurers, insurerID)
}

// StripeConfigured reports whether usage of the mode reaches Stripe.
func (s *Service) StripeConfigured(mode string) bool { return s.sc.For(mode) != nil }

// RecordUsage writes a usage row in its own transaction. The check pipeline
// normally writes the row inside its result transaction through the store;
// this is for callers without one.
func (s *Service) RecordUsage(ctx context.Context, u Usage) (Recorded, error) {
	if u.ID == "" || u.InsurerID == "" || u.CheckID == "" || !u.Meter.Known() || u.Quantity <= 0 {
		return Recorded{}, errs.E(errs.Invalid, "incomplete usage row")
	}
	return s.st.RecordUsage(ctx, u)
}

// RollUpBatch is how many usage rows one roll-up transaction prices.
const RollUpBatch = 500

// RollUp prices every usage row the check pipeline wrote without a price
// (task billing:rollup), a batch per transaction, and returns how many.
func (s *Service) RollUp(ctx context.Context) (int, error) {
	total := 0
	for {
		n, err := s.st.RollUpUsage(ctx, RollUpBatch)
		total += n
		if err != nil || n < RollUpBatch {
			return total, err
		}
	}
}

// CheckBudget is called before a submission is accepted. It reads one row
// (the cap and the month's running live spend). TEST submissions are never
// limited: sandbox usage is not billed. At or above the cap a hard budget
// answers errs.BudgetExceeded and a soft one a warning; from 80% on the
// warning says how much is used.
func (s *Service) CheckBudget(ctx context.Context, insurerID, mode string) (warning string, err error) {
	if mode != ModeLive {
		return "", nil
	}
	b, spend, err := s.st.BudgetState(ctx, insurerID, MonthStart(s.now()))
	if err != nil {
		return "", err
	}
	if !b.Set() {
		return "", nil
	}
	reached := b.Reached(spend.Minor)
	switch {
	case slices.Contains(reached, 100) && b.Hard:
		s.m.budgetRejections.WithLabelValues("rejected").Inc()
		return "", errs.E(errs.BudgetExceeded, "the monthly budget of %d %s (minor units) is used up; raise it with setBudget or wait for next month", b.CapMinor, b.Currency)
	case slices.Contains(reached, 100):
		s.m.budgetRejections.WithLabelValues("warned").Inc()
		return fmt.Sprintf("the monthly budget of %d %s (minor units) is used up; usage continues to be billed", b.CapMinor, b.Currency), nil
	case len(reached) > 0:
		s.m.budgetRejections.WithLabelValues("warned").Inc()
		return fmt.Sprintf("%d%% of the monthly budget of %d %s (minor units) is used", reached[len(reached)-1], b.CapMinor, b.Currency), nil
	}
	return "", nil
}

// BudgetStatus is an insurer's budget and the current month's live spend.
type BudgetStatus struct {
	InsurerID string
	Budget    Budget
	Month     time.Time
	Spend     Money
	// Reached are the thresholds (percent of the cap) reached this month.
	Reached []int
	Notices []Notice
}

// Budget returns the insurer's budget and this month's spend.
func (s *Service) Budget(ctx context.Context, insurerID string) (BudgetStatus, error) {
	if _, err := s.RollUp(ctx); err != nil {
		return BudgetStatus{}, err
	}
	month := MonthStart(s.now())
	b, spend, err := s.st.BudgetState(ctx, insurerID, month)
	if err != nil {
		return BudgetStatus{}, err
	}
	notices, err := s.st.BudgetNotices(ctx, insurerID, month)
	if err != nil {
		return BudgetStatus{}, err
	}
	if spend.Currency == "" {
		spend.Currency = b.Currency
	}
	return BudgetStatus{InsurerID: insurerID, Budget: b, Month: month, Spend: spend, Reached: b.Reached(spend.Minor), Notices: notices}, nil
}

// SetBudget sets or removes the insurer's monthly cap. The cap's currency
// must be the currency of the insurer's plan.
func (s *Service) SetBudget(ctx context.Context, in SetBudgetInput) (BudgetStatus, error) {
	if err := in.Validate(); err != nil {
		return BudgetStatus{}, err
	}
	acc, err := s.st.Account(ctx, in.InsurerID)
	if err != nil {
		return BudgetStatus{}, err
	}
	plan, err := s.st.Plan(ctx, acc.PlanID)
	if err != nil {
		return BudgetStatus{}, err
	}
	b := Budget{CapMinor: in.CapMinor, Currency: in.Currency, Hard: in.Hard}
	if b.Set() && b.Currency != plan.Currency {
		return BudgetStatus{}, errs.Fields{{Path: "currency", Message: "must be the plan's currency, " + plan.Currency}}.Err()
	}
	if !b.Set() {
		b = Budget{}
	}
	if _, err := s.st.SetBudget(ctx, in.InsurerID, b, s.now().UTC()); err != nil {
		return BudgetStatus{}, err
	}
	return s.Budget(ctx, in.InsurerID)
}

// SetPlan moves an insurer to a plan. A plan in another currency than the
// current one takes effect only with no live usage in the month (amounts of
// one month share a currency).
func (s *Service) SetPlan(ctx context.Context, insurerID, planID string) error {
	next, err := s.st.Plan(ctx, planID)
	if err != nil {
		return err
	}
	acc, err := s.st.Account(ctx, insurerID)
	if err != nil {
		return err
	}
	cur, err := s.st.Plan(ctx, acc.PlanID)
	if err != nil {
		return err
	}
	if cur.Currency != next.Currency {
		_, spend, err := s.st.BudgetState(ctx, insurerID, MonthStart(s.now()))
		if err != nil {
			return err
		}
		if spend.Minor > 0 {
			return errs.E(errs.FailedPrecondition, "the plan's currency differs and the month already has usage; change plans next month")
		}
	}
	return s.st.SetPlan(ctx, insurerID, planID, s.now().UTC())
}

// UsageLine is one group of a usage report. Fields that are not grouped on
// are zero.
type UsageLine struct {
	InsurerID string
	Day       time.Time
	Month     time.Time
	Meter     Meter
	Partner   string
	Quantity  int64
	Amount    Money
}

// UsageReport answers a UsageQuery. Amounts are never added across
// currencies: each line and total has one.
type UsageReport struct {
	Query  UsageQuery
	Lines  []UsageLine
	Totals []UsageLine
}

// Usage reports quantities and amounts from the daily rollup.
func (s *Service) Usage(ctx context.Context, q UsageQuery) (UsageReport, error) {
	if err := q.Validate(); err != nil {
		return UsageReport{}, err
	}
	// Finance reads price the rows the check pipeline wrote in the last
	// seconds first (a no-op index probe when there are none).
	if _, err := s.RollUp(ctx); err != nil {
		return UsageReport{}, err
	}
	q.From, q.To = DayStart(q.From), DayStart(q.To)
	rows, err := s.st.UsageDaily(ctx, q.InsurerID, q.Mode, q.From, q.To.AddDate(0, 0, 1))
	if err != nil {
		return UsageReport{}, err
	}
	byInsurer := q.InsurerID == ""
	lines := aggregate(rows, func(r DailyRow) UsageLine {
		l := UsageLine{Amount: Money{Currency: r.Amount.Currency}}
		if byInsurer {
			l.InsurerID = r.InsurerID
		}
		if q.has(GroupDay) {
			l.Day = r.Day
		}
		if q.has(GroupMonth) {
			l.Month = MonthStart(r.Day)
		}
		if q.has(GroupMeter) {
			l.Meter = r.Meter
		}
		if q.has(GroupPartner) {
			l.Partner = r.Partner
		}
		return l
	})
	totals := aggregate(rows, func(r DailyRow) UsageLine { return UsageLine{Amount: Money{Currency: r.Amount.Currency}} })
	return UsageReport{Query: q, Lines: lines, Totals: totals}, nil
}

// aggregate sums rows into lines keyed by key (which leaves quantity and
// amount zero), in a stable order.
func aggregate(rows []DailyRow, key func(DailyRow) UsageLine) []UsageLine {
	idx := map[UsageLine]int{}
	var out []UsageLine
	for _, r := range rows {
		k := key(r)
		i, ok := idx[k]
		if !ok {
			i = len(out)
			idx[k] = i
			out = append(out, k)
		}
		out[i].Quantity += r.Quantity
		out[i].Amount.Minor += r.Amount.Minor
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		switch {
		case a.InsurerID != b.InsurerID:
			return a.InsurerID < b.InsurerID
		case !a.Month.Equal(b.Month):
			return a.Month.Before(b.Month)
		case !a.Day.Equal(b.Day):
			return a.Day.Before(b.Day)
		case a.Meter != b.Meter:
			return a.Meter < b.Meter
		case a.Partner != b.Partner:
			return a.Partner < b.Partner
		}
		return a.Amount.Currency < b.Amount.Currency
	})
	return out
}

// PartnerCost compares what partners charged us with what we billed, per
// insurer and meter.
type PartnerCost struct {
	InsurerID string
	Meter     Meter
	Quantity  int64
	Cost      Money
	Billed    Money
}

// PartnerCosts reports, for operators, partner cost against billed amount
// per insurer and meter over days [from, to] of a mode.
func (s *Service) PartnerCosts(ctx context.Context, mode string, from, to time.Time) ([]PartnerCost, error) {
	var f errs.Fields
	validMode(&f, mode)
	validRange(&f, from, to)
	if err := f.Err(); err != nil {
		return nil, err
	}
	if _, err := s.RollUp(ctx); err != nil {
		return nil, err
	}
	rows, err := s.st.UsageDaily(ctx, "", mode, DayStart(from), DayStart(to).AddDate(0, 0, 1))
	if err != nil {
		return nil, err
	}
	type key struct {
		ins, cur, costCur string
		m                 Meter
	}
	idx := map[key]int{}
	var out []PartnerCost
	for _, r := range rows {
		k := key{r.InsurerID, r.Amount.Currency, r.PartnerCost.Currency, r.Meter}
		i, ok := idx[k]
		if !ok {
			i = len(out)
			idx[k] = i
			out = append(out, PartnerCost{InsurerID: r.InsurerID, Meter: r.Meter,
				Cost: Money{Currency: r.PartnerCost.Currency}, Billed: Money{Currency: r.Amount.Currency}})
		}
		out[i].Quantity += r.Quantity
		out[i].Cost.Minor += r.PartnerCost.Minor
		out[i].Billed.Minor += r.Amount.Minor
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].InsurerID != out[j].InsurerID {
			return out[i].InsurerID < out[j].InsurerID
		}
		return out[i].Meter < out[j].Meter
	})
	return out, nil
}

// InvoicePreview puts Stripe's upcoming invoice beside the ledger's total
// for a month.
type InvoicePreview struct {
	InsurerID string
	Mode      string
	Month     time.Time
	// Ledger has one line per meter; LedgerTotal sums them (per currency,
	// normally one).
	Ledger      []UsageLine
	LedgerTotal []UsageLine
	// StripeConfigured is false when the mode's usage does not reach
	// Stripe: the preview is the ledger only.
	StripeConfigured bool
	// Stripe is the upcoming invoice, nil when it could not be read (Note
	// says why).
	Stripe *StripeInvoice
	Note   string
}

// InvoicePreview returns the ledger for month (any instant in it; zero: the
// current month) and, when
// Stripe is configured for the mode and the insurer has a customer there,
// Stripe's upcoming invoice. A Stripe failure is reported in Note, not as
// an error: the ledger is still worth showing.
func (s *Service) InvoicePreview(ctx context.Context, insurerID, mode string, month time.Time) (InvoicePreview, error) {
	var f errs.Fields
	validMode(&f, mode)
	if err := f.Err(); err != nil {
		return InvoicePreview{}, err
	}
	if month.IsZero() {
		month = s.now()
	}
	month = MonthStart(month)
	if _, err := s.RollUp(ctx); err != nil {
		return InvoicePreview{}, err
	}
	rows, err := s.st.UsageDaily(ctx, insurerID, mode, month, month.AddDate(0, 1, 0))
	if err != nil {
		return InvoicePreview{}, err
	}
	p := InvoicePreview{InsurerID: insurerID, Mode: mode, Month: month,
		Ledger: aggregate(rows, func(r DailyRow) UsageLine {
			return UsageLine{Meter: r.Meter, Amount: Money{Currency: r.Amount.Currency}}
		}),
		LedgerTotal: aggregate(rows, func(r DailyRow) UsageLine { return UsageLine{Amount: Money{Currency: r.Amount.Currency}} }),
	}
	client := s.sc.For(mode)
	if client == nil {
		p.Note = "Stripe is not configured for this mode; the preview is the ledger only"
		return p, nil
	}
	p.StripeConfigured = true
	acc, err := s.st.Account(ctx, insurerID)
	if err != nil {
		return InvoicePreview{}, err
	}
	cust := acc.CustomerFor(mode)
	if cust == "" {
		p.Note = "the insurer has no Stripe customer in this mode yet"
		return p, nil
	}
	inv, err := client.PreviewInvoice(ctx, cust)
	if err != nil {
		s.log.WarnContext(ctx, "stripe invoice preview failed", "insurer_id", insurerID, "mode", mode, "err", err)
		msg := "Stripe's upcoming invoice could not be read"
		if e, ok := errs.As(err); ok && e.Kind != errs.Internal {
			msg += ": " + e.Msg
		}
		p.Note = msg
		return p, nil
	}
	if meters, err := s.st.StripeMeters(ctx, mode); err == nil {
		byID := map[string]Meter{}
		for m, sid := range meters {
			byID[sid] = m
		}
		for i := range inv.Lines {
			inv.Lines[i].Meter = byID[inv.Lines[i].StripeMeterID]
		}
	}
	p.Stripe = &inv
	return p, nil
}

// Reconciliations lists the latest reconciliation runs (operators).
func (s *Service) Reconciliations(ctx context.Context, limit int) ([]ReconciliationRun, error) {
	if limit <= 0 || limit > 100 {
		limit = 20
	}
	return s.st.Reconciliations(ctx, limit)
}

// SyncIssues lists usage rows that could not be sent to Stripe (operators).
func (s *Service) SyncIssues(ctx context.Context, limit int) ([]SyncIssue, error) {
	if limit <= 0 || limit > 500 {
		limit = 100
	}
	return s.st.SyncIssues(ctx, limit)
}
