package screening

import (
	"bufio"
	"compress/gzip"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The golden file pins Screen's exact output: every candidate, in order,
// with both scores printed in the shortest form that reads back to the same
// float64 bits. It was written by the implementation that preceded the
// indexed vocabulary scan, so any optimisation of Screen must reproduce it
// exactly. Regenerate it (only for a deliberate change of scores) with
//
//	go test -run TestScreenGolden -update-screen-golden ./internal/screening/
//
// The queries are stored with the results, so the test does not depend on
// the generator staying the same.
const screenGoldenFile = "testdata/screen_golden.txt.gz"

var updateScreenGolden = flag.Bool("update-screen-golden", false, "rewrite "+screenGoldenFile+" from the current Screen")

// goldenQuery is one recorded call of Screen: the query and its options
// (threshold and limit, each absent when negative).
type goldenQuery struct {
	q         Query
	threshold float64
	limit     int
}

func (g goldenQuery) opts() []ScreenOption {
	var o []ScreenOption
	if g.threshold >= 0 {
		o = append(o, WithThreshold(g.threshold))
	}
	if g.limit >= 0 {
		o = append(o, WithLimit(g.limit))
	}
	return o
}

// Golden file lines: "Q" and the query's fields, then one "C" line per
// candidate; fields are tab-separated and names hold no tabs.
func (g goldenQuery) line() string {
	dob := ""
	if !g.q.BirthDate.IsZero() {
		dob = g.q.BirthDate.Format(time.DateOnly)
	}
	return strings.Join([]string{"Q", g.q.FullName, g.q.GivenNames, g.q.Surname, dob, g.q.Nationality, string(g.q.Type),
		strconv.FormatFloat(g.threshold, 'g', -1, 64), strconv.Itoa(g.limit)}, "\t")
}

func parseGoldenQuery(line string) (goldenQuery, error) {
	f := strings.Split(line, "\t")
	if len(f) != 9 || f[0] != "Q" {
		return goldenQuery{}, fmt.Errorf("bad query line %q", line)
	}
	g := goldenQuery{q: Query{FullName: f[1], GivenNames: f[2], Surname: f[3], Nationality: f[5], Type: EntityType(f[6])}}
	var err error
	if f[4] != "" {
		if g.q.BirthDate, err = time.Parse(time.DateOnly, f[4]); err != nil {
			return g, err
		}
	}
	if g.threshold, err = strconv.ParseFloat(f[7], 64); err != nil {
		return g, err
	}
	g.limit, err = strconv.Atoi(f[8])
	return g, err
}

// goldenResult renders Screen's answer to g as golden file lines.
func goldenResult(l *List, g goldenQuery) []string {
	got, err := l.Screen(g.q, g.opts()...)
	if err != nil {
		return []string{"E\t" + err.Error()}
	}
	out := make([]string, 0, len(got))
	for _, c := range got {
		out = append(out, strings.Join([]string{"C", c.EntityID, string(c.Type), strconv.FormatBool(c.MatchedAlias),
			strconv.FormatFloat(c.Score, 'g', -1, 64), strconv.FormatFloat(c.NameScore, 'g', -1, 64),
			string(c.BirthDateMatch), string(c.NationalityMatch), c.ListName, strings.Join(c.Programs, ","), c.MatchedName}, "\t"))
	}
	return out
}

// TestScreenGolden: Screen must return exactly the recorded candidates,
// scores bit for bit, in the recorded order, for every recorded query.
func TestScreenGolden(t *testing.T) {
	l := mustDefault(t)
	if *updateScreenGolden {
		writeScreenGolden(t, l, goldenQueries(l))
	}
	f, err := os.Open(screenGoldenFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(zr)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	var (
		queries []goldenQuery
		want    [][]string
	)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "Q\t") {
			g, err := parseGoldenQuery(line)
			if err != nil {
				t.Fatal(err)
			}
			queries = append(queries, g)
			want = append(want, []string{})
			continue
		}
		if len(want) == 0 {
			t.Fatalf("result line before any query: %q", line)
		}
		want[len(want)-1] = append(want[len(want)-1], line)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(queries) < 1000 {
		t.Fatalf("only %d golden queries", len(queries))
	}
	// The queries are screened by concurrent workers: the pooled scratch
	// memory must not carry anything from one call to the next.
	got := make([][]string, len(queries))
	var wg sync.WaitGroup
	workers := runtime.GOMAXPROCS(0)
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(queries); i += workers {
				got[i] = goldenResult(l, queries[i])
			}
		})
	}
	wg.Wait()
	failed, cands := 0, 0
	for i, g := range queries {
		cands += len(want[i])
		if slices.Equal(got[i], want[i]) {
			continue
		}
		if failed++; failed <= 5 {
			t.Errorf("query %d %q:\n got  %q\n want %q", i, g.line(), got[i], want[i])
		}
	}
	if failed > 0 {
		t.Fatalf("%d of %d queries differ from %s", failed, len(queries), screenGoldenFile)
	}
	t.Logf("%d queries, %d candidates as recorded", len(queries), cands)
}

