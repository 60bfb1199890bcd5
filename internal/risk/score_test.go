package risk

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// checkID names the test check of type t.
func checkID(t CheckType) string { return "chk_" + strings.ToLower(string(t)) }

// answered returns one COMPLETED check per type.
func answered(types ...CheckType) []Check {
	out := make([]Check, len(types))
	for i, t := range types {
		out[i] = Check{ID: checkID(t), Type: t, Status: CheckCompleted}
	}
	return out
}

// healthChecks are the checks DefaultPolicy requires for HEALTH, answered.
func healthChecks() []Check {
	return answered(CheckDocumentMRZ, CheckDocumentRegistry, CheckImmigrationStatus, CheckBorderMovements, CheckWatchlist)
}

// sig builds a signal from a check of type t.
func sig(code SignalCode, t CheckType) Signal {
	return Signal{Code: code, CheckID: checkID(t), CheckType: string(t)}
}

func graded(s Signal, strength float64) Signal {
	s.Strength = strength
	return s
}

// withStatus returns checks with the check of type t set to status.
func withStatus(checks []Check, t CheckType, status CheckStatus) []Check {
	out := slices.Clone(checks)
	for i := range out {
		if out[i].Type == t {
			out[i].Status = status
		}
	}
	return out
}

func without(checks []Check, t CheckType) []Check {
	return slices.DeleteFunc(slices.Clone(checks), func(c Check) bool { return c.Type == t })
}

func reasonFor(o Outcome, code SignalCode) (Reason, int) {
	n := 0
	var r Reason
	for _, x := range o.Reasons {
		if x.Code == code {
			if n == 0 {
				r = x
			}
			n++
		}
	}
	return r, n
}

func TestScoreEverySignalCode(t *testing.T) {
	t.Parallel()
	const (
		mrz  = CheckDocumentMRZ
		reg  = CheckDocumentRegistry
		imm  = CheckImmigrationStatus
		bord = CheckBorderMovements
		wl   = CheckWatchlist
	)
	tests := []struct {
		code     SignalCode
		check    CheckType
		points   int
		band     Band
		decision Decision
		rule     string
	}{
		{SignalMRZCheckDigitFailed, mrz, 25, BandMedium, DecisionClear, ""},
		{SignalMRZFieldMismatch, mrz, 30, BandMedium, DecisionReview, ""},
		{SignalDocumentExpired, mrz, 20, BandLow, DecisionClear, ""},
		{SignalSpecimenDocument, mrz, 80, BandCritical, DecisionDecline, ""},
		{SignalDocumentReuse, reg, 35, BandMedium, DecisionReview, ""},
		// The score already declines: the rule did not force anything.
		{SignalDocumentStolen, reg, 90, BandCritical, DecisionDecline, ""},
		{SignalDocumentLost, reg, 50, BandHigh, DecisionReview, ""},
		{SignalDocumentRevoked, reg, 50, BandHigh, DecisionReview, ""},
		{SignalDocumentInvalidated, reg, 40, BandMedium, DecisionReview, ""},
		{SignalIdentityMismatch, reg, 45, BandMedium, DecisionReview, ""},
		{SignalNoValidVisa, imm, 45, BandMedium, DecisionReview, ""},
		{SignalVisaExpired, imm, 35, BandMedium, DecisionReview, ""},
		{SignalVisaExpiresBeforePolicy, imm, 15, BandLow, DecisionClear, ""},
		{SignalVisaConditionConflict, imm, 30, BandMedium, DecisionReview, ""},
		{SignalStatusUnverified, imm, 15, BandLow, DecisionClear, ""},
		{SignalOverstay, bord, 40, BandMedium, DecisionReview, ""},
		{SignalRefusedEntry, bord, 25, BandMedium, DecisionClear, ""},
		{SignalNotInCountry, bord, 20, BandLow, DecisionClear, ""},
		{SignalWatchlistStrong, wl, 60, BandHigh, DecisionReview, ""},
		{SignalWatchlistWeak, wl, 15, BandLow, DecisionClear, ""},
		{SignalPartnerUnavailable, imm, 10, BandLow, DecisionReview, RulePartnerDidNotAnswer},
		{SignalPartnerTimeout, bord, 10, BandLow, DecisionReview, RulePartnerDidNotAnswer},
		{SignalDataSharingForbidden, imm, 10, BandLow, DecisionReview, RuleRequiredCheckNotRun},
		{SignalAwaitingPartner, wl, 0, BandLow, DecisionClear, ""},
		{SignalRequiredCheckNotRun, bord, 10, BandLow, DecisionReview, RuleRequiredCheckNotRun},
	}
	seen := map[SignalCode]bool{}
	for _, tt := range tests {
		seen[tt.code] = true
		t.Run(string(tt.code), func(t *testing.T) {
			in := Input{Product: ProductHealth, Checks: healthChecks(), Signals: []Signal{sig(tt.code, tt.check)}}
			o := Score(in, DefaultPolicy())
			if len(o.Reasons) != 1 {
				t.Fatalf("reasons = %+v, want exactly one", o.Reasons)
			}
			r := o.Reasons[0]
			if r.Code != tt.code || r.Points != tt.points || r.CheckID != checkID(tt.check) || r.CheckType != tt.check {
				t.Errorf("reason = %+v, want %s for %d points from %s", r, tt.code, tt.points, checkID(tt.check))
			}
			if r.Message == "" || r.Resolution == "" {
				t.Errorf("reason %s lacks message or resolution: %+v", tt.code, r)
			}
			if o.Score != tt.points || o.Band != tt.band || o.Decision != tt.decision || o.HardRule != tt.rule {
				t.Errorf("outcome = score %d %s %s rule %q, want %d %s %s rule %q",
					o.Score, o.Band, o.Decision, o.HardRule, tt.points, tt.band, tt.decision, tt.rule)
			}
			if o.Provisional != (tt.code == SignalAwaitingPartner) {
				t.Errorf("provisional = %v", o.Provisional)
			}
		})
	}
	for _, c := range SignalCodes() {
		if !seen[c] {
			t.Errorf("signal code %s has no case", c)
		}
	}
}

