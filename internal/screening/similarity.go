package screening

import (
	"math/bits"
	"slices"
	"unicode"
	"unicode/utf8"
)

// JaroWinkler returns the Jaro-Winkler similarity of left and right in
// [0,1]: the Jaro similarity raised for a common prefix of up to four
// characters with scaling factor 0.1, applied only when the Jaro similarity
// is at least 0.7. It compares characters exactly (no case folding) and
// gives the same values as Apache commons-text JaroWinklerSimilarity,
// including its counting of half transpositions.
func JaroWinkler(left, right string) float64 {
	if left == right {
		return 1
	}
	return jaroWinklerRunes([]rune(left), []rune(right))
}

func jaroWinklerRunes(first, second []rune) float64 {
	mx, mn := second, first
	if len(first) > len(second) {
		mx, mn = first, second
	}
	rng := max(len(mx)/2-1, 0)
	matchIndexes := make([]int, len(mn))
	matchFlags := make([]bool, len(mx))
	matches := 0
	for mi := range mn {
		matchIndexes[mi] = -1
		c := mn[mi]
		for xi, xn := max(mi-rng, 0), min(mi+rng+1, len(mx)); xi < xn; xi++ {
			if !matchFlags[xi] && c == mx[xi] {
				matchIndexes[mi] = xi
				matchFlags[xi] = true
				matches++
				break
			}
		}
	}
	if matches == 0 {
		return 0
	}
	// Walk the matched characters of both strings in order and count the
	// positions where they differ (half transpositions).
	half := 0
	xi := 0
	for mi := range mn {
		if matchIndexes[mi] == -1 {
			continue
		}
		for !matchFlags[xi] {
			xi++
		}
		if mn[mi] != mx[xi] {
			half++
		}
		xi++
	}
	prefix := 0
	for i := 0; i < min(4, len(mn)); i++ {
		if first[i] != second[i] {
			break
		}
		prefix++
	}
	m := float64(matches)
	j := (m/float64(len(first)) + m/float64(len(second)) + (m-float64(half)/2)/m) / 3
	if j < 0.7 {
		return j
	}
	return j + 0.1*float64(prefix)*(1-j)
}

// Parameters of the token-pairing score. They follow the defaults of
// moov-io/watchman's stringscore package so that scores are comparable.
// Tokens are paired only when their first letters are of one phonetic
// class, so no further penalty for different first letters applies
// ("zhao" and "Zhao", "zaid" and "shakir" are compared on their letters).
const (
	boostThreshold                = 0.7  // Winkler prefix boost applies above this Jaro score
	prefixSize                    = 4    // longest prefix that earns the boost
	lengthDifferenceCutoffFactor  = 0.9  // shorter/longer token length ratio below which a pair is penalised
	lengthDifferencePenaltyWeight = 0.3  // weight of that penalty
	unmatchedIndexPenaltyWeight   = 0.15 // weight of the unmatched share of the listed name
	shortTokenLength              = 3    // tokens this short are also tried joined to a neighbour
)

// scorer holds the per-pair options of the token-pairing score.
type scorer struct {
	// soundexBoost, when positive, is added to the score of a token pair
	// whose Soundex codes agree (capped at 1).
	soundexBoost float64
}

// TokenSimilarity scores a search name against a listed name, both given
// as tokens (lower-cased words without punctuation), in [0,1].
//
// Every search token is paired with at most one listed token, best pairs
// first; only tokens whose first letters sound alike are compared. A pair
// scores its Jaro-Winkler similarity, lowered when the token lengths differ
// a lot. Pair scores are averaged weighted by
// their character lengths, unpaired search tokens count as zero, and the
// share of the listed name left unpaired lowers the result a little, so that
// "john doe" matches "john doe" better than "john bartholomew doe".
func TokenSimilarity(search, indexed []string) float64 {
	return scorer{}.bestPairs(search, indexed)
}

