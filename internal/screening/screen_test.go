package screening

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/borderproof/borderproof/internal/errs"
)

// TestScreenKnownNames: listed names, aliases and slight misspellings of
// them must come out first and above the default threshold.
func TestScreenKnownNames(t *testing.T) {
	t.Parallel()
	l := mustDefault(t)
	cases := []struct {
		query, id string
		alias     bool
	}{
		// Primary names, in either order.
		{"Nicolas Maduro Moros", "22790", false},
		{"MADURO MOROS, Nicolás", "22790", false},
		{"Joaquin Guzman Loera", "6861", false},
		{"Qasem Soleimani", "10481", false},
		{"Hasan Nasrallah", "2686", false},
		{"Kim Jong Un", "20157", false},
		// A missing middle name or second surname.
		{"Nicolas Maduro", "22790", false},
		{"Ramzan Kadyrov", "23343", false},
		{"Oleg Deripaska", "24283", false},
		// Aliases.
		{"Osama bin Laden", "6365", true},
		{"Usama bin Ladin", "6365", true},
		// Misspellings.
		{"Nicolas Madurro", "22790", false},
		{"Ramzan Kadirov", "23343", false},
		{"Joaquin Guzman Lorea", "6861", false},
		{"Qassem Soleimani", "10481", false},
		{"Hassan Nasrallah", "2686", false},
		{"Osama bin Ladan", "6365", true},
	}
	for _, c := range cases {
		got, err := l.Screen(Query{FullName: c.query})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) == 0 || got[0].EntityID != c.id {
			t.Errorf("%q: want %s first, got %s", c.query, c.id, ids(got))
			continue
		}
		top := got[0]
		if top.Score < DefaultThreshold || top.MatchedAlias != c.alias || top.ListName != ListNameOFACSDN || len(top.Programs) == 0 {
			t.Errorf("%q: %+v", c.query, top)
		}
		if top.BirthDateMatch != MatchUnknown || top.NationalityMatch != MatchUnknown {
			t.Errorf("%q: no date of birth or nationality given, got %s/%s", c.query, top.BirthDateMatch, top.NationalityMatch)
		}
	}
}

// TestScreenOrdinaryNames: names of people who are not listed must not
// reach the default threshold.
func TestScreenOrdinaryNames(t *testing.T) {
	t.Parallel()
	l := mustDefault(t)
	for _, name := range []string{
		"John Smith", "Emma Thompson", "Lukas Müller", "Sophie Martin",
		"Hiroshi Tanaka", "Aisha Bello", "Li Wei", "Anna Ivanova",
		"Olivia Brown", "Jean-Pierre Dubois", "Sven Johansson", "Priya Sharma",
	} {
		got, err := l.Screen(Query{FullName: name})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) > 0 {
			t.Errorf("%q: unexpected candidates %s (%.3f)", name, ids(got), got[0].Score)
		}
	}
}

// TestScreenBirthDateAndNationality: agreeing attributes raise the score,
// contradicting ones lower it.
func TestScreenBirthDateAndNationality(t *testing.T) {
	t.Parallel()
	l := mustDefault(t)
	// 10481: DOB 11 Mar 1957; nationality Iran.
	score := func(q Query) Candidate {
		t.Helper()
		got, err := l.Screen(q, WithThreshold(0.5), WithLimit(0))
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range got {
			if c.EntityID == "10481" {
				return c
			}
		}
		t.Fatalf("10481 not a candidate for %+v", q)
		return Candidate{}
	}
	base := Query{FullName: "Qassem Soleimani"}
	plain := score(base)

	cases := []struct {
		name     string
		mod      func(q *Query)
		dob, nat Match
		higher   bool
	}{
		{"dob agrees", func(q *Query) { q.BirthDate = day(1957, 3, 11) }, Matched, MatchUnknown, true},
		{"dob contradicts", func(q *Query) { q.BirthDate = day(1980, 3, 11) }, Mismatched, MatchUnknown, false},
		{"nationality agrees", func(q *Query) { q.Nationality = "IRN" }, MatchUnknown, Matched, true},
		{"nationality contradicts", func(q *Query) { q.Nationality = "FRA" }, MatchUnknown, Mismatched, false},
		{"both agree", func(q *Query) { q.BirthDate = day(1957, 3, 11); q.Nationality = "irn" }, Matched, Matched, true},
	}
	for _, c := range cases {
		q := base
		c.mod(&q)
		got := score(q)
		if got.BirthDateMatch != c.dob || got.NationalityMatch != c.nat || got.NameScore != plain.NameScore {
			t.Errorf("%s: %+v", c.name, got)
		}
		if (got.Score > plain.Score) != c.higher || got.Score == plain.Score {
			t.Errorf("%s: score %.3f vs name only %.3f", c.name, got.Score, plain.Score)
		}
	}
	// A contradicting date of birth drops an exact namesake below the
	// default threshold; an agreeing one keeps a misspelt name above it.
	got, _ := l.Screen(Query{FullName: "Qasem Soleimani", BirthDate: day(1990, 1, 1)})
	if len(got) != 0 {
		t.Errorf("namesake with another date of birth: %s", ids(got))
	}
	got, _ = l.Screen(Query{FullName: "Kasem Soleymani", BirthDate: day(1957, 3, 11)})
	if len(got) == 0 || got[0].EntityID != "10481" {
		t.Errorf("misspelling with date of birth: %s", ids(got))
	}
}