func TestScoreHardRules(t *testing.T) {
	t.Parallel()
	// With every weight zero the score is 0 and CLEAR, so any other
	// decision comes from a rule.
	zero := DefaultPolicy()
	for c := range zero.Weights {
		zero.Weights[c] = 0
	}
	custom := zero.Clone()
	custom.HardRules = append(custom.HardRules, HardRule{Name: "EXPIRED_VISA", Signals: []SignalCode{SignalVisaExpired}, Floor: DecisionDecline})
	first := zero.Clone()
	first.HardRules = append([]HardRule{{Name: "LOST_DECLINES", Signals: []SignalCode{SignalDocumentLost}, Floor: DecisionDecline}}, first.HardRules...)
	bare := zero.Clone()
	bare.HardRules = nil // never valid, but Score must still apply the baseline

	property := answered(CheckDocumentMRZ, CheckDocumentRegistry, CheckWatchlist)
	propertyPlusImm := append(slices.Clone(property), Check{ID: checkID(CheckImmigrationStatus), Type: CheckImmigrationStatus, Status: CheckCompleted})

	tests := []struct {
		name     string
		policy   Policy
		in       Input
		decision Decision
		rule     string
	}{
		{"nothing found", zero, Input{Product: ProductHealth, Checks: healthChecks()}, DecisionClear, ""},
		{"stolen declines", zero, Input{ProductHealth, healthChecks(), []Signal{sig(SignalDocumentStolen, CheckDocumentRegistry)}}, DecisionDecline, RuleStolenDocument},
		{"lost reviews", zero, Input{ProductHealth, healthChecks(), []Signal{sig(SignalDocumentLost, CheckDocumentRegistry)}}, DecisionReview, RuleLostOrRevokedDocument},
		{"revoked reviews", zero, Input{ProductHealth, healthChecks(), []Signal{sig(SignalDocumentRevoked, CheckDocumentRegistry)}}, DecisionReview, RuleLostOrRevokedDocument},
		{"invalidated is not a baseline rule", zero, Input{ProductHealth, healthChecks(), []Signal{sig(SignalDocumentInvalidated, CheckDocumentRegistry)}}, DecisionClear, ""},
		{"strong watchlist at the lowest grade reviews", zero, Input{ProductHealth, healthChecks(), []Signal{graded(sig(SignalWatchlistStrong, CheckWatchlist), MinStrength)}}, DecisionReview, RuleStrongWatchlistMatch},
		{"weak watchlist has no rule", zero, Input{ProductHealth, healthChecks(), []Signal{sig(SignalWatchlistWeak, CheckWatchlist)}}, DecisionClear, ""},
		{"stolen outranks lost", zero, Input{ProductHealth, healthChecks(), []Signal{sig(SignalDocumentLost, CheckDocumentRegistry), sig(SignalDocumentStolen, CheckDocumentRegistry)}}, DecisionDecline, RuleStolenDocument},
		{"timeout on a check the product does not require", zero, Input{ProductProperty, propertyPlusImm, []Signal{sig(SignalPartnerTimeout, CheckImmigrationStatus)}}, DecisionReview, RulePartnerDidNotAnswer},
		{"unavailable signal", zero, Input{ProductHealth, healthChecks(), []Signal{sig(SignalPartnerUnavailable, CheckWatchlist)}}, DecisionReview, RulePartnerDidNotAnswer},
		{"failed check without a signal", zero, Input{Product: ProductHealth, Checks: withStatus(healthChecks(), CheckBorderMovements, CheckFailed)}, DecisionReview, RulePartnerDidNotAnswer},
		{"data sharing on a required check", zero, Input{ProductHealth, healthChecks(), []Signal{sig(SignalDataSharingForbidden, CheckImmigrationStatus)}}, DecisionReview, RuleRequiredCheckNotRun},
		{"skipped required check without a signal", zero, Input{Product: ProductHealth, Checks: withStatus(healthChecks(), CheckImmigrationStatus, CheckSkipped)}, DecisionReview, RuleRequiredCheckNotRun},
		{"data sharing on an optional check", zero, Input{ProductProperty, propertyPlusImm, []Signal{sig(SignalDataSharingForbidden, CheckImmigrationStatus)}}, DecisionClear, ""},
		{"skipped optional check", zero, Input{Product: ProductProperty, Checks: withStatus(propertyPlusImm, CheckImmigrationStatus, CheckSkipped)}, DecisionClear, ""},
		{"required check missing", zero, Input{Product: ProductHealth, Checks: without(healthChecks(), CheckWatchlist)}, DecisionReview, RuleRequiredCheckNotRun},
		{"data sharing signal names its check by id only", zero, Input{ProductHealth, healthChecks(), []Signal{{Code: SignalDataSharingForbidden, CheckID: checkID(CheckImmigrationStatus)}}}, DecisionReview, RuleRequiredCheckNotRun},
		{"policy rule raises a floor", custom, Input{ProductHealth, healthChecks(), []Signal{sig(SignalVisaExpired, CheckImmigrationStatus)}}, DecisionDecline, "EXPIRED_VISA"},
		{"policy rule listed first is reported", first, Input{ProductHealth, healthChecks(), []Signal{sig(SignalDocumentStolen, CheckDocumentRegistry), sig(SignalDocumentLost, CheckDocumentRegistry)}}, DecisionDecline, "LOST_DECLINES"},
		{"baseline applies without policy rules", bare, Input{ProductHealth, healthChecks(), []Signal{sig(SignalDocumentStolen, CheckDocumentRegistry)}}, DecisionDecline, RuleStolenDocument},
		{"baseline data sharing without policy rules", bare, Input{Product: ProductHealth, Checks: withStatus(healthChecks(), CheckWatchlist, CheckSkipped)}, DecisionReview, RuleRequiredCheckNotRun},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := Score(tt.in, tt.policy)
			if o.Score != 0 {
				t.Fatalf("score = %d with zero weights", o.Score)
			}
			if o.Decision != tt.decision || o.HardRule != tt.rule {
				t.Errorf("decision %s rule %q, want %s rule %q (reasons %+v)", o.Decision, o.HardRule, tt.decision, tt.rule, o.Reasons)
			}
		})
	}
}