// CombinedTokenSimilarity is TokenSimilarity tried also with short tokens
// (three characters or fewer) joined to their neighbours on either side, on
// both names, keeping the best score. It makes "jsc argument" match
// "jscargument" and "a i c sogo" match "aic sogo".
func CombinedTokenSimilarity(search, indexed []string) float64 {
	sc := scorer{}
	best := 0.0
	for _, s := range wordCombinations(search) {
		for _, i := range wordCombinations(indexed) {
			best = max(best, sc.bestPairs(s, i))
		}
	}
	return best
}

type tokenPair struct {
	score        float64
	search, indx int
}

func (sc scorer) bestPairs(search, indexed []string) float64 {
	// Names longer than 64 tokens are not names; compare their start.
	search, indexed = search[:min(len(search), 64)], indexed[:min(len(indexed), 64)]
	pairs := make([]tokenPair, 0, len(search)*len(indexed))
	for si, s := range search {
		for ii, x := range indexed {
			if !firstCharacterSoundexMatch(x, s) {
				continue
			}
			pairs = append(pairs, tokenPair{sc.pairScore(x, s), si, ii})
		}
	}
	searchLen, indexLen := 0, 0
	for _, s := range search {
		searchLen += len(s)
	}
	for _, x := range indexed {
		indexLen += len(x)
	}
	var usedSearch, usedIndex uint64
	sortPairs(pairs)
	total, matchedIndexLen := 0.0, 0
	for _, p := range pairs {
		if usedSearch&(1<<p.search) != 0 || usedIndex&(1<<p.indx) != 0 {
			continue
		}
		usedSearch |= 1 << p.search
		usedIndex |= 1 << p.indx
		total += p.score * float64(len(search[p.search])+len(indexed[p.indx]))
		matchedIndexLen += len(indexed[p.indx])
	}
	return combineBestPairs(total, searchLen, matchedIndexLen, indexLen)
}

// combineBestPairs turns the length-weighted sum of the chosen pair scores
// into the final score.
func combineBestPairs(total float64, searchLen, matchedIndexLen, indexLen int) float64 {
	if searchLen+matchedIndexLen == 0 || indexLen == 0 {
		return 0
	}
	avg := total / float64(searchLen+matchedIndexLen)
	matchedFraction := float64(matchedIndexLen) / float64(indexLen)
	return avg * scalingFactor(matchedFraction, unmatchedIndexPenaltyWeight)
}

// sortPairs orders pairs by descending score; ties keep their order (search
// token first, then listed token), which makes results deterministic.
func sortPairs(pairs []tokenPair) {
	// Insertion sort: the slices are small (tokens of two names).
	for i := 1; i < len(pairs); i++ {
		p := pairs[i]
		j := i
		for j > 0 && pairs[j-1].score < p.score {
			pairs[j] = pairs[j-1]
			j--
		}
		pairs[j] = p
	}
}

// pairScore scores one listed token against one search token.
func (sc scorer) pairScore(indexed, search string) float64 {
	return sc.adjust(tokenJaroWinkler(indexed, search), indexed, search)
}

// adjust turns the Jaro-Winkler similarity of a token pair into its pair
// score.
func (sc scorer) adjust(score float64, indexed, search string) float64 {
	if lm := lengthDifferenceFactor(indexed, search); lm < lengthDifferenceCutoffFactor {
		// Jaro-Winkler is lenient with tokens of very different lengths.
		score *= scalingFactor(lm, lengthDifferencePenaltyWeight)
	}
	if sc.soundexBoost > 0 && soundex(indexed) == soundex(search) {
		score = min(1, score+sc.soundexBoost)
	}
	return score
}

// scalingFactor maps a metric in [0,1] to a factor in [1-weight, 1].
func scalingFactor(metric, weight float64) float64 {
	return 1 - (1-metric)*weight
}

func lengthDifferenceFactor(a, b string) float64 {
	la, lb := float64(len(a)), float64(len(b))
	return min(la, lb) / max(la, lb)
}

