package billing_test

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/borderproof/borderproof/internal/billing"
	billingstripe "github.com/borderproof/borderproof/internal/billing/stripe"
	"github.com/borderproof/borderproof/internal/blob"
	"github.com/borderproof/borderproof/internal/errs"
	"github.com/borderproof/borderproof/internal/id"
	"github.com/borderproof/borderproof/internal/store"
	"github.com/borderproof/borderproof/internal/store/storetest"
	"github.com/borderproof/borderproof/internal/tenant"
	"github.com/borderproof/borderproof/internal/testenv"
)

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

type fixture struct {
	t   testing.TB
	st  *store.Store
	svc *billing.Service
	reg *prometheus.Registry
}

type option func(*billing.Config, *billing.Deps)

func withStripe(live, test billing.Stripe) option {
	return func(_ *billing.Config, d *billing.Deps) { d.Stripe = billing.Stripes{Live: live, Test: test} }
}

func withClock(now func() time.Time) option {
	return func(_ *billing.Config, d *billing.Deps) { d.Now = now }
}

func withBlobs(b billing.Blobs) option {
	return func(_ *billing.Config, d *billing.Deps) { d.Blobs = b }
}

func newFixture(t testing.TB, st *store.Store, opts ...option) *fixture {
	t.Helper()
	reg := prometheus.NewRegistry()
	m, err := billing.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	cfg := billing.Config{Sync: billing.SyncConfig{BatchSize: 7, Concurrency: 4, RatePerSecond: 2000, MaxAttempts: 5,
		BackoffBase: 5 * time.Millisecond, BackoffMax: 20 * time.Millisecond}}
	d := billing.Deps{Store: st, Metrics: m, Logger: discard()}
	for _, o := range opts {
		o(&cfg, &d)
	}
	return &fixture{t: t, st: st, svc: billing.New(cfg, d), reg: reg}
}

func (f *fixture) insurer(mode tenant.Mode) string {
	f.t.Helper()
	ins := tenant.Insurer{ID: id.New(id.Insurer), Name: "Acme Mutual", Country: "FRA", Region: "EU", Mode: mode, RetentionDays: 365,
		CreatedAt: time.Now().UTC().Truncate(time.Microsecond)}
	if err := f.st.CreateInsurer(context.Background(), ins); err != nil {
		f.t.Fatal(err)
	}
	return ins.ID
}

func (f *fixture) record(insurerID, mode string, m billing.Meter, partner string, at time.Time) billing.Recorded {
	f.t.Helper()
	r, err := f.svc.RecordUsage(context.Background(), billing.Usage{ID: id.NewAt(id.Usage, at), InsurerID: insurerID, Mode: mode, Meter: m,
		Quantity: 1, Partner: partner, PartnerCost: billing.Money{Minor: 10, Currency: "EUR"}, VerificationID: id.New(id.Verification),
		CheckID: id.New(id.Check), OccurredAt: at})
	if err != nil {
		f.t.Fatal(err)
	}
	return r
}

func (f *fixture) plan(insurerID string, p billing.Plan) {
	f.t.Helper()
	ctx := context.Background()
	if err := f.st.PutPlan(ctx, p, time.Now()); err != nil {
		f.t.Fatal(err)
	}
	if err := f.svc.SetPlan(ctx, insurerID, p.ID); err != nil {
		f.t.Fatal(err)
	}
}

func flatPlan(unit int64) billing.Plan {
	var prices []billing.Price
	for _, m := range billing.BillableMeters() {
		prices = append(prices, billing.Price{Meter: m, Tiers: []billing.Tier{{UnitMinor: unit}}})
	}
	return billing.Plan{ID: "flat", Name: "Flat", Currency: "EUR", Prices: prices}
}