func TestScoreHardRuleOnlyWhenItRaises(t *testing.T) {
	t.Parallel()
	// Default weights: a lost document scores 50, REVIEW on its own, so the
	// rule is not what decided; with a stolen one the rule is not needed
	// either. A timeout alone (10 points) is CLEAR by score, so the rule is.
	in := Input{ProductHealth, healthChecks(), []Signal{sig(SignalDocumentLost, CheckDocumentRegistry)}}
	if o := Score(in, DefaultPolicy()); o.Decision != DecisionReview || o.HardRule != "" {
		t.Errorf("lost: %s %q", o.Decision, o.HardRule)
	}
	in.Signals = []Signal{sig(SignalPartnerTimeout, CheckWatchlist)}
	if o := Score(in, DefaultPolicy()); o.Decision != DecisionReview || o.HardRule != RulePartnerDidNotAnswer {
		t.Errorf("timeout: %s %q", o.Decision, o.HardRule)
	}
}

func TestScoreThresholdEdges(t *testing.T) {
	t.Parallel()
	// One signal whose weight is the wanted score, under the default
	// thresholds and under custom ones.
	custom := DefaultPolicy()
	custom.Bands = BandThresholds{Medium: 10, High: 20, Critical: 30}
	custom.Decisions = DecisionThresholds{Review: 5, Decline: 6}
	tests := []struct {
		policy   string
		score    int
		band     Band
		decision Decision
	}{
		{"default", 0, BandLow, DecisionClear},
		{"default", 24, BandLow, DecisionClear},
		{"default", 25, BandMedium, DecisionClear},
		{"default", 29, BandMedium, DecisionClear},
		{"default", 30, BandMedium, DecisionReview},
		{"default", 49, BandMedium, DecisionReview},
		{"default", 50, BandHigh, DecisionReview},
		{"default", 69, BandHigh, DecisionReview},
		{"default", 70, BandHigh, DecisionDecline},
		{"default", 74, BandHigh, DecisionDecline},
		{"default", 75, BandCritical, DecisionDecline},
		{"default", 100, BandCritical, DecisionDecline},
		{"custom", 4, BandLow, DecisionClear},
		{"custom", 5, BandLow, DecisionReview},
		{"custom", 6, BandLow, DecisionDecline},
		{"custom", 9, BandLow, DecisionDecline},
		{"custom", 10, BandMedium, DecisionDecline},
		{"custom", 19, BandMedium, DecisionDecline},
		{"custom", 20, BandHigh, DecisionDecline},
		{"custom", 29, BandHigh, DecisionDecline},
		{"custom", 30, BandCritical, DecisionDecline},
	}
	for _, tt := range tests {
		p := DefaultPolicy()
		if tt.policy == "custom" {
			p = custom.Clone()
		}
		p.Weights[SignalDocumentExpired] = tt.score
		o := Score(Input{ProductHealth, healthChecks(), []Signal{sig(SignalDocumentExpired, CheckDocumentMRZ)}}, p)
		if o.Score != tt.score || o.Band != tt.band || o.Decision != tt.decision || o.HardRule != "" {
			t.Errorf("%s policy, score %d: got %d %s %s %q, want %s %s", tt.policy, tt.score, o.Score, o.Band, o.Decision, o.HardRule, tt.band, tt.decision)
		}
	}
}

