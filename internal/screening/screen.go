package screening

import (
	"cmp"
	"slices"

	"github.com/borderproof/borderproof/internal/errs"
)

// Screening defaults.
const (
	// DefaultThreshold is the lowest Score a candidate needs. At it, names
	// that differ by a letter or two, in word order, or by a missing middle
	// name are found, and names sharing only one common word are not.
	DefaultThreshold = 0.88
	// DefaultLimit is the most candidates Screen returns.
	DefaultLimit = 10
)

// How a date of birth or nationality moves the score. An agreeing
// attribute closes part of the gap to 1; a contradicting one scales the
// score down.
const (
	birthDateMatchBoost     = 0.5
	birthDateMismatchFactor = 0.8
	nationalityMatchBoost   = 0.2
	nationalityMismatchFact = 0.9
)

// ScreenOption changes how Screen selects candidates.
type ScreenOption func(*screenConfig)

type screenConfig struct {
	threshold float64
	limit     int
}

// WithThreshold sets the lowest Score a candidate needs, in [0,1].
func WithThreshold(t float64) ScreenOption {
	return func(c *screenConfig) { c.threshold = min(max(t, 0), 1) }
}

// WithLimit sets the most candidates returned; n <= 0 means no limit.
func WithLimit(n int) ScreenOption {
	return func(c *screenConfig) { c.limit = n }
}

// maxQueryTokens bounds the words of a query name.
const maxQueryTokens = 16

// Validate checks that the query has a name to screen.
func (q Query) Validate() error {
	var f errs.Fields
	if len(nameTokens(q.name())) == 0 {
		f.Add("name", "a name with at least one letter or digit is required")
	}
	if q.Nationality != "" && queryNationality(q.Nationality) == "" {
		f.Add("nationality", "must be an ISO 3166-1 alpha-3 or ICAO nationality code")
	}
	if q.Type != "" && !q.Type.Valid() {
		f.Add("type", "must be individual, entity, vessel or aircraft")
	}
	return f.Err()
}

// scratch is per-call working memory, pooled per list.
type scratch struct {
	rows  [][]float64 // per distinct query token: pair score by vocabulary index, or notCompared / notScored
	hot   []int32     // vocabulary tokens pairing with some query token at or above the floor
	pairs []tokenPair
	// seen[n] == gen marks name n as a candidate of the current call.
	seen  []uint32
	gen   uint32
	names []int32
}