// tokenJaroWinkler is the Jaro-Winkler variant used for token pairs: it
// compares bytes, scans the listed token against the search token, counts
// whole transpositions (half of the unaligned matches, rounded down) and
// boosts only above the threshold. Identical tokens score 1.
func tokenJaroWinkler(a, b string) float64 {
	if a == b {
		return 1
	}
	if len(a) == 0 || len(b) == 0 {
		return 0
	}
	var bufA, bufB [64]bool
	var matchA, matchB []bool
	if len(a) <= len(bufA) && len(b) <= len(bufB) {
		matchA, matchB = bufA[:len(a)], bufB[:len(b)]
	} else {
		matchA, matchB = make([]bool, len(a)), make([]bool, len(b))
	}
	rng := max(max(len(a), len(b))/2-1, 0)
	matches := 0
	for i := 0; i < len(a); i++ {
		for j, end := max(0, i-rng), min(len(b)-1, i+rng); j <= end; j++ {
			if !matchB[j] && a[i] == b[j] {
				matchA[i], matchB[j] = true, true
				matches++
				break
			}
		}
	}
	if matches == 0 {
		return 0
	}
	unaligned, j := 0, 0
	for i := 0; i < len(a); i++ {
		if !matchA[i] {
			continue
		}
		for !matchB[j] {
			j++
		}
		if a[i] != b[j] {
			unaligned++
		}
		j++
	}
	return jaroWinklerOf(a, b, matches, unaligned)
}

// jaroWinklerOf is tokenJaroWinkler's result for tokens a and b with the
// given matches (at least one) and unaligned matches.
func jaroWinklerOf(a, b string, matches, unaligned int) float64 {
	m := float64(matches)
	t := float64(unaligned / 2)
	jaro := (m/float64(len(a)) + m/float64(len(b)) + (m-t)/m) / 3
	if jaro <= boostThreshold {
		return jaro
	}
	prefix := 0
	for i := 0; i < min(prefixSize, len(a), len(b)); i++ {
		if a[i] != b[i] {
			break
		}
		prefix++
	}
	return jaro + 0.1*float64(prefix)*(1-jaro)
}

// tokenMatcher is a search token prepared for tokenJaroWinkler against
// many listed tokens: pos holds, for every byte, the bit mask of its
// positions in the token, so that each listed byte finds its match in
// one step rather than by scanning the window.
type tokenMatcher struct {
	search string
	pos    [256]uint64
}

// reset prepares m for search.
func (m *tokenMatcher) reset(search string) {
	for i := 0; i < min(len(m.search), 64); i++ {
		m.pos[m.search[i]] = 0
	}
	m.search = search
	if len(search) > 64 {
		return
	}
	for i := 0; i < len(search); i++ {
		m.pos[search[i]] |= 1 << i
	}
}

// jaroWinkler is tokenJaroWinkler(a, m.search). It finds the same
// matches: for each byte of a in turn, the first unmatched equal byte of
// the search token within the window, which is the lowest bit of its
// position mask less the matched positions, within the window.
func (m *tokenMatcher) jaroWinkler(a string) float64 {
	b := m.search
	if len(a) > 64 || len(b) > 64 || len(a) == 0 || a == b {
		return tokenJaroWinkler(a, b)
	}
	rng := max(max(len(a), len(b))/2-1, 0)
	var matchA, matchB uint64
	matches := 0
	for i := 0; i < len(a); i++ {
		lo, hi := max(0, i-rng), min(len(b)-1, i+rng)
		window := ^uint64(0) << lo & (^uint64(0) >> (63 - hi))
		if c := m.pos[a[i]] &^ matchB & window; c != 0 {
			matchB |= c & -c
			matchA |= 1 << i
			matches++
		}
	}
	if matches == 0 {
		return 0
	}
	// The k-th matched byte of a against the k-th matched byte of b.
	unaligned := 0
	for ma, mb := matchA, matchB; ma != 0; ma, mb = ma&(ma-1), mb&(mb-1) {
		if a[bits.TrailingZeros64(ma)] != b[bits.TrailingZeros64(mb)] {
			unaligned++
		}
	}
	return jaroWinklerOf(a, b, matches, unaligned)
}

