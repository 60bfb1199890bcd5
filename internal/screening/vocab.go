package screening

import (
	"math/bits"
	"slices"
)

// classIndex holds the vocabulary tokens of one phonetic class ordered by
// byte length, with their signatures alongside, so that findHot can pass
// over every length that cannot reach the floor without touching it and
// reads the signatures of the others in order.
type classIndex struct {
	ids  []int32
	sigs []tokenSig
	// ids[start[n]:start[n+1]] are the tokens of n bytes.
	start []int32
}

// indexVocab prepares the vocabulary for findHot and mayReach: it
// numbers the phonetic classes, indexes the tokens by class and length
// and gives every token occurrence of the names its signature.
func (l *List) indexVocab() {
	l.classIDs = make(map[rune]uint8)
	sigs := make([]tokenSig, len(l.vocab))
	byClass := make(map[rune][]int32)
	for id, c := range l.classes {
		if _, ok := l.classIDs[c]; !ok {
			// Classes past the 254th share an ID; see tokenSig.class.
			l.classIDs[c] = uint8(min(len(l.classIDs)+1, 255))
		}
		sigs[id] = newTokenSig(l.vocab[id], l.classIDs[c])
		byClass[c] = append(byClass[c], int32(id))
	}
	l.byClass = make(map[rune]*classIndex, len(byClass))
	for c, ids := range byClass {
		slices.SortStableFunc(ids, func(a, b int32) int { return len(l.vocab[a]) - len(l.vocab[b]) })
		ci := &classIndex{ids: ids, sigs: make([]tokenSig, len(ids))}
		ci.start = make([]int32, len(l.vocab[ids[len(ids)-1]])+2)
		for i, id := range ids {
			ci.sigs[i] = sigs[id]
			ci.start[len(l.vocab[id])+1] = int32(i + 1)
		}
		for n := 1; n < len(ci.start); n++ {
			ci.start[n] = max(ci.start[n], ci.start[n-1])
		}
		l.byClass[c] = ci
	}
	for _, t := range l.vocab {
		l.maxLen = max(l.maxLen, min(len(t), 255))
	}
	l.tokenSigs = make([]tokenSig, len(l.tokens))
	l.tokenKinds = make([]tokenKind, len(l.tokens))
	for k, id := range l.tokens {
		l.tokenSigs[k] = sigs[id]
		l.tokenKinds[k] = tokenKind{sigs[id].class, sigs[id].length}
	}
}

// tokenKind is the class and length of a token occurrence, as in its
// tokenSig (a length of 255 marks a long token), kept apart so that the
// first test of mayReach reads two bytes per token.
type tokenKind struct {
	class, length uint8
}

// tokenSig summarises a token in 16 bytes so that a ceiling on its pair
// score with another token follows from a few bit operations: two tokens
// cannot match more characters than they share counting repetitions, and
// their Winkler prefix is their common prefix.
type tokenSig struct {
	// counts[k] has bit b set when the token holds more than k bytes of
	// bucket b (see sigBucket); excess counts the bytes beyond two per
	// bucket. The popcounts of the pairwise ANDs plus the smaller excess
	// are at least the bytes the two tokens share.
	counts [2]uint32
	// head is the first four bytes, little-endian, zero-padded.
	head   uint32
	length uint8
	excess uint8
	// class numbers the phonetic class of the first letter (List.classIDs;
	// 0 for a class no listed token has). Classes past the 254th share
	// 255, which only lets mayReach pair tokens that cannot pair: it then
	// overestimates, and never rules out a name that can score.
	class uint8
	// long marks a token of 255 bytes or more, or with an excess that
	// large, which the fields above cannot describe: it shares any number
	// of bytes with any token.
	long bool
}

func newTokenSig(t string, class uint8) tokenSig {
	s := tokenSig{class: class}
	var n [32]int
	excess := 0
	for i := 0; i < len(t); i++ {
		b := sigBucket(t[i])
		if n[b] < 2 {
			s.counts[n[b]] |= 1 << b
		} else {
			excess++
		}
		n[b]++
	}
	if len(t) >= 255 || excess >= 255 {
		s.long = true
	}
	s.length, s.excess = uint8(min(len(t), 255)), uint8(min(excess, 255))
	for i := 0; i < min(len(t), 4); i++ {
		s.head |= uint32(t[i]) << (8 * i)
	}
	return s
}