func stripeClient(t testing.TB, base, key string, testOnly bool) *billingstripe.Client {
	t.Helper()
	c, err := billingstripe.New(billingstripe.Config{APIKey: key, APIBase: base, TestModeOnly: testOnly}, discard())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func sqliteStore(t testing.TB) *store.Store { return storetest.Open(t, store.SQLite) }

func exec(t testing.TB, st *store.Store, q string, args ...any) {
	t.Helper()
	if st.Dialect() == store.SQLite {
		for i := len(args); i >= 1; i-- {
			q = strings.ReplaceAll(q, fmt.Sprintf("$%d", i), fmt.Sprintf("?%d", i))
		}
	}
	if _, err := st.DB().Exec(q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// TestBudgetThresholdsAndHardCap: thresholds fire once each, a hard cap
// rejects cleanly, a soft one warns, sandbox is never limited.
func TestBudgetThresholdsAndHardCap(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		f := newFixture(t, st)
		a := f.insurer(tenant.Live)
		f.plan(a, flatPlan(100))
		if _, err := f.svc.SetBudget(ctx, billing.SetBudgetInput{InsurerID: a, CapMinor: 500, Currency: "USD", Hard: true}); !errs.Is(err, errs.Invalid) {
			t.Fatalf("budget in another currency: %v", err)
		}
		if _, err := f.svc.SetBudget(ctx, billing.SetBudgetInput{InsurerID: a, CapMinor: -1}); !errs.Is(err, errs.Invalid) {
			t.Fatalf("negative budget: %v", err)
		}
		st0, err := f.svc.SetBudget(ctx, billing.SetBudgetInput{InsurerID: a, CapMinor: 500, Currency: "EUR", Hard: true})
		if err != nil || st0.Budget.CapMinor != 500 || st0.Spend.Minor != 0 || st0.Spend.Currency != "EUR" {
			t.Fatalf("set budget: %+v %v", st0, err)
		}
		now := time.Now().UTC()
		check := func(wantWarn bool, wantKind errs.Kind) {
			t.Helper()
			w, err := f.svc.CheckBudget(ctx, a, billing.ModeLive)
			if wantKind != errs.Internal {
				if !errs.Is(err, wantKind) || w != "" {
					t.Fatalf("CheckBudget = %q, %v; want %v", w, err, wantKind)
				}
				return
			}
			if err != nil || (w != "") != wantWarn {
				t.Fatalf("CheckBudget = %q, %v; want warning %v", w, err, wantWarn)
			}
		}
		check(false, errs.Internal)
		for range 3 {
			f.record(a, billing.ModeLive, billing.MeterWatchlist, "watchlist-sim", now)
		}
		check(false, errs.Internal) // 60%
		r := f.record(a, billing.ModeLive, billing.MeterWatchlist, "watchlist-sim", now)
		if len(r.EventIDs) != 1 {
			t.Fatalf("80%% crossing events: %v", r.EventIDs)
		}
		check(true, errs.Internal) // 80%
		r = f.record(a, billing.ModeLive, billing.MeterWatchlist, "watchlist-sim", now)
		if len(r.EventIDs) != 1 {
			t.Fatalf("100%% crossing events: %v", r.EventIDs)
		}
		check(false, errs.BudgetExceeded)
		// In-flight checks still record usage; no event is emitted again.
		for range 3 {
			if r := f.record(a, billing.ModeLive, billing.MeterWatchlist, "watchlist-sim", now); len(r.EventIDs) != 0 {
				t.Fatalf("threshold fired twice: %v", r.EventIDs)
			}
		}
		// Sandbox submissions are never limited.
		if w, err := f.svc.CheckBudget(ctx, a, billing.ModeTest); w != "" || err != nil {
			t.Fatalf("sandbox: %q %v", w, err)
		}
		// A soft cap warns instead.
		if _, err := f.svc.SetBudget(ctx, billing.SetBudgetInput{InsurerID: a, CapMinor: 500, Currency: "EUR"}); err != nil {
			t.Fatal(err)
		}
		check(true, errs.Internal)
		bs, err := f.svc.Budget(ctx, a)
		if err != nil || bs.Spend.Minor != 800 || len(bs.Notices) != 2 || !slices.Equal(bs.Reached, []int{80, 100}) {
			t.Fatalf("budget status: %+v %v", bs, err)
		}
		// Raising the cap clears the rejection.
		if _, err := f.svc.SetBudget(ctx, billing.SetBudgetInput{InsurerID: a, CapMinor: 10_000, Currency: "EUR", Hard: true}); err != nil {
			t.Fatal(err)
		}
		check(false, errs.Internal)
		// Another insurer is not affected by a's budget.
		b := f.insurer(tenant.Live)
		if w, err := f.svc.CheckBudget(ctx, b, billing.ModeLive); w != "" || err != nil {
			t.Fatalf("other insurer: %q %v", w, err)
		}
	})
}

func TestUsageReportAndPartnerCosts(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, sqliteStore(t))
	a := f.insurer(tenant.Live)
	b := f.insurer(tenant.Live)
	f.plan(a, flatPlan(10))
	d1 := time.Date(2026, 10, 31, 23, 59, 0, 0, time.UTC)
	d2 := time.Date(2026, 11, 1, 0, 1, 0, 0, time.UTC)
	f.record(a, billing.ModeLive, billing.MeterImmigrationStatus, "visastatus-sim", d1)
	f.record(a, billing.ModeLive, billing.MeterImmigrationStatus, "statuscase-sim", d1)
	f.record(a, billing.ModeLive, billing.MeterImmigrationStatus, "visastatus-sim", d2)
	f.record(a, billing.ModeLive, billing.MeterWatchlist, "watchlist-sim", d2)
	f.record(a, billing.ModeTest, billing.MeterWatchlist, "watchlist-sim", d2)
	f.record(b, billing.ModeLive, billing.MeterWatchlist, "watchlist-sim", d2) // standard plan: 25

	q := billing.UsageQuery{InsurerID: a, Mode: billing.ModeLive, From: d1, To: d2}
	lines := func(groups ...billing.Group) []string {
		t.Helper()
		q := q
		q.GroupBy = groups
		r, err := f.svc.Usage(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Totals) != 1 || r.Totals[0].Quantity != 4 || r.Totals[0].Amount != (billing.Money{Minor: 40, Currency: "EUR"}) {
			t.Fatalf("totals: %+v", r.Totals)
		}
		var out []string
		for _, l := range r.Lines {
			var k []string
			if !l.Day.IsZero() {
				k = append(k, l.Day.Format(time.DateOnly))
			}
			if !l.Month.IsZero() {
				k = append(k, l.Month.Format("2006-01"))
			}
			if l.Meter != "" {
				k = append(k, string(l.Meter))
			}
			if l.Partner != "" {
				k = append(k, l.Partner)
			}
			out = append(out, fmt.Sprintf("%s=%d/%d", strings.Join(k, ","), l.Quantity, l.Amount.Minor))
		}
		return out
	}
	for _, tc := range []struct {
		groups []billing.Group
		want   []string
	}{
		{nil, []string{"=4/40"}},
		{[]billing.Group{billing.GroupDay}, []string{"2026-10-31=2/20", "2026-11-01=2/20"}},
		{[]billing.Group{billing.GroupMonth}, []string{"2026-10=2/20", "2026-11=2/20"}},
		{[]billing.Group{billing.GroupMeter}, []string{"immigration_status_checks=3/30", "watchlist_screenings=1/10"}},
		{[]billing.Group{billing.GroupPartner}, []string{"statuscase-sim=1/10", "visastatus-sim=2/20", "watchlist-sim=1/10"}},
		{[]billing.Group{billing.GroupMeter, billing.GroupDay}, []string{"2026-10-31,immigration_status_checks=2/20",
			"2026-11-01,immigration_status_checks=1/10", "2026-11-01,watchlist_screenings=1/10"}},
	} {
		if got := lines(tc.groups...); !slices.Equal(got, tc.want) {
			t.Errorf("groupBy %v:\n got %q\nwant %q", tc.groups, got, tc.want)
		}
	}
	// Operators read every insurer; lines carry the insurer.
	all, err := f.svc.Usage(ctx, billing.UsageQuery{Mode: billing.ModeLive, From: d1, To: d2, GroupBy: []billing.Group{billing.GroupMeter}})
	if err != nil || len(all.Lines) != 3 || all.Totals[0].Amount.Minor != 65 {
		t.Fatalf("all insurers: %+v %v", all, err)
	}
	for _, l := range all.Lines {
		if l.InsurerID == "" {
			t.Fatal("line without insurer in an all-insurers report")
		}
	}
	for _, bad := range []billing.UsageQuery{
		{InsurerID: a, Mode: billing.ModeLive, From: d2, To: d1},
		{InsurerID: a, Mode: billing.ModeLive, From: d1, To: d1.AddDate(1, 2, 0)},
		{InsurerID: a, Mode: "PROD", From: d1, To: d2},
		{InsurerID: a, Mode: billing.ModeLive, From: d1, To: d2, GroupBy: []billing.Group{"WEEK"}},
		{InsurerID: a, Mode: billing.ModeLive, From: d1, To: d2, GroupBy: []billing.Group{billing.GroupDay, billing.GroupDay}},
	} {
		if _, err := f.svc.Usage(ctx, bad); !errs.Is(err, errs.Invalid) {
			t.Errorf("%+v: %v", bad, err)
		}
	}
	costs, err := f.svc.PartnerCosts(ctx, billing.ModeLive, d1, d2)
	if err != nil || len(costs) != 3 {
		t.Fatalf("partner costs: %+v %v", costs, err)
	}
	for _, c := range costs {
		if c.InsurerID == a && c.Meter == billing.MeterImmigrationStatus && (c.Quantity != 3 || c.Cost.Minor != 30 || c.Billed.Minor != 30) {
			t.Fatalf("a's status costs: %+v", c)
		}
		if c.InsurerID == b && (c.Billed.Minor != 25 || c.Cost.Minor != 10) {
			t.Fatalf("b's costs: %+v", c)
		}
	}
}

