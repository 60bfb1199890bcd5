// Package country knows the state codes that appear in travel documents:
// the ISO 3166-1 alpha-3 codes and the ICAO Doc 9303-3 codes outside ISO 3166
// (D for Germany, the British nationality codes GBD/GBN/GBO/GBS/GBP, RKS and
// XXK for Kosovo, EUE, the United Nations codes UNO/UNA/UNK, the codes of other
// issuing authorities XBA…XDC, the codes for persons without a defined
// nationality XXA/XXB/XXC/XXX, and the deprecated ANT and NTZ).
//
// The table is embedded (states.csv, see SOURCE.md); nothing is read at run
// time. UTO (Utopia, the ICAO specimen state) is deliberately absent: it is no
// state, and internal/mrz reports it as a specimen.
//
// Region gives the coarse region the data-sharing rules work with.
package country

import (
	_ "embed"
	"encoding/csv"
	"strings"
	"sync"
)

// Category tells where a code comes from.
type Category string

// Categories of codes.
const (
	// CategoryISO is an ISO 3166-1 alpha-3 code.
	CategoryISO Category = "ISO_3166_1"
	// CategoryICAOLetterCode is an ICAO 9303-3 Part A letter code (D, GBD…, RKS, XXK).
	CategoryICAOLetterCode Category = "ICAO_LETTER_CODE"
	// CategoryICAOReserved is a code reserved by the ISO 3166 maintenance agency (EUE).
	CategoryICAOReserved Category = "ICAO_RESERVED"
	// CategoryICAOUnitedNations is a code for United Nations travel documents (UNO, UNA, UNK).
	CategoryICAOUnitedNations Category = "ICAO_UNITED_NATIONS"
	// CategoryICAOOtherAuthority is a code for another issuing authority (XBA, XPO, …).
	CategoryICAOOtherAuthority Category = "ICAO_OTHER_AUTHORITY"
	// CategoryICAONoNationality is a code for persons without a defined
	// nationality (XXA stateless, XXB and XXC refugees, XXX unspecified).
	CategoryICAONoNationality Category = "ICAO_NO_NATIONALITY"
	// CategoryICAODeprecated is a code deleted from ISO 3166 that documents may
	// still carry (ANT, NTZ).
	CategoryICAODeprecated Category = "ICAO_DEPRECATED"
)

// Country is one state or authority code.
type Country struct {
	// Alpha3 is the code as written in a machine-readable zone without
	// filler: three letters, or "D" for Germany.
	Alpha3 string
	// Alpha2 is the ISO 3166-1 alpha-2 code where one applies, else "".
	Alpha2 string
	// Name is the English short name.
	Name     string
	Category Category
}

// Regions returned by Region.
const (
	RegionEU    = "EU"    // the 27 member states of the European Union (and EUE)
	RegionEEA   = "EEA"   // Iceland, Liechtenstein, Norway
	RegionUK    = "UK"    // the United Kingdom and its ICAO nationality codes
	RegionUS    = "US"    // the United States
	RegionAU    = "AU"    // Australia
	RegionOther = "OTHER" // everything else, including unknown codes
)

//go:embed states.csv
var statesCSV string

type tables struct {
	byCode   map[string]Country
	byAlpha2 map[string]Country // ISO 3166-1 entries only
	all      []Country
}

// load parses the embedded table once; the result is never modified.
var load = sync.OnceValue(func() *tables {
	rows, err := csv.NewReader(strings.NewReader(statesCSV)).ReadAll()
	if err != nil {
		panic("country: embedded states.csv is malformed: " + err.Error())
	}
	t := &tables{byCode: make(map[string]Country, len(rows)), byAlpha2: make(map[string]Country, len(rows))}
	for i, r := range rows {
		if i == 0 {
			continue // header
		}
		if len(r) != 4 {
			panic("country: embedded states.csv has a row without 4 columns")
		}
		c := Country{Alpha3: r[0], Alpha2: r[1], Name: r[2], Category: category(r[3])}
		t.byCode[c.Alpha3] = c
		t.all = append(t.all, c)
		if c.Category == CategoryISO {
			t.byAlpha2[c.Alpha2] = c
		}
	}
	return t
})