func TestScreenOptionsAndTypes(t *testing.T) {
	t.Parallel()
	l := mustDefault(t)
	q := Query{GivenNames: "Kim", Surname: "Jong Un"}
	all, err := l.Screen(q, WithThreshold(0.6), WithLimit(0))
	if err != nil {
		t.Fatal(err)
	}
	if len(all) < 5 || all[0].EntityID != "20157" {
		t.Fatalf("got %s", ids(all))
	}
	for i := 1; i < len(all); i++ {
		if all[i].Score > all[i-1].Score || all[i].Score < 0.6 {
			t.Fatalf("not ranked or below threshold at %d: %.3f after %.3f", i, all[i].Score, all[i-1].Score)
		}
	}
	seen := map[string]bool{}
	for _, c := range all {
		if seen[c.EntityID] {
			t.Errorf("entity %s twice", c.EntityID)
		}
		seen[c.EntityID] = true
	}
	three, _ := l.Screen(q, WithThreshold(0.6), WithLimit(3))
	if len(three) != 3 || three[2].EntityID != all[2].EntityID {
		t.Errorf("limit 3: %s", ids(three))
	}
	vessels, _ := l.Screen(Query{FullName: "Kim Jong Un", Type: TypeVessel}, WithThreshold(0.6))
	for _, c := range vessels {
		if c.Type != TypeVessel {
			t.Errorf("type filter let through %s (%s)", c.EntityID, c.Type)
		}
	}
	ents, _ := l.Screen(Query{FullName: "Usama bin Laden Network", Type: TypeEntity})
	if len(ents) == 0 || ents[0].EntityID != "6366" {
		t.Errorf("entity query: %s", ids(ents))
	}
}

func TestScreenInvalid(t *testing.T) {
	t.Parallel()
	l := loadSmall(t)
	for _, q := range []Query{
		{},
		{FullName: " .,- "},
		{FullName: "Jane Doe", Nationality: "Narnia"},
		{FullName: "Jane Doe", Type: "person"},
	} {
		_, err := l.Screen(q)
		if !errs.Is(err, errs.Invalid) {
			t.Errorf("%+v: err %v, want invalid", q, err)
			continue
		}
		if strings.Contains(err.Error(), "Jane") || strings.Contains(err.Error(), "Narnia") {
			t.Errorf("error carries query data: %v", err)
		}
	}
}

// TestScreenNameScoreConsistent: the indexed search must give exactly the
// score of NameSimilarity for the name it reports, and must not miss a
// name that NameSimilarity puts above the threshold.
func TestScreenNameScoreConsistent(t *testing.T) {
	t.Parallel()
	l := mustDefault(t)
	queries := []string{"Nicolas Maduro", "Osama bin Ladan", "Mohammed Ali", "JSC ARGUMENT", "Ali Reza", "Aircraft Avionics"}
	for _, qs := range queries {
		got, err := l.Screen(Query{FullName: qs}, WithThreshold(0.8), WithLimit(0))
		if err != nil {
			t.Fatal(err)
		}
		found := map[string]float64{}
		for _, c := range got {
			found[c.EntityID] = c.NameScore
			if s := NameSimilarity(qs, c.MatchedName); math.Abs(s-c.NameScore) > 1e-12 {
				t.Errorf("%q vs %q: Screen %.6f, NameSimilarity %.6f", qs, c.MatchedName, c.NameScore, s)
			}
		}
		// Brute force over every name of every entity.
		for _, e := range l.entities {
			best := NameSimilarity(qs, e.Name)
			for _, a := range e.Aliases {
				best = max(best, NameSimilarity(qs, a.Name))
			}
			if best >= 0.8 {
				if s, ok := found[e.ID]; !ok || math.Abs(s-best) > 1e-12 {
					t.Errorf("%q: entity %s scores %.6f by brute force, Screen gave %.6f (found %v)", qs, e.ID, best, s, ok)
				}
			}
		}
	}
}

