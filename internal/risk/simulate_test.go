package risk

import (
	"fmt"
	"reflect"
	"testing"
)

// stored scores in under p and keeps it as a StoredInput.
func stored(id string, in Input, p Policy) StoredInput {
	return StoredInput{VerificationID: id, Input: in, Outcome: Score(in, p)}
}

func TestSimulate(t *testing.T) {
	t.Parallel()
	current := DefaultPolicy()
	items := []StoredInput{
		stored("ver_clear", Input{ProductHealth, healthChecks(), []Signal{sig(SignalDocumentExpired, CheckDocumentMRZ)}}, current), // 20 CLEAR
		stored("ver_review", Input{ProductHealth, healthChecks(), []Signal{
			sig(SignalDocumentExpired, CheckDocumentMRZ), sig(SignalVisaExpiresBeforePolicy, CheckImmigrationStatus),
		}}, current), // 35 REVIEW
		stored("ver_decline", Input{ProductHealth, healthChecks(), []Signal{sig(SignalDocumentStolen, CheckDocumentRegistry)}}, current), // 90 DECLINE
		stored("ver_pending", Input{Product: ProductHealth, Checks: withStatus(healthChecks(), CheckWatchlist, CheckPending)}, current),  // 0 CLEAR, provisional
		stored("ver_timeout", Input{ProductHealth, healthChecks(), []Signal{sig(SignalPartnerTimeout, CheckWatchlist)}}, current),        // 10 REVIEW by rule
	}
	if got := []Decision{items[0].Outcome.Decision, items[1].Outcome.Decision, items[2].Outcome.Decision, items[3].Outcome.Decision, items[4].Outcome.Decision}; !reflect.DeepEqual(got, []Decision{DecisionClear, DecisionReview, DecisionDecline, DecisionClear, DecisionReview}) {
		t.Fatalf("fixture decisions = %v", got)
	}

	draft := current.Clone()
	draft.Version = 2
	// ver_clear: 20 → 30, still CLEAR. ver_review: 20+15 → 30+5, the same
	// 35 but CLEAR under the raised threshold. ver_decline: 90 → 10, still
	// DECLINE by the hard rule.
	draft.Decisions.Review = 40
	draft.Weights[SignalDocumentExpired] = 30
	draft.Weights[SignalVisaExpiresBeforePolicy] = 5
	draft.Weights[SignalDocumentStolen] = 10
	if err := draft.Validate(); err != nil {
		t.Fatal(err)
	}
	before := fmt.Sprintf("%#v %#v", items, draft)

	sum := Simulate(items, draft)

	if after := fmt.Sprintf("%#v %#v", items, draft); after != before {
		t.Error("Simulate changed its arguments")
	}
	want := Summary{
		PolicyVersion: 2,
		Total:         5,
		Changed:       1,
		ScoreRaised:   1, // ver_clear 20 → 30
		ScoreLowered:  1, // ver_decline 90 → 10 (ver_review stays 35)
		Provisional:   1,
		Transitions: []Transition{
			{DecisionClear, DecisionClear, 2},
			{DecisionReview, DecisionClear, 1},
			{DecisionReview, DecisionReview, 1},
			{DecisionDecline, DecisionDecline, 1},
		},
		Examples: []Change{{VerificationID: "ver_review", From: DecisionReview, To: DecisionClear, FromScore: 35, ToScore: 35}},
	}
	if !reflect.DeepEqual(sum, want) {
		t.Errorf("summary\n got %+v\nwant %+v", sum, want)
	}
}

func TestSimulateUnchangedPolicy(t *testing.T) {
	t.Parallel()
	p := DefaultPolicy()
	var items []StoredInput
	for i, c := range SignalCodes() {
		items = append(items, stored(fmt.Sprintf("ver_%02d", i), Input{ProductTravel, healthChecks(), []Signal{{Code: c, CheckType: string(CheckWatchlist)}}}, p))
	}
	sum := Simulate(items, p)
	if sum.Total != len(items) || sum.Changed != 0 || sum.ScoreRaised != 0 || sum.ScoreLowered != 0 || len(sum.Examples) != 0 {
		t.Errorf("the same policy changed outcomes: %+v", sum)
	}
	n := 0
	for _, tr := range sum.Transitions {
		if tr.From != tr.To {
			t.Errorf("transition %+v under the same policy", tr)
		}
		n += tr.Count
	}
	if n != len(items) {
		t.Errorf("transitions count %d, want %d", n, len(items))
	}
}

func TestSimulateBoundsExamples(t *testing.T) {
	t.Parallel()
	p := DefaultPolicy()
	in := Input{ProductHealth, healthChecks(), []Signal{sig(SignalVisaExpired, CheckImmigrationStatus)}}
	var items []StoredInput
	for i := range MaxSimulationExamples + 10 {
		items = append(items, stored(fmt.Sprintf("ver_%03d", i), in, p))
	}
	items = append(items, StoredInput{VerificationID: "ver_unscored", Input: in})
	draft := p.Clone()
	draft.Weights[SignalVisaExpired] = 0
	sum := Simulate(items, draft)
	if sum.Changed != MaxSimulationExamples+11 || len(sum.Examples) != MaxSimulationExamples || sum.Examples[0].VerificationID != "ver_000" {
		t.Errorf("changed %d, %d examples starting %+v", sum.Changed, len(sum.Examples), sum.Examples[0])
	}
	want := []Transition{{"", DecisionClear, 1}, {DecisionReview, DecisionClear, MaxSimulationExamples + 10}}
	if !reflect.DeepEqual(sum.Transitions, want) {
		t.Errorf("transitions %+v, want %+v", sum.Transitions, want)
	}
}

func TestSimulateEmpty(t *testing.T) {
	t.Parallel()
	sum := Simulate(nil, DefaultPolicy())
	if sum.Total != 0 || sum.Transitions == nil || sum.Examples == nil {
		t.Errorf("empty summary = %+v (lists must be empty, not null)", sum)
	}
}