func category(s string) Category {
	switch {
	case s == "ISO 3166-1":
		return CategoryISO
	case strings.Contains(s, "Part A"):
		return CategoryICAOLetterCode
	case strings.Contains(s, "Part B"):
		return CategoryICAOReserved
	case strings.Contains(s, "Part C"):
		return CategoryICAOUnitedNations
	case strings.Contains(s, "Part D"):
		return CategoryICAOOtherAuthority
	case strings.Contains(s, "Part E"):
		return CategoryICAONoNationality
	case strings.Contains(s, "Part F"):
		return CategoryICAODeprecated
	}
	panic("country: embedded states.csv has an unknown category")
}

// normalise accepts a code as it appears in a machine-readable zone ("D<<")
// or typed in lower case.
func normalise(code string) string {
	return strings.ToUpper(strings.TrimRight(strings.TrimSpace(code), "<"))
}

// Lookup finds a state or authority code. It accepts the code as printed in
// a machine-readable zone, with trailing filler ("D<<"), in any case.
func Lookup(code string) (Country, bool) {
	c, ok := load().byCode[normalise(code)]
	return c, ok
}

// Valid reports whether code is a known ISO 3166-1 alpha-3 or ICAO 9303-3 code.
func Valid(code string) bool {
	_, ok := Lookup(code)
	return ok
}

// ByAlpha2 finds the ISO 3166-1 entry for an alpha-2 code.
func ByAlpha2(alpha2 string) (Country, bool) {
	c, ok := load().byAlpha2[strings.ToUpper(strings.TrimSpace(alpha2))]
	return c, ok
}

// All returns every code in the table, in table order.
func All() []Country {
	all := load().all
	out := make([]Country, len(all))
	copy(out, all)
	return out
}

// IsEU reports whether alpha3 is one of the 27 member states of the European
// Union. "D" counts as Germany; EUE (the Union's own laissez-passer) is not a
// member state.
func IsEU(alpha3 string) bool {
	switch canonical(alpha3) {
	case "AUT", "BEL", "BGR", "HRV", "CYP", "CZE", "DNK", "EST", "FIN",
		"FRA", "DEU", "GRC", "HUN", "IRL", "ITA", "LVA", "LTU", "LUX",
		"MLT", "NLD", "POL", "PRT", "ROU", "SVK", "SVN", "ESP", "SWE":
		return true
	}
	return false
}

// IsEEA reports whether alpha3 is in the European Economic Area: the EU
// member states plus Iceland, Liechtenstein and Norway.
func IsEEA(alpha3 string) bool {
	switch canonical(alpha3) {
	case "ISL", "LIE", "NOR":
		return true
	}
	return IsEU(alpha3)
}

// Region gives the coarse region of a state code for data-sharing rules:
// RegionEU, RegionEEA (non-EU EEA states), RegionUK, RegionUS, RegionAU or
// RegionOther. British nationality codes (GBD, GBN, GBO, GBS, GBP) count as
// UK; EUE counts as EU. Unknown codes are RegionOther.
func Region(alpha3 string) string {
	c := canonical(alpha3)
	switch {
	case IsEU(c) || c == "EUE":
		return RegionEU
	case IsEEA(c):
		return RegionEEA
	}
	switch c {
	case "GBR", "GBD", "GBN", "GBO", "GBS", "GBP":
		return RegionUK
	case "USA":
		return RegionUS
	case "AUS":
		return RegionAU
	}
	return RegionOther
}

// canonical maps the ICAO single-letter code for Germany to its ISO code.
func canonical(code string) string {
	c := normalise(code)
	if c == "D" {
		return "DEU"
	}
	return c
}