// TestSyncSendsEachRowOnce sends usage through the recording proxy to
// stripe-mock while the proxy refuses the first attempts of every event
// (500) and the very first request (429 with Retry-After).
func TestSyncSendsEachRowOnce(t *testing.T) {
	upstream := testenv.Require(t, testenv.StripeURLVar)
	ctx := context.Background()
	rec := newRecorder(t, upstream)
	rec.configure(func(r *recorder) { r.failFirst, r.rateLimitFirst = 2, true })
	st := sqliteStore(t)
	f := newFixture(t, st, withStripe(stripeClient(t, rec.URL(), "sk_test_123", false), nil))
	a := f.insurer(tenant.Live)
	noCustomer := f.insurer(tenant.Live)
	if err := st.SetStripeCustomer(ctx, a, billing.ModeLive, "cus_live_a", time.Now()); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	want := map[string]billing.Usage{}
	meters := billing.BillableMeters()
	for i := range 30 {
		r := f.record(a, billing.ModeLive, meters[i%len(meters)], "sim", now.Add(-time.Duration(i)*time.Minute))
		want[r.Usage.ID] = r.Usage
	}
	sandbox := f.record(a, billing.ModeTest, billing.MeterWatchlist, "sim", now)
	old := f.record(a, billing.ModeLive, billing.MeterWatchlist, "sim", now.AddDate(0, 0, -40))
	waiting := f.record(noCustomer, billing.ModeLive, billing.MeterWatchlist, "sim", now)

	runs, err := f.svc.Sync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 1 || runs[0].Mode != billing.ModeLive || runs[0].Accepted != 30 || runs[0].TooOld != 1 || runs[0].Failed != 0 {
		t.Fatalf("runs: %+v", runs)
	}
	sent := rec.sent()
	if len(sent) != 30 {
		t.Fatalf("%d identifiers reached Stripe, want 30", len(sent))
	}
	forms := rec.eventForms()
	for idf, n := range sent {
		u, ok := want[idf]
		if !ok || n != 1 {
			t.Fatalf("identifier %s sent %d times (known %v)", idf, n, ok)
		}
		fm := forms[idf]
		if fm.Get("event_name") != string(u.Meter) || fm.Get("payload[stripe_customer_id]") != "cus_live_a" || fm.Get("payload[value]") != "1" ||
			fm.Get("timestamp") != strconv.FormatInt(u.OccurredAt.Unix(), 10) {
			t.Fatalf("event %s: %v", idf, fm)
		}
	}
	for _, u := range []billing.Usage{sandbox.Usage, old.Usage, waiting.Usage} {
		if sent[u.ID] != 0 {
			t.Fatalf("row %s (%s) must not reach Stripe live mode", u.ID, u.Mode)
		}
	}
	issues, err := f.svc.SyncIssues(ctx, 10)
	if err != nil || len(issues) != 1 || issues[0].UsageID != old.Usage.ID || issues[0].Kind != billing.IssueTooOld {
		t.Fatalf("issues: %+v %v", issues, err)
	}
	if v := gauge(t, f.reg, "borderproof_billing_sync_too_old_total", "meter", "watchlist_screenings"); v != 1 {
		t.Fatalf("too-old metric %v", v)
	}
	if v := gauge(t, f.reg, "borderproof_billing_unsynced_without_customer", "mode", "LIVE"); v != 1 {
		t.Fatalf("without-customer gauge %v", v)
	}

	// Nothing is left: a second run sends nothing.
	if runs, err := f.svc.Sync(ctx); err != nil || runs[0].Claimed != 0 {
		t.Fatalf("second run: %+v %v", runs, err)
	}
	// A crash between Stripe's answer and our commit leaves rows unsynced;
	// Stripe refuses the identifiers it holds and the rows become synced
	// without a second event.
	rec.configure(func(r *recorder) { r.dedup = true })
	exec(t, st, `UPDATE usage_events SET synced_at = NULL WHERE insurer_id = $1 AND mode = 'LIVE' AND sync_skipped IS NULL`, a)
	runs, err = f.svc.Sync(ctx)
	if err != nil || runs[0].Accepted != 30 {
		t.Fatalf("replay run: %+v %v", runs, err)
	}
	for idf, n := range rec.sent() {
		if n != 1 {
			t.Fatalf("identifier %s accepted %d times", idf, n)
		}
	}
	totals, err := st.LedgerTotals(ctx, a, billing.ModeLive, now.Add(-time.Hour), now.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	var synced int64
	for _, tt := range totals {
		synced += tt.Synced
	}
	if synced != 30 {
		t.Fatalf("synced quantity %d", synced)
	}
}

func gauge(t testing.TB, reg *prometheus.Registry, name, label, value string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == label && lp.GetValue() == value {
					if m.GetCounter() != nil {
						sum += m.GetCounter().GetValue()
					} else {
						sum += m.GetGauge().GetValue()
					}
				}
			}
		}
	}
	return sum
}

