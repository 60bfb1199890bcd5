package risk

import (
	"bytes"
	"encoding/json"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/borderproof/borderproof/internal/errs"
)

// Policy is one insurer's scoring policy at one version. Policies are
// immutable once stored: an edit stores a copy with the next Version, and
// every Outcome records the version that produced it. A Policy is stored as
// JSON and edited through the API; Validate it before storing.
type Policy struct {
	// InsurerID owns the policy; empty for the built-in default.
	InsurerID string    `json:"insurerId,omitempty"`
	Version   int       `json:"version"`
	CreatedAt time.Time `json:"createdAt"`

	// Weights gives the points, 0 to 100, a signal scores at full
	// strength. Every known code has a weight; a code missing from a policy
	// stored before the code existed scores its DefaultPolicy weight.
	Weights map[SignalCode]int `json:"weights"`

	Bands     BandThresholds     `json:"bands"`
	Decisions DecisionThresholds `json:"decisions"`

	// HardRules raise the decision to a floor whatever the score. A policy
	// may add rules and raise floors but never weaken the baseline rules
	// (see BaselineRules); Score applies the baseline even to a policy that
	// escaped validation.
	HardRules []HardRule `json:"hardRules"`

	// ChecksByProduct lists, per product, the checks a verification must
	// have answered before it can be cleared.
	ChecksByProduct map[Product][]CheckType `json:"requiredChecks"`

	// VisaConditionsByProduct lists, per product, the visa condition codes the
	// policyholder's visa must carry (for example 8501, "maintain adequate
	// health insurance", for HEALTH). Immigration-status clients consult it
	// through RequiredVisaConditions and emit VISA_CONDITION_CONFLICT.
	VisaConditionsByProduct map[Product][]string `json:"visaConditions,omitempty"`
}

// BandThresholds holds the lowest score of each band above LOW; scores
// below Medium are LOW. Each is 1 to 100 and they strictly increase.
type BandThresholds struct {
	Medium   int `json:"medium"`
	High     int `json:"high"`
	Critical int `json:"critical"`
}

// DecisionThresholds holds the lowest score that is REVIEW and the lowest
// that is DECLINE; scores below Review are CLEAR. Each is 1 to 100 and
// Review < Decline.
type DecisionThresholds struct {
	Review  int `json:"review"`
	Decline int `json:"decline"`
}

// HardRule forces the decision to at least Floor when any of Signals is
// present. With RequiredChecksOnly it applies only to signals from checks
// the product requires.
type HardRule struct {
	Name               string       `json:"name"`
	Signals            []SignalCode `json:"signals"`
	RequiredChecksOnly bool         `json:"requiredChecksOnly,omitempty"`
	Floor              Decision     `json:"floor"`
}

// Names of the baseline hard rules, reported in Outcome.HardRule.
const (
	RuleStolenDocument        = "STOLEN_DOCUMENT"
	RuleLostOrRevokedDocument = "LOST_OR_REVOKED_DOCUMENT"
	RuleStrongWatchlistMatch  = "STRONG_WATCHLIST_MATCH"
	RulePartnerDidNotAnswer   = "PARTNER_DID_NOT_ANSWER"
	RuleRequiredCheckNotRun   = "REQUIRED_CHECK_NOT_PERFORMED"
)

// RuleOverstay is the name of DefaultPolicy's own rule: any recorded
// overstay is at least REVIEW. Unlike the baseline an insurer may drop it.
const RuleOverstay = "OVERSTAY_RECORDED"

// baselineRule is a HardRule without heap-allocated parts, so that Score
// can walk the baseline without allocating.
type baselineRule struct {
	name         string
	codes        [2]SignalCode // "" marks an unused slot
	requiredOnly bool
	floor        Decision
}

func baseline() [5]baselineRule {
	return [...]baselineRule{
		{RuleStolenDocument, [2]SignalCode{SignalDocumentStolen}, false, DecisionDecline},
		{RuleLostOrRevokedDocument, [2]SignalCode{SignalDocumentLost, SignalDocumentRevoked}, false, DecisionReview},
		{RuleStrongWatchlistMatch, [2]SignalCode{SignalWatchlistStrong}, false, DecisionReview},
		{RulePartnerDidNotAnswer, [2]SignalCode{SignalPartnerUnavailable, SignalPartnerTimeout}, false, DecisionReview},
		{RuleRequiredCheckNotRun, [2]SignalCode{SignalDataSharingForbidden, SignalRequiredCheckNotRun}, true, DecisionReview},
	}
}

func (b baselineRule) rule() HardRule {
	r := HardRule{Name: b.name, RequiredChecksOnly: b.requiredOnly, Floor: b.floor}
	for _, c := range b.codes {
		if c != "" {
			r.Signals = append(r.Signals, c)
		}
	}
	return r
}

// BaselineRules returns the hard rules no policy may weaken: a stolen
// document is DECLINE; a lost or revoked document, a strong watchlist
// match, a partner that did not answer, and a required check that was not
// run (skipped by the data-sharing rules, or missing) are at least REVIEW.
func BaselineRules() []HardRule {
	b := baseline()
	out := make([]HardRule, len(b))
	for i, r := range b {
		out[i] = r.rule()
	}
	return out
}

