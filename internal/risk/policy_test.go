package risk

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/borderproof/borderproof/internal/errs"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

func TestDefaultPolicyIsValid(t *testing.T) {
	t.Parallel()
	p := DefaultPolicy()
	if err := p.Validate(); err != nil {
		t.Fatalf("default policy: %v", err)
	}
	if got := p.RequiredVisaConditions(ProductHealth); !slices.Equal(got, []string{"8501"}) {
		t.Errorf("HEALTH visa conditions = %v", got)
	}
	for _, prod := range []Product{ProductLife, ProductTravel, ProductProperty, ProductMotor, "BOAT"} {
		if got := p.RequiredVisaConditions(prod); len(got) != 0 {
			t.Errorf("%s visa conditions = %v", prod, got)
		}
	}
	want := append(BaselineRules(), HardRule{Name: RuleOverstay, Signals: []SignalCode{SignalOverstay}, Floor: DecisionReview})
	if !reflect.DeepEqual(p.HardRules, want) {
		t.Errorf("default hard rules = %+v, want the baseline and %s", p.HardRules, RuleOverstay)
	}
	// The default's own rule may be dropped; the baseline may not.
	q := p.Clone()
	q.HardRules = slices.DeleteFunc(q.HardRules, func(r HardRule) bool { return r.Name == RuleOverstay })
	if err := q.Validate(); err != nil {
		t.Errorf("default without %s: %v", RuleOverstay, err)
	}
}

func TestPolicyAccessorsReturnCopies(t *testing.T) {
	t.Parallel()
	p := DefaultPolicy()
	p.RequiredVisaConditions(ProductHealth)[0] = "0000"
	p.RequiredChecks(ProductHealth)[0] = "X"
	if p.VisaConditionsByProduct[ProductHealth][0] != "8501" || p.ChecksByProduct[ProductHealth][0] != CheckDocumentMRZ {
		t.Error("an accessor handed out the policy's own slice")
	}
}

func TestPolicyClone(t *testing.T) {
	t.Parallel()
	p := DefaultPolicy()
	q := p.Clone()
	if !reflect.DeepEqual(p, q) {
		t.Fatal("clone differs")
	}
	q.Weights[SignalDocumentStolen] = 1
	q.HardRules[0].Signals[0] = SignalDocumentLost
	q.ChecksByProduct[ProductHealth][0] = CheckWatchlist
	q.VisaConditionsByProduct[ProductHealth][0] = "8503"
	if !reflect.DeepEqual(p, DefaultPolicy()) {
		t.Error("editing the clone changed the original")
	}
	// The default policy's product lists do not share backing arrays.
	d := DefaultPolicy()
	d.ChecksByProduct[ProductHealth] = append(d.ChecksByProduct[ProductHealth][:2], CheckDocumentMRZ)
	if d.ChecksByProduct[ProductLife][2] != CheckImmigrationStatus {
		t.Error("product check lists share storage")
	}
}

func TestPolicyWeightFallsBackToDefault(t *testing.T) {
	t.Parallel()
	p := DefaultPolicy()
	delete(p.Weights, SignalDocumentStolen)
	p.Weights[SignalDocumentLost] = 0
	if w := p.Weight(SignalDocumentStolen); w != 90 {
		t.Errorf("missing weight = %d, want the default 90", w)
	}
	if w := p.Weight(SignalDocumentLost); w != 0 {
		t.Errorf("explicit zero weight = %d", w)
	}
	o := Score(Input{ProductHealth, healthChecks(), []Signal{sig(SignalDocumentStolen, CheckDocumentRegistry)}}, p)
	if o.Score != 90 {
		t.Errorf("score with a missing weight = %d, want 90", o.Score)
	}
	// An out-of-range weight in a policy that skipped validation is clamped.
	p.Weights[SignalDocumentExpired] = -40
	p.Weights[SignalVisaExpired] = 400
	o = Score(Input{ProductHealth, healthChecks(), []Signal{sig(SignalDocumentExpired, CheckDocumentMRZ), sig(SignalVisaExpired, CheckImmigrationStatus)}}, p)
	if r, _ := reasonFor(o, SignalDocumentExpired); r.Points != 0 {
		t.Errorf("negative weight scored %d", r.Points)
	}
	if r, _ := reasonFor(o, SignalVisaExpired); r.Points != 100 {
		t.Errorf("weight above 100 scored %d", r.Points)
	}
}

