package store_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/borderproof/borderproof/internal/billing"
	"github.com/borderproof/borderproof/internal/errs"
	"github.com/borderproof/borderproof/internal/id"
	"github.com/borderproof/borderproof/internal/store"
	"github.com/borderproof/borderproof/internal/store/storetest"
	"github.com/borderproof/borderproof/internal/tenant"
)

func billInsurer(t *testing.T, s *store.Store, mode tenant.Mode) string {
	t.Helper()
	ins := tenant.Insurer{ID: id.New(id.Insurer), Name: "Acme Mutual", Country: "FRA", Region: "EU", Mode: mode,
		RetentionDays: 365, CreatedAt: time.Now().UTC().Truncate(time.Microsecond)}
	if err := s.CreateInsurer(context.Background(), ins); err != nil {
		t.Fatal(err)
	}
	return ins.ID
}

func billUsage(insurerID, mode string, m billing.Meter, at time.Time) billing.Usage {
	return billing.Usage{ID: id.NewAt(id.Usage, at), InsurerID: insurerID, Mode: mode, Meter: m, Quantity: 1,
		Partner: "visastatus-sim", PartnerCost: billing.Money{Minor: 45, Currency: "EUR"},
		VerificationID: id.New(id.Verification), CheckID: id.New(id.Check), OccurredAt: at}
}

// billTestPlan prices immigration status 100 for units 1–2, 50 for 3–4, 10
// after; watchlist 7 flat.
func billTestPlan(planID string) billing.Plan {
	return billing.Plan{ID: planID, Name: "Test", Currency: "EUR", Prices: []billing.Price{
		{Meter: billing.MeterImmigrationStatus, Tiers: []billing.Tier{{UpTo: 2, UnitMinor: 100}, {UpTo: 4, UnitMinor: 50}, {UnitMinor: 10}}},
		{Meter: billing.MeterWatchlist, Tiers: []billing.Tier{{UnitMinor: 7}}},
	}}
}

