// Package screening imports sanctions watchlists and screens names against
// them with fuzzy name matching.
//
// A List is loaded once from the OFAC legacy SDN files (sdn.csv, alt.csv,
// add.csv, sdn_comments.csv): the January 2019 list is compiled in
// (LoadDefault), and a newer list in the same format can be read from a
// directory (LoadDir) or any fs.FS (Load). Loading normalises and tokenises
// every listed name and alias once, so Screen does no per-entry string work
// beyond comparing tokens. A List is immutable and safe for concurrent use.
//
// Screen scores a query (a name, and optionally a date of birth and a
// nationality) against every name and alias on the list and returns the
// candidates above a threshold, best first. The name score pairs the
// query's words with the listed name's words (see TokenSimilarity); a date
// of birth or nationality that agrees with the list raises the score, one
// that contradicts it lowers it.
//
// Names and dates of birth are personal data: nothing in this package logs
// them or puts them in an error message.
package screening

import (
	"time"
)

// ListNameOFACSDN names the OFAC Specially Designated Nationals list in
// candidates.
const ListNameOFACSDN = "OFAC SDN"

// EntityType is the kind of a listed entity.
type EntityType string

// Entity types of the OFAC SDN list. OFAC leaves the type of companies and
// organisations empty; they are TypeEntity here.
const (
	TypeIndividual EntityType = "individual"
	TypeEntity     EntityType = "entity"
	TypeVessel     EntityType = "vessel"
	TypeAircraft   EntityType = "aircraft"
)

// Valid reports whether t is one of the known entity types.
func (t EntityType) Valid() bool {
	switch t {
	case TypeIndividual, TypeEntity, TypeVessel, TypeAircraft:
		return true
	}
	return false
}

// Entity is one entry of a list with the facts screening uses.
type Entity struct {
	// ID is the list's own identifier (the OFAC ent_num).
	ID   string
	Name string
	Type EntityType
	// Programs are the sanctions programmes, e.g. "SDGT", "IRAN-EO13846".
	Programs []string
	Title    string
	// Vessel fields (empty for other types).
	CallSign    string
	VesselType  string
	VesselFlag  string
	VesselOwner string
	// Remarks is the full remarks text (sdn.csv and its continuation in
	// sdn_comments.csv).
	Remarks   string
	Aliases   []Alias
	Addresses []Address
	// BirthDates are the dates of birth given in the remarks.
	BirthDates []DateRange
	// Nationalities are the ISO 3166-1 alpha-3 codes of the nationalities
	// and citizenships given in the remarks.
	Nationalities []string
}

// Alias is another name of an entity.
type Alias struct {
	Name string
	// Type is "aka", "fka" or "nka" as the list gives it.
	Type string
	// Weak marks a low-quality alias, which OFAC gives only in the remarks
	// ("a.k.a. 'NAME'").
	Weak bool
}

// Address is one address of an entity.
type Address struct {
	Address string
	// CityStateProvincePostal is the list's combined city, state or
	// province and postal code field.
	CityStateProvincePostal string
	Country                 string
}

// DateRange is a date of birth as a list gives it: a day, a month, a year
// or a range of them. From and To are the first and last day it covers.
type DateRange struct {
	From, To time.Time
	// Circa marks an approximate date ("circa 1958"); matching widens it
	// by a year on each side.
	Circa bool
}

// circaSlack is how far an approximate date of birth is widened.
const circaSlack = 1 // years

// Contains reports whether day d falls within the range (widened when
// approximate).
func (r DateRange) Contains(d time.Time) bool {
	from, to := r.From, r.To
	if r.Circa {
		from, to = from.AddDate(-circaSlack, 0, 0), to.AddDate(circaSlack, 0, 0)
	}
	d = time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, time.UTC)
	return !d.Before(from) && !d.After(to)
}

// Match is the outcome of comparing one attribute of a query with a
// listed entity.
type Match string

const (
	// MatchUnknown: the query or the list does not give the attribute.
	MatchUnknown Match = "unknown"
	// Matched: the attribute agrees with the list.
	Matched Match = "match"
	// Mismatched: the attribute contradicts the list.
	Mismatched Match = "mismatch"
)

// Query is what is screened: a name, and optionally a date of birth and a
// nationality.
type Query struct {
	// FullName is the whole name in any order. When empty, GivenNames and
	// Surname are joined.
	FullName   string
	GivenNames string
	Surname    string
	// BirthDate is the date of birth; the zero time means unknown.
	BirthDate time.Time
	// Nationality is an ISO 3166-1 alpha-3 code or an ICAO 9303 nationality
	// code (such as "D" for Germany); empty means unknown.
	Nationality string
	// Type, when set, restricts the screen to entities of that type.
	Type EntityType
}

// name returns the name to screen.
func (q Query) name() string {
	if q.FullName != "" {
		return q.FullName
	}
	switch {
	case q.GivenNames == "":
		return q.Surname
	case q.Surname == "":
		return q.GivenNames
	}
	return q.GivenNames + " " + q.Surname
}

// Candidate is one listed entity that the query may be.
type Candidate struct {
	// EntityID is the list's identifier of the entity (the OFAC ent_num).
	EntityID string
	ListName string
	Type     EntityType
	// MatchedName is the listed name or alias that scored best.
	MatchedName string
	// MatchedAlias is true when MatchedName is an alias, not the primary
	// name.
	MatchedAlias bool
	// Score in [0,1] is NameScore adjusted by the date of birth and
	// nationality outcomes. Candidates are ranked by it.
	Score float64
	// NameScore in [0,1] is the similarity of the names alone.
	NameScore        float64
	BirthDateMatch   Match
	NationalityMatch Match
	Programs         []string
}