// DefaultPolicy is the policy an insurer starts with. The README of this
// package tabulates it for underwriters.
func DefaultPolicy() Policy {
	codes := SignalCodes()
	w := make(map[SignalCode]int, len(codes))
	for _, c := range codes {
		w[c] = defaultWeight(c)
	}
	docs := []CheckType{CheckDocumentMRZ, CheckDocumentRegistry}
	return Policy{
		Version:   1,
		Weights:   w,
		Bands:     BandThresholds{Medium: 25, High: 50, Critical: 75},
		Decisions: DecisionThresholds{Review: 30, Decline: 70},
		// OVERSTAY is graded by length (a quarter of its weight for a short
		// one), so no weight alone can send a short overstay to review; any
		// stay past its permitted end is a breach of the person's status,
		// which an underwriter should see.
		HardRules: append(BaselineRules(), HardRule{Name: RuleOverstay, Signals: []SignalCode{SignalOverstay}, Floor: DecisionReview}),
		ChecksByProduct: map[Product][]CheckType{
			ProductHealth:   append(slices.Clip(docs), CheckImmigrationStatus, CheckBorderMovements, CheckWatchlist),
			ProductLife:     append(slices.Clip(docs), CheckImmigrationStatus, CheckWatchlist),
			ProductTravel:   append(slices.Clip(docs), CheckBorderMovements, CheckWatchlist),
			ProductProperty: append(slices.Clip(docs), CheckWatchlist),
			ProductMotor:    append(slices.Clip(docs), CheckWatchlist),
		},
		VisaConditionsByProduct: map[Product][]string{
			ProductHealth: {"8501"},
		},
	}
}

// defaultWeight is the weight DefaultPolicy gives c (0 for unknown codes).
func defaultWeight(c SignalCode) int {
	e, _ := catalogue(c)
	return e.weight
}

// Weight is the points c scores at full strength under p. A code the
// policy has no weight for (it was stored before the code existed) scores
// its DefaultPolicy weight, never silently nothing.
func (p Policy) Weight(c SignalCode) int {
	if w, ok := p.Weights[c]; ok {
		return w
	}
	return defaultWeight(c)
}

// RequiredChecks returns the check types product requires under p. The
// slice is the caller's.
func (p Policy) RequiredChecks(product Product) []CheckType {
	return slices.Clone(p.ChecksByProduct[product])
}

// RequiredVisaConditions returns the visa condition codes product requires
// under p, in policy order. The slice is the caller's.
func (p Policy) RequiredVisaConditions(product Product) []string {
	return slices.Clone(p.VisaConditionsByProduct[product])
}

// Clone returns a deep copy of p, for editing into the next version.
func (p Policy) Clone() Policy {
	q := p
	q.Weights = maps.Clone(p.Weights)
	q.HardRules = slices.Clone(p.HardRules)
	for i := range q.HardRules {
		q.HardRules[i].Signals = slices.Clone(q.HardRules[i].Signals)
	}
	if p.ChecksByProduct != nil {
		q.ChecksByProduct = make(map[Product][]CheckType, len(p.ChecksByProduct))
		for k, v := range p.ChecksByProduct {
			q.ChecksByProduct[k] = slices.Clone(v)
		}
	}
	if p.VisaConditionsByProduct != nil {
		q.VisaConditionsByProduct = make(map[Product][]string, len(p.VisaConditionsByProduct))
		for k, v := range p.VisaConditionsByProduct {
			q.VisaConditionsByProduct[k] = slices.Clone(v)
		}
	}
	return q
}

// ParsePolicy decodes a stored or submitted policy, rejecting unknown
// fields, and validates it. Errors are Invalid and safe to show.
func ParsePolicy(data []byte) (Policy, error) {
	var p Policy
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return Policy{}, errs.Wrap(err, errs.Invalid, "risk policy is not well-formed JSON with known fields")
	}
	if dec.More() {
		return Policy{}, errs.E(errs.Invalid, "risk policy has data after the JSON object")
	}
	if err := p.Validate(); err != nil {
		return Policy{}, err
	}
	return p, nil
}

// Limits on the sizes of a policy's lists.
const (
	MaxHardRules         = 50
	MaxVisaConditions    = 20
	maxRuleNameLen       = 64
	maxVisaConditionLen  = 16
	minPoints, maxPoints = 0, 100
)

// Validate reports every problem with p as one Invalid error whose field
// paths name the bad part, for example "weights.DOCUMENT_STOLEN",
// "bands.high", "hardRules[2].floor", "requiredChecks.HEALTH[1]" or
// "visaConditions.HEALTH[0]". Problems are listed in a fixed order.
func (p Policy) Validate() error {
	var f errs.Fields
	if p.Version < 1 {
		f.Add("version", "must be 1 or more")
	}
	p.validateWeights(&f)
	validateThresholds(&f, "bands", []string{"medium", "high", "critical"}, []int{p.Bands.Medium, p.Bands.High, p.Bands.Critical})
	validateThresholds(&f, "decisions", []string{"review", "decline"}, []int{p.Decisions.Review, p.Decisions.Decline})
	p.validateHardRules(&f)
	p.validateRequiredChecks(&f)
	p.validateVisaConditions(&f)
	return f.Err()
}