func TestScoreCapsAt100(t *testing.T) {
	t.Parallel()
	in := Input{ProductHealth, healthChecks(), []Signal{
		sig(SignalDocumentStolen, CheckDocumentRegistry),
		sig(SignalSpecimenDocument, CheckDocumentMRZ),
		sig(SignalWatchlistStrong, CheckWatchlist),
	}}
	o := Score(in, DefaultPolicy())
	sum := 0
	for _, r := range o.Reasons {
		sum += r.Points
	}
	if sum != 230 || o.Score != 100 || o.Band != BandCritical || o.Decision != DecisionDecline {
		t.Errorf("sum %d score %d %s %s, want 230 capped at 100", sum, o.Score, o.Band, o.Decision)
	}
}

func TestScoreGradedSignals(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		s      Signal
		points int
	}{
		{"strong watchlist at 0.85", graded(sig(SignalWatchlistStrong, CheckWatchlist), 0.85), 51},
		{"weak watchlist at 0.6", graded(sig(SignalWatchlistWeak, CheckWatchlist), 0.6), 9},
		{"weak watchlist rounds half up", graded(sig(SignalWatchlistWeak, CheckWatchlist), 0.5), 8},
		{"overstay of 10 days", graded(sig(SignalOverstay, CheckBorderMovements), OverstayStrength(10)), 10},
		{"overstay of 90 days", graded(sig(SignalOverstay, CheckBorderMovements), OverstayStrength(90)), 20},
		{"overstay of 400 days", graded(sig(SignalOverstay, CheckBorderMovements), OverstayStrength(400)), 40},
		{"ungraded", graded(sig(SignalOverstay, CheckBorderMovements), 0), 40},
		{"above one", graded(sig(SignalOverstay, CheckBorderMovements), 1.5), 40},
		{"negative", graded(sig(SignalOverstay, CheckBorderMovements), -0.3), 40},
		{"NaN", graded(sig(SignalOverstay, CheckBorderMovements), math.NaN()), 40},
		{"tiny grade rounds to zero", graded(sig(SignalWatchlistWeak, CheckWatchlist), MinStrength), 0},
	}
	for _, tt := range tests {
		o := Score(Input{ProductHealth, healthChecks(), []Signal{tt.s}}, DefaultPolicy())
		if r, n := reasonFor(o, tt.s.Code); n != 1 || r.Points != tt.points || o.Score != tt.points {
			t.Errorf("%s: %d reasons, points %d, score %d; want %d", tt.name, n, r.Points, o.Score, tt.points)
		}
	}
}