// wordCombinations returns the tokens as given and, where some token is
// short, the tokens with each short token joined to the next one and with
// each short token joined to the previous one.
func wordCombinations(tokens []string) [][]string {
	out := [][]string{tokens}
	if len(tokens) <= 1 {
		return out
	}
	forward := make([]string, 0, len(tokens))
	for i := 0; i < len(tokens); i++ {
		if i < len(tokens)-1 && len(tokens[i]) <= shortTokenLength {
			forward = append(forward, tokens[i]+tokens[i+1])
			i++
			continue
		}
		forward = append(forward, tokens[i])
	}
	if len(forward) == len(tokens) {
		return out
	}
	out = append(out, forward)
	backward := make([]string, 0, len(tokens))
	for i, t := range tokens {
		if i > 0 && len(t) <= shortTokenLength {
			backward[len(backward)-1] += t
			continue
		}
		backward = append(backward, t)
	}
	if len(backward) < len(tokens) && !slices.Equal(backward, forward) {
		out = append(out, backward)
	}
	return out
}

// phoneticClass groups the first letter of a token with letters that sound
// alike (vowels; b f p v; c g j k q s x z; d t; m n; h w); any other first
// character is its own class.
func phoneticClass(s string) rune {
	if s == "" {
		return ' '
	}
	r, _ := utf8.DecodeRuneInString(s)
	r = unicode.ToUpper(r)
	switch r {
	case 'A', 'E', 'I', 'O', 'U', 'Y':
		return 'A'
	case 'B', 'F', 'P', 'V':
		return 'B'
	case 'C', 'G', 'J', 'K', 'Q', 'S', 'X', 'Z':
		return 'C'
	case 'D', 'T':
		return 'D'
	case 'M', 'N':
		return 'M'
	case 'H', 'W':
		return 'H'
	}
	return r
}

// firstCharacterSoundexMatch reports whether two non-empty tokens start
// with letters of the same phonetic class.
func firstCharacterSoundexMatch(a, b string) bool {
	if a == "" || b == "" {
		return false
	}
	return phoneticClass(a) == phoneticClass(b)
}

// soundex returns the American Soundex code of s (letter and three digits),
// or "" when s has no letter.
func soundex(s string) string {
	var code [4]byte
	n := 0
	var last byte
	for i := 0; i < len(s) && n < 4; i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		if c < 'A' || c > 'Z' {
			continue
		}
		d := soundexDigit(c)
		if n == 0 {
			code[0] = c
			n = 1
			last = d
			continue
		}
		switch {
		case c == 'H' || c == 'W':
			// Transparent: does not separate equal digits.
		case d == 0:
			last = 0
		case d != last:
			code[n] = d
			n++
			last = d
		}
	}
	if n == 0 {
		return ""
	}
	for ; n < 4; n++ {
		code[n] = '0'
	}
	return string(code[:])
}

func soundexDigit(c byte) byte {
	switch c {
	case 'B', 'F', 'P', 'V':
		return '1'
	case 'C', 'G', 'J', 'K', 'Q', 'S', 'X', 'Z':
		return '2'
	case 'D', 'T':
		return '3'
	case 'L':
		return '4'
	case 'M', 'N':
		return '5'
	case 'R':
		return '6'
	}
	return 0
}

// NameSimilarity normalises two names (case, accents, punctuation,
// honorifics) and returns their combined token similarity; query is the
// name searched for and listed the name on the list.
func NameSimilarity(query, listed string) float64 {
	return CombinedTokenSimilarity(nameTokens(query), nameTokens(listed))
}