func billCountRows(t *testing.T, s *store.Store, query string, args ...any) int {
	t.Helper()
	var n int
	q := query
	if s.Dialect() == store.SQLite {
		for i := len(args); i >= 1; i-- {
			q = strings.ReplaceAll(q, fmt.Sprintf("$%d", i), fmt.Sprintf("?%d", i))
		}
	}
	if err := s.DB().QueryRow(q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// TestBillingLedgerContract is the ledger part of billing.Store: pricing at
// tier edges, rollups, duplicates, tenancy.
func TestBillingLedgerContract(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		a := billInsurer(t, s, tenant.Live)
		b := billInsurer(t, s, tenant.Live)

		// The seeded default plan.
		std, err := s.Plan(ctx, "standard")
		if err != nil || !std.Default || std.Currency != "EUR" || len(std.Prices) != 4 || len(std.Prices[0].Tiers) != 3 || std.Prices[0].Tiers[2].UpTo != 0 {
			t.Fatalf("standard plan: %+v %v", std, err)
		}
		if acc, err := s.Account(ctx, a); err != nil || acc.PlanID != "standard" || !acc.CreatedAt.IsZero() {
			t.Fatalf("default account: %+v %v", acc, err)
		}
		if _, err := s.Plan(ctx, "nope"); !errs.Is(err, errs.NotFound) {
			t.Fatalf("missing plan: %v", err)
		}
		now := time.Now().UTC()
		if err := s.PutPlan(ctx, billTestPlan("t-plan"), now); err != nil {
			t.Fatal(err)
		}
		if err := s.SetPlan(ctx, a, "t-plan", now); err != nil {
			t.Fatal(err)
		}
		if err := s.SetPlan(ctx, a, "missing-plan", now); !errs.Is(err, errs.NotFound) {
			t.Fatalf("unknown plan: %v", err)
		}
		if err := s.SetPlan(ctx, "ins_missing", "t-plan", now); !errs.Is(err, errs.NotFound) {
			t.Fatalf("unknown insurer: %v", err)
		}

		day1 := time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC)
		day2 := time.Date(2026, 11, 4, 9, 0, 0, 0, time.UTC)
		want := []int64{100, 100, 50, 50, 10, 10}
		var first billing.Usage
		for i, w := range want {
			at := day1
			if i >= 3 {
				at = day2
			}
			u := billUsage(a, billing.ModeLive, billing.MeterImmigrationStatus, at.Add(time.Duration(i)*time.Minute))
			if i == 0 {
				first = u
			}
			r, err := s.RecordUsage(ctx, u)
			if err != nil {
				t.Fatal(err)
			}
			if r.Duplicate || r.Usage.Amount != (billing.Money{Minor: w, Currency: "EUR"}) || r.Usage.PlanID != "t-plan" {
				t.Fatalf("unit %d: %+v, want %d", i+1, r, w)
			}
		}
		// The same check again changes nothing.
		dup := first
		dup.ID = id.New(id.Usage)
		if r, err := s.RecordUsage(ctx, dup); err != nil || !r.Duplicate {
			t.Fatalf("duplicate: %+v %v", r, err)
		}
		// Insurer b is on the standard plan: 130 per status check.
		if r, err := s.RecordUsage(ctx, billUsage(b, billing.ModeLive, billing.MeterImmigrationStatus, day1)); err != nil || r.Usage.Amount.Minor != 130 {
			t.Fatalf("standard price: %+v %v", r, err)
		}
		// Sandbox usage is counted apart: it starts its own tiers.
		if r, err := s.RecordUsage(ctx, billUsage(a, billing.ModeTest, billing.MeterImmigrationStatus, day1)); err != nil || r.Usage.Amount.Minor != 100 {
			t.Fatalf("test mode price: %+v %v", r, err)
		}
		// A meter the plan does not price costs nothing.
		if r, err := s.RecordUsage(ctx, billUsage(a, billing.ModeLive, billing.MeterBorderMovements, day1.Add(30*time.Minute))); err != nil || r.Usage.Amount.Minor != 0 {
			t.Fatalf("unpriced meter: %+v %v", r, err)
		}

		rows, err := s.UsageDaily(ctx, a, billing.ModeLive, billing.DayStart(day1), billing.DayStart(day2).AddDate(0, 0, 1))
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range rows {
			got = append(got, fmt.Sprintf("%s %s %d %d %d", r.Day.Format("01-02"), r.Meter, r.Quantity, r.Amount.Minor, r.PartnerCost.Minor))
		}
		wantRows := []string{
			"11-03 border_movement_checks 1 0 45",
			"11-03 immigration_status_checks 3 250 135",
			"11-04 immigration_status_checks 3 70 135",
		}
		if fmt.Sprint(got) != fmt.Sprint(wantRows) {
			t.Fatalf("daily rollup:\n got %q\nwant %q", got, wantRows)
		}
		all, err := s.UsageDaily(ctx, "", billing.ModeLive, billing.DayStart(day1), billing.DayStart(day2).AddDate(0, 0, 1))
		if err != nil || len(all) != 4 {
			t.Fatalf("all insurers: %d %v", len(all), err)
		}
		// Tenancy: b sees its own row only.
		if rows, _ := s.UsageDaily(ctx, b, billing.ModeLive, billing.DayStart(day1), billing.DayStart(day2).AddDate(0, 0, 1)); len(rows) != 1 || rows[0].InsurerID != b {
			t.Fatalf("b's rollup: %+v", rows)
		}
		_, spend, err := s.BudgetState(ctx, a, day1)
		if err != nil || spend.Minor != 320 || spend.Currency != "EUR" {
			t.Fatalf("spend: %+v %v", spend, err)
		}

		var streamed []billing.Usage
		if err := s.UsageRows(ctx, a, billing.ModeLive, day1, day2.AddDate(0, 0, 1), func(u billing.Usage) error {
			streamed = append(streamed, u)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if len(streamed) != 7 || streamed[0].ID != first.ID || streamed[0].Amount.Minor != 100 || streamed[0].PlanID != "t-plan" ||
			!streamed[0].OccurredAt.Equal(first.OccurredAt) || streamed[0].CheckID != first.CheckID {
			t.Fatalf("streamed rows: %d %+v", len(streamed), streamed[0])
		}
		for i := 1; i < len(streamed); i++ {
			if streamed[i].OccurredAt.Before(streamed[i-1].OccurredAt) {
				t.Fatal("rows not oldest first")
			}
		}
		if err := s.MarkSynced(ctx, []string{streamed[0].ID, streamed[1].ID}, time.Now()); err != nil {
			t.Fatal(err)
		}
		totals, err := s.LedgerTotals(ctx, a, billing.ModeLive, day1, day2.AddDate(0, 0, 1))
		if err != nil || len(totals) != 2 || totals[1].Meter != billing.MeterImmigrationStatus || totals[1].Quantity != 6 || totals[1].Synced != 2 {
			t.Fatalf("ledger totals: %+v %v", totals, err)
		}
	})
}

// TestBillingConcurrentRecording: concurrent recorders of one insurer and
// meter each get their own tier position, so the month's amount is the
// graduated total exactly.
func TestBillingConcurrentRecording(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		a := billInsurer(t, s, tenant.Live)
		now := time.Now().UTC()
		if err := s.PutPlan(ctx, billTestPlan("t-plan"), now); err != nil {
			t.Fatal(err)
		}
		if err := s.SetPlan(ctx, a, "t-plan", now); err != nil {
			t.Fatal(err)
		}
		const n = 12
		var wg sync.WaitGroup
		errc := make(chan error, n)
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := s.RecordUsage(ctx, billUsage(a, billing.ModeLive, billing.MeterImmigrationStatus, now))
				errc <- err
			}()
		}
		wg.Wait()
		close(errc)
		for err := range errc {
			if err != nil {
				t.Fatal(err)
			}
		}
		price, _ := billTestPlan("t-plan").Price(billing.MeterImmigrationStatus)
		_, spend, err := s.BudgetState(ctx, a, now)
		if err != nil || spend.Minor != price.Total(n) {
			t.Fatalf("spend %d, want %d (%v)", spend.Minor, price.Total(n), err)
		}
		var sum int64
		_ = s.UsageRows(ctx, a, billing.ModeLive, now.Add(-time.Hour), now.Add(time.Hour), func(u billing.Usage) error {
			sum += u.Amount.Minor
			return nil
		})
		if sum != price.Total(n) {
			t.Fatalf("row amounts add up to %d, want %d", sum, price.Total(n))
		}
	})
}