// TestScoreOverstayDecision: the default policy sends every recorded
// overstay to review, short ones through its own rule (their graded points
// alone would clear), and an insurer that drops the rule clears short ones.
func TestScoreOverstayDecision(t *testing.T) {
	t.Parallel()
	lenient := DefaultPolicy()
	lenient.HardRules = slices.DeleteFunc(lenient.HardRules, func(r HardRule) bool { return r.Name == RuleOverstay })
	tests := []struct {
		days            int
		points          int
		rule            string
		lenientDecision Decision
	}{
		{1, 10, RuleOverstay, DecisionClear},
		{11, 10, RuleOverstay, DecisionClear},
		{45, 10, RuleOverstay, DecisionClear},
		{81, 18, RuleOverstay, DecisionClear},
		{134, 30, "", DecisionReview},
		{180, 40, "", DecisionReview},
		{400, 40, "", DecisionReview},
	}
	for _, tt := range tests {
		in := Input{ProductTravel, healthChecks(), []Signal{graded(sig(SignalOverstay, CheckBorderMovements), OverstayStrength(tt.days))}}
		o := Score(in, DefaultPolicy())
		if o.Score != tt.points || o.Decision != DecisionReview || o.HardRule != tt.rule {
			t.Errorf("%d days: score %d %s rule %q; want %d REVIEW rule %q", tt.days, o.Score, o.Decision, o.HardRule, tt.points, tt.rule)
		}
		if got := Score(in, lenient).Decision; got != tt.lenientDecision {
			t.Errorf("%d days without %s: %s, want %s", tt.days, RuleOverstay, got, tt.lenientDecision)
		}
	}
}

