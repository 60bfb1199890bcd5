package risk

import (
	"cmp"
	"math"
	"slices"
)

// Band places a score on the underwriters' four-step scale.
type Band string

// Bands, lowest first.
const (
	BandLow      Band = "LOW"
	BandMedium   Band = "MEDIUM"
	BandHigh     Band = "HIGH"
	BandCritical Band = "CRITICAL"
)

// Decision is the recommendation for a verification.
type Decision string

// Decisions, mildest first.
const (
	DecisionClear   Decision = "CLEAR"
	DecisionReview  Decision = "REVIEW"
	DecisionDecline Decision = "DECLINE"
)

// rank orders decisions; unknown decisions rank below CLEAR.
func (d Decision) rank() int {
	switch d {
	case DecisionClear:
		return 0
	case DecisionReview:
		return 1
	case DecisionDecline:
		return 2
	}
	return -1
}

// Known reports whether d is one of the decisions above.
func (d Decision) Known() bool { return d.rank() >= 0 }

// Reason explains one contribution to an outcome. Code and Points are
// stable; Message and Resolution are plain English from one catalogue and
// never carry personal data.
type Reason struct {
	Code       SignalCode `json:"code"`
	Message    string     `json:"message"`
	Points     int        `json:"points"`
	CheckID    string     `json:"checkId,omitempty"`
	CheckType  CheckType  `json:"checkType,omitempty"`
	Resolution string     `json:"resolution,omitempty"`
}

// Outcome is the explainable result of scoring one verification.
type Outcome struct {
	// Score is the sum of the reasons' points, capped at 100.
	Score int `json:"score"`
	// Band follows the score alone.
	Band Band `json:"band"`
	// Decision follows the score, raised to the floor of any hard rule.
	Decision Decision `json:"decision"`
	// Reasons are ordered by points (highest first), then by code, check
	// id and check type.
	Reasons       []Reason `json:"reasons"`
	PolicyVersion int      `json:"policyVersion"`
	// Provisional is true while any check is unanswered (PENDING or
	// AWAITING_PARTNER, required or not, since any answer may change the
	// outcome); Reasons then include AWAITING_PARTNER for each.
	Provisional bool `json:"provisional"`
	// HardRule names the rule that raised the decision above what the
	// score alone gives; empty when no rule did.
	HardRule string `json:"hardRule,omitempty"`
}

// candidate is one signal, explicit or derived from check status, before
// signals of the same group are merged.
type candidate struct {
	Reason
	key       groupKey
	required  bool // from a check the product requires
	synthetic bool // derived from check status rather than emitted
}

// groupKey is the key under which candidates are merged: a fact about the
// subject counts once per verification, a fact about the process once per
// check. PARTNER_TIMEOUT and PARTNER_UNAVAILABLE both say "the partner did
// not answer" and share a group.
type groupKey struct {
	code      SignalCode
	checkID   string
	checkType CheckType
}

func keyOf(code SignalCode, perCheck bool, checkID string, ct CheckType) groupKey {
	if code == SignalPartnerTimeout {
		code = SignalPartnerUnavailable
	}
	switch {
	case !perCheck:
		return groupKey{code: code}
	case checkID != "":
		return groupKey{code: code, checkID: checkID}
	}
	return groupKey{code: code, checkType: ct}
}

// better reports whether a should represent a group instead of b. The
// order is total, so the outcome does not depend on the order of signals.
func better(a, b *candidate) bool {
	if a.Points != b.Points {
		return a.Points > b.Points
	}
	if a.synthetic != b.synthetic {
		return !a.synthetic
	}
	return compareReasons(a.Reason, b.Reason) < 0
}

// compareReasons is the order of Outcome.Reasons.
func compareReasons(a, b Reason) int {
	return cmp.Or(
		cmp.Compare(b.Points, a.Points),
		cmp.Compare(a.Code, b.Code),
		cmp.Compare(a.CheckID, b.CheckID),
		cmp.Compare(a.CheckType, b.CheckType),
	)
}

