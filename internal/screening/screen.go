package screening

import (
	"cmp"
	"math/bits"
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
	// Per distinct query token: its phonetic class, signature, matcher
	// and ceiling table.
	qclass []rune
	qsigs  []tokenSig
	match  []*tokenMatcher
	ceil   []ceilingTable

	// The pairs findHot scored: bit id of scored is set when it scored
	// vocabulary token id with some query token, and then
	// scores[slot[id]*nq+q] is the pair score with distinct query token q,
	// or notScored. slot is read only where scored is set, so that it
	// needs no clearing between calls.
	scored []uint64
	slot   []int32
	scores []float64
	nq     int

	// hot holds the vocabulary tokens pairing with a distinct query token
	// at or above the floor, those of token i at hot[hotEnd[i-1]:hotEnd[i]].
	hot    []int32
	hotEnd []int

	// isCand has bit v set when variant v is a candidate of the current
	// call; pairsWith[v] then has tokenBit(i) set when v holds a hot token
	// of distinct query token i. cands lists the candidates in order.
	isCand    []uint64
	pairsWith []uint64
	cands     []int32

	pairs []tokenPair // for bestPairs
	reach []reachTerm // for mayReach
}

// tokenBit is the bit of distinct query token i in a mask of them. The
// few that do not fit share every bit, so that a mask holding one of them
// never excludes a query variant.
func tokenBit(i int) uint64 {
	if i >= 64 {
		return ^uint64(0)
	}
	return 1 << i
}

// scoredPair returns the pair score that findHot computed for distinct
// query token q with vocabulary token id, if it did.
func (sc *scratch) scoredPair(q int, id int32) (float64, bool) {
	if sc.scored[id/64]&(1<<(id%64)) == 0 {
		return 0, false
	}
	s := sc.scores[int(sc.slot[id])*sc.nq+q]
	return s, s != notScored
}