func TestScoreMergesSignals(t *testing.T) {
	t.Parallel()
	p := DefaultPolicy()

	t.Run("a fact reported by two checks counts once", func(t *testing.T) {
		o := Score(Input{ProductHealth, healthChecks(), []Signal{
			sig(SignalDocumentExpired, CheckDocumentMRZ),
			sig(SignalDocumentExpired, CheckDocumentRegistry),
		}}, p)
		if r, n := reasonFor(o, SignalDocumentExpired); n != 1 || o.Score != 20 || r.CheckID != checkID(CheckDocumentMRZ) {
			t.Errorf("n=%d score=%d reason=%+v", n, o.Score, r)
		}
	})
	t.Run("the strongest report stands", func(t *testing.T) {
		o := Score(Input{ProductHealth, healthChecks(), []Signal{
			graded(Signal{Code: SignalWatchlistWeak, CheckID: "chk_a"}, 0.8),
			graded(Signal{Code: SignalWatchlistWeak, CheckID: "chk_b"}, 0.3),
		}}, p)
		if r, n := reasonFor(o, SignalWatchlistWeak); n != 1 || r.Points != 12 || r.CheckID != "chk_a" {
			t.Errorf("n=%d reason=%+v", n, r)
		}
	})
	t.Run("process findings count per check", func(t *testing.T) {
		checks := withStatus(withStatus(healthChecks(), CheckWatchlist, CheckFailed), CheckBorderMovements, CheckFailed)
		o := Score(Input{Product: ProductHealth, Checks: checks}, p)
		if _, n := reasonFor(o, SignalPartnerUnavailable); n != 2 || o.Score != 20 {
			t.Errorf("n=%d score=%d reasons=%+v", n, o.Score, o.Reasons)
		}
	})
	t.Run("an explicit timeout stands for its failed check", func(t *testing.T) {
		checks := withStatus(healthChecks(), CheckImmigrationStatus, CheckFailed)
		o := Score(Input{ProductHealth, checks, []Signal{sig(SignalPartnerTimeout, CheckImmigrationStatus)}}, p)
		if len(o.Reasons) != 1 || o.Reasons[0].Code != SignalPartnerTimeout || o.Score != 10 {
			t.Errorf("reasons=%+v score=%d", o.Reasons, o.Score)
		}
		if want := "An answer from the immigration-status partner would resolve this."; o.Reasons[0].Resolution != want {
			t.Errorf("resolution = %q, want %q", o.Reasons[0].Resolution, want)
		}
	})
	t.Run("the heavier of timeout and unavailable stands", func(t *testing.T) {
		q := p.Clone()
		q.Weights[SignalPartnerUnavailable] = 25
		checks := withStatus(healthChecks(), CheckImmigrationStatus, CheckFailed)
		o := Score(Input{ProductHealth, checks, []Signal{sig(SignalPartnerTimeout, CheckImmigrationStatus)}}, q)
		if len(o.Reasons) != 1 || o.Reasons[0].Code != SignalPartnerUnavailable || o.Score != 25 {
			t.Errorf("reasons=%+v score=%d", o.Reasons, o.Score)
		}
	})
}

func TestScoreReasonOrder(t *testing.T) {
	t.Parallel()
	checks := withStatus(withStatus(healthChecks(), CheckWatchlist, CheckFailed), CheckBorderMovements, CheckFailed)
	checks = append(checks, Check{ID: "chk_extra", Type: CheckImmigrationStatus, Status: CheckPending})
	signals := []Signal{
		sig(SignalDocumentRevoked, CheckDocumentRegistry), // 50
		sig(SignalDocumentLost, CheckDocumentRegistry),    // 50
		sig(SignalWatchlistStrong, CheckWatchlist),        // 60
		sig(SignalDocumentExpired, CheckDocumentMRZ),      // 20
	}
	want := []struct {
		code  SignalCode
		check string
	}{
		{SignalWatchlistStrong, checkID(CheckWatchlist)},
		{SignalDocumentLost, checkID(CheckDocumentRegistry)},
		{SignalDocumentRevoked, checkID(CheckDocumentRegistry)},
		{SignalDocumentExpired, checkID(CheckDocumentMRZ)},
		{SignalPartnerUnavailable, checkID(CheckBorderMovements)},
		{SignalPartnerUnavailable, checkID(CheckWatchlist)},
		{SignalAwaitingPartner, "chk_extra"},
	}
	base := Score(Input{ProductHealth, checks, signals}, DefaultPolicy())
	if len(base.Reasons) != len(want) {
		t.Fatalf("reasons = %+v", base.Reasons)
	}
	for i, w := range want {
		if r := base.Reasons[i]; r.Code != w.code || r.CheckID != w.check {
			t.Errorf("reason %d = %s on %s, want %s on %s", i, r.Code, r.CheckID, w.code, w.check)
		}
	}
	// Any order of signals and checks gives the same outcome.
	rng := rand.New(rand.NewPCG(1, 2))
	for range 50 {
		s, c := slices.Clone(signals), slices.Clone(checks)
		rng.Shuffle(len(s), func(i, j int) { s[i], s[j] = s[j], s[i] })
		rng.Shuffle(len(c), func(i, j int) { c[i], c[j] = c[j], c[i] })
		if o := Score(Input{ProductHealth, c, s}, DefaultPolicy()); !reflect.DeepEqual(o, base) {
			t.Fatalf("shuffled input changed the outcome:\n%+v\n%+v", o, base)
		}
	}
}

