package screening

import (
	"math"
	"math/rand/v2"
	"testing"
)

// randomTokenPairs returns token pairs that exercise the pair scoring:
// random strings over a small alphabet (many repeated and transposed
// letters), long ones beyond the 64-byte masks, and listed words with
// listed words.
func randomTokenPairs(l *List, n int) [][2]string {
	r := rand.New(rand.NewPCG(3, 4))
	word := func() string {
		b := make([]byte, r.IntN(12))
		if r.IntN(20) == 0 {
			b = make([]byte, 60+r.IntN(10))
		}
		for i := range b {
			b[i] = "abcdeamn0"[r.IntN(9)]
		}
		return string(b)
	}
	out := make([][2]string, 0, n)
	for len(out) < n {
		switch r.IntN(3) {
		case 0:
			out = append(out, [2]string{word(), word()})
		case 1:
			w := l.vocab[r.IntN(len(l.vocab))]
			out = append(out, [2]string{w, typo(r, w)})
		default:
			out = append(out, [2]string{l.vocab[r.IntN(len(l.vocab))], l.vocab[r.IntN(len(l.vocab))]})
		}
	}
	return out
}

// TestTokenMatcher: the bit-parallel Jaro-Winkler must give
// tokenJaroWinkler's value bit for bit.
func TestTokenMatcher(t *testing.T) {
	t.Parallel()
	var m tokenMatcher
	for _, p := range randomTokenPairs(mustDefault(t), 200000) {
		m.reset(p[1])
		if got, want := m.jaroWinkler(p[0]), tokenJaroWinkler(p[0], p[1]); math.Float64bits(got) != math.Float64bits(want) {
			t.Fatalf("jaroWinkler(%q, %q) = %v, tokenJaroWinkler %v", p[0], p[1], got, want)
		}
	}
}

// TestPairScoreCeiling: the ceiling from two tokens' signatures is never
// below their pair score, and minShared never rules out a pair that
// reaches the floor.
func TestPairScoreCeiling(t *testing.T) {
	t.Parallel()
	var need [prefixSize + 1]int
	for i, p := range randomTokenPairs(mustDefault(t), 200000) {
		if p[0] == "" || p[1] == "" {
			continue
		}
		a, b := newTokenSig(p[0], 1), newTokenSig(p[1], 1)
		c, pre := a.shared(&b), a.prefix(&b)
		s := scorer{}.pairScore(p[0], p[1])
		if ceil := pairScoreCeiling(c, pre, len(p[0]), len(p[1])); ceil < s {
			t.Fatalf("%q, %q: ceiling %v below pair score %v", p[0], p[1], ceil, s)
		}
		if !a.long && !b.long {
			var tab ceilingTable
			tab.reset(len(p[1]), len(p[0]))
			if ceil := tab.ceiling(c, pre, len(p[0])); ceil < s {
				t.Fatalf("%q, %q: table ceiling %v below pair score %v", p[0], p[1], ceil, s)
			}
		}
		floor := []float64{s, s - 1e-12, 0.7, 0.88, 0}[i%5]
		if s >= floor && (!minShared(&need, len(p[0]), len(p[1]), floor) || c < need[pre]) {
			t.Fatalf("%q, %q: pair score %v reaches %v, but shared %d < need %v", p[0], p[1], s, floor, c, need)
		}
	}
}

// TestMayReachSound: mayReach never rules out a name variant whose score
// with a query variant reaches the floor, by brute force over every name
// variant of the list.
func TestMayReachSound(t *testing.T) {
	t.Parallel()
	l := mustDefault(t)
	floors := []float64{0.5, 0.7, 0.76, 0.85, 0.88}
	queries := goldenQueries(l)[:20]
	if raceDetector {
		queries = queries[:5]
	}
	tested, reach := 0, 0
	for i, g := range queries {
		tokens := nameTokens(g.q.name())
		distinct, qvars, qlens := queryVariants(tokens[:min(len(tokens), maxQueryTokens)])
		floor := floors[i%len(floors)]
		sc := &scratch{}
		l.findHot(sc, distinct, floor)
		for vi := range l.variants {
			nv := &l.variants[vi]
			indexed := make([]string, 0, nv.end-nv.first)
			for _, id := range l.tokens[nv.first:nv.end] {
				indexed = append(indexed, l.vocab[id])
			}
			for qi, qv := range qvars {
				search := make([]string, len(qv))
				for k, j := range qv {
					search[k] = distinct[j]
				}
				tested++
				if TokenSimilarity(search, indexed) < floor {
					continue
				}
				reach++
				if !l.mayReach(sc, qv, qlens[qi], nv, floor) {
					t.Fatalf("%q vs %q: scores %v, floor %v, ruled out", search, indexed, TokenSimilarity(search, indexed), floor)
				}
			}
		}
	}
	t.Logf("%d pairings, %d reaching the floor", tested, reach)
}