// TestSyncModes: sandbox usage goes to the test-mode client only, and a
// live key is refused for it.
func TestSyncModes(t *testing.T) {
	upstream := testenv.Require(t, testenv.StripeURLVar)
	ctx := context.Background()
	if _, err := billingstripe.New(billingstripe.Config{APIKey: "sk_live_abc", APIBase: upstream, TestModeOnly: true}, discard()); !errs.Is(err, errs.Invalid) {
		t.Fatalf("live key for sandbox usage: %v", err)
	}
	live, test := newRecorder(t, upstream), newRecorder(t, upstream)
	st := sqliteStore(t)
	f := newFixture(t, st, withStripe(stripeClient(t, live.URL(), "sk_test_123", false), stripeClient(t, test.URL(), "sk_test_456", true)))
	a := f.insurer(tenant.Live)
	for mode, cus := range map[string]string{billing.ModeLive: "cus_live", billing.ModeTest: "cus_test"} {
		if err := st.SetStripeCustomer(ctx, a, mode, cus, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now().UTC()
	l := f.record(a, billing.ModeLive, billing.MeterWatchlist, "sim", now)
	s := f.record(a, billing.ModeTest, billing.MeterWatchlist, "sim", now)
	runs, err := f.svc.Sync(ctx)
	if err != nil || len(runs) != 2 || runs[0].Accepted != 1 || runs[1].Accepted != 1 {
		t.Fatalf("runs: %+v %v", runs, err)
	}
	if ls, ts := live.sent(), test.sent(); len(ls) != 1 || ls[l.Usage.ID] != 1 || len(ts) != 1 || ts[s.Usage.ID] != 1 {
		t.Fatalf("live got %v, test got %v", ls, ts)
	}
	if fm := test.eventForms()[s.Usage.ID]; fm.Get("payload[stripe_customer_id]") != "cus_test" {
		t.Fatalf("sandbox event: %v", fm)
	}
}

// TestConcurrentSyncRuns: two runs at once (two workers) send every row
// once between them.
func TestConcurrentSyncRuns(t *testing.T) {
	upstream := testenv.Require(t, testenv.StripeURLVar)
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		rec := newRecorder(t, upstream)
		client := stripeClient(t, rec.URL(), "sk_test_123", false)
		f1 := newFixture(t, st, withStripe(client, nil))
		f2 := newFixture(t, st, withStripe(client, nil))
		a := f1.insurer(tenant.Live)
		if err := st.SetStripeCustomer(ctx, a, billing.ModeLive, "cus_a", time.Now()); err != nil {
			t.Fatal(err)
		}
		now := time.Now().UTC()
		for i := range 40 {
			f1.record(a, billing.ModeLive, billing.MeterWatchlist, "sim", now.Add(-time.Duration(i)*time.Second))
		}
		var wg sync.WaitGroup
		for _, f := range []*fixture{f1, f2} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := f.svc.Sync(ctx); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		sent := rec.sent()
		if len(sent) != 40 {
			t.Fatalf("%d rows sent, want 40", len(sent))
		}
		for idf, n := range sent {
			if n != 1 {
				t.Fatalf("%s sent %d times", idf, n)
			}
		}
	})
}