// Screen scores q against every name and alias on the list and returns the
// candidates whose Score reaches the threshold, best first (ties by
// NameScore, then by EntityID), at most the limit. An entity appears once,
// with its best-scoring name.
func (l *List) Screen(q Query, opts ...ScreenOption) ([]Candidate, error) {
	if err := q.Validate(); err != nil {
		return nil, err
	}
	cfg := screenConfig{threshold: DefaultThreshold, limit: DefaultLimit}
	for _, o := range opts {
		o(&cfg)
	}
	tokens := nameTokens(q.name())
	if len(tokens) > maxQueryTokens {
		tokens = tokens[:maxQueryTokens]
	}
	nationality := queryNationality(q.Nationality)
	hasDOB := !q.BirthDate.IsZero()

	// The lowest name score that the best possible date of birth and
	// nationality outcomes could lift to the threshold.
	gap := 1.0
	if hasDOB {
		gap *= 1 - birthDateMatchBoost
	}
	if nationality != "" {
		gap *= 1 - nationalityMatchBoost
	}
	minName := 1 - (1-cfg.threshold)/gap

	sc := l.scratch.Get().(*scratch)
	defer l.scratch.Put(sc)

	// Query variants as sequences of distinct-token indexes.
	var distinct []string
	var qvars [][]int
	for _, v := range wordCombinations(tokens) {
		idx := make([]int, len(v))
		for i, t := range v {
			j := slices.Index(distinct, t)
			if j < 0 {
				j = len(distinct)
				distinct = append(distinct, t)
			}
			idx[i] = j
		}
		qvars = append(qvars, idx)
	}
	qlens := make([]int, len(qvars))
	for i, v := range qvars {
		for _, j := range v {
			qlens[i] += len(distinct[j])
		}
	}
	l.fillRows(sc, distinct, minName)

	// Only names holding a token that pairs with some query token at or
	// above minName can score minName: a name's score never exceeds its
	// best pair score. Gather them from the postings.
	if len(sc.seen) < len(l.names) {
		sc.seen = make([]uint32, len(l.names))
		sc.gen = 0
	}
	sc.gen++
	if sc.gen == 0 { // wrapped: start the marks afresh
		clear(sc.seen)
		sc.gen = 1
	}
	cands := sc.names[:0]
	for _, id := range sc.hot {
		for _, n := range l.postings[id] {
			if sc.seen[n] != sc.gen {
				sc.seen[n] = sc.gen
				cands = append(cands, n)
			}
		}
	}
	slices.Sort(cands) // names of one entity are adjacent
	sc.names = cands

	var out []Candidate
	for k := 0; k < len(cands); {
		ei := l.names[cands[k]].entity
		e := &l.entities[ei]
		best, bestName := -1.0, -1
		for ; k < len(cands) && l.names[cands[k]].entity == ei; k++ {
			if q.Type != "" && e.Type != q.Type {
				continue
			}
			n := int(cands[k])
			pn := &l.names[n]
			for vi := pn.first; vi < pn.end; vi++ {
				nv := &l.variants[vi]
				ids := l.tokens[nv.first:nv.end]
				for qi, qv := range qvars {
					s := l.bestPairs(sc, qv, qlens[qi], distinct, ids, int(nv.length), minName)
					if s > best {
						best, bestName = s, n
					}
				}
			}
		}
		if best < minName || bestName < 0 {
			continue
		}
		c := Candidate{
			EntityID:         e.ID,
			ListName:         l.name,
			Type:             e.Type,
			MatchedName:      e.Name,
			NameScore:        best,
			BirthDateMatch:   birthDateMatch(e, q),
			NationalityMatch: nationalityMatch(e, nationality),
			Programs:         slices.Clone(e.Programs),
		}
		if a := l.names[bestName].alias; a >= 0 {
			c.MatchedName, c.MatchedAlias = e.Aliases[a].Name, true
		}
		c.Score = adjustScore(best, c.BirthDateMatch, c.NationalityMatch)
		if c.Score >= cfg.threshold {
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b Candidate) int {
		if c := cmp.Compare(b.Score, a.Score); c != 0 {
			return c
		}
		if c := cmp.Compare(b.NameScore, a.NameScore); c != 0 {
			return c
		}
		return cmp.Compare(a.EntityID, b.EntityID)
	})
	if cfg.limit > 0 && len(out) > cfg.limit {
		out = out[:cfg.limit]
	}
	return out, nil
}

// Row values that are not pair scores.
const (
	notCompared = -1 // the tokens' first letters differ in phonetic class
	notScored   = -2 // not computed yet
)

// fillRows prepares, for every distinct query token, its row of pair
// scores by vocabulary token, and collects in sc.hot the vocabulary tokens
// whose pair score with some query token reaches floor. Only tokens of the
// query token's phonetic class are compared (-1 marks the others), and a
// pair whose token lengths alone keep it below floor is left to be scored
// on demand (see pair).
func (l *List) fillRows(sc *scratch, distinct []string, floor float64) {
	sc.hot = sc.hot[:0]
	for len(sc.rows) < len(distinct) {
		sc.rows = append(sc.rows, nil)
	}
	var sr scorer
	for i, t := range distinct {
		row := sc.rows[i]
		if cap(row) < len(l.vocab) {
			row = make([]float64, len(l.vocab))
		}
		row = row[:len(l.vocab)]
		for j := range row {
			row[j] = notCompared
		}
		for _, id := range l.byClass[phoneticClass(t)] {
			v := l.vocab[id]
			if pairScoreBound(len(v), len(t)) < floor {
				row[id] = notScored
				continue
			}
			s := sr.pairScore(v, t)
			row[id] = s
			if s >= floor {
				sc.hot = append(sc.hot, id)
			}
		}
		sc.rows[i] = row
	}
}