func TestScoreProvisional(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		checks      []Check
		provisional bool
		awaiting    []string
	}{
		{"all answered", healthChecks(), false, nil},
		{"pending required check", withStatus(healthChecks(), CheckImmigrationStatus, CheckPending), true, []string{checkID(CheckImmigrationStatus)}},
		{"partner says case pending", withStatus(healthChecks(), CheckBorderMovements, CheckAwaitingPartner), true, []string{checkID(CheckBorderMovements)}},
		{"unknown status counts as unanswered", withStatus(healthChecks(), CheckWatchlist, "RUNNING"), true, []string{checkID(CheckWatchlist)}},
		{"pending optional check", append(healthChecks(), Check{ID: "chk_opt", Type: CheckWatchlist, Status: CheckPending}), true, []string{"chk_opt"}},
		{"two pending", withStatus(withStatus(healthChecks(), CheckWatchlist, CheckPending), CheckDocumentMRZ, CheckPending), true, []string{checkID(CheckDocumentMRZ), checkID(CheckWatchlist)}},
		{"failed and skipped are terminal", withStatus(withStatus(healthChecks(), CheckWatchlist, CheckFailed), CheckDocumentMRZ, CheckSkipped), false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := Score(Input{Product: ProductHealth, Checks: tt.checks}, DefaultPolicy())
			if o.Provisional != tt.provisional {
				t.Errorf("provisional = %v", o.Provisional)
			}
			var got []string
			for _, r := range o.Reasons {
				if r.Code == SignalAwaitingPartner {
					got = append(got, r.CheckID)
					if r.Points != 0 || !strings.Contains(r.Resolution, "would resolve this") {
						t.Errorf("awaiting reason = %+v", r)
					}
				}
			}
			if !slices.Equal(got, tt.awaiting) {
				t.Errorf("awaiting reasons for %v, want %v", got, tt.awaiting)
			}
		})
	}
	o := Score(Input{Product: ProductHealth, Checks: withStatus(healthChecks(), CheckImmigrationStatus, CheckPending)}, DefaultPolicy())
	if want := "An answer from the immigration-status partner would resolve this."; o.Reasons[0].Resolution != want {
		t.Errorf("resolution = %q, want %q", o.Reasons[0].Resolution, want)
	}
}

func TestScoreRecordsPolicyVersion(t *testing.T) {
	t.Parallel()
	for _, v := range []int{1, 7, 42} {
		p := DefaultPolicy()
		p.Version = v
		if o := Score(Input{Product: ProductTravel}, p); o.PolicyVersion != v {
			t.Errorf("policy version = %d, want %d", o.PolicyVersion, v)
		}
	}
}

func TestScoreRequiredChecksFollowProduct(t *testing.T) {
	t.Parallel()
	// With no checks at all, each required type yields one
	// REQUIRED_CHECK_NOT_RUN reason; an unknown product requires nothing.
	p := DefaultPolicy()
	for _, prod := range append(Products(), "BOAT") {
		o := Score(Input{Product: prod}, p)
		var got []CheckType
		for _, r := range o.Reasons {
			if r.Code != SignalRequiredCheckNotRun || r.Points != 10 || r.CheckID != "" {
				t.Errorf("%s: unexpected reason %+v", prod, r)
			}
			got = append(got, r.CheckType)
		}
		want := p.RequiredChecks(prod)
		slices.Sort(want)
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("%s: missing-check reasons for %v, want %v", prod, got, want)
		}
	}
}

func TestScoreKeepsPersonalDataOut(t *testing.T) {
	t.Parallel()
	detail := map[string]string{"name": "MARIA GONZALEZ", "documentNumber": "X12345678", DetailVisaCondition: "8501"}
	var signals []Signal
	for _, c := range SignalCodes() {
		signals = append(signals, Signal{Code: c, CheckID: "chk_1", CheckType: string(CheckImmigrationStatus), Detail: detail})
	}
	o := Score(Input{Product: ProductHealth, Checks: healthChecks(), Signals: signals}, DefaultPolicy())
	b, err := json.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"MARIA", "GONZALEZ", "X12345678"} {
		if strings.Contains(string(b), v) {
			t.Errorf("outcome carries %q: %s", v, b)
		}
	}
}

