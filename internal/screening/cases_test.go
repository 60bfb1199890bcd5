package screening

import (
	"bufio"
	"context"
	"encoding/json"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// nameCase is one record of testdata/name_matching_cases.jsonl.
type nameCase struct {
	ID              string          `json:"id"`
	Kind            string          `json:"kind"`
	Algorithm       string          `json:"algorithm"`
	Indexed         string          `json:"indexed"`
	Search          string          `json:"search"`
	IndexedPrep     *string         `json:"indexed_preprocess"`
	SearchPrep      *string         `json:"search_preprocess"`
	ExpectedScore   *float64        `json:"expected_score"`
	Expected        json.RawMessage `json:"expected"`
	Tolerance       float64         `json:"tolerance"`
	ExpectedOutcome string          `json:"expected_outcome"`
	ExpectedBound   string          `json:"expected_bound"`
	A               string          `json:"a"`
	B               string          `json:"b"`
	EntityID        string          `json:"index_entity_sdn_id"`
	Query           map[string]any  `json:"query"`
	Name            string          `json:"name"`

	// Decoded from Expected, by kind.
	ExpectedByAlgo map[string]float64 `json:"-"`
	ExpectedBool   bool               `json:"-"`
}

func loadNameCases(t *testing.T) []nameCase {
	t.Helper()
	f, err := os.Open("testdata/name_matching_cases.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []nameCase
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if len(strings.TrimSpace(string(line))) == 0 {
			continue
		}
		var c nameCase
		if err := json.Unmarshal(line, &c); err != nil {
			t.Fatalf("bad case line: %v", err)
		}
		switch c.Kind {
		case "first_char_soundex_match":
			if err := json.Unmarshal(c.Expected, &c.ExpectedBool); err != nil {
				t.Fatalf("%s: expected: %v", c.ID, err)
			}
		case "name_similarity_pair", "name_similarity_multi", "name_similarity":
			if len(c.Expected) > 0 {
				m := map[string]float64{}
				if err := json.Unmarshal(c.Expected, &m); err != nil {
					t.Fatalf("%s: expected: %v", c.ID, err)
				}
				c.ExpectedByAlgo = m
			}
		}
		out = append(out, c)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(out) < 100 {
		t.Fatalf("only %d cases loaded", len(out))
	}
	return out
}

// watchmanLowerAndRemovePunctuation reproduces the preprocessing watchman's
// tests apply (".", "," and "-" to space, lower case, accents removed), so the cases compare like with like.
func watchmanLowerAndRemovePunctuation(s string) string {
	s = strings.NewReplacer(".", " ", ",", " ", "-", " ").Replace(s)
	s = strings.Join(strings.Fields(strings.ToLower(s)), " ")
	var b strings.Builder
	for _, r := range norm.NFD.String(s) {
		if !unicode.Is(unicode.Mn, r) {
			b.WriteRune(r)
		}
	}
	return norm.NFC.String(b.String())
}

func preprocess(s string, how *string) string {
	if how == nil {
		return s
	}
	switch *how {
	case "ToLower":
		return strings.ToLower(s)
	case "LowerAndRemovePunctuation":
		return watchmanLowerAndRemovePunctuation(s)
	}
	panic("unknown preprocess " + *how)
}

// decimals returns how many decimals a printed expectation carries.
func decimals(v float64) int {
	s := strconv.FormatFloat(v, 'f', -1, 64)
	if i := strings.IndexByte(s, '.'); i >= 0 {
		return len(s) - i - 1
	}
	return 0
}

// TestJaroWinklerCommonsText: plain Jaro-Winkler must give commons-text's
// values to the precision the source prints.
func TestJaroWinklerCommonsText(t *testing.T) {
	t.Parallel()
	n, ok := 0, 0
	for _, c := range loadNameCases(t) {
		if c.Kind != "name_similarity" || !strings.HasPrefix(c.Algorithm, "vanilla Jaro-Winkler") {
			continue
		}
		n++
		got := JaroWinkler(c.Indexed, c.Search)
		want := *c.ExpectedScore
		// commons-text's test prints truncated values and compares within
		// its delta; allow the same, plus float rounding.
		if d := math.Abs(got - want); d > c.Tolerance+1e-12 {
			t.Errorf("%s: JaroWinkler(%q, %q) = %.6f, commons-text %.*f", c.ID, c.Indexed, c.Search, got, decimals(want), want)
			continue
		}
		// Symmetric, as commons-text's is.
		if rev := JaroWinkler(c.Search, c.Indexed); math.Abs(rev-got) > 1e-12 {
			t.Errorf("%s: not symmetric: %.6f vs %.6f", c.ID, got, rev)
			continue
		}
		ok++
	}
	if n != 16 {
		t.Errorf("found %d commons-text cases, want 16", n)
	}
	t.Logf("plain Jaro-Winkler vs commons-text: %d/%d equal to printed precision", ok, n)
}

// tokenCase is one expectation of watchman's token-pairing score.
type tokenCase struct {
	id, search, indexed string
	combined            bool
	want                float64
}

func watchmanTokenCases(t *testing.T, cases []nameCase) []tokenCase {
	var out []tokenCase
	for _, c := range cases {
		switch c.Kind {
		case "name_similarity":
			switch {
			case strings.Contains(c.Algorithm, "BestPairCombinationJaroWinkler("):
				out = append(out, tokenCase{c.ID, preprocess(c.Search, c.SearchPrep), preprocess(c.Indexed, c.IndexedPrep), true, *c.ExpectedScore})
			case strings.Contains(c.Algorithm, "BestPairsJaroWinkler(strings.Fields"):
				out = append(out, tokenCase{c.ID, preprocess(c.Search, c.SearchPrep), preprocess(c.Indexed, c.IndexedPrep), false, *c.ExpectedScore})
			case c.Algorithm == "watchman BestPairsJaroWinkler" && c.ExpectedByAlgo != nil:
				// Phonetic filtering is on, as in watchman's default.
				out = append(out, tokenCase{c.ID, c.Search, c.Indexed, false, c.ExpectedByAlgo["DISABLE_PHONETIC_FILTERING=no"]})
			}
		case "name_similarity_multi":
			for algo, v := range c.ExpectedByAlgo {
				switch algo {
				case "BestPairsJaroWinkler":
					out = append(out, tokenCase{c.ID + "/" + algo, c.Search, c.Indexed, false, v})
				case "BestPairCombinationJaroWinkler":
					out = append(out, tokenCase{c.ID + "/" + algo, c.Search, c.Indexed, true, v})
				}
			}
		case "name_similarity_pair":
			for algo, v := range c.ExpectedByAlgo {
				if strings.Contains(algo, "BestPairsJaroWinkler") {
					out = append(out, tokenCase{c.ID, c.Search, c.Indexed, false, v})
				}
			}
		}
	}
	return out
}

// TestTokenSimilarityWatchman measures agreement with watchman's
// token-pairing scores (within ±0.02) and asserts the floor reached.
func TestTokenSimilarityWatchman(t *testing.T) {
	t.Parallel()
	cases := watchmanTokenCases(t, loadNameCases(t))
	agree := 0
	for _, c := range cases {
		var got float64
		if c.combined {
			got = CombinedTokenSimilarity(strings.Fields(c.search), strings.Fields(c.indexed))
		} else {
			got = TokenSimilarity(strings.Fields(c.search), strings.Fields(c.indexed))
		}
		if math.IsNaN(got) || got < 0 || got > 1 {
			t.Errorf("%s: score %v out of range", c.id, got)
		}
		if math.Abs(got-c.want) <= 0.02 {
			agree++
		} else {
			t.Logf("differs: %s search=%q indexed=%q got %.3f watchman %.3f", c.id, c.search, c.indexed, got, c.want)
		}
	}
	rate := float64(agree) / float64(len(cases))
	t.Logf("token pairing vs watchman: %d/%d within ±0.02 (%.1f%%)", agree, len(cases), 100*rate)
	if len(cases) < 100 {
		t.Errorf("only %d watchman token cases found", len(cases))
	}
	const floor = 0.97
	if rate < floor {
		t.Errorf("agreement %.3f below floor %.2f", rate, floor)
	}
}

// TestNamePairsClassified: watchman's should_match / should_not_match
// pairs, scored through the production path (normalisation, combined
// token pairing), must fall on the right side of DefaultThreshold.
func TestNamePairsClassified(t *testing.T) {
	t.Parallel()
	n, right := 0, 0
	for _, c := range loadNameCases(t) {
		if c.Kind != "name_similarity_pair" {
			continue
		}
		n++
		want := strings.HasPrefix(c.ExpectedOutcome, "should_match")
		if !want && !strings.HasPrefix(c.ExpectedOutcome, "should_not_match") {
			t.Fatalf("%s: unknown outcome %q", c.ID, c.ExpectedOutcome)
		}
		s := NameSimilarity(c.Search, c.Indexed)
		if (s >= DefaultThreshold) == want {
			right++
		} else {
			t.Errorf("%s: %q vs %q scored %.3f; want match=%v at threshold %.2f", c.ID, c.Search, c.Indexed, s, want, DefaultThreshold)
		}
	}
	t.Logf("should_match/should_not_match pairs classified right at threshold %.2f: %d/%d", DefaultThreshold, right, n)
	if n != 10 {
		t.Errorf("found %d pair cases, want 10", n)
	}
}

func TestFirstCharacterSoundexMatch(t *testing.T) {
	t.Parallel()
	n := 0
	for _, c := range loadNameCases(t) {
		if c.Kind != "first_char_soundex_match" {
			continue
		}
		n++
		if got := firstCharacterSoundexMatch(c.A, c.B); got != c.ExpectedBool {
			t.Errorf("%s: firstCharacterSoundexMatch(%q, %q) = %v, want %v", c.ID, c.A, c.B, got, c.ExpectedBool)
		}
	}
	if n != 8 {
		t.Errorf("found %d cases, want 8", n)
	}
}

// TestSoundexBoostBounds checks watchman's bounds for the optional Soundex
// boost (weight 0.12) and without it.
func TestSoundexBoostBounds(t *testing.T) {
	t.Parallel()
	plain, boosted := scorer{}, scorer{soundexBoost: 0.12}
	score := func(sc scorer, search, indexed string) float64 {
		return sc.bestPairs(strings.Fields(search), strings.Fields(indexed))
	}
	n := 0
	for _, c := range loadNameCases(t) {
		if c.Kind != "name_similarity_bound" {
			continue
		}
		n++
		b := score(boosted, c.Search, c.Indexed)
		p := score(plain, c.Search, c.Indexed)
		switch c.Indexed + "/" + c.Search {
		case "smith/smythe":
			if b < 0.90 || p <= 0.7 || b <= p {
				t.Errorf("%s: boosted %.3f (want >= 0.90), plain %.3f (want > 0.7)", c.ID, b, p)
			}
		case "johnson/jonson":
			if b < 0.99 {
				t.Errorf("%s: boosted %.3f, want >= 0.99", c.ID, b)
			}
		case "jones/smith":
			if b >= 0.8 {
				t.Errorf("%s: boosted %.3f, want < 0.8", c.ID, b)
			}
		default:
			t.Errorf("%s: no rule for bound %q", c.ID, c.ExpectedBound)
		}
	}
	if n != 3 {
		t.Errorf("found %d bound cases, want 3", n)
	}
}

// TestEntitySimilarityRanking screens watchman's whole-entity queries
// against the small OFAC sample. Queries that identify the entity by name
// (and type and date of birth) must rank it first; queries watchman scores
// low must not reach the threshold; and over each entity's queries, our
// scores must order the queries as watchman's do. Queries that carry
// identifiers (e-mail, government ID, call sign, MMSI, IMO number) are
// left out: screening here takes name, date of birth and nationality only.
func TestEntitySimilarityRanking(t *testing.T) {
	t.Parallel()
	l, err := LoadDir(context.Background(), "testdata/ofac_small")
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		id           string
		want, got    float64
		top          bool
		entity, name string
	}
	var results []result
	skipped := 0
	for _, c := range loadNameCases(t) {
		if c.Kind != "entity_similarity" {
			continue
		}
		if _, ok := l.Entity(c.EntityID); !ok {
			t.Fatalf("%s: entity %s not in ofac_small", c.ID, c.EntityID)
		}
		identifiers := false
		for _, k := range []string{"emailAddresses", "governmentIDs", "callSign", "mmsi", "imoNumber"} {
			if _, ok := c.Query[k]; ok {
				identifiers = true
			}
		}
		if identifiers {
			skipped++
			continue
		}
		q := Query{FullName: c.Query["name"].(string)}
		switch c.Query["type"] {
		case "person":
			q.Type = TypeIndividual
		case "business", "organization":
			q.Type = TypeEntity
		case "vessel":
			q.Type = TypeVessel
		case "aircraft":
			q.Type = TypeAircraft
		}
		if s, ok := c.Query["birthDate"].(string); ok {
			d, err := time.Parse("2006-01-02", s[:10])
			if err != nil {
				t.Fatalf("%s: %v", c.ID, err)
			}
			q.BirthDate = d
		}
		cands, err := l.Screen(q, WithThreshold(0), WithLimit(0))
		if err != nil {
			t.Fatalf("%s: %v", c.ID, err)
		}
		r := result{id: c.ID, want: *c.ExpectedScore, entity: c.EntityID, name: c.Name}
		for i, cand := range cands {
			if cand.EntityID == c.EntityID {
				r.got, r.top = cand.Score, i == 0
			}
		}
		results = append(results, r)
	}
	// Strong and weak expectations.
	for _, r := range results {
		switch {
		case r.want >= 0.7 && !(r.top && r.got >= 0.7):
			t.Errorf("%s (%s): watchman %.3f; got %.3f, ranked first %v", r.id, r.name, r.want, r.got, r.top)
		case r.want < 0.3 && r.got >= DefaultThreshold:
			t.Errorf("%s (%s): watchman %.3f; got %.3f above threshold", r.id, r.name, r.want, r.got)
		}
	}
	// Order of queries per entity.
	sort.SliceStable(results, func(i, j int) bool { return results[i].entity < results[j].entity })
	pairs, concordant := 0, 0
	for i := range results {
		for j := i + 1; j < len(results); j++ {
			a, b := results[i], results[j]
			if a.entity != b.entity || math.Abs(a.want-b.want) < 0.05 {
				continue
			}
			pairs++
			if (a.want > b.want) == (a.got > b.got) {
				concordant++
			} else {
				t.Errorf("order differs: %s (watchman %.3f, got %.3f) vs %s (watchman %.3f, got %.3f)", a.name, a.want, a.got, b.name, b.want, b.got)
			}
		}
	}
	t.Logf("entity cases: %d screened, %d with identifiers skipped; %d/%d query pairs ordered as watchman", len(results), skipped, concordant, pairs)
	if len(results) < 10 || pairs < 10 {
		t.Errorf("too few entity cases compared: %d cases, %d pairs", len(results), pairs)
	}
}