// sigBucket maps a byte to one of 32 buckets: each letter its own, every
// other byte shared by several. Sharing a bucket only overstates the
// bytes two tokens share, so the ceiling stays a ceiling.
func sigBucket(c byte) uint {
	if 'a' <= c && c <= 'z' {
		return uint(c - 'a')
	}
	return 26 + uint(c)%6
}

// shared is at least the number of characters the tokens of a and b can
// match: the bytes they have in common, counting repetitions.
func (a *tokenSig) shared(b *tokenSig) int {
	if a.long || b.long {
		return 1 << 30
	}
	n := bits.OnesCount32(a.counts[0]&b.counts[0]) + bits.OnesCount32(a.counts[1]&b.counts[1]) + int(min(a.excess, b.excess))
	return min(n, int(a.length), int(b.length))
}

// prefix is the Winkler prefix of the tokens of a and b: their common
// prefix, at most prefixSize bytes.
func (a *tokenSig) prefix(b *tokenSig) int {
	p := bits.TrailingZeros32(a.head^b.head) / 8
	return min(p, prefixSize, int(a.length), int(b.length))
}

// pairScoreCeiling is the highest pair score of a listed token of a bytes
// and a search token of b bytes that match at most c characters and share
// a Winkler prefix of p bytes: the Jaro similarity with c matches and no
// transposition, boosted by the prefix, less the length penalty. It
// follows pairScore's arithmetic step by step, so that each step rounds no
// lower than the exact score's.
func pairScoreCeiling(c, p, a, b int) float64 {
	m := float64(c)
	jaro := (m/float64(a) + m/float64(b) + 1) / 3
	s := jaro + 0.1*float64(p)*(1-jaro)
	if r := float64(min(a, b)) / float64(max(a, b)); r < lengthDifferenceCutoffFactor {
		s *= scalingFactor(r, lengthDifferencePenaltyWeight)
	}
	return s + 1e-9 // never below the exact score through rounding
}

// ceilingTable holds, for one search token and every listed token length
// up to the longest listed token, the terms of pairScoreCeiling that do
// not depend on the shared count and prefix, so that mayReach computes a
// ceiling without dividing. It regroups pairScoreCeiling's arithmetic,
// which moves the result by rounding only, far less than the margin.
type ceilingTable []struct {
	inv     float64 // 1/listed length + 1/search length
	penalty float64 // the length penalty factor
}

// reset fills t for a search token of b bytes and listed tokens of up to
// maxLen bytes.
func (t *ceilingTable) reset(b, maxLen int) {
	*t = slices.Grow((*t)[:0], maxLen+1)[:maxLen+1]
	for a := 1; a <= maxLen; a++ {
		e := &(*t)[a]
		e.inv = 1/float64(a) + 1/float64(b)
		e.penalty = 1
		if r := float64(min(a, b)) / float64(max(a, b)); r < lengthDifferenceCutoffFactor {
			e.penalty = scalingFactor(r, lengthDifferencePenaltyWeight)
		}
	}
}

// ceiling is pairScoreCeiling(c, p, a, b) for the table's search token of
// b bytes.
func (t ceilingTable) ceiling(c, p, a int) float64 {
	e := &t[a]
	jaro := (float64(c)*e.inv + 1) * (1.0 / 3)
	return (jaro+0.1*float64(p)*(1-jaro))*e.penalty + 1e-9
}

// minShared sets need[p] to the fewest shared characters with which a
// listed token of a bytes, sharing a prefix of p bytes with a search token
// of b bytes, can reach floor (more than min(a, b) when none can), and
// reports whether any prefix can.
//
// The ceiling rises with the prefix, so need[p] is at least need[p+1]:
// each count is searched from the previous one, and every smaller count
// has been tried for a larger prefix and failed.
func minShared(need *[prefixSize + 1]int, a, b int, floor float64) bool {
	lim := min(a, b)
	c := 0
	for p := prefixSize; p >= 0; p-- {
		for c <= lim && pairScoreCeiling(c, p, a, b) < floor {
			c++
		}
		need[p] = c
	}
	return need[prefixSize] <= lim
}
