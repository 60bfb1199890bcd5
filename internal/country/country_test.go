package country_test

import (
	"bufio"
	"os"
	"strings"
	"testing"

	"github.com/borderproof/borderproof/internal/country"
)

// TestTableMatchesSources checks the embedded table against the two source
// files it was merged from: every ISO 3166-1 row and every ICAO code must be
// present with the same alpha-2 code.
func TestTableMatchesSources(t *testing.T) {
	t.Parallel()

	iso := 0
	f, err := os.Open("testdata/cheminfo_states-iso3166.tsv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		cols := strings.Split(sc.Text(), "\t")
		if len(cols) != 5 || cols[3] == "Alpha-3 code" {
			continue
		}
		iso++
		c, ok := country.Lookup(cols[3])
		if !ok {
			t.Errorf("ISO code %s missing", cols[3])
			continue
		}
		if c.Alpha2 != cols[2] || c.Category != country.CategoryISO {
			t.Errorf("%s: got alpha2 %q category %s, want %q ISO", cols[3], c.Alpha2, c.Category, cols[2])
		}
		if back, ok := country.ByAlpha2(cols[2]); !ok || back.Alpha3 != cols[3] {
			t.Errorf("ByAlpha2(%s) = %v, %v", cols[2], back, ok)
		}
	}
	if iso != 249 {
		t.Errorf("read %d ISO rows, want 249", iso)
	}

	icao := 0
	g, err := os.Open("testdata/cheminfo_icao_additional_codes.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	sc = bufio.NewScanner(g)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		code, a2 := fields[len(fields)-1], fields[len(fields)-2]
		if a2 == "_" {
			a2 = ""
		}
		icao++
		c, ok := country.Lookup(code)
		if !ok {
			t.Errorf("ICAO code %s missing", code)
			continue
		}
		if c.Alpha2 != a2 || c.Category == country.CategoryISO {
			t.Errorf("%s: got alpha2 %q category %s, want %q and an ICAO category", code, c.Alpha2, c.Category, a2)
		}
	}
	if icao != 28 {
		t.Errorf("read %d ICAO codes, want 28", icao)
	}
	if n := len(country.All()); n != iso+icao {
		t.Errorf("All() has %d codes, want %d", n, iso+icao)
	}
}

func TestLookup(t *testing.T) {
	t.Parallel()
	tests := []struct {
		code     string
		ok       bool
		alpha3   string
		category country.Category
	}{
		{"DEU", true, "DEU", country.CategoryISO},
		{"D", true, "D", country.CategoryICAOLetterCode},
		{"D<<", true, "D", country.CategoryICAOLetterCode},
		{"gbr", true, "GBR", country.CategoryISO},
		{"GBD", true, "GBD", country.CategoryICAOLetterCode},
		{"GBN", true, "GBN", country.CategoryICAOLetterCode},
		{"RKS", true, "RKS", country.CategoryICAOLetterCode},
		{"XXK", true, "XXK", country.CategoryICAOLetterCode},
		{"EUE", true, "EUE", country.CategoryICAOReserved},
		{"UNO", true, "UNO", country.CategoryICAOUnitedNations},
		{"UNK", true, "UNK", country.CategoryICAOUnitedNations},
		{"XBA", true, "XBA", country.CategoryICAOOtherAuthority},
		{"XPO", true, "XPO", country.CategoryICAOOtherAuthority},
		{"XXA", true, "XXA", country.CategoryICAONoNationality},
		{"XXX", true, "XXX", country.CategoryICAONoNationality},
		{"ANT", true, "ANT", country.CategoryICAODeprecated},
		{"NTZ", true, "NTZ", country.CategoryICAODeprecated},
		{"UTO", false, "", ""},
		{"XYZ", false, "", ""},
		{"", false, "", ""},
		{"<<<", false, "", ""},
		{"DE", false, "", ""},
	}
	for _, tt := range tests {
		c, ok := country.Lookup(tt.code)
		if ok != tt.ok || c.Alpha3 != tt.alpha3 || c.Category != tt.category {
			t.Errorf("Lookup(%q) = %+v, %v; want %s %s %v", tt.code, c, ok, tt.alpha3, tt.category, tt.ok)
		}
		if country.Valid(tt.code) != tt.ok {
			t.Errorf("Valid(%q) = %v", tt.code, !tt.ok)
		}
	}
}

func TestRegions(t *testing.T) {
	t.Parallel()
	eu := []string{"AUT", "BEL", "BGR", "HRV", "CYP", "CZE", "DNK", "EST", "FIN",
		"FRA", "DEU", "GRC", "HUN", "IRL", "ITA", "LVA", "LTU", "LUX",
		"MLT", "NLD", "POL", "PRT", "ROU", "SVK", "SVN", "ESP", "SWE"}
	if len(eu) != 27 {
		t.Fatalf("test list has %d states", len(eu))
	}
	n := 0
	for _, c := range country.All() {
		if country.IsEU(c.Alpha3) && c.Alpha3 != "D" {
			n++
		}
	}
	if n != 27 {
		t.Errorf("IsEU holds for %d ISO codes, want 27", n)
	}
	for _, c := range eu {
		if !country.Valid(c) || !country.IsEU(c) || !country.IsEEA(c) || country.Region(c) != country.RegionEU {
			t.Errorf("%s should be a known EU and EEA state in region EU", c)
		}
	}

	tests := []struct {
		code    string
		eu, eea bool
		region  string
	}{
		{"D", true, true, country.RegionEU},
		{"d<<", true, true, country.RegionEU},
		{"ISL", false, true, country.RegionEEA},
		{"LIE", false, true, country.RegionEEA},
		{"NOR", false, true, country.RegionEEA},
		{"CHE", false, false, country.RegionOther},
		{"GBR", false, false, country.RegionUK},
		{"GBD", false, false, country.RegionUK},
		{"GBO", false, false, country.RegionUK},
		{"USA", false, false, country.RegionUS},
		{"AUS", false, false, country.RegionAU},
		{"EUE", false, false, country.RegionEU},
		{"TUR", false, false, country.RegionOther},
		{"UTO", false, false, country.RegionOther},
		{"", false, false, country.RegionOther},
	}
	for _, tt := range tests {
		if got := country.IsEU(tt.code); got != tt.eu {
			t.Errorf("IsEU(%q) = %v", tt.code, got)
		}
		if got := country.IsEEA(tt.code); got != tt.eea {
			t.Errorf("IsEEA(%q) = %v", tt.code, got)
		}
		if got := country.Region(tt.code); got != tt.region {
			t.Errorf("Region(%q) = %q, want %q", tt.code, got, tt.region)
		}
	}
}