// pair returns the pair score of distinct query token q with vocabulary
// token id, scoring it now if fillRows left it.
func (l *List) pair(sc *scratch, q int, distinct []string, id int32) float64 {
	s := sc.rows[q][id]
	if s == notScored {
		s = scorer{}.pairScore(l.vocab[id], distinct[q])
		sc.rows[q][id] = s
	}
	return s
}

// pairScoreBound is the highest pair score two tokens of byte lengths a
// and b can have: every character of the shorter one matched in order and
// the full prefix boost, less the length penalty.
func pairScoreBound(a, b int) float64 {
	r := float64(min(a, b)) / float64(max(a, b))
	jaro := (2 + r) / 3
	s := jaro + 0.1*prefixSize*(1-jaro)
	if r < lengthDifferenceCutoffFactor {
		s *= scalingFactor(r, lengthDifferencePenaltyWeight)
	}
	return s + 1e-9 // never below the exact score through rounding
}

// bestPairs is TokenSimilarity over precomputed pair scores: query holds
// distinct-token indexes (rows of sc), ids vocabulary indexes. It returns
// -1 without pairing when no pair reaches floor, since the result cannot
// exceed the best pair score.
func (l *List) bestPairs(sc *scratch, query []int, queryLen int, distinct []string, ids []int32, idsLen int, floor float64) float64 {
	pairs := sc.pairs[:0]
	top := -1.0
	for si, q := range query {
		for ii, id := range ids {
			if s := l.pair(sc, q, distinct, id); s >= 0 {
				pairs = append(pairs, tokenPair{s, si, ii})
				top = max(top, s)
			}
		}
	}
	sc.pairs = pairs
	if top < floor || len(pairs) == 0 {
		return -1
	}
	sortPairs(pairs)
	var usedSearch, usedIndex uint64
	total, matchedLen := 0.0, 0
	for _, p := range pairs {
		if p.search >= 64 || p.indx >= 64 || usedSearch&(1<<p.search) != 0 || usedIndex&(1<<p.indx) != 0 {
			continue
		}
		usedSearch |= 1 << p.search
		usedIndex |= 1 << p.indx
		il := len(l.vocab[ids[p.indx]])
		total += p.score * float64(len(distinct[query[p.search]])+il)
		matchedLen += il
	}
	return combineBestPairs(total, queryLen, matchedLen, idsLen)
}

// birthDateMatch compares the query's date of birth with the entity's.
func birthDateMatch(e *Entity, q Query) Match {
	if q.BirthDate.IsZero() || len(e.BirthDates) == 0 {
		return MatchUnknown
	}
	for _, r := range e.BirthDates {
		if r.Contains(q.BirthDate) {
			return Matched
		}
	}
	return Mismatched
}

// nationalityMatch compares the query's nationality (alpha-3) with the
// entity's nationalities and citizenships.
func nationalityMatch(e *Entity, code string) Match {
	if code == "" || len(e.Nationalities) == 0 {
		return MatchUnknown
	}
	if slices.Contains(e.Nationalities, code) {
		return Matched
	}
	return Mismatched
}

// adjustScore moves a name score by the date of birth and nationality
// outcomes.
func adjustScore(name float64, dob, nationality Match) float64 {
	s := name
	switch dob {
	case Matched:
		s += (1 - s) * birthDateMatchBoost
	case Mismatched:
		s *= birthDateMismatchFactor
	}
	switch nationality {
	case Matched:
		s += (1 - s) * nationalityMatchBoost
	case Mismatched:
		s *= nationalityMismatchFact
	}
	return s
}
