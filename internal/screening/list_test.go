package screening

import (
	"context"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/borderproof/borderproof/internal/errs"
)

func loadSmall(t testing.TB) *List {
	t.Helper()
	l, err := LoadDir(context.Background(), "testdata/ofac_small")
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// defaultList loads the compiled-in list once for the package's tests.
var defaultList = sync.OnceValues(func() (*List, error) {
	return LoadDefault(context.Background())
})

func mustDefault(t testing.TB) *List {
	t.Helper()
	l, err := defaultList()
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func day(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

func TestLoadSmall(t *testing.T) {
	t.Parallel()
	l := loadSmall(t)
	if l.Len() != 17 {
		t.Fatalf("Len = %d, want 17", l.Len())
	}
	if st := l.Stats(); st.Orphans == 0 || st.Names <= l.Len() {
		t.Errorf("stats %+v: want orphan alias rows counted and aliases prepared", st)
	}
	if !regexp.MustCompile(`^ofac-sdn:[0-9a-f]{12}$`).MatchString(l.Version()) {
		t.Errorf("version %q", l.Version())
	}
	if l.Name() != ListNameOFACSDN {
		t.Errorf("name %q", l.Name())
	}

	e, ok := l.Entity("48603")
	if !ok {
		t.Fatal("48603 missing")
	}
	if e.Type != TypeIndividual || !slices.Equal(e.Programs, []string{"CYBER2"}) {
		t.Errorf("48603: type %q programs %q", e.Type, e.Programs)
	}
	if len(e.BirthDates) != 1 || !e.BirthDates[0].From.Equal(day(1993, time.April, 17)) || !e.BirthDates[0].To.Equal(day(1993, time.April, 17)) {
		t.Errorf("48603 birth dates %+v", e.BirthDates)
	}
	if !slices.Contains(e.Nationalities, "RUS") {
		t.Errorf("48603 nationalities %q", e.Nationalities)
	}
	var strong, weak []string
	for _, a := range e.Aliases {
		if a.Weak {
			weak = append(weak, a.Name)
		} else {
			strong = append(strong, a.Name)
		}
	}
	if !slices.Contains(strong, "KHOROSHEV, Dmitriy Yurevich") || !slices.Contains(weak, "LOCKBITSUPP") {
		t.Errorf("48603 aliases %q / weak %q", strong, weak)
	}

	// Entities with an empty OFAC type, multi-programme fields, addresses.
	e, _ = l.Entity("11195")
	if e.Type != TypeEntity || !slices.Equal(e.Programs, []string{"NPWMD", "IFSR", "IRAN-CON-ARMS-EO"}) {
		t.Errorf("11195: type %q programs %q", e.Type, e.Programs)
	}
	if len(e.Addresses) < 4 || e.Addresses[0].Country != "Iran" {
		t.Errorf("11195 addresses %+v", e.Addresses)
	}
	// Vessel fields.
	e, _ = l.Entity("47371")
	if e.Type != TypeVessel || e.CallSign != "A8LU7" || e.VesselFlag != "Gabon" || e.VesselType != "Crude Oil Tanker" {
		t.Errorf("47371 %+v", e)
	}
	// Remarks continued in sdn_comments.csv.
	e, _ = l.Entity("33151")
	if !strings.Contains(e.Remarks, "alt. Digital Currency Address - ETH 0x19aa5fe80d33a56d56c78e82ea5e50e5d80b4dff") {
		t.Error("33151: sdn_comments.csv continuation not appended to remarks")
	}
	// Entity returns a copy.
	e, _ = l.Entity("48603")
	e.Aliases[0].Name = "changed"
	if again, _ := l.Entity("48603"); again.Aliases[0].Name == "changed" {
		t.Error("Entity exposes the list's own slices")
	}
	if _, ok := l.Entity("1"); ok {
		t.Error("unknown id found")
	}
}

func TestLoadDefault(t *testing.T) {
	t.Parallel()
	l := mustDefault(t)
	if l.Len() != 7379 {
		t.Errorf("Len = %d, want 7379", l.Len())
	}
	st := l.Stats()
	if st.Names < 15000 || st.Orphans != 0 {
		t.Errorf("stats %+v", st)
	}
	// The same files read from a directory give the same version.
	dir, err := LoadDir(context.Background(), "sdn")
	if err != nil {
		t.Fatal(err)
	}
	if dir.Version() != l.Version() || l.Version() == loadSmall(t).Version() {
		t.Errorf("versions: embedded %s, dir %s", l.Version(), dir.Version())
	}
	var withDOB, withNat int
	for _, e := range l.entities {
		if len(e.BirthDates) > 0 {
			withDOB++
		}
		if len(e.Nationalities) > 0 {
			withNat++
		}
	}
	// 3,845 individuals; most carry a date of birth, many a nationality.
	if withDOB < 3000 || withNat < 1500 {
		t.Errorf("parsed dates of birth for %d entities, nationalities for %d", withDOB, withNat)
	}
}

const sdnRow = `100,"MUSTERMANN, Erika","individual","SDGT",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,"DOB 12 Aug 1964; nationality Germany."` + "\r\n"

func TestLoadFormats(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	base := fstest.MapFS{"sdn.csv": {Data: []byte(sdnRow)}}
	l, err := Load(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	e, _ := l.Entity("100")
	if e.Name != "MUSTERMANN, Erika" || !slices.Equal(e.Nationalities, []string{"DEU"}) {
		t.Errorf("entity %+v", e)
	}

	// Windows-1252 (OFAC's encoding) and a DOS end-of-file mark.
	cp := fstest.MapFS{
		"sdn.csv": {Data: []byte("101,\"MU\xd1OZ, Jos\xe9\",\"individual\",\"SDNT\",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- \r\n\x1a")},
		"alt.csv": {Data: []byte("101,1,\"aka\",\"MU\xd1OZ, Pepe\",-0- \r\n")},
	}
	l, err = Load(ctx, cp)
	if err != nil {
		t.Fatal(err)
	}
	e, _ = l.Entity("101")
	if e.Name != "MUÑOZ, José" || len(e.Aliases) != 1 || e.Aliases[0].Name != "MUÑOZ, Pepe" {
		t.Errorf("windows-1252: %+v", e)
	}
	c, err := l.Screen(Query{FullName: "Jose Munoz"})
	if err != nil || len(c) != 1 || c[0].NameScore != 1 {
		t.Errorf("accent-folded screen: %+v, %v", c, err)
	}

	// The version changes with any file.
	other := fstest.MapFS{"sdn.csv": base["sdn.csv"], "alt.csv": {Data: []byte("100,1,\"aka\",\"MUSTERFRAU, Erika\",-0- \n")}}
	l2, err := Load(ctx, other)
	if err != nil {
		t.Fatal(err)
	}
	l1, _ := Load(ctx, base)
	l1b, _ := Load(ctx, base)
	if l1.Version() != l1b.Version() || l1.Version() == l2.Version() {
		t.Errorf("versions: %s, again %s, with alt.csv %s", l1.Version(), l1b.Version(), l2.Version())
	}

	bad := []struct {
		name string
		fsys fstest.MapFS
	}{
		{"missing sdn.csv", fstest.MapFS{"alt.csv": {Data: []byte("")}}},
		{"empty", fstest.MapFS{"sdn.csv": {Data: []byte("\n")}}},
		{"short record", fstest.MapFS{"sdn.csv": {Data: []byte(`102,"DOE, Jane","individual"` + "\n")}}},
		{"duplicate", fstest.MapFS{"sdn.csv": {Data: []byte(sdnRow + sdnRow)}}},
	}
	for _, tc := range bad {
		_, err := Load(ctx, tc.fsys)
		if !errs.Is(err, errs.Invalid) {
			t.Errorf("%s: err %v, want invalid", tc.name, err)
		}
		if err != nil && (strings.Contains(err.Error(), "DOE") || strings.Contains(err.Error(), "MUSTERMANN")) {
			t.Errorf("%s: error carries a name: %v", tc.name, err)
		}
	}

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := Load(cctx, base); err == nil {
		t.Error("cancelled context: no error")
	}
}

func TestParseDateOfBirth(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in       string
		ok       bool
		from, to time.Time
		circa    bool
	}{
		{"28 Jul 1963", true, day(1963, 7, 28), day(1963, 7, 28), false},
		{"Jul 1963", true, day(1963, 7, 1), day(1963, 7, 31), false},
		{"1963", true, day(1963, 1, 1), day(1963, 12, 31), false},
		{"circa 1958", true, day(1958, 1, 1), day(1958, 12, 31), true},
		{"circa 01 Jan 1960", true, day(1960, 1, 1), day(1960, 1, 1), true},
		{"1960 to 1962", true, day(1960, 1, 1), day(1962, 12, 31), false},
		{"12 Jan 1960 to 15 Feb 1962", true, day(1960, 1, 12), day(1962, 2, 15), false},
		{"circa 1958-1960", true, day(1958, 1, 1), day(1960, 12, 31), true},
		{"Feb 2000", true, day(2000, 2, 1), day(2000, 2, 29), false},
		{"1962 to 1960", false, time.Time{}, time.Time{}, false},
		{"31 Feb 1960", false, time.Time{}, time.Time{}, false},
		{"unknown", false, time.Time{}, time.Time{}, false},
		{"", false, time.Time{}, time.Time{}, false},
	}
	for _, c := range cases {
		r, ok := parseDateOfBirth(c.in)
		if ok != c.ok || ok && (!r.From.Equal(c.from) || !r.To.Equal(c.to) || r.Circa != c.circa) {
			t.Errorf("parseDateOfBirth(%q) = %+v, %v", c.in, r, ok)
		}
	}
	circa := DateRange{From: day(1958, 1, 1), To: day(1958, 12, 31), Circa: true}
	for _, c := range []struct {
		d    time.Time
		want bool
	}{{day(1957, 1, 1), true}, {day(1959, 12, 31), true}, {day(1956, 12, 31), false}, {day(1960, 1, 1), false}} {
		if got := circa.Contains(c.d); got != c.want {
			t.Errorf("circa 1958 contains %v = %v", c.d, got)
		}
	}
}

func TestApplyRemarks(t *testing.T) {
	t.Parallel()
	countries := newCountryNames()
	cases := []struct {
		remarks       string
		dobs          int
		nationalities []string
		weak          []string
	}{
		{"DOB 12 Jan 1960; alt. DOB 1961; POB Tehran, Iran; nationality Iran; citizen Iran.", 2, []string{"IRN"}, nil},
		{"nationality Korea, North; alt. citizen Congo, Democratic Republic of the; citizen Atlantis", 0, []string{"PRK", "COD"}, nil},
		{"nationality possibly Palestinian; a.k.a. 'ABU X'; a.k.a. 'D'S SUPERMARKET'.", 0, []string{"PSE"}, []string{"ABU X", "D'S SUPERMARKET"}},
		{"Linked To: SOMETHING; f.k.a. 'OLD NAME'; n.k.a. 'NEW NAME'", 0, nil, []string{"OLD NAME", "NEW NAME"}},
		{"DOB circa 1958; Gender Male", 1, nil, nil},
	}
	for _, c := range cases {
		e := Entity{Remarks: c.remarks}
		applyRemarks(&e, countries)
		var weak []string
		for _, a := range e.Aliases {
			weak = append(weak, a.Name)
		}
		if len(e.BirthDates) != c.dobs || !slices.Equal(e.Nationalities, c.nationalities) || !slices.Equal(weak, c.weak) {
			t.Errorf("%q: dobs %d nationalities %q weak aliases %q", c.remarks, len(e.BirthDates), e.Nationalities, weak)
		}
	}
}

func TestNormalizeName(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"MADURO MOROS, Nicolás":  "maduro moros nicolas",
		"A.I.C. SOGO KENKYUSHO":  "aic sogo kenkyusho",
		"D'S SUPERMARKET CO.":    "ds supermarket co",
		"AL-BAGHDADI,Abu Bakr":   "al baghdadi abu bakr",
		"  Straße  Øresund Łódź": "strasse oresund lodz",
		"(P-532) & Co / Ltd":     "p 532 co ltd",
		"Ñoño ÇAĞLAR":            "nono caglar",
		"":                       "",
	}
	for in, want := range cases {
		if got := normalizeName(in); got != want {
			t.Errorf("normalizeName(%q) = %q, want %q", in, got, want)
		}
	}
	if got := nameTokens("Mr. John the Smith"); !slices.Equal(got, []string{"john", "the", "smith"}) {
		t.Errorf("honorific: %q", got)
	}
	if got := nameTokens("The Yangon Gallery"); !slices.Equal(got, []string{"yangon", "gallery"}) {
		t.Errorf("leading the: %q", got)
	}
	if got := nameTokens("The"); !slices.Equal(got, []string{"the"}) {
		t.Errorf("only the: %q", got)
	}
}

func TestQueryNationality(t *testing.T) {
	t.Parallel()
	cases := map[string]string{"IRN": "IRN", "irn": "IRN", "D": "DEU", "D<<": "DEU", "GBN": "GBR", "XXK": "RKS", "": "", "IR": "", "I1N": "", "IRAN": ""}
	for in, want := range cases {
		if got := queryNationality(in); got != want {
			t.Errorf("queryNationality(%q) = %q, want %q", in, got, want)
		}
	}
}