// summaries replaces Stripe's meter event summaries with values the test
// controls; everything else goes to the real client.
type summaries struct {
	billing.Stripe
	values map[string]int64 // meter id + "/" + customer
	asked  []string
}

func (s *summaries) MeterEventSummary(_ context.Context, meterID, customerID string, _, _ time.Time) (int64, error) {
	s.asked = append(s.asked, meterID+"/"+customerID)
	return s.values[meterID+"/"+customerID], nil
}

func TestReconcileRecordsEveryDifference(t *testing.T) {
	upstream := testenv.Require(t, testenv.StripeURLVar)
	ctx := context.Background()
	st := sqliteStore(t)
	now := time.Date(2026, 11, 27, 2, 30, 0, 0, time.UTC)
	fake := &summaries{Stripe: stripeClient(t, upstream, "sk_test_123", false), values: map[string]int64{
		"mtr_wl/cus_a":  3, // matches
		"mtr_is/cus_a":  1, // one row not yet sent
		"mtr_doc/cus_a": 3, // Stripe lost one
		"mtr_bm/cus_a":  2, // Stripe has more than we sent
	}}
	f := newFixture(t, st, withStripe(fake, nil), withClock(func() time.Time { return now }))
	a := f.insurer(tenant.Live)
	f.insurer(tenant.Live) // no customer: not compared
	if err := st.SetStripeCustomer(ctx, a, billing.ModeLive, "cus_a", now); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Reconcile(ctx, billing.ModeLive, now.AddDate(0, 0, -1), now); !errs.Is(err, errs.FailedPrecondition) {
		t.Fatalf("reconcile before setup: %v", err)
	}
	for m, sid := range map[billing.Meter]string{billing.MeterWatchlist: "mtr_wl", billing.MeterImmigrationStatus: "mtr_is",
		billing.MeterDocumentRegistry: "mtr_doc", billing.MeterBorderMovements: "mtr_bm"} {
		if err := st.PutStripeMeter(ctx, billing.ModeLive, m, sid, now); err != nil {
			t.Fatal(err)
		}
	}
	yesterday := now.AddDate(0, 0, -1)
	var ids []string
	add := func(m billing.Meter, n int, sync bool, at time.Time) {
		for range n {
			r := f.record(a, billing.ModeLive, m, "sim", at)
			if sync {
				ids = append(ids, r.Usage.ID)
			}
		}
	}
	add(billing.MeterWatchlist, 3, true, yesterday)
	add(billing.MeterImmigrationStatus, 1, true, yesterday)
	add(billing.MeterImmigrationStatus, 1, false, yesterday)
	add(billing.MeterDocumentRegistry, 4, true, yesterday)
	add(billing.MeterWatchlist, 5, true, now) // today: outside the period
	if err := st.MarkSynced(ctx, ids, now); err != nil {
		t.Fatal(err)
	}
	from, to := billing.ReconcileTaskPeriod(now)
	runs, err := f.svc.ReconcileAll(ctx, from, to)
	if err != nil || len(runs) != 1 {
		t.Fatalf("reconcile: %+v %v", runs, err)
	}
	run := runs[0]
	if run.Compared != 4 || len(run.Differences) != 3 || len(fake.asked) != 4 {
		t.Fatalf("run: %+v asked %v", run, fake.asked)
	}
	kinds := map[billing.Meter]string{}
	for _, d := range run.Differences {
		kinds[d.Meter] = d.Kind()
	}
	want := map[billing.Meter]string{billing.MeterImmigrationStatus: "PENDING_SYNC", billing.MeterDocumentRegistry: "MISSING_IN_STRIPE",
		billing.MeterBorderMovements: "EXTRA_IN_STRIPE"}
	if fmt.Sprint(kinds) != fmt.Sprint(want) {
		t.Fatalf("kinds %v, want %v", kinds, want)
	}
	stored, err := f.svc.Reconciliations(ctx, 5)
	if err != nil || len(stored) != 2 || stored[0].ID != run.ID || len(stored[0].Differences) != 3 || stored[1].Error == "" {
		t.Fatalf("stored runs: %+v %v", stored, err)
	}
	for _, d := range stored[0].Differences {
		if d.Meter == billing.MeterDocumentRegistry && (d.Ledger != 4 || d.Synced != 4 || d.Stripe != 3 || d.StripeCustomerID != "cus_a") {
			t.Fatalf("document registry difference: %+v", d)
		}
	}
	if v := gauge(t, f.reg, "borderproof_billing_reconciliation_differences", "kind", "MISSING_IN_STRIPE"); v != 1 {
		t.Fatalf("differences metric: %v", v)
	}
}