// TestBillingBudgetContract: notices and outbox events once per threshold
// and month, live usage only.
func TestBillingBudgetContract(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		a := billInsurer(t, s, tenant.Live)
		now := time.Date(2026, 11, 10, 12, 0, 0, 0, time.UTC)
		flat := billing.Plan{ID: "flat", Name: "Flat", Currency: "EUR", Prices: []billing.Price{
			{Meter: billing.MeterWatchlist, Tiers: []billing.Tier{{UnitMinor: 100}}}}}
		if err := s.PutPlan(ctx, flat, now); err != nil {
			t.Fatal(err)
		}
		if err := s.SetPlan(ctx, a, "flat", now); err != nil {
			t.Fatal(err)
		}
		acc, err := s.SetBudget(ctx, a, billing.Budget{CapMinor: 1000, Currency: "EUR", Hard: true}, now)
		if err != nil || acc.Budget != (billing.Budget{CapMinor: 1000, Currency: "EUR", Hard: true}) || acc.PlanID != "flat" {
			t.Fatalf("set budget: %+v %v", acc, err)
		}
		if _, err := s.SetBudget(ctx, "ins_missing", billing.Budget{CapMinor: 1}, now); !errs.Is(err, errs.NotFound) {
			t.Fatalf("budget of unknown insurer: %v", err)
		}
		events := func() int {
			return billCountRows(t, s, `SELECT COUNT(*) FROM outbox_events WHERE insurer_id = $1 AND type = 'usage.budget_threshold'`, a)
		}
		// Sandbox usage never counts.
		for range 12 {
			if _, err := s.RecordUsage(ctx, billUsage(a, billing.ModeTest, billing.MeterWatchlist, now)); err != nil {
				t.Fatal(err)
			}
		}
		if events() != 0 {
			t.Fatal("sandbox usage emitted a budget event")
		}
		wantEvents := map[int]int{7: 0, 8: 1, 9: 1, 10: 2, 11: 2, 12: 2}
		var eventIDs []string
		for i := 1; i <= 12; i++ {
			r, err := s.RecordUsage(ctx, billUsage(a, billing.ModeLive, billing.MeterWatchlist, now))
			if err != nil {
				t.Fatal(err)
			}
			eventIDs = append(eventIDs, r.EventIDs...)
			if w, ok := wantEvents[i]; ok && events() != w {
				t.Fatalf("after %d units: %d events, want %d", i, events(), w)
			}
		}
		if len(eventIDs) != 2 {
			t.Fatalf("event ids returned: %v", eventIDs)
		}
		notices, err := s.BudgetNotices(ctx, a, now)
		if err != nil || len(notices) != 2 || notices[0].Threshold != 80 || notices[0].Spend.Minor != 800 || notices[1].Threshold != 100 ||
			notices[1].Spend.Minor != 1000 || notices[0].EventID != eventIDs[0] {
			t.Fatalf("notices: %+v %v", notices, err)
		}
		b, spend, err := s.BudgetState(ctx, a, now)
		if err != nil || spend.Minor != 1200 || !b.Hard || b.CapMinor != 1000 {
			t.Fatalf("budget state: %+v %+v %v", b, spend, err)
		}
		// Next month starts afresh.
		next := now.AddDate(0, 1, 0)
		for range 8 {
			if _, err := s.RecordUsage(ctx, billUsage(a, billing.ModeLive, billing.MeterWatchlist, next)); err != nil {
				t.Fatal(err)
			}
		}
		if events() != 3 {
			t.Fatalf("next month's 80%%: %d events", events())
		}
		// Removing the cap.
		acc, err = s.SetBudget(ctx, a, billing.Budget{}, now)
		if err != nil || acc.Budget.Set() {
			t.Fatalf("remove budget: %+v %v", acc, err)
		}
	})
}

