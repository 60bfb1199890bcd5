package billing

import (
	"testing"
	"time"

	"github.com/borderproof/borderproof/internal/errs"
	"github.com/borderproof/borderproof/internal/partner"
	"github.com/borderproof/borderproof/internal/risk"
)

// The standard plan's immigration status price: 130 up to 1,000 units a
// month, 110 up to 10,000, 90 after.
var status = Price{Meter: MeterImmigrationStatus, Tiers: []Tier{{UpTo: 1000, UnitMinor: 130}, {UpTo: 10000, UnitMinor: 110}, {UnitMinor: 90}}}

func TestPriceTotalAtTierEdges(t *testing.T) {
	for _, tc := range []struct {
		n    int64
		want int64
	}{
		{-1, 0},
		{0, 0},
		{1, 130},
		{999, 999 * 130},
		{1000, 130_000},
		{1001, 130_000 + 110},
		{9999, 130_000 + 8999*110},
		{10000, 130_000 + 9000*110},
		{10001, 130_000 + 990_000 + 90},
		{1_000_000, 130_000 + 990_000 + 990_000*90},
	} {
		if got := status.Total(tc.n); got != tc.want {
			t.Errorf("Total(%d) = %d, want %d", tc.n, got, tc.want)
		}
	}
	flat := Price{Tiers: []Tier{{UnitMinor: 25}}}
	if got := flat.Total(40); got != 1000 {
		t.Errorf("flat Total(40) = %d", got)
	}
	free := Price{}
	if got := free.Total(40); got != 0 {
		t.Errorf("unpriced Total(40) = %d", got)
	}
}

func TestPriceBetweenAddsUpAcrossEdges(t *testing.T) {
	for _, tc := range []struct {
		from, to, want int64
	}{
		{0, 1, 130},
		{999, 1000, 130},
		{1000, 1001, 110},
		{999, 1001, 240}, // one unit on each side of the edge
		{998, 10002, 2*130 + 9000*110 + 2*90},
		{10000, 10001, 90},
		{5, 5, 0},
		{6, 5, 0},
	} {
		if got := status.Between(tc.from, tc.to); got != tc.want {
			t.Errorf("Between(%d, %d) = %d, want %d", tc.from, tc.to, got, tc.want)
		}
	}
	// Unit by unit across both edges equals the month's total.
	var sum int64
	for i := int64(1); i <= 10_050; i++ {
		sum += status.Between(i-1, i)
	}
	if sum != status.Total(10_050) {
		t.Fatalf("unit amounts add up to %d, want %d", sum, status.Total(10_050))
	}
}

func TestPlanValidate(t *testing.T) {
	ok := Plan{ID: "standard", Name: "Standard", Currency: "EUR", Prices: []Price{status}}
	for _, tc := range []struct {
		name  string
		edit  func(p *Plan)
		field string
	}{
		{"valid", func(*Plan) {}, ""},
		{"bad id", func(p *Plan) { p.ID = "Bad Plan" }, "id"},
		{"no name", func(p *Plan) { p.Name = "" }, "name"},
		{"bad currency", func(p *Plan) { p.Currency = "eur" }, "currency"},
		{"unknown meter", func(p *Plan) { p.Prices = []Price{{Meter: "calls", Tiers: []Tier{{UnitMinor: 1}}}} }, "prices[0].meter"},
		{"twice", func(p *Plan) { p.Prices = []Price{status, status} }, "prices[1].meter"},
		{"no tiers", func(p *Plan) { p.Prices = []Price{{Meter: MeterWatchlist}} }, "prices[0].tiers"},
		{"bounded last", func(p *Plan) { p.Prices = []Price{{Meter: MeterWatchlist, Tiers: []Tier{{UpTo: 10, UnitMinor: 1}}}} }, "prices[0].tiers"},
		{"decreasing", func(p *Plan) {
			p.Prices = []Price{{Meter: MeterWatchlist, Tiers: []Tier{{UpTo: 10, UnitMinor: 1}, {UpTo: 5, UnitMinor: 1}, {UnitMinor: 1}}}}
		}, "prices[0].tiers"},
		{"negative", func(p *Plan) { p.Prices = []Price{{Meter: MeterWatchlist, Tiers: []Tier{{UnitMinor: -1}}}} }, "prices[0].tiers"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := ok
			tc.edit(&p)
			err := p.Validate()
			if tc.field == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			e, isErr := errs.As(err)
			if !isErr || e.Kind != errs.Invalid || len(e.Fields) == 0 || e.Fields[0].Path != tc.field {
				t.Fatalf("got %v, want a problem with %s", err, tc.field)
			}
		})
	}
}