// setScored records the pair score s of distinct query token q with
// vocabulary token id.
func (sc *scratch) setScored(q int, id int32, s float64) {
	if sc.scored[id/64]&(1<<(id%64)) == 0 {
		sc.scored[id/64] |= 1 << (id % 64)
		sc.slot[id] = int32(len(sc.scores) / sc.nq)
		for range sc.nq {
			sc.scores = append(sc.scores, notScored)
		}
	}
	sc.scores[int(sc.slot[id])*sc.nq+q] = s
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

	// The lowest name score that the best possible nationality outcome
	// could lift to the threshold: no date of birth can help an entity not
	// born on the query's (an unknown one leaves the score as it is, a
	// contradicting one lowers it). Entities born on that date may reach
	// it from lower still (bornFloor); they are few, and scored one by one.
	floor := nameFloor(cfg.threshold, false, nationality != "")
	bornFloor := nameFloor(cfg.threshold, hasDOB, nationality != "")
	var born []int32
	if hasDOB {
		born = l.bornOn(q.BirthDate)
	}

	sc := l.scratch.Get().(*scratch)
	defer l.scratch.Put(sc)

	distinct, qvars, qlens := queryVariants(tokens)
	l.findHot(sc, distinct, floor)
	cands := l.candidates(sc)
	qmasks := make([]uint64, len(qvars)) // the distinct tokens of each query variant
	for i, v := range qvars {
		for _, j := range v {
			qmasks[i] |= tokenBit(j)
		}
	}

	var out []Candidate
	keep := func(ei int32, best float64, bestName int) {
		e := &l.entities[ei]
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
	for k := 0; k < len(cands); {
		ei := l.names[l.variants[cands[k]].name].entity
		e := &l.entities[ei]
		skip := q.Type != "" && e.Type != q.Type
		if _, ok := slices.BinarySearch(born, ei); ok {
			skip = true // scored below
		}
		best, bestName := -1.0, -1
		for ; k < len(cands); k++ {
			vi := cands[k]
			nv := &l.variants[vi]
			if l.names[nv.name].entity != ei {
				break
			}
			if skip {
				continue
			}
			for qi, qv := range qvars {
				if sc.pairsWith[vi]&qmasks[qi] == 0 {
					continue
				}
				s := l.bestPairs(sc, qv, qlens[qi], distinct, nv, floor)
				if s > best {
					best, bestName = s, int(nv.name)
				}
			}
		}
		if best < floor || bestName < 0 {
			continue
		}
		keep(ei, best, bestName)
	}
	// Entities born on the query's date: every name variant, each pair
	// scored where findHot, working to the higher floor, left it.
	for _, ei := range born {
		if q.Type != "" && l.entities[ei].Type != q.Type {
			continue
		}
		best, bestName := -1.0, -1
		for _, pn := range l.names[l.nameStart[ei]:l.nameStart[ei+1]] {
			for vi := pn.first; vi < pn.end; vi++ {
				nv := &l.variants[vi]
				for qi, qv := range qvars {
					s := l.assignPairs(sc, qv, qlens[qi], distinct, nv, bornFloor)
					if s > best {
						best, bestName = s, int(nv.name)
					}
				}
			}
		}
		if best < bornFloor || bestName < 0 {
			continue
		}
		keep(ei, best, bestName)
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

// queryVariants returns the distinct tokens of the word combinations of
// a query's tokens, each combination as indexes into them, and the byte
// length of each combination.
func queryVariants(tokens []string) (distinct []string, qvars [][]int, qlens []int) {
	for _, v := range wordCombinations(tokens) {
		idx := make([]int, len(v))
		n := 0
		for i, t := range v {
			j := slices.Index(distinct, t)
			if j < 0 {
				j = len(distinct)
				distinct = append(distinct, t)
			}
			idx[i] = j
			n += len(t)
		}
		qvars, qlens = append(qvars, idx), append(qlens, n)
	}
	return distinct, qvars, qlens
}

// candidates returns, in order, the name variants that can score the
// floor of findHot against some query variant: those holding a hot
// token, since a score never exceeds its best pair score. It marks in
// sc.pairsWith which distinct query tokens each pairs with so, for
// Screen to pass over the query variants holding none of them.
func (l *List) candidates(sc *scratch) []int32 {
	words := len(l.variants)/64 + 1
	sc.isCand = slices.Grow(sc.isCand[:0], words)[:words]
	clear(sc.isCand)
	if len(sc.pairsWith) < len(l.variants) {
		sc.pairsWith = make([]uint64, len(l.variants))
	}
	from := 0
	for i, to := range sc.hotEnd {
		for _, id := range sc.hot[from:to] {
			for _, v := range l.postings[id] {
				if sc.isCand[v/64]&(1<<(v%64)) == 0 {
					sc.isCand[v/64] |= 1 << (v % 64)
					sc.pairsWith[v] = 0
				}
				sc.pairsWith[v] |= tokenBit(i)
			}
		}
		from = to
	}
	// In order, the variants of one name and the names of one entity are
	// adjacent.
	cands := sc.cands[:0]
	for w, set := range sc.isCand {
		for ; set != 0; set &= set - 1 {
			cands = append(cands, int32(w*64+bits.TrailingZeros64(set)))
		}
	}
	sc.cands = cands
	return cands
}

// Values that stand for a pair score.
const (
	notCompared = -1 // the tokens' first letters differ in phonetic class
	notScored   = -2 // findHot did not score the pair
)

// findHot collects in sc.hot the vocabulary tokens whose pair score with
// some distinct query token reaches floor, and records in sc (see
// scoredPair) every such pair and possibly others. Only tokens of the
// query token's phonetic class are compared, and of those only the ones
// whose length, shared bytes and common prefix could reach floor (see
// minShared); the rest are left to be scored on demand (see pair). Nothing
// of the query is kept after the call: names are personal data.
func (l *List) findHot(sc *scratch, distinct []string, floor float64) {
	sc.hot, sc.hotEnd = sc.hot[:0], sc.hotEnd[:0]
	sc.qclass, sc.qsigs = sc.qclass[:0], sc.qsigs[:0]
	words := len(l.vocab)/64 + 1
	sc.scored = slices.Grow(sc.scored[:0], words)[:words]
	clear(sc.scored)
	if len(sc.slot) < len(l.vocab) {
		sc.slot = make([]int32, len(l.vocab))
	}
	sc.scores, sc.nq = sc.scores[:0], len(distinct)
	for len(sc.match) < len(distinct) {
		sc.match = append(sc.match, &tokenMatcher{})
		sc.ceil = append(sc.ceil, nil)
	}
	for i, t := range distinct {
		class := phoneticClass(t)
		sc.qclass = append(sc.qclass, class)
		sc.qsigs = append(sc.qsigs, newTokenSig(t, l.classIDs[class]))
		sc.match[i].reset(t)
		sc.ceil[i].reset(len(t), l.maxLen)
		l.scanClass(sc, i, t, floor)
		sc.hotEnd = append(sc.hotEnd, len(sc.hot))
	}
}

// scanClass scores distinct query token i, t, with the vocabulary tokens
// of its class that may reach floor, and appends to sc.hot those that do.
func (l *List) scanClass(sc *scratch, i int, t string, floor float64) {
	ci := l.byClass[sc.qclass[i]]
	if ci == nil {
		return
	}
	var (
		sr   scorer
		need [prefixSize + 1]int
	)
	qs, m := &sc.qsigs[i], sc.match[i]
	for n := 1; n+1 < len(ci.start); n++ {
		lo, hi := ci.start[n], ci.start[n+1]
		if lo == hi || !minShared(&need, n, len(t), floor) {
			continue
		}
		for k := lo; k < hi; k++ {
			ts := &ci.sigs[k]
			if ts.shared(qs) < need[ts.prefix(qs)] {
				continue
			}
			id := ci.ids[k]
			v := l.vocab[id]
			s := sr.adjust(m.jaroWinkler(v), v, t)
			sc.setScored(i, id, s)
			if s >= floor {
				sc.hot = append(sc.hot, id)
			}
		}
	}
}

// pair returns the pair score of distinct query token q with vocabulary
// token id, scoring it now if findHot left it.
func (l *List) pair(sc *scratch, q int, distinct []string, id int32) float64 {
	if s, ok := sc.scoredPair(q, id); ok {
		return s
	}
	if l.classes[id] != sc.qclass[q] {
		return notCompared
	}
	v := l.vocab[id]
	return scorer{}.adjust(sc.match[q].jaroWinkler(v), v, distinct[q])
}

// bestPairs is TokenSimilarity of a query variant, as distinct-token
// indexes whose lengths add up to queryLen, with name variant nv, over
// the pair scores of sc. It returns -1 without pairing when the result
// cannot reach floor: when mayReach rules it out before any pair is
// scored, or when no pair reaches floor, since the result cannot exceed
// the best pair score.
func (l *List) bestPairs(sc *scratch, query []int, queryLen int, distinct []string, nv *nameVariant, floor float64) float64 {
	if !l.mayReach(sc, query, queryLen, nv, floor) {
		return -1
	}
	return l.assignPairs(sc, query, queryLen, distinct, nv, floor)
}

// assignPairs is bestPairs without mayReach, which needs every pair that
// reaches floor recorded in sc: it scores any pair sc does not hold.
func (l *List) assignPairs(sc *scratch, query []int, queryLen int, distinct []string, nv *nameVariant, floor float64) float64 {
	ids, idsLen := l.tokens[nv.first:nv.end], int(nv.length)
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

// mayReach reports whether bestPairs of query with nv can reach floor,
// judged without scoring a pair.
//
// The score is total/(queryLen+matchedLen) times the unmatched-share
// factor, where every chosen pair adds score*(its two lengths) to total
// and its listed length to matchedLen. The factor is at most its value
// with every query token paired with its longest comparable listed token
// (one of its phonetic class), so the score reaches floor only if the
// ratio reaches lambda, floor over that value. Letting every query token
// choose its listed token on its own (which allows more than the
// one-to-one pairing does), the ratio reaches lambda only if the sum over
// query tokens of the best bound*(lengths) - lambda*(listed length), or 0
// for no pair, reaches lambda*queryLen, where bound is at least the pair
// score.
//
// The test runs twice. First every pair that sc does not hold counts as
// floor, which it stays below (findHot records every pair that reaches
// floor): with lambda at least floor, the shortest such listed token then
// gives the best term. That rules out most names from the lengths alone.
// The names left are tried with each such pair's ceiling from the
// signatures.
func (l *List) mayReach(sc *scratch, query []int, queryLen int, nv *nameVariant, floor float64) bool {
	idsLen := int(nv.length)
	if floor <= 0 || idsLen == 0 {
		return true
	}
	ids, kinds, sigs := l.tokens[nv.first:nv.end], l.tokenKinds[nv.first:nv.end], l.tokenSigs[nv.first:nv.end]
	scored := sc.reach[:0] // pairs findHot scored: query index, score, listed length
	// shortest[qi] is the shortest comparable listed token that findHot
	// did not score with query[qi], 0 for none.
	var shortest [maxQueryTokens]uint8
	longest := 0
	for qi, q := range query {
		qs := &sc.qsigs[q]
		if qs.long {
			return true
		}
		n, short := uint8(0), uint8(0)
		for k, kd := range kinds {
			if kd.class != qs.class {
				continue
			}
			if kd.length == 255 {
				return true
			}
			n = max(n, kd.length)
			if s, ok := sc.scoredPair(q, ids[k]); ok {
				scored = append(scored, reachTerm{qi, s, float64(kd.length)})
			} else if short == 0 || kd.length < short {
				short = kd.length
			}
		}
		shortest[qi] = short
		longest += int(n)
	}
	sc.reach = scored
	lambda := floor / scalingFactor(float64(min(longest, idsLen))/float64(idsLen), unmatchedIndexPenaltyWeight)
	need := lambda*float64(queryLen) - 1e-7
	sum := 0.0
	for qi, q := range query {
		lq := float64(sc.qsigs[q].length)
		best := 0.0
		if shortest[qi] != 0 {
			li := float64(shortest[qi])
			best = floor*(lq+li) - lambda*li
		}
		sum += bestScored(best, scored, qi, lq, lambda)
	}
	if sum < need {
		return false
	}
	sum = 0
	for qi, q := range query {
		qs := &sc.qsigs[q]
		lq := float64(qs.length)
		best := bestScored(0, scored, qi, lq, lambda)
		if shortest[qi] != 0 {
			tab := sc.ceil[q]
			for k := range sigs {
				ts := &sigs[k]
				if _, ok := sc.scoredPair(q, ids[k]); ts.class != qs.class || ok {
					continue
				}
				li := float64(ts.length)
				if v := tab.ceiling(ts.shared(qs), ts.prefix(qs), int(ts.length))*(lq+li) - lambda*li; v > best {
					best = v
				}
			}
		}
		sum += best
	}
	return sum >= need
}

// bestScored is the larger of best and the best term of the pairs in
// scored of the query token at index qi, of length lq.
func bestScored(best float64, scored []reachTerm, qi int, lq, lambda float64) float64 {
	for _, t := range scored {
		if v := t.score*(lq+t.length) - lambda*t.length; t.query == qi && v > best {
			best = v
		}
	}
	return best
}

// reachTerm is a pair that findHot scored, for mayReach: the index of
// the query token in the query, the pair score and the listed length.
type reachTerm struct {
	query         int
	score, length float64
}

// nameFloor is the lowest name score that the best outcomes of a date of
// birth (when dob) and a nationality (when nat) could lift to threshold.
// An agreeing attribute closes part of the gap to 1.
func nameFloor(threshold float64, dob, nat bool) float64 {
	gap := 1.0
	if dob {
		gap *= 1 - birthDateMatchBoost
	}
	if nat {
		gap *= 1 - nationalityMatchBoost
	}
	return 1 - (1-threshold)/gap
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