// TestScreenBornOnQueryDate holds Screen to brute force where a date of
// birth does the most: queries carrying a listed entity's date of birth
// and nationality with a name of its spelt two edits away, which only the
// date of birth can lift to the threshold. Every entity's score is
// computed from NameSimilarity over all its names.
func TestScreenBornOnQueryDate(t *testing.T) {
	t.Parallel()
	l := mustDefault(t)
	r := rand.New(rand.NewPCG(11, 3))
	n := 12
	if raceDetector {
		n = 3
	}
	tried := 0
	for tried < n {
		e := &l.entities[r.IntN(len(l.entities))]
		if len(e.BirthDates) == 0 || len(e.Nationalities) == 0 || e.Type != TypeIndividual {
			continue
		}
		tried++
		words := strings.Fields(e.Name)
		for range 2 {
			i := r.IntN(len(words))
			words[i] = typo(r, words[i])
		}
		q := Query{FullName: strings.Join(words, " "), BirthDate: e.BirthDates[0].From, Nationality: e.Nationalities[0]}
		const threshold = 0.85
		got, err := l.Screen(q, WithThreshold(threshold), WithLimit(0))
		if err != nil {
			t.Fatal(err)
		}
		found := map[string]float64{}
		for _, c := range got {
			found[c.EntityID] = c.Score
		}
		want := 0
		for i := range l.entities {
			le := &l.entities[i]
			best := NameSimilarity(q.FullName, le.Name)
			for _, a := range le.Aliases {
				best = max(best, NameSimilarity(q.FullName, a.Name))
			}
			score := adjustScore(best, birthDateMatch(le, q), nationalityMatch(le, queryNationality(q.Nationality)))
			if score < threshold {
				if s, ok := found[le.ID]; ok {
					t.Errorf("%+v: entity %s scores %.6f by brute force, below the threshold; Screen gave %.6f", q, le.ID, score, s)
				}
				continue
			}
			want++
			if s, ok := found[le.ID]; !ok || math.Abs(s-score) > 1e-12 {
				t.Errorf("%+v: entity %s scores %.6f by brute force, Screen gave %.6f (found %v)", q, le.ID, score, s, ok)
			}
		}
		if want == 0 {
			t.Logf("%+v: no entity reaches the threshold", q)
		}
	}
}

func TestScreenConcurrent(t *testing.T) {
	t.Parallel()
	l := mustDefault(t)
	queries := []Query{
		{FullName: "Nicolas Maduro"},
		{FullName: "Kim Jong Un", BirthDate: day(1984, 1, 8)},
		{FullName: "Qasem Soleimani", Nationality: "IRN"},
		{FullName: "Jose Rodriguez"},
	}
	want := make([]string, len(queries))
	for i, q := range queries {
		got, _ := l.Screen(q, WithThreshold(0.7))
		want[i] = fmt.Sprint(got)
	}
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				k := (g + i) % len(queries)
				got, _ := l.Screen(queries[k], WithThreshold(0.7))
				if s := fmt.Sprint(got); s != want[k] {
					t.Errorf("concurrent result differs for query %d", k)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func ids(cs []Candidate) string {
	var b strings.Builder
	for i, c := range cs {
		if i > 0 {
			b.WriteString(" ")
		}
		fmt.Fprintf(&b, "%s:%.3f", c.EntityID, c.Score)
	}
	return "[" + b.String() + "]"
}

// BenchmarkScreen screens against the compiled-in 2019 list (7,379
// entries, 18,888 distinct names and aliases).
func BenchmarkScreen(b *testing.B) {
	l := mustDefault(b)
	queries := []Query{
		{FullName: "Nicolas Madurro"},
		{FullName: "Osama bin Laden"},
		{FullName: "John Smith"},
		{FullName: "Maria Elena Garcia Lopez", BirthDate: time.Date(1970, 5, 1, 0, 0, 0, 0, time.UTC), Nationality: "MEX"},
		{GivenNames: "Hiroshi", Surname: "Tanaka"},
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := l.Screen(queries[i%len(queries)]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkScreenPeople screens 200 different people as a partner's
// traffic brings them: common given names and surnames of several
// languages, with a date of birth and mostly a nationality, at the default
// threshold.
func BenchmarkScreenPeople(b *testing.B) {
	l := mustDefault(b)
	queries := peopleQueries(200, false)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := l.Screen(queries[i%len(queries)]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkScreenPeopleMisspelt is BenchmarkScreenPeople with 5,000
// people whose given name and surname are each misspelt by one edit,
// so that few words repeat.
func BenchmarkScreenPeopleMisspelt(b *testing.B) {
	l := mustDefault(b)
	queries := peopleQueries(5000, true)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := l.Screen(queries[i%len(queries)]); err != nil {
			b.Fatal(err)
		}
	}
}

// peopleQueries returns n deterministic person queries drawn from the
// common names, misspelt when typos is set.
func peopleQueries(n int, typos bool) []Query {
	r := rand.New(rand.NewPCG(2, 200))
	pick := func(s []string) string {
		w := s[r.IntN(len(s))]
		if typos {
			w = typo(r, strings.ToLower(w))
		}
		return w
	}
	out := make([]Query, n)
	for i := range out {
		q := Query{GivenNames: pick(commonGivenNames), Surname: pick(commonSurnames),
			BirthDate: time.Date(1950+r.IntN(55), time.Month(1+r.IntN(12)), 1+r.IntN(28), 0, 0, 0, 0, time.UTC)}
		if r.IntN(4) == 0 {
			q.GivenNames += " " + pick(commonGivenNames)
		}
		if r.IntN(4) != 0 {
			q.Nationality = goldenNationalities[r.IntN(len(goldenNationalities))]
		}
		out[i] = q
	}
	return out
}

func BenchmarkLoadDefault(b *testing.B) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := LoadDefault(b.Context()); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkJaroWinkler(b *testing.B) {
	for i := 0; i < b.N; i++ {
		JaroWinkler("PENNSYLVANIA", "PENNCISYLVNIA")
	}
}