// TestBillingSyncContract: leases, customers, marking, issues, runs,
// meters, reconciliation records and exports.
func TestBillingSyncContract(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		a := billInsurer(t, s, tenant.Live)
		b := billInsurer(t, s, tenant.Live)
		now := time.Now().UTC().Truncate(time.Microsecond)
		for i := range 5 {
			if _, err := s.RecordUsage(ctx, billUsage(a, billing.ModeLive, billing.MeterWatchlist, now.Add(-time.Duration(5-i)*time.Minute))); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.RecordUsage(ctx, billUsage(b, billing.ModeLive, billing.MeterWatchlist, now)); err != nil {
			t.Fatal(err)
		}
		if _, err := s.RecordUsage(ctx, billUsage(a, billing.ModeTest, billing.MeterWatchlist, now)); err != nil {
			t.Fatal(err)
		}
		// No customer yet: nothing to claim.
		if p, err := s.ClaimUnsynced(ctx, billing.ModeLive, now, now.Add(time.Minute), 10); err != nil || len(p) != 0 {
			t.Fatalf("claim without customer: %+v %v", p, err)
		}
		if n, err := s.CountUnsyncedWithoutCustomer(ctx, billing.ModeLive); err != nil || n != 6 {
			t.Fatalf("without customer: %d %v", n, err)
		}
		if err := s.SetStripeCustomer(ctx, a, billing.ModeLive, "cus_live_a", now); err != nil {
			t.Fatal(err)
		}
		if err := s.SetStripeCustomer(ctx, a, billing.ModeTest, "cus_test_a", now); err != nil {
			t.Fatal(err)
		}
		acc, err := s.Account(ctx, a)
		if err != nil || acc.StripeCustomerID != "cus_live_a" || acc.StripeTestCustomerID != "cus_test_a" || acc.PlanID != "standard" {
			t.Fatalf("account: %+v %v", acc, err)
		}
		p1, err := s.ClaimUnsynced(ctx, billing.ModeLive, now, now.Add(time.Minute), 3)
		if err != nil || len(p1) != 3 || p1[0].StripeCustomerID != "cus_live_a" || p1[0].Usage.InsurerID != a {
			t.Fatalf("first claim: %+v %v", p1, err)
		}
		for i := 1; i < len(p1); i++ {
			if p1[i].Usage.OccurredAt.Before(p1[i-1].Usage.OccurredAt) {
				t.Fatal("claimed rows not oldest first")
			}
		}
		// Leased rows are not claimed again until the lease ends.
		p2, err := s.ClaimUnsynced(ctx, billing.ModeLive, now, now.Add(time.Minute), 10)
		if err != nil || len(p2) != 2 {
			t.Fatalf("second claim: %d %v", len(p2), err)
		}
		for _, p := range p2 {
			for _, q := range p1 {
				if p.Usage.ID == q.Usage.ID {
					t.Fatal("row claimed twice")
				}
			}
		}
		if err := s.MarkSynced(ctx, []string{p1[0].Usage.ID, p1[1].Usage.ID}, now); err != nil {
			t.Fatal(err)
		}
		if err := s.ReleaseClaims(ctx, []string{p1[2].Usage.ID}); err != nil {
			t.Fatal(err)
		}
		p3, err := s.ClaimUnsynced(ctx, billing.ModeLive, now, now.Add(time.Minute), 10)
		if err != nil || len(p3) != 1 || p3[0].Usage.ID != p1[2].Usage.ID {
			t.Fatalf("claim after release: %+v %v", p3, err)
		}
		// An expired lease is claimable again.
		later := now.Add(2 * time.Minute)
		p4, err := s.ClaimUnsynced(ctx, billing.ModeLive, later, later.Add(time.Minute), 10)
		if err != nil || len(p4) != 3 {
			t.Fatalf("claim after lease expiry: %d %v", len(p4), err)
		}
		// A too-old row is never claimed again.
		issue := billing.SyncIssue{UsageID: p4[0].Usage.ID, InsurerID: a, Mode: billing.ModeLive, Meter: billing.MeterWatchlist, Quantity: 1,
			Kind: billing.IssueTooOld, Detail: "too old", OccurredAt: p4[0].Usage.OccurredAt, RecordedAt: later}
		rej := issue
		rej.UsageID, rej.Kind = p4[1].Usage.ID, billing.IssueRejected
		if err := s.RecordSyncIssues(ctx, []billing.SyncIssue{issue, rej}); err != nil {
			t.Fatal(err)
		}
		if err := s.RecordSyncIssues(ctx, []billing.SyncIssue{rej}); err != nil {
			t.Fatalf("issue recorded twice: %v", err)
		}
		muchLater := later.Add(time.Hour)
		p5, err := s.ClaimUnsynced(ctx, billing.ModeLive, muchLater, muchLater.Add(time.Minute), 10)
		if err != nil || len(p5) != 2 {
			t.Fatalf("claim after too-old: %d %v", len(p5), err)
		}
		issues, err := s.SyncIssues(ctx, 10)
		if err != nil || len(issues) != 2 {
			t.Fatalf("issues: %+v %v", issues, err)
		}
		if n, _ := s.CountUnsyncedWithoutCustomer(ctx, billing.ModeLive); n != 1 {
			t.Fatalf("without customer after setting a's: %d", n)
		}
		pt, err := s.ClaimUnsynced(ctx, billing.ModeTest, now, now.Add(time.Minute), 10)
		if err != nil || len(pt) != 1 || pt[0].StripeCustomerID != "cus_test_a" || pt[0].Usage.Mode != billing.ModeTest {
			t.Fatalf("test claim: %+v %v", pt, err)
		}
		if err := s.SaveSyncRun(ctx, billing.SyncRun{ID: id.New("bsr"), Mode: billing.ModeLive, StartedAt: now, FinishedAt: now, Claimed: 3, Accepted: 2, Failed: 1}); err != nil {
			t.Fatal(err)
		}

		if err := s.PutStripeMeter(ctx, billing.ModeLive, billing.MeterWatchlist, "mtr_1", now); err != nil {
			t.Fatal(err)
		}
		if err := s.PutStripeMeter(ctx, billing.ModeLive, billing.MeterWatchlist, "mtr_2", now); err != nil {
			t.Fatal(err)
		}
		if m, err := s.StripeMeters(ctx, billing.ModeLive); err != nil || len(m) != 1 || m[billing.MeterWatchlist] != "mtr_2" {
			t.Fatalf("meters: %v %v", m, err)
		}
		if m, _ := s.StripeMeters(ctx, billing.ModeTest); len(m) != 0 {
			t.Fatalf("test meters: %v", m)
		}

		run := billing.ReconciliationRun{ID: id.New("rec"), Mode: billing.ModeLive, From: now.Add(-24 * time.Hour), To: now,
			StartedAt: now, FinishedAt: now, Compared: 8,
			Differences: []billing.Difference{{InsurerID: a, Meter: billing.MeterWatchlist, StripeCustomerID: "cus_live_a", Ledger: 5, Synced: 2, Stripe: 1}}}
		if err := s.SaveReconciliation(ctx, run); err != nil {
			t.Fatal(err)
		}
		runs, err := s.Reconciliations(ctx, 5)
		if err != nil || len(runs) != 1 || runs[0].Compared != 8 || len(runs[0].Differences) != 1 || runs[0].Differences[0] != run.Differences[0] ||
			!runs[0].From.Equal(run.From) {
			t.Fatalf("reconciliations: %+v %v", runs, err)
		}
		if err := s.SaveExport(ctx, billing.Export{ID: id.New(id.Export), InsurerID: a, Mode: billing.ModeLive, From: now, To: now,
			Format: "CSV", Key: "exports/x.csv", Rows: 1, Bytes: 10, CreatedBy: "key_1", CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
	})
}

// BenchmarkUsageQuery1M loads 1,000,000 usage rows (23 insurers, 90 days,
// 4 meters, 5 partners, 10% sandbox) into PostgreSQL with generate_series,
// builds the daily rollup from them the way recordUsage maintains it, logs
// the plans of the usage query (the rollup) and of the same aggregate
// straight over usage_events through its (insurer_id, mode, occurred_at)
// index, and times both for one insurer and 30 days. Run with
//
//	go test ./internal/store -run '^$' -bench UsageQuery1M -benchtime 200x
func BenchmarkUsageQuery1M(b *testing.B) {
	s := storetest.Open(b, store.Postgres)
	db := s.DB()
	const day = int64(86_400_000_000)
	start := billing.DayStart(time.Date(2026, 8, 1, 0, 0, 0, 0, time.UTC)).UnixMicro()
	for _, q := range []string{
		`INSERT INTO usage_events (id, insurer_id, mode, meter, quantity, partner, partner_cost_minor, partner_cost_currency,
			verification_id, check_id, occurred_at, amount_minor, currency, plan_id, synced_at)
		SELECT 'use_' || g, 'ins_' || (g % 23), CASE WHEN g % 10 = 0 THEN 'TEST' ELSE 'LIVE' END,
			(ARRAY['document_registry_checks','immigration_status_checks','border_movement_checks','watchlist_screenings'])[1 + g % 4],
			1, 'partner-' || (g % 5), 10, 'EUR', 'ver_' || g, 'chk_' || g,
			` + fmt.Sprint(start) + ` + g::bigint * 7776000, 25, 'EUR', 'standard', ` + fmt.Sprint(start) + ` + g::bigint * 7776000
		FROM generate_series(1, 1000000) g`,
		`INSERT INTO usage_daily (insurer_id, mode, day, meter, partner, quantity, amount_minor, currency, partner_cost_minor, partner_cost_currency)
		SELECT insurer_id, mode, (occurred_at / ` + fmt.Sprint(day) + `) * ` + fmt.Sprint(day) + `, meter, partner,
			SUM(quantity), SUM(amount_minor), 'EUR', SUM(partner_cost_minor), 'EUR'
		FROM usage_events GROUP BY 1, 2, 3, 4, 5`,
		`ANALYZE usage_events`,
		`ANALYZE usage_daily`,
	} {
		if _, err := db.Exec(q); err != nil {
			b.Fatalf("%s: %v", q[:40], err)
		}
	}
	var rows, daily int
	_ = db.QueryRow(`SELECT COUNT(*) FROM usage_events`).Scan(&rows)
	_ = db.QueryRow(`SELECT COUNT(*) FROM usage_daily`).Scan(&daily)
	b.Logf("usage_events: %d rows; usage_daily: %d rows", rows, daily)

	ctx := context.Background()
	from := start + 30*day
	to := from + 30*day
	rollup := `SELECT insurer_id, mode, day, meter, partner, quantity, amount_minor, currency, partner_cost_minor, partner_cost_currency
		FROM usage_daily WHERE insurer_id = $1 AND mode = $2 AND day >= $3 AND day < $4 ORDER BY day, meter, partner`
	direct := `SELECT occurred_at / 86400000000 AS d, meter, partner, SUM(quantity), SUM(amount_minor)
		FROM usage_events WHERE insurer_id = $1 AND mode = $2 AND occurred_at >= $3 AND occurred_at < $4 GROUP BY 1, 2, 3`
	for name, q := range map[string]string{"rollup": rollup, "direct": direct} {
		r, err := db.Query(`EXPLAIN (ANALYZE, BUFFERS) `+q, "ins_7", "LIVE", from, to)
		if err != nil {
			b.Fatal(err)
		}
		var plan []string
		for r.Next() {
			var line string
			_ = r.Scan(&line)
			plan = append(plan, line)
		}
		r.Close()
		b.Logf("%s plan:\n%s", name, strings.Join(plan, "\n"))
	}
	b.Run("rollup", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.UsageDaily(ctx, "ins_7", "LIVE", time.UnixMicro(from), time.UnixMicro(to)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("direct", func(b *testing.B) {
		for b.Loop() {
			r, err := db.QueryContext(ctx, direct, "ins_7", "LIVE", from, to)
			if err != nil {
				b.Fatal(err)
			}
			for r.Next() {
			}
			r.Close()
		}
	})
}

// billInsertUnpriced writes a usage row the way the check pipeline does:
// without a price, left to RollUpUsage.
func billInsertUnpriced(t *testing.T, s *store.Store, u billing.Usage) {
	t.Helper()
	q := `INSERT INTO usage_events (id, insurer_id, mode, meter, quantity, partner, partner_cost_minor,
		partner_cost_currency, verification_id, check_id, occurred_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`
	if s.Dialect() == store.SQLite {
		for i := 11; i >= 1; i-- {
			q = strings.ReplaceAll(q, fmt.Sprintf("$%d", i), fmt.Sprintf("?%d", i))
		}
	}
	if _, err := s.DB().Exec(q, u.ID, u.InsurerID, u.Mode, string(u.Meter), u.Quantity, u.Partner, u.PartnerCost.Minor,
		u.PartnerCost.Currency, u.VerificationID, u.CheckID, u.OccurredAt.UnixMicro()); err != nil {
		t.Fatal(err)
	}
}

// TestBillingRollUpContract: rows written unpriced are priced by
// RollUpUsage exactly as RecordUsage prices them (tier positions in time
// order, rollups, spend, budget events once), batch by batch, and rolling
// up concurrently prices every row once.
func TestBillingRollUpContract(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		a := billInsurer(t, s, tenant.Live)
		now := time.Now().UTC()
		if err := s.PutPlan(ctx, billTestPlan("t-plan"), now); err != nil {
			t.Fatal(err)
		}
		if err := s.SetPlan(ctx, a, "t-plan", now); err != nil {
			t.Fatal(err)
		}
		if _, err := s.SetBudget(ctx, a, billing.Budget{CapMinor: 300, Currency: "EUR"}, now); err != nil {
			t.Fatal(err)
		}
		if n, err := s.RollUpUsage(ctx, 10); err != nil || n != 0 {
			t.Fatalf("nothing to price: %d %v", n, err)
		}
		day := time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC)
		// Written out of time order: tiers follow occurred_at.
		for _, i := range []int{4, 0, 3, 1, 2} {
			billInsertUnpriced(t, s, billUsage(a, billing.ModeLive, billing.MeterImmigrationStatus, day.Add(time.Duration(i)*time.Minute)))
		}
		billInsertUnpriced(t, s, billUsage(a, billing.ModeTest, billing.MeterImmigrationStatus, day))
		if n := billCountRows(t, s, `SELECT COUNT(*) FROM usage_events WHERE priced_at IS NULL`); n != 6 {
			t.Fatalf("unpriced rows = %d", n)
		}
		if n, err := s.RollUpUsage(ctx, 2); err != nil || n != 2 {
			t.Fatalf("first batch: %d %v", n, err)
		}
		if n, err := s.RollUpUsage(ctx, 500); err != nil || n != 4 {
			t.Fatalf("second batch: %d %v", n, err)
		}
		if n, err := s.RollUpUsage(ctx, 500); err != nil || n != 0 {
			t.Fatalf("nothing left: %d %v", n, err)
		}

		var got []string
		err := s.UsageRows(ctx, a, billing.ModeLive, day, day.Add(time.Hour), func(u billing.Usage) error {
			got = append(got, fmt.Sprintf("%s %d %s", u.OccurredAt.Format("15:04"), u.Amount.Minor, u.PlanID))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"10:00 100 t-plan", "10:01 100 t-plan", "10:02 50 t-plan", "10:03 50 t-plan", "10:04 10 t-plan"}
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Fatalf("priced rows:\n got %q\nwant %q", got, want)
		}
		if n := billCountRows(t, s, `SELECT COUNT(*) FROM usage_events WHERE mode = $1 AND amount_minor = 100 AND priced_at IS NOT NULL`, billing.ModeTest); n != 1 {
			t.Fatalf("sandbox row priced on its own tiers: %d", n)
		}
		daily, err := s.UsageDaily(ctx, a, billing.ModeLive, billing.DayStart(day), billing.DayStart(day).AddDate(0, 0, 1))
		if err != nil || len(daily) != 1 || daily[0].Quantity != 5 || daily[0].Amount.Minor != 310 || daily[0].PartnerCost.Minor != 5*45 {
			t.Fatalf("daily rollup: %+v %v", daily, err)
		}
		if _, spend, err := s.BudgetState(ctx, a, day); err != nil || spend.Minor != 310 {
			t.Fatalf("spend: %+v %v", spend, err)
		}
		// 80% (240) and 100% (300) were crossed in the second batch: one
		// notice and one event each.
		notices, err := s.BudgetNotices(ctx, a, day)
		if err != nil || len(notices) != 2 {
			t.Fatalf("notices: %+v %v", notices, err)
		}
		if n := billCountRows(t, s, `SELECT COUNT(*) FROM outbox_events WHERE type = 'usage.budget_threshold' AND insurer_id = $1`, a); n != 2 {
			t.Fatalf("budget events = %d", n)
		}

		// Four pricers at once over 40 more rows: each row priced once, the
		// running total counts each unit once.
		for i := range 40 {
			billInsertUnpriced(t, s, billUsage(a, billing.ModeLive, billing.MeterImmigrationStatus, day.Add(time.Hour+time.Duration(i)*time.Second)))
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		priced := 0
		for range 4 {
			wg.Go(func() {
				for {
					n, err := s.RollUpUsage(ctx, 3)
					mu.Lock()
					priced += n
					mu.Unlock()
					if err != nil {
						t.Error(err)
						return
					}
					if n == 0 {
						return
					}
				}
			})
		}
		wg.Wait()
		if priced != 40 {
			t.Fatalf("priced %d rows, want 40", priced)
		}
		if n := billCountRows(t, s, `SELECT COUNT(*) FROM usage_events WHERE priced_at IS NULL`); n != 0 {
			t.Fatalf("%d rows left unpriced", n)
		}
		// Units 6..45 are all in the last tier: 40 × 10.
		if n := billCountRows(t, s, `SELECT COALESCE(SUM(amount_minor), 0) FROM usage_events WHERE insurer_id = $1 AND mode = $2`, a, billing.ModeLive); n != 310+400 {
			t.Fatalf("ledger total %d, want 710", n)
		}
		if n := billCountRows(t, s, `SELECT quantity FROM usage_monthly WHERE insurer_id = $1 AND mode = $2`, a, billing.ModeLive); n != 45 {
			t.Fatalf("monthly quantity %d, want 45", n)
		}
		if n := billCountRows(t, s, `SELECT COUNT(*) FROM outbox_events WHERE type = 'usage.budget_threshold' AND insurer_id = $1`, a); n != 2 {
			t.Fatalf("budget events after more spend = %d, want still 2", n)
		}
	})
}