func (p Policy) validateWeights(f *errs.Fields) {
	for _, c := range SignalCodes() {
		w, ok := p.Weights[c]
		switch {
		case !ok:
			f.Add("weights."+string(c), "required")
		case w < minPoints || w > maxPoints:
			f.Add("weights."+string(c), "points must be between 0 and 100")
		}
	}
	for _, c := range slices.Sorted(maps.Keys(p.Weights)) {
		if !c.Known() {
			f.Add("weights."+string(c), "unknown signal code")
		}
	}
}

func validateThresholds(f *errs.Fields, group string, names []string, values []int) {
	for i, v := range values {
		path := group + "." + names[i]
		switch {
		case v < 1 || v > maxPoints:
			f.Add(path, "must be between 1 and 100")
		case i > 0 && v <= values[i-1]:
			f.Add(path, "must be greater than %s.%s", group, names[i-1])
		}
	}
}

func (p Policy) validateHardRules(f *errs.Fields) {
	if len(p.HardRules) > MaxHardRules {
		f.Add("hardRules", "at most %d rules", MaxHardRules)
	}
	for i, r := range p.HardRules {
		path := "hardRules[" + strconv.Itoa(i) + "]"
		switch {
		case !validName(r.Name):
			f.Add(path+".name", "must be 1 to 64 upper-case letters, digits or underscores")
		case slices.ContainsFunc(p.HardRules[:i], func(o HardRule) bool { return o.Name == r.Name }):
			f.Add(path+".name", "duplicate rule name")
		}
		if len(r.Signals) == 0 {
			f.Add(path+".signals", "at least one signal code")
		}
		for j, c := range r.Signals {
			sp := path + ".signals[" + strconv.Itoa(j) + "]"
			switch {
			case !c.Known():
				f.Add(sp, "unknown signal code")
			case slices.Contains(r.Signals[:j], c):
				f.Add(sp, "duplicate signal code")
			}
		}
		if r.Floor != DecisionReview && r.Floor != DecisionDecline {
			f.Add(path+".floor", "must be REVIEW or DECLINE")
		}
	}
	// The baseline may be met by any rule, under any name, as long as it
	// covers the code on at least the same checks with at least the floor.
	for _, b := range baseline() {
		for _, c := range b.codes {
			if c == "" {
				continue
			}
			covered := slices.ContainsFunc(p.HardRules, func(r HardRule) bool {
				return slices.Contains(r.Signals, c) && r.Floor.rank() >= b.floor.rank() &&
					(!r.RequiredChecksOnly || b.requiredOnly)
			})
			if !covered {
				scope := "on any check"
				if b.requiredOnly {
					scope = "on required checks"
				}
				f.Add("hardRules", "must keep %s at %s or stricter %s (rule %s)", c, b.floor, scope, b.name)
			}
		}
	}
}

func (p Policy) validateRequiredChecks(f *errs.Fields) {
	for _, prod := range Products() {
		types, ok := p.ChecksByProduct[prod]
		if !ok {
			f.Add("requiredChecks."+string(prod), "required (an empty list means no check is required)")
		}
		for i, t := range types {
			path := "requiredChecks." + string(prod) + "[" + strconv.Itoa(i) + "]"
			switch {
			case !t.Known():
				f.Add(path, "unknown check type")
			case slices.Contains(types[:i], t):
				f.Add(path, "duplicate check type")
			}
		}
	}
	for _, prod := range slices.Sorted(maps.Keys(p.ChecksByProduct)) {
		if !prod.Known() {
			f.Add("requiredChecks."+string(prod), "unknown product")
		}
	}
}

func (p Policy) validateVisaConditions(f *errs.Fields) {
	for _, prod := range slices.Sorted(maps.Keys(p.VisaConditionsByProduct)) {
		conds := p.VisaConditionsByProduct[prod]
		base := "visaConditions." + string(prod)
		if !prod.Known() {
			f.Add(base, "unknown product")
		}
		if len(conds) > MaxVisaConditions {
			f.Add(base, "at most %d conditions", MaxVisaConditions)
		}
		for i, c := range conds {
			path := base + "[" + strconv.Itoa(i) + "]"
			switch {
			case !validCondition(c):
				f.Add(path, "must be 1 to 16 letters, digits or hyphens")
			case slices.Contains(conds[:i], c):
				f.Add(path, "duplicate condition")
			}
		}
	}
}

func validName(s string) bool {
	if s == "" || len(s) > maxRuleNameLen {
		return false
	}
	for _, r := range s {
		if !(r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_') {
			return false
		}
	}
	return true
}

func validCondition(s string) bool {
	if s == "" || len(s) > maxVisaConditionLen {
		return false
	}
	for _, r := range s {
		if !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}