func TestNewUsageBillable(t *testing.T) {
	pc := partner.PartnerConfig{Name: "visastatus-sim", Price: partner.Money{Amount: 120, Currency: "EUR"}, Cost: partner.Money{Amount: 45, Currency: "EUR"}}
	now := time.Date(2026, 11, 27, 10, 0, 0, 123456789, time.UTC)
	base := CheckInfo{CheckID: "chk_1", VerificationID: "ver_1", InsurerID: "ins_1", Mode: ModeLive,
		Type: risk.CheckImmigrationStatus, Status: risk.CheckCompleted, Outcome: partner.OutcomeClear, PartnerBillable: true}
	for _, tc := range []struct {
		name     string
		edit     func(c *CheckInfo)
		billable bool
		meter    Meter
		cost     int64
	}{
		{"clear", func(*CheckInfo) {}, true, MeterImmigrationStatus, 45},
		{"consider", func(c *CheckInfo) { c.Outcome = partner.OutcomeConsider }, true, MeterImmigrationStatus, 45},
		{"alert", func(c *CheckInfo) { c.Outcome = partner.OutcomeAlert }, true, MeterImmigrationStatus, 45},
		{"partner free", func(c *CheckInfo) { c.PartnerBillable = false }, true, MeterImmigrationStatus, 0},
		{"document registry", func(c *CheckInfo) { c.Type = risk.CheckDocumentRegistry }, true, MeterDocumentRegistry, 45},
		{"border movements", func(c *CheckInfo) { c.Type = risk.CheckBorderMovements }, true, MeterBorderMovements, 45},
		{"watchlist", func(c *CheckInfo) { c.Type = risk.CheckWatchlist }, true, MeterWatchlist, 45},
		{"mrz is local", func(c *CheckInfo) { c.Type = risk.CheckDocumentMRZ }, false, "", 0},
		{"unavailable answer", func(c *CheckInfo) { c.Outcome = partner.OutcomeUnavailable }, false, "", 0},
		{"awaiting", func(c *CheckInfo) { c.Status = risk.CheckAwaitingPartner; c.Outcome = partner.OutcomeAwaiting }, false, "", 0},
		{"failed", func(c *CheckInfo) { c.Status = risk.CheckFailed }, false, "", 0},
		{"skipped", func(c *CheckInfo) { c.Status = risk.CheckSkipped; c.Outcome = "" }, false, "", 0},
		{"pending", func(c *CheckInfo) { c.Status = risk.CheckPending }, false, "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := base
			tc.edit(&c)
			u, ok := NewUsage(c, pc, now)
			if ok != tc.billable {
				t.Fatalf("billable = %v, want %v", ok, tc.billable)
			}
			if !ok {
				return
			}
			if u.Meter != tc.meter || u.Quantity != 1 || u.PartnerCost != (Money{Minor: tc.cost, Currency: "EUR"}) || u.Partner != "visastatus-sim" ||
				u.CheckID != "chk_1" || u.InsurerID != "ins_1" || u.Mode != ModeLive || !u.OccurredAt.Equal(now.Truncate(time.Microsecond)) ||
				len(u.ID) < 5 || u.ID[:4] != "use_" {
				t.Fatalf("usage: %+v", u)
			}
		})
	}
}

func TestBudgetReached(t *testing.T) {
	b := Budget{CapMinor: 1000, Currency: "EUR"}
	for _, tc := range []struct {
		spend int64
		want  []int
	}{
		{0, nil}, {799, nil}, {800, []int{80}}, {999, []int{80}}, {1000, []int{80, 100}}, {5000, []int{80, 100}},
	} {
		got := b.Reached(tc.spend)
		if len(got) != len(tc.want) || (len(got) > 0 && got[len(got)-1] != tc.want[len(tc.want)-1]) {
			t.Errorf("Reached(%d) = %v, want %v", tc.spend, got, tc.want)
		}
	}
	// A cap that is not a multiple of 5: 80% of 1001 is 800.8.
	odd := Budget{CapMinor: 1001}
	if got := odd.Reached(800); len(got) != 0 {
		t.Errorf("800 of 1001 reached %v", got)
	}
	if got := odd.Reached(801); len(got) != 1 {
		t.Errorf("801 of 1001 reached %v", got)
	}
	if got := (Budget{}).Reached(1 << 40); got != nil {
		t.Errorf("no cap reached %v", got)
	}
}

func TestDecodeReconcile(t *testing.T) {
	now := time.Date(2026, 11, 27, 2, 30, 0, 0, time.UTC)
	from, to, err := DecodeReconcile(nil, now)
	if err != nil || !from.Equal(time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)) || !to.Equal(time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("default period: %v %v %v", from, to, err)
	}
	from, to, err = DecodeReconcile(EncodeReconcile(time.Date(2026, 10, 31, 0, 0, 0, 0, time.UTC)), now)
	if err != nil || from.Day() != 31 || to.Month() != time.November || to.Day() != 1 {
		t.Fatalf("named day: %v %v %v", from, to, err)
	}
	if _, _, err := DecodeReconcile([]byte("{"), now); err == nil {
		t.Fatal("bad payload accepted")
	}
	if _, _, err := DecodeReconcile([]byte(`{"v":1,"day":"2026-13-01"}`), now); !errs.Is(err, errs.Invalid) {
		t.Fatalf("bad day: %v", err)
	}
	if id := SyncTaskID(now.Add(17 * time.Second)); id != "billing:sync:202611270230" {
		t.Fatalf("sync task id %s", id)
	}
}
