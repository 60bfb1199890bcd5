package screening

import (
	"slices"
	"strings"
	"sync"
	"time"
)

// List is a loaded watchlist, prepared for screening. It is immutable and
// safe for concurrent use.
type List struct {
	name     string
	version  string
	entities []Entity
	byID     map[string]int
	// orphans counts alias and address rows naming no listed entity.
	orphans int

	// vocab holds every distinct token of every prepared name; tokens are
	// referred to by index.
	vocab []string
	// classes holds the phonetic class of each vocabulary token's first
	// letter: only tokens of the query token's class are ever compared
	// with it.
	classes []rune
	// classIDs numbers the classes for tokenSig.
	classIDs map[rune]uint8
	// byClass indexes the vocabulary by class and token length.
	byClass map[rune]*classIndex
	// names are the prepared names, grouped by entity in entity order:
	// entity i's are names[nameStart[i]:nameStart[i+1]].
	names     []preparedName
	nameStart []int32
	// bornIn lists, for each year, the entities (ascending) with a date of
	// birth that may fall in it, widened when approximate; bornAnytime
	// those whose dates span too many years to list so.
	bornIn      map[int][]int32
	bornAnytime []int32
	// variants and tokens are the flattened storage of the names.
	variants []nameVariant
	tokens   []int32
	// tokenSigs and tokenKinds describe each token of tokens.
	tokenSigs  []tokenSig
	tokenKinds []tokenKind
	// maxLen is the longest vocabulary token's length, at most 255.
	maxLen int
	// postings lists, for each vocabulary token, the variants (indexes
	// into variants, ascending) that hold it.
	postings [][]int32

	scratch sync.Pool // *scratch
}

// preparedName is one distinct name (primary or alias) of an entity.
type preparedName struct {
	entity int32
	// alias indexes Entity.Aliases; -1 is the primary name.
	alias int32
	// variants[first:end] are the token sequences to compare: the name as
	// given and with short tokens joined to a neighbour.
	first, end int32
}

// nameVariant is one token sequence of names[name]: tokens[first:end],
// whose bytes add up to length.
type nameVariant struct {
	first, end int32
	length     int32
	name       int32
}

// newList prepares entities for screening.
func newList(name, version string, entities []Entity) *List {
	l := &List{
		name:     name,
		version:  version,
		entities: entities,
		byID:     make(map[string]int, len(entities)),
	}
	ids := make(map[string]int32)
	intern := func(tok string) int32 {
		if id, ok := ids[tok]; ok {
			return id
		}
		id := int32(len(l.vocab))
		ids[tok] = id
		l.vocab = append(l.vocab, tok)
		l.classes = append(l.classes, phoneticClass(tok))
		return id
	}
	seen := make(map[string]bool)
	l.nameStart = make([]int32, 0, len(entities)+1)
	l.bornIn = make(map[int][]int32)
	for ei := range entities {
		e := &entities[ei]
		l.byID[e.ID] = ei
		l.nameStart = append(l.nameStart, int32(len(l.names)))
		l.indexBirthDates(int32(ei), e.BirthDates)
		clear(seen)
		add := func(alias int, raw string) {
			toks := nameTokens(raw)
			if len(toks) == 0 {
				return
			}
			key := strings.Join(toks, " ")
			if seen[key] {
				return
			}
			seen[key] = true
			pn := preparedName{entity: int32(ei), alias: int32(alias), first: int32(len(l.variants))}
			for _, v := range wordCombinations(toks) {
				vi := int32(len(l.variants))
				nv := nameVariant{first: int32(len(l.tokens)), name: int32(len(l.names))}
				for _, t := range v {
					id := intern(t)
					l.tokens = append(l.tokens, id)
					nv.length += int32(len(t))
					for int(id) >= len(l.postings) {
						l.postings = append(l.postings, nil)
					}
					if p := l.postings[id]; len(p) == 0 || p[len(p)-1] != vi {
						l.postings[id] = append(p, vi)
					}
				}
				nv.end = int32(len(l.tokens))
				l.variants = append(l.variants, nv)
			}
			pn.end = int32(len(l.variants))
			l.names = append(l.names, pn)
		}
		add(-1, e.Name)
		for ai, a := range e.Aliases {
			add(ai, a.Name)
		}
	}
	l.nameStart = append(l.nameStart, int32(len(l.names)))
	l.indexVocab()
	l.scratch.New = func() any { return &scratch{} }
	return l
}

// maxBirthYears bounds the years a date of birth is listed under in
// bornIn; a wider one is in bornAnytime.
const maxBirthYears = 20

// indexBirthDates records entity ei's dates of birth in bornIn.
func (l *List) indexBirthDates(ei int32, dates []DateRange) {
	for _, r := range dates {
		from, to := r.From.Year(), r.To.Year()
		if r.Circa {
			from, to = from-circaSlack, to+circaSlack
		}
		if to < from || to-from >= maxBirthYears {
			if n := len(l.bornAnytime); n == 0 || l.bornAnytime[n-1] != ei {
				l.bornAnytime = append(l.bornAnytime, ei)
			}
			continue
		}
		for y := from; y <= to; y++ {
			if ids := l.bornIn[y]; len(ids) == 0 || ids[len(ids)-1] != ei {
				l.bornIn[y] = append(ids, ei)
			}
		}
	}
}

// bornOn returns the entities (ascending) with a date of birth that
// contains day d.
func (l *List) bornOn(d time.Time) []int32 {
	var out []int32
	for _, ids := range [2][]int32{l.bornIn[d.Year()], l.bornAnytime} {
		for _, ei := range ids {
			if birthDateMatch(&l.entities[ei], Query{BirthDate: d}) == Matched {
				out = append(out, ei)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Name is the list's name in candidates, e.g. "OFAC SDN".
func (l *List) Name() string { return l.name }

// Version identifies the list's content: "ofac-sdn:" and the first 12 hex
// digits of a SHA-256 over its files. Record it with every screening
// result so that the result can be reproduced.
func (l *List) Version() string { return l.version }

// Len returns the number of listed entities.
func (l *List) Len() int { return len(l.entities) }

// Stats describes what was loaded.
type Stats struct {
	Entities int
	// Names counts the distinct prepared names (primary names and
	// aliases) that are screened.
	Names int
	// Tokens counts the distinct tokens of those names.
	Tokens int
	// Orphans counts alias and address rows that name no listed entity;
	// they are ignored.
	Orphans int
}

// Stats returns counts of what was loaded.
func (l *List) Stats() Stats {
	return Stats{Entities: len(l.entities), Names: len(l.names), Tokens: len(l.vocab), Orphans: l.orphans}
}

// Entity returns a copy of the listed entity with the list's identifier id.
func (l *List) Entity(id string) (Entity, bool) {
	i, ok := l.byID[id]
	if !ok {
		return Entity{}, false
	}
	e := l.entities[i]
	e.Programs = slices.Clone(e.Programs)
	e.Aliases = slices.Clone(e.Aliases)
	e.Addresses = slices.Clone(e.Addresses)
	e.BirthDates = slices.Clone(e.BirthDates)
	e.Nationalities = slices.Clone(e.Nationalities)
	return e, true
}
