package mrz

import (
	"strings"
	"time"

	"github.com/borderproof/borderproof/internal/country"
)

// Typed holds the fields a client typed for a document. Empty fields (the
// zero value) are not compared.
type Typed struct {
	Surname    string
	GivenNames string
	BirthDate  time.Time
	// DocumentNumber is compared ignoring case, spaces, hyphens and fillers.
	DocumentNumber string
	ExpiryDate     time.Time
	// Nationality is an ISO 3166-1 alpha-3 or alpha-2 code or an ICAO code;
	// DEU and DE match the zone's D.
	Nationality string
	Sex         Sex
}

// Mismatch names a field where the zone and the typed value differ. It
// carries no value.
type Mismatch struct {
	Field Field  `json:"field"`
	Code  string `json:"code"` // "MISMATCH_SURNAME", "MISMATCH_BIRTH_DATE"…
}

func mismatch(f Field, code string) Mismatch {
	return Mismatch{Field: f, Code: "MISMATCH_" + code}
}

// Compare reports the fields where typed differs from the zone, in a fixed
// order. Names are compared after transliteration (see Transliterate; both
// the two-letter and the bare-letter forms of Ä, Ö, Ü, Å are accepted); when
// the zone's name may be truncated (Document.NameTruncated), a typed name that
// starts with the zone's name matches. A date the zone could not read does
// not match any typed date.
func Compare(doc *Document, typed Typed) []Mismatch {
	var out []Mismatch
	primary := strings.ReplaceAll(doc.PrimaryIdentifier, " ", "<")
	secondary := strings.ReplaceAll(doc.SecondaryIdentifier, " ", "<")
	if typed.Surname != "" {
		trunc := doc.NameTruncated && secondary == ""
		if !nameMatches(typed.Surname, primary, trunc) {
			out = append(out, mismatch(FieldSurname, "SURNAME"))
		}
	}
	if typed.GivenNames != "" {
		ok := nameMatches(typed.GivenNames, secondary, doc.NameTruncated)
		if !ok && doc.NameTruncated && secondary == "" {
			ok = true // the surname filled the field; given names were cut off
		}
		if !ok {
			out = append(out, mismatch(FieldGivenNames, "GIVEN_NAMES"))
		}
	}
	if !typed.BirthDate.IsZero() && !sameDay(typed.BirthDate, doc.BirthDate) {
		out = append(out, mismatch(FieldBirthDate, "BIRTH_DATE"))
	}
	if typed.DocumentNumber != "" && normaliseNumber(typed.DocumentNumber) != normaliseNumber(doc.DocumentNumber) {
		out = append(out, mismatch(FieldDocumentNumber, "DOCUMENT_NUMBER"))
	}
	if !typed.ExpiryDate.IsZero() && !sameDay(typed.ExpiryDate, doc.ExpiryDate) {
		out = append(out, mismatch(FieldExpiryDate, "EXPIRY_DATE"))
	}
	if typed.Nationality != "" && !sameState(typed.Nationality, doc.Nationality) {
		out = append(out, mismatch(FieldNationality, "NATIONALITY"))
	}
	if typed.Sex != SexNotGiven && !sameSex(typed.Sex, doc.Sex) {
		out = append(out, mismatch(FieldSex, "SEX"))
	}
	return out
}

// nameMatches compares a typed name with a zone name in MRZ form
// (components separated by '<').
func nameMatches(typed, zone string, truncated bool) bool {
	for _, expand := range [2]bool{true, false} {
		t, ok := transliterate(typed, expand)
		if !ok {
			continue
		}
		if t == zone || (truncated && zone != "" && strings.HasPrefix(t, zone)) {
			return true
		}
	}
	return false
}

func sameDay(a, b time.Time) bool {
	if a.IsZero() || b.IsZero() {
		return false
	}
	ay, am, ad := a.Date()
	by, bm, bd := b.UTC().Date()
	return ay == by && am == bm && ad == bd
}

func normaliseNumber(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case ' ', '-', '<':
			return -1
		}
		if r >= 'a' && r <= 'z' {
			return r - 'a' + 'A'
		}
		return r
	}, s)
}

// sameState compares a typed state code (alpha-3, alpha-2 or ICAO) with
// the zone's; D and DEU are the same state.
func sameState(typed, zone string) bool {
	t := strings.ToUpper(strings.TrimSpace(typed))
	if len(t) == 2 {
		if c, ok := country.ByAlpha2(t); ok {
			t = c.Alpha3
		}
	}
	return germanyISO(t) == germanyISO(zone)
}

func germanyISO(code string) string {
	if code == "D" {
		return "DEU"
	}
	return code
}

func sameSex(typed, zone Sex) bool {
	t := Sex(strings.ToUpper(string(typed)))
	if t == zone {
		return true
	}
	// X and '<' both say "unspecified".
	return t == SexUnspecified && zone == SexNotGiven
}