func TestScoreUnknownCode(t *testing.T) {
	t.Parallel()
	o := Score(Input{ProductHealth, healthChecks(), []Signal{{Code: "SOMETHING_NEW"}}}, DefaultPolicy())
	if len(o.Reasons) != 1 || o.Reasons[0].Points != 0 || o.Reasons[0].Message == "" || o.Decision != DecisionClear ||
		!strings.Contains(o.Reasons[0].Resolution, "underwriter") {
		t.Errorf("outcome = %+v", o)
	}
}

// TestScoreNeverLowered checks, over random policies and inputs, that
// adding one signal never lowers the score, the band or the decision.
func TestScoreNeverLowered(t *testing.T) {
	t.Parallel()
	codes := SignalCodes()
	types := CheckTypes()
	statuses := []CheckStatus{CheckCompleted, CheckCompleted, CheckFailed, CheckSkipped, CheckPending, CheckAwaitingPartner}
	bandRank := map[Band]int{BandLow: 0, BandMedium: 1, BandHigh: 2, BandCritical: 3}
	rng := rand.New(rand.NewPCG(20260101, 7))
	randomSignal := func(checks []Check) Signal {
		s := Signal{Code: codes[rng.IntN(len(codes))]}
		if len(checks) > 0 && rng.IntN(4) > 0 {
			c := checks[rng.IntN(len(checks))]
			s.CheckID = c.ID
			if rng.IntN(2) == 0 {
				s.CheckType = string(c.Type)
			}
		} else {
			s.CheckType = string(types[rng.IntN(len(types))])
		}
		if rng.IntN(2) == 0 {
			s.Strength = rng.Float64()
		}
		return s
	}
	for iter := range 3000 {
		p := DefaultPolicy()
		for c := range p.Weights {
			p.Weights[c] = rng.IntN(101)
		}
		prod := Products()[rng.IntN(len(Products()))]
		var checks []Check
		for i := range rng.IntN(6) {
			checks = append(checks, Check{ID: "chk_" + string(rune('a'+i)), Type: types[rng.IntN(len(types))], Status: statuses[rng.IntN(len(statuses))]})
		}
		var signals []Signal
		for range rng.IntN(12) {
			signals = append(signals, randomSignal(checks))
		}
		before := Score(Input{prod, checks, signals}, p)
		more := slices.Insert(slices.Clone(signals), rng.IntN(len(signals)+1), randomSignal(checks))
		after := Score(Input{prod, checks, more}, p)
		if after.Score < before.Score || bandRank[after.Band] < bandRank[before.Band] || after.Decision.rank() < before.Decision.rank() {
			t.Fatalf("iteration %d: adding a signal lowered the outcome\nbefore %+v\nafter  %+v\nsignals %+v", iter, before, after, more)
		}
	}
}

func BenchmarkScore(b *testing.B) {
	p := DefaultPolicy()
	in := Input{
		Product: ProductHealth,
		Checks:  withStatus(healthChecks(), CheckBorderMovements, CheckFailed),
		Signals: []Signal{
			sig(SignalMRZCheckDigitFailed, CheckDocumentMRZ),
			sig(SignalDocumentExpired, CheckDocumentMRZ),
			sig(SignalDocumentExpired, CheckDocumentRegistry),
			sig(SignalDocumentLost, CheckDocumentRegistry),
			sig(SignalIdentityMismatch, CheckDocumentRegistry),
			sig(SignalVisaExpiresBeforePolicy, CheckImmigrationStatus),
			{Code: SignalVisaConditionConflict, CheckID: checkID(CheckImmigrationStatus), Detail: map[string]string{DetailVisaCondition: "8501"}},
			graded(sig(SignalWatchlistWeak, CheckWatchlist), 0.62),
			graded(sig(SignalWatchlistWeak, CheckWatchlist), 0.41),
			sig(SignalPartnerTimeout, CheckBorderMovements),
		},
	}
	b.ReportAllocs()
	for b.Loop() {
		Score(in, p)
	}
}