func TestExportCSVToS3(t *testing.T) {
	endpoint := testenv.Require(t, testenv.S3EndpointVar)
	ctx := context.Background()
	s3, err := blob.NewS3(aws.Config{Region: "eu-west-1", Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")},
		blob.S3Config{Bucket: "borderproof-billing-test", Endpoint: endpoint, UsePathStyle: true}, discard())
	if err != nil {
		t.Fatal(err)
	}
	if err := s3.EnsureBucket(ctx); err != nil {
		t.Fatal(err)
	}
	st := sqliteStore(t)
	f := newFixture(t, st, withBlobs(s3))
	a := f.insurer(tenant.Live)
	other := f.insurer(tenant.Live)
	day := time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC)
	var want []billing.Usage
	for i := range 25 {
		want = append(want, f.record(a, billing.ModeLive, billing.BillableMeters()[i%4], "sim", day.Add(time.Duration(i)*time.Hour)).Usage)
	}
	f.record(a, billing.ModeTest, billing.MeterWatchlist, "sim", day)
	f.record(other, billing.ModeLive, billing.MeterWatchlist, "sim", day)
	f.record(a, billing.ModeLive, billing.MeterWatchlist, "sim", day.AddDate(0, 0, 5)) // after the period

	if _, err := f.svc.ExportUsage(ctx, billing.ExportInput{InsurerID: a, Mode: billing.ModeLive, From: day, To: day, Format: "XLSX"}); !errs.Is(err, errs.Invalid) {
		t.Fatalf("bad format: %v", err)
	}
	exp, err := f.svc.ExportUsage(ctx, billing.ExportInput{InsurerID: a, Mode: billing.ModeLive, From: day, To: day.AddDate(0, 0, 2),
		Format: "CSV", Actor: "key_test"})
	if err != nil {
		t.Fatal(err)
	}
	if exp.Rows != 25 || exp.URL == "" || !strings.HasPrefix(exp.Key, "exports/"+a+"/exp_") || exp.ExpiresAt.Sub(exp.CreatedAt) != 15*time.Minute {
		t.Fatalf("export: %+v", exp)
	}
	res, err := http.Get(exp.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK || int64(len(body)) != exp.Bytes {
		t.Fatalf("download: %d, %d bytes of %d", res.StatusCode, len(body), exp.Bytes)
	}
	recs, err := csv.NewReader(strings.NewReader(string(body))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(recs[0], billing.ExportColumns()) || len(recs) != 26 {
		t.Fatalf("header %v, %d records", recs[0], len(recs))
	}
	col := map[string]int{}
	for i, c := range recs[0] {
		col[c] = i
	}
	var sum int64
	for i, r := range recs[1:] {
		u := want[i]
		amt, _ := strconv.ParseInt(r[col["amount_minor"]], 10, 64)
		sum += amt
		at, err := time.Parse(time.RFC3339Nano, r[col["occurred_at"]])
		if r[col["usage_id"]] != u.ID || r[col["check_id"]] != u.CheckID || r[col["meter"]] != string(u.Meter) || amt != u.Amount.Minor ||
			r[col["currency"]] != "EUR" || r[col["mode"]] != "LIVE" || err != nil || !at.Equal(u.OccurredAt) || r[col["synced_at"]] != "" {
			t.Fatalf("row %d: %v", i, r)
		}
	}
	if _, spend, _ := st.BudgetState(ctx, a, day); sum != spend.Minor-25 { // less the row after the period
		t.Fatalf("export sums to %d, spend %d", sum, spend.Minor)
	}
	// Without blob storage exports are unavailable, not an internal error.
	if _, err := newFixture(t, st).svc.ExportUsage(ctx, billing.ExportInput{InsurerID: a, Mode: billing.ModeLive, From: day, To: day, Format: "CSV"}); !errs.Is(err, errs.Unavailable) {
		t.Fatalf("no blobs: %v", err)
	}
}

func TestInvoicePreview(t *testing.T) {
	upstream := testenv.Require(t, testenv.StripeURLVar)
	ctx := context.Background()
	st := sqliteStore(t)
	rec := newRecorder(t, upstream)
	f := newFixture(t, st, withStripe(stripeClient(t, rec.URL(), "sk_test_123", false), nil))
	a := f.insurer(tenant.Live)
	now := time.Now().UTC()
	f.record(a, billing.ModeLive, billing.MeterWatchlist, "sim", now)
	f.record(a, billing.ModeLive, billing.MeterWatchlist, "sim", now)

	p, err := f.svc.InvoicePreview(ctx, a, billing.ModeLive, now)
	if err != nil || !p.StripeConfigured || p.Stripe != nil || !strings.Contains(p.Note, "no Stripe customer") {
		t.Fatalf("without customer: %+v %v", p, err)
	}
	if err := st.SetStripeCustomer(ctx, a, billing.ModeLive, "cus_a", now); err != nil {
		t.Fatal(err)
	}
	p, err = f.svc.InvoicePreview(ctx, a, billing.ModeLive, now)
	if err != nil || p.Stripe == nil || p.Stripe.Currency == "" || len(p.LedgerTotal) != 1 || p.LedgerTotal[0].Amount.Minor != 50 ||
		len(p.Ledger) != 1 || p.Ledger[0].Meter != billing.MeterWatchlist {
		t.Fatalf("preview: %+v %v", p, err)
	}
	if reqs := rec.requestsTo(http.MethodPost, "/v1/invoices/create_preview"); len(reqs) != 1 || reqs[0].Form.Get("customer") != "cus_a" {
		t.Fatalf("preview requests: %+v", reqs)
	}
	// Sandbox usage has no Stripe here: the ledger only, flagged.
	p, err = f.svc.InvoicePreview(ctx, a, billing.ModeTest, now)
	if err != nil || p.StripeConfigured || p.Stripe != nil || p.Note == "" {
		t.Fatalf("ledger only: %+v %v", p, err)
	}
}

func TestSetupAndSyncCustomers(t *testing.T) {
	upstream := testenv.Require(t, testenv.StripeURLVar)
	ctx := context.Background()
	st := sqliteStore(t)
	if _, err := newFixture(t, st).svc.Setup(ctx); !errs.Is(err, errs.FailedPrecondition) {
		t.Fatalf("setup without Stripe: %v", err)
	}
	rec := newRecorder(t, upstream)
	f := newFixture(t, st, withStripe(stripeClient(t, rec.URL(), "sk_test_123", false), nil))
	lines, err := f.svc.Setup(ctx)
	if err != nil || len(lines) != 4 {
		t.Fatalf("setup: %+v %v", lines, err)
	}
	created := rec.requestsTo(http.MethodPost, "/v1/billing/meters")
	var names []string
	for _, r := range created {
		names = append(names, r.Form.Get("event_name"))
		if r.Form.Get("default_aggregation[formula]") != "sum" || r.Form.Get("customer_mapping[event_payload_key]") != "stripe_customer_id" ||
			r.Form.Get("value_settings[event_payload_key]") != "value" {
			t.Fatalf("meter params: %v", r.Form)
		}
	}
	slices.Sort(names)
	if fmt.Sprint(names) != "[border_movement_checks document_registry_checks immigration_status_checks watchlist_screenings]" {
		t.Fatalf("meters created: %v", names)
	}
	if m, _ := st.StripeMeters(ctx, billing.ModeLive); len(m) != 4 {
		t.Fatalf("meters recorded: %v", m)
	}

	live := f.insurer(tenant.Live)
	sandboxOnly := f.insurer(tenant.Test)
	ins := []tenant.Insurer{{ID: live, Name: "Acme Mutual", Mode: tenant.Live}, {ID: sandboxOnly, Name: "Sandbox Re", Mode: tenant.Test}}
	cl, err := f.svc.SyncCustomers(ctx, ins)
	if err != nil || len(cl) != 1 || cl[0].InsurerID != live || !cl[0].Created || cl[0].CustomerID == "" {
		t.Fatalf("sync customers: %+v %v", cl, err)
	}
	reqs := rec.requestsTo(http.MethodPost, "/v1/customers")
	if len(reqs) != 1 || reqs[0].IdempotencyKey != live || reqs[0].Form.Get("metadata[insurer_id]") != live || reqs[0].Form.Get("name") != "Acme Mutual" {
		t.Fatalf("customer request: %+v", reqs)
	}
	// Again: the recorded customer is kept, nothing is created.
	cl, err = f.svc.SyncCustomers(ctx, ins)
	if err != nil || len(cl) != 1 || cl[0].Created || len(rec.requestsTo(http.MethodPost, "/v1/customers")) != 1 {
		t.Fatalf("second sync: %+v %v", cl, err)
	}
}

// BenchmarkSyncStripeMock measures meter events per second sent to
// stripe-mock (no proxy), database work included.
func BenchmarkSyncStripeMock(b *testing.B) {
	upstream := testenv.Require(b, testenv.StripeURLVar)
	ctx := context.Background()
	st := sqliteStore(b)
	reg := prometheus.NewRegistry()
	m, _ := billing.NewMetrics(reg)
	svc := billing.New(billing.Config{Sync: billing.SyncConfig{BatchSize: 500, Concurrency: 16, RatePerSecond: 1e6, MaxPerRun: 1 << 30}},
		billing.Deps{Store: st, Metrics: m, Logger: discard(), Stripe: billing.Stripes{Live: stripeClient(b, upstream, "sk_test_123", false)}})
	f := &fixture{t: b, st: st, svc: svc}
	a := f.insurer(tenant.Live)
	if err := st.SetStripeCustomer(ctx, a, billing.ModeLive, "cus_a", time.Now()); err != nil {
		b.Fatal(err)
	}
	now := time.Now().UTC()
	for i := range b.N {
		f.record(a, billing.ModeLive, billing.MeterWatchlist, "sim", now.Add(-time.Duration(i)*time.Millisecond))
	}
	b.ResetTimer()
	start := time.Now()
	runs, err := svc.Sync(ctx)
	if err != nil || runs[0].Accepted != b.N {
		b.Fatalf("%+v %v", runs, err)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
}
