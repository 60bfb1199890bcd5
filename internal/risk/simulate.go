package risk

import (
	"cmp"
	"slices"
)

// StoredInput is a scored verification as kept for simulation: the input
// it was scored on and the outcome recorded then.
type StoredInput struct {
	VerificationID string  `json:"verificationId"`
	Input          Input   `json:"input"`
	Outcome        Outcome `json:"outcome"`
}

// Transition counts verifications whose recorded decision was From and
// whose decision under the draft is To. From is empty for a verification
// that had no recorded decision.
type Transition struct {
	From  Decision `json:"from"`
	To    Decision `json:"to"`
	Count int      `json:"count"`
}

// Change is one verification whose decision the draft would change.
type Change struct {
	VerificationID string   `json:"verificationId"`
	From           Decision `json:"from"`
	To             Decision `json:"to"`
	FromScore      int      `json:"fromScore"`
	ToScore        int      `json:"toScore"`
}

// MaxSimulationExamples bounds Summary.Examples.
const MaxSimulationExamples = 50

// Summary reports what a draft policy would change.
type Summary struct {
	// PolicyVersion is the draft's version.
	PolicyVersion int `json:"policyVersion"`
	Total         int `json:"total"`
	// Changed counts verifications whose decision would change.
	Changed int `json:"changed"`
	// ScoreRaised and ScoreLowered count verifications whose score would
	// rise or fall, whatever happens to the decision.
	ScoreRaised  int `json:"scoreRaised"`
	ScoreLowered int `json:"scoreLowered"`
	// Provisional counts rescored outcomes that are provisional.
	Provisional int `json:"provisional"`
	// Transitions holds every (from, to) pair that occurs, unchanged pairs
	// included, ordered by from and then to, mildest first.
	Transitions []Transition `json:"transitions"`
	// Examples lists the first MaxSimulationExamples changed decisions in
	// input order.
	Examples []Change `json:"examples"`
}

// Simulate rescores stored inputs under a draft policy and summarises how
// decisions would move from the recorded ones. It has no side effects;
// validate the draft first.
func Simulate(stored []StoredInput, draft Policy) Summary {
	sum := Summary{PolicyVersion: draft.Version, Total: len(stored), Transitions: []Transition{}, Examples: []Change{}}
	for i := range stored {
		s := &stored[i]
		o := Score(s.Input, draft)
		from := s.Outcome.Decision
		switch {
		case o.Score > s.Outcome.Score:
			sum.ScoreRaised++
		case o.Score < s.Outcome.Score:
			sum.ScoreLowered++
		}
		if o.Provisional {
			sum.Provisional++
		}
		j := slices.IndexFunc(sum.Transitions, func(t Transition) bool { return t.From == from && t.To == o.Decision })
		if j < 0 {
			sum.Transitions = append(sum.Transitions, Transition{From: from, To: o.Decision})
			j = len(sum.Transitions) - 1
		}
		sum.Transitions[j].Count++
		if from != o.Decision {
			sum.Changed++
			if len(sum.Examples) < MaxSimulationExamples {
				sum.Examples = append(sum.Examples, Change{
					VerificationID: s.VerificationID,
					From:           from,
					To:             o.Decision,
					FromScore:      s.Outcome.Score,
					ToScore:        o.Score,
				})
			}
		}
	}
	slices.SortFunc(sum.Transitions, func(a, b Transition) int {
		return cmp.Or(
			cmp.Compare(a.From.rank(), b.From.rank()),
			cmp.Compare(a.From, b.From),
			cmp.Compare(a.To.rank(), b.To.rank()),
			cmp.Compare(a.To, b.To),
		)
	})
	return sum
}