func TestPolicyJSON(t *testing.T) {
	t.Parallel()
	p := DefaultPolicy()
	p.InsurerID = "ins_01jd8x0000000000000000000"
	p.Version = 3
	p.CreatedAt = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	p.HardRules = append(p.HardRules, HardRule{Name: "EXPIRED_VISA", Signals: []SignalCode{SignalVisaExpired}, Floor: DecisionDecline})
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParsePolicy(b)
	if err != nil {
		t.Fatalf("ParsePolicy: %v", err)
	}
	if !reflect.DeepEqual(got, p) {
		t.Errorf("round trip changed the policy:\n%+v\n%+v", got, p)
	}

	golden := filepath.Join("testdata", "default_policy.golden.json")
	def, err := json.MarshalIndent(DefaultPolicy(), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	def = append(def, '\n')
	if *update {
		if err := os.WriteFile(golden, def, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(def, want) {
		t.Errorf("default policy JSON differs from %s (go test -update rewrites it):\n%s", golden, def)
	}
}

func TestParsePolicyRejects(t *testing.T) {
	t.Parallel()
	good, err := json.Marshal(DefaultPolicy())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		data string
	}{
		{"not JSON", "weights: 3"},
		{"unknown field", strings.Replace(string(good), `"version":1`, `"version":1,"owner":"x"`, 1)},
		{"trailing data", string(good) + " {}"},
		{"wrong type", strings.Replace(string(good), `"version":1`, `"version":"one"`, 1)},
		{"invalid policy", strings.Replace(string(good), `"version":1`, `"version":0`, 1)},
	}
	for _, tt := range tests {
		if tt.data == string(good) {
			t.Fatalf("%s: the edit did not apply", tt.name)
		}
		_, err := ParsePolicy([]byte(tt.data))
		if !errs.Is(err, errs.Invalid) {
			t.Errorf("%s: error %v, want Invalid", tt.name, err)
		}
	}
	if _, err := ParsePolicy(good); err != nil {
		t.Errorf("default policy JSON: %v", err)
	}
}

func TestPolicyValidate(t *testing.T) {
	t.Parallel()
	ruleIndex := func(p *Policy, name string) int {
		return slices.IndexFunc(p.HardRules, func(r HardRule) bool { return r.Name == name })
	}
	dropRule := func(name string) func(*Policy) {
		return func(p *Policy) { p.HardRules = slices.Delete(p.HardRules, ruleIndex(p, name), ruleIndex(p, name)+1) }
	}
	tests := []struct {
		name  string
		edit  func(*Policy)
		paths []string
	}{
		{"version zero", func(p *Policy) { p.Version = 0 }, []string{"version"}},
		{"version negative", func(p *Policy) { p.Version = -2 }, []string{"version"}},

		{"weight missing", func(p *Policy) { delete(p.Weights, SignalOverstay) }, []string{"weights.OVERSTAY"}},
		{"weight negative", func(p *Policy) { p.Weights[SignalDocumentStolen] = -1 }, []string{"weights.DOCUMENT_STOLEN"}},
		{"weight above 100", func(p *Policy) { p.Weights[SignalWatchlistWeak] = 101 }, []string{"weights.WATCHLIST_MATCH_WEAK"}},
		{"weight unknown code", func(p *Policy) { p.Weights["FULL_MOON"] = 5 }, []string{"weights.FULL_MOON"}},
		{"weights nil", func(p *Policy) { p.Weights = nil }, func() []string {
			var out []string
			for _, c := range SignalCodes() {
				out = append(out, "weights."+string(c))
			}
			return out
		}()},

		{"band medium zero", func(p *Policy) { p.Bands.Medium = 0 }, []string{"bands.medium"}},
		{"band high not above medium", func(p *Policy) { p.Bands.High = p.Bands.Medium }, []string{"bands.high"}},
		{"band critical below high", func(p *Policy) { p.Bands.Critical = 40 }, []string{"bands.critical"}},
		{"band critical above 100", func(p *Policy) { p.Bands.Critical = 101 }, []string{"bands.critical"}},
		{"decision review zero", func(p *Policy) { p.Decisions.Review = 0 }, []string{"decisions.review"}},
		{"decision review above 100", func(p *Policy) { p.Decisions.Review = 101 }, []string{"decisions.review", "decisions.decline"}},
		{"decision decline equals review", func(p *Policy) { p.Decisions.Decline = p.Decisions.Review }, []string{"decisions.decline"}},
		{"decision decline below review", func(p *Policy) { p.Decisions.Decline = 10 }, []string{"decisions.decline"}},

		{"too many rules", func(p *Policy) {
			for i := range MaxHardRules {
				p.HardRules = append(p.HardRules, HardRule{Name: "EXTRA_" + string(rune('A'+i%26)) + string(rune('A'+i/26)), Signals: []SignalCode{SignalVisaExpired}, Floor: DecisionReview})
			}
		}, []string{"hardRules"}},
		{"rule name empty", func(p *Policy) { p.HardRules[0].Name = "" }, []string{"hardRules[0].name"}},
		{"rule name lower case", func(p *Policy) { p.HardRules[1].Name = "lost" }, []string{"hardRules[1].name"}},
		{"rule name too long", func(p *Policy) { p.HardRules[1].Name = strings.Repeat("A", 65) }, []string{"hardRules[1].name"}},
		{"rule name duplicate", func(p *Policy) { p.HardRules[2].Name = p.HardRules[0].Name }, []string{"hardRules[2].name"}},
		{"rule without signals", func(p *Policy) {
			p.HardRules = append(p.HardRules, HardRule{Name: "EMPTY", Floor: DecisionReview})
		}, []string{"hardRules[6].signals"}},
		{"rule unknown signal", func(p *Policy) {
			p.HardRules = append(p.HardRules, HardRule{Name: "ODD", Signals: []SignalCode{SignalVisaExpired, "FULL_MOON"}, Floor: DecisionReview})
		}, []string{"hardRules[6].signals[1]"}},
		{"rule duplicate signal", func(p *Policy) {
			p.HardRules = append(p.HardRules, HardRule{Name: "TWICE", Signals: []SignalCode{SignalVisaExpired, SignalVisaExpired}, Floor: DecisionReview})
		}, []string{"hardRules[6].signals[1]"}},
		{"rule floor CLEAR", func(p *Policy) {
			p.HardRules = append(p.HardRules, HardRule{Name: "CLEARS", Signals: []SignalCode{SignalVisaExpired}, Floor: DecisionClear})
		}, []string{"hardRules[6].floor"}},
		{"rule floor empty", func(p *Policy) {
			p.HardRules = append(p.HardRules, HardRule{Name: "NOTHING", Signals: []SignalCode{SignalVisaExpired}})
		}, []string{"hardRules[6].floor"}},
		{"baseline stolen removed", dropRule(RuleStolenDocument), []string{"hardRules"}},
		{"baseline stolen weakened", func(p *Policy) { p.HardRules[ruleIndex(p, RuleStolenDocument)].Floor = DecisionReview }, []string{"hardRules"}},
		{"baseline lost removed", dropRule(RuleLostOrRevokedDocument), []string{"hardRules"}},
		{"baseline watchlist removed", dropRule(RuleStrongWatchlistMatch), []string{"hardRules"}},
		{"baseline partner removed", dropRule(RulePartnerDidNotAnswer), []string{"hardRules"}},
		{"baseline partner narrowed to required checks", func(p *Policy) { p.HardRules[ruleIndex(p, RulePartnerDidNotAnswer)].RequiredChecksOnly = true }, []string{"hardRules"}},
		{"baseline data sharing removed", dropRule(RuleRequiredCheckNotRun), []string{"hardRules"}},
		{"rules nil", func(p *Policy) { p.HardRules = nil }, []string{"hardRules"}},

		{"required checks product missing", func(p *Policy) { delete(p.ChecksByProduct, ProductMotor) }, []string{"requiredChecks.MOTOR"}},
		{"required checks unknown product", func(p *Policy) { p.ChecksByProduct["BOAT"] = nil }, []string{"requiredChecks.BOAT"}},
		{"required check unknown type", func(p *Policy) { p.ChecksByProduct[ProductLife][1] = "PALM_READING" }, []string{"requiredChecks.LIFE[1]"}},
		{"required check duplicate", func(p *Policy) {
			p.ChecksByProduct[ProductTravel] = append(p.ChecksByProduct[ProductTravel], CheckWatchlist)
		}, []string{"requiredChecks.TRAVEL[4]"}},

		{"visa conditions unknown product", func(p *Policy) { p.VisaConditionsByProduct["BOAT"] = []string{"8501"} }, []string{"visaConditions.BOAT"}},
		{"visa condition malformed", func(p *Policy) { p.VisaConditionsByProduct[ProductHealth] = []string{"8501", "no work"} }, []string{"visaConditions.HEALTH[1]"}},
		{"visa condition empty", func(p *Policy) { p.VisaConditionsByProduct[ProductLife] = []string{""} }, []string{"visaConditions.LIFE[0]"}},
		{"visa condition too long", func(p *Policy) { p.VisaConditionsByProduct[ProductLife] = []string{strings.Repeat("9", 17)} }, []string{"visaConditions.LIFE[0]"}},
		{"visa condition duplicate", func(p *Policy) { p.VisaConditionsByProduct[ProductHealth] = []string{"8501", "8501"} }, []string{"visaConditions.HEALTH[1]"}},
		{"visa conditions too many", func(p *Policy) {
			var c []string
			for i := range MaxVisaConditions + 1 {
				c = append(c, "C"+strings.Repeat("1", i%10+1)+string(rune('A'+i/10)))
			}
			p.VisaConditionsByProduct[ProductTravel] = c
		}, []string{"visaConditions.TRAVEL"}},
	}
	for _, tt := range tests {
		p := DefaultPolicy()
		tt.edit(&p)
		assertPaths(t, tt.name, p.Validate(), tt.paths)
	}
}

func TestPolicyValidateAcceptsStricterRules(t *testing.T) {
	t.Parallel()
	// Baseline codes may be covered by other rules with other names, and
	// floors may rise.
	p := DefaultPolicy()
	p.HardRules = []HardRule{
		{Name: "DOCUMENT_PROBLEMS", Signals: []SignalCode{SignalDocumentStolen, SignalDocumentLost, SignalDocumentRevoked, SignalDocumentInvalidated}, Floor: DecisionDecline},
		{Name: "WATCHLIST", Signals: []SignalCode{SignalWatchlistStrong}, Floor: DecisionDecline},
		{Name: "NO_ANSWER", Signals: []SignalCode{SignalPartnerUnavailable, SignalPartnerTimeout, SignalDataSharingForbidden, SignalRequiredCheckNotRun}, Floor: DecisionReview},
	}
	p.ChecksByProduct[ProductMotor] = []CheckType{}
	p.VisaConditionsByProduct = nil
	if err := p.Validate(); err != nil {
		t.Fatalf("stricter policy rejected: %v", err)
	}
	o := Score(Input{ProductHealth, healthChecks(), []Signal{sig(SignalDocumentInvalidated, CheckDocumentRegistry)}}, p)
	if o.Decision != DecisionDecline || o.HardRule != "DOCUMENT_PROBLEMS" {
		t.Errorf("decision %s rule %q", o.Decision, o.HardRule)
	}
}

func TestValidateErrorsAreOrdered(t *testing.T) {
	t.Parallel()
	p := DefaultPolicy()
	for _, c := range []SignalCode{"ZZZ", "AAA", "MMM"} {
		p.Weights[c] = 1
	}
	first := p.Validate().Error()
	for range 20 {
		if got := p.Validate().Error(); got != first {
			t.Fatalf("validation errors change order:\n%s\n%s", got, first)
		}
	}
}