func writeScreenGolden(t *testing.T, l *List, queries []goldenQuery) {
	t.Helper()
	f, err := os.Create(screenGoldenFile)
	if err != nil {
		t.Fatal(err)
	}
	zw, _ := gzip.NewWriterLevel(f, gzip.BestCompression)
	w := bufio.NewWriter(zw)
	for _, g := range queries {
		fmt.Fprintln(w, g.line())
		for _, r := range goldenResult(l, g) {
			fmt.Fprintln(w, r)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// Common given names and surnames of several languages, for queries that
// resemble real screening traffic.
var (
	commonGivenNames = []string{
		"James", "John", "Robert", "Michael", "William", "David", "Mary", "Patricia", "Jennifer", "Linda",
		"Maria", "José", "Juan", "Carlos", "Luis", "Ana", "Sofía", "Miguel", "Jorge", "Alejandro",
		"Mohammed", "Muhammad", "Ahmed", "Ali", "Omar", "Fatima", "Aisha", "Hassan", "Hussein", "Ibrahim",
		"Yusuf", "Abdullah", "Mustafa", "Khalid", "Mehmet", "Ayşe", "Emre", "Zeynep",
		"Ivan", "Sergei", "Dmitry", "Olga", "Natalia", "Alexander", "Vladimir", "Elena", "Andrei", "Yulia",
		"Wei", "Li", "Min", "Jun", "Hui", "Hiroshi", "Yuki", "Takeshi", "Min-jun", "Seo-yeon",
		"Pierre", "Jean", "Marie", "François", "Hans", "Lukas", "Anna", "Sven", "Giuseppe", "Francesca",
		"Priya", "Rahul", "Amit", "Sunita", "Chinedu", "Ngozi", "Kwame", "Amina", "Tomasz", "Katarzyna",
	}
	commonSurnames = []string{
		"Smith", "Johnson", "Williams", "Brown", "Jones", "Miller", "Davis", "Wilson", "Taylor", "Clark",
		"García", "Rodríguez", "Martínez", "Hernández", "López", "González", "Pérez", "Sánchez", "Ramírez", "Torres",
		"Khan", "Ahmed", "Hussain", "Rahman", "Ali", "Al-Sayed", "Haddad", "Nasser", "Abdullah", "Mansour",
		"Yılmaz", "Kaya", "Demir", "Ivanov", "Smirnov", "Kuznetsov", "Popov", "Petrova", "Volkov", "Sokolov",
		"Wang", "Li", "Zhang", "Liu", "Chen", "Kim", "Lee", "Park", "Nguyen", "Tanaka",
		"Suzuki", "Sato", "Müller", "Schmidt", "Schneider", "Fischer", "Martin", "Bernard", "Dubois", "Rossi",
		"Russo", "Kowalski", "Nowak", "Sharma", "Patel", "Singh", "Okafor", "Mensah", "Bello", "Silva",
	}
	goldenNationalities = []string{"IRN", "RUS", "MEX", "USA", "D", "GBR", "CHN", "SYR", "VEN", "PRK", "COL", "AFG", "IRQ", "LBN", "UKR"}
)

// goldenQueries generates the deterministic query mix of the golden file:
// listed names and aliases as given, reordered and misspelt; random mixes
// of listed words with typos; common names of several languages, alone
// and mixed with listed words; with and without a date of birth,
// nationality and type; thresholds from 0.7 to 0.95 and several limits.
func goldenQueries(l *List) []goldenQuery {
	r := rand.New(rand.NewPCG(20190101, 7379))
	pick := func(s []string) string { return s[r.IntN(len(s))] }
	var out []goldenQuery
	for len(out) < 3000 {
		e := &l.entities[r.IntN(len(l.entities))]
		var words []string
		switch k := r.IntN(10); {
		case k < 3: // a listed name or alias, perhaps reordered or misspelt
			name := e.Name
			if len(e.Aliases) > 0 && r.IntN(2) == 0 {
				name = e.Aliases[r.IntN(len(e.Aliases))].Name
			}
			words = strings.Fields(name)
			if r.IntN(3) == 0 {
				r.Shuffle(len(words), func(i, j int) { words[i], words[j] = words[j], words[i] })
			}
			for n := r.IntN(3); n > 0 && len(words) > 0; n-- {
				i := r.IntN(len(words))
				words[i] = typo(r, words[i])
			}
		case k < 5: // listed words with typos
			for n := 1 + r.IntN(4); n > 0; n-- {
				w := l.vocab[r.IntN(len(l.vocab))]
				if r.IntN(2) == 0 {
					w = typo(r, w)
				}
				words = append(words, w)
			}
		case k < 8: // common names
			words = append(words, pick(commonGivenNames))
			if r.IntN(4) == 0 {
				words = append(words, pick(commonGivenNames))
			}
			words = append(words, pick(commonSurnames))
			if r.IntN(5) == 0 {
				words = append(words, pick(commonSurnames))
			}
			if r.IntN(4) == 0 {
				i := r.IntN(len(words))
				words[i] = typo(r, words[i])
			}
		default: // a common given name with a listed word
			words = []string{pick(commonGivenNames), l.vocab[l.tokens[l.variants[l.names[r.IntN(len(l.names))].first].first]]}
		}
		g := goldenQuery{threshold: -1, limit: -1}
		if r.IntN(3) == 0 && len(words) > 1 {
			g.q.GivenNames, g.q.Surname = strings.Join(words[:len(words)-1], " "), words[len(words)-1]
		} else {
			g.q.FullName = strings.Join(words, " ")
		}
		switch r.IntN(4) {
		case 0:
			if len(e.BirthDates) > 0 {
				g.q.BirthDate = e.BirthDates[0].From
			}
		case 1:
			g.q.BirthDate = time.Date(1940+r.IntN(70), time.Month(1+r.IntN(12)), 1+r.IntN(28), 0, 0, 0, 0, time.UTC)
		}
		switch r.IntN(4) {
		case 0:
			if len(e.Nationalities) > 0 {
				g.q.Nationality = e.Nationalities[0]
			}
		case 1:
			g.q.Nationality = pick(goldenNationalities)
		}
		if r.IntN(8) == 0 {
			g.q.Type = []EntityType{TypeIndividual, TypeEntity, TypeVessel, TypeAircraft}[r.IntN(4)]
		}
		switch r.IntN(4) {
		case 0: // the default
		case 1:
			g.threshold = 0.7 + 0.05*float64(r.IntN(6))
		default:
			g.threshold = 0.7 + 0.25*r.Float64()
		}
		g.limit = []int{-1, 0, 1, 3, 10}[r.IntN(5)]
		out = append(out, g)
	}
	return out
}

// typo misspells a word by one edit: a letter replaced, dropped, doubled
// or inserted, or two neighbours swapped.
func typo(r *rand.Rand, w string) string {
	b := []byte(w)
	if len(b) == 0 {
		return w
	}
	i := r.IntN(len(b))
	c := byte('a' + r.IntN(26))
	switch r.IntN(5) {
	case 0:
		b[i] = c
	case 1:
		if len(b) > 1 {
			b = slices.Delete(b, i, i+1)
		}
	case 2:
		b = slices.Insert(b, i, b[i])
	case 3:
		b = slices.Insert(b, i, c)
	default:
		if i+1 < len(b) {
			b[i], b[i+1] = b[i+1], b[i]
		}
	}
	return string(b)
}