// Score turns a verification's signals and check states into an outcome
// under policy p. It is deterministic and has no side effects.
//
// Each signal scores round(weight × strength) points. Signals are merged
// per group, the strongest standing for the group: a fact about the subject
// counts once per verification (two checks reporting an expired document
// are one reason), a fact about the process once per check. The score is the sum of
// the reasons' points, capped at 100. A plain capped sum keeps every
// reason's points readable as its share of the score and makes the score
// monotone: adding a signal never lowers it. A saturating combination
// (1 − Π(1 − pᵢ)) would also be monotone, but its parts no longer add up
// to the total, so no reason could say what it is worth on its own. The
// cost of the cap is that scores above 100 points all read as 100; the
// decision thresholds sit well below it, so nothing is lost there.
//
// Check status adds derived signals: FAILED → PARTNER_UNAVAILABLE, SKIPPED
// → DATA_SHARING_NOT_PERMITTED, PENDING or AWAITING_PARTNER →
// AWAITING_PARTNER (and the outcome is provisional), and a required check
// type the input has no check for → REQUIRED_CHECK_NOT_RUN.
//
// The decision is the score's decision, raised by the policy's hard rules
// and by the baseline rules (which apply even if p omits them).
func Score(in Input, p Policy) Outcome {
	required := p.ChecksByProduct[in.Product]

	// Most inputs have a handful of signals and checks; the buffer keeps
	// them off the heap.
	var buf [24]candidate
	cands := buf[:0]

	for i := range in.Signals {
		s := &in.Signals[i]
		ct := CheckType(s.CheckType)
		if ct == "" && s.CheckID != "" {
			for _, c := range in.Checks {
				if c.ID == s.CheckID {
					ct = c.Type
					break
				}
			}
		}
		cands = append(cands, p.candidate(s.Code, s.EffectiveStrength(), s.CheckID, ct, required, false))
	}

	for _, c := range in.Checks {
		var code SignalCode
		switch c.Status {
		case CheckCompleted:
			continue
		case CheckFailed:
			code = SignalPartnerUnavailable
		case CheckSkipped:
			code = SignalDataSharingForbidden
		default: // PENDING, AWAITING_PARTNER, or unknown: not answered yet
			code = SignalAwaitingPartner
		}
		cands = append(cands, p.candidate(code, 1, c.ID, c.Type, required, true))
	}

	for _, t := range required {
		if !slices.ContainsFunc(in.Checks, func(c Check) bool { return c.Type == t }) {
			cands = append(cands, p.candidate(SignalRequiredCheckNotRun, 1, "", t, required, true))
		}
	}

	// Provisional exactly when there is an AWAITING_PARTNER reason, derived
	// from an unanswered check or emitted by a client.
	provisional := false
	for i := range cands {
		if cands[i].Code == SignalAwaitingPartner {
			provisional = true
		}
	}

	// Hard rules look at every candidate before merging: a rule on
	// PARTNER_TIMEOUT applies even when PARTNER_UNAVAILABLE represents the
	// group. Policy rules are tried in order, then the baseline; the first
	// rule to reach the highest floor is the one reported.
	floor, floorRule := Decision(""), ""
	for _, r := range p.HardRules {
		if r.Floor.rank() > floor.rank() && matches(cands, r.Signals, r.RequiredChecksOnly) {
			floor, floorRule = r.Floor, r.Name
		}
	}
	for _, b := range baseline() {
		if b.floor.rank() > floor.rank() && matches(cands, b.codes[:], b.requiredOnly) {
			floor, floorRule = b.floor, b.name
		}
	}

	// Merge groups in place: cands[:n] holds one representative per group.
	// cands[n] is never a representative, so it may be overwritten.
	n := 0
	for i := range cands {
		c := &cands[i]
		j := 0
		for j < n && cands[j].key != c.key {
			j++
		}
		switch {
		case j == n:
			cands[n] = *c
			n++
		case better(c, &cands[j]):
			cands[j] = *c
		}
	}

	out := Outcome{PolicyVersion: p.Version, Provisional: provisional, Reasons: make([]Reason, n)}
	total := 0
	for i := range n {
		r := cands[i].Reason
		if r.Resolution == "" {
			r.Resolution = processResolution(r.Code, r.CheckType)
		}
		out.Reasons[i] = r
		total += r.Points
	}
	slices.SortFunc(out.Reasons, compareReasons)
	out.Score = min(total, maxPoints)
	out.Band = p.band(out.Score)
	out.Decision = p.decision(out.Score)
	if floor.rank() > out.Decision.rank() {
		out.Decision, out.HardRule = floor, floorRule
	}
	return out
}

func (p Policy) candidate(code SignalCode, strength float64, checkID string, ct CheckType, required []CheckType, synthetic bool) candidate {
	e, _ := catalogue(code)
	w := min(max(p.Weight(code), minPoints), maxPoints)
	return candidate{
		Reason: Reason{
			Code:       code,
			Message:    e.message,
			Points:     int(math.Round(float64(w) * strength)),
			CheckID:    checkID,
			CheckType:  ct,
			Resolution: e.resolution, // per-check codes: filled in once merged
		},
		key:       keyOf(code, e.perCheck, checkID, ct),
		required:  ct != "" && slices.Contains(required, ct),
		synthetic: synthetic,
	}
}

func matches(cands []candidate, codes []SignalCode, requiredOnly bool) bool {
	for i := range cands {
		c := &cands[i]
		if c.Code != "" && slices.Contains(codes, c.Code) && (!requiredOnly || c.required) {
			return true
		}
	}
	return false
}

func (p Policy) band(score int) Band {
	switch {
	case score >= p.Bands.Critical:
		return BandCritical
	case score >= p.Bands.High:
		return BandHigh
	case score >= p.Bands.Medium:
		return BandMedium
	}
	return BandLow
}

func (p Policy) decision(score int) Decision {
	switch {
	case score >= p.Decisions.Decline:
		return DecisionDecline
	case score >= p.Decisions.Review:
		return DecisionReview
	}
	return DecisionClear
}
