package screening

import (
	"strconv"
	"strings"
	"time"
)

// applyRemarks fills the facts that OFAC gives only in the remarks: dates
// of birth ("DOB 12 Jan 1960", "alt. DOB circa 1958", "DOB 1960 to 1962"),
// nationality and citizenship ("nationality Iran", "citizen Russia") and
// weak aliases ("a.k.a. 'NAME'").
func applyRemarks(e *Entity, countries countryNames) {
	if e.Remarks == "" {
		return
	}
	for _, seg := range strings.Split(e.Remarks, ";") {
		seg = strings.TrimSpace(seg)
		seg = strings.TrimPrefix(seg, "alt. ")
		switch {
		case strings.HasPrefix(seg, "DOB "):
			if r, ok := parseDateOfBirth(strings.TrimSuffix(seg[len("DOB "):], ".")); ok {
				e.BirthDates = append(e.BirthDates, r)
			}
		case strings.HasPrefix(seg, "nationality "):
			addNationality(e, countries, seg[len("nationality "):])
		case strings.HasPrefix(seg, "citizen "):
			addNationality(e, countries, seg[len("citizen "):])
		}
	}
	for _, kind := range []string{"a.k.a.", "f.k.a.", "n.k.a."} {
		rest := e.Remarks
		for {
			i := strings.Index(rest, kind+" '")
			if i < 0 {
				break
			}
			rest = rest[i+len(kind)+2:]
			j := strings.Index(rest, "'")
			// A name may hold an apostrophe; the alias ends at "';", "'." or
			// the end of the remarks.
			for j >= 0 && j+1 < len(rest) && rest[j+1] != ';' && rest[j+1] != '.' && rest[j+1] != ',' {
				k := strings.Index(rest[j+1:], "'")
				if k < 0 {
					break
				}
				j += 1 + k
			}
			if j < 0 {
				break
			}
			if name := strings.TrimSpace(rest[:j]); name != "" {
				e.Aliases = append(e.Aliases, Alias{Name: name, Type: strings.ReplaceAll(kind, ".", ""), Weak: true})
			}
			rest = rest[j+1:]
		}
	}
}

func addNationality(e *Entity, countries countryNames, s string) {
	s = strings.TrimSuffix(strings.TrimSpace(s), ".")
	code, ok := countries.code(s)
	if !ok {
		return
	}
	for _, c := range e.Nationalities {
		if c == code {
			return
		}
	}
	e.Nationalities = append(e.Nationalities, code)
}

// parseDateOfBirth reads the date forms OFAC uses: "28 Jul 1963",
// "Jul 1963", "1963", each optionally after "circa", and ranges "X to Y"
// or "1958-1960".
func parseDateOfBirth(s string) (DateRange, bool) {
	s = strings.TrimSpace(s)
	var r DateRange
	if rest, ok := strings.CutPrefix(s, "circa "); ok {
		r.Circa = true
		s = strings.TrimSpace(rest)
	}
	lo, hi, isRange := strings.Cut(s, " to ")
	if !isRange {
		lo, hi, isRange = strings.Cut(s, "-")
	}
	if !isRange {
		hi = lo
	}
	from, _, ok := parseLooseDate(strings.TrimSpace(lo))
	if !ok {
		return DateRange{}, false
	}
	_, to, ok := parseLooseDate(strings.TrimSpace(hi))
	if !ok || to.Before(from) {
		return DateRange{}, false
	}
	r.From, r.To = from, to
	return r, true
}

// parseLooseDate parses "2 Jan 2006", "Jan 2006" or "2006" and returns the
// first and last day it covers.
func parseLooseDate(s string) (first, last time.Time, ok bool) {
	parts := strings.Fields(s)
	switch len(parts) {
	case 1:
		y, err := strconv.Atoi(parts[0])
		if err != nil || y < 1000 || y > 9999 {
			return first, last, false
		}
		first = time.Date(y, time.January, 1, 0, 0, 0, 0, time.UTC)
		return first, first.AddDate(1, 0, -1), true
	case 2:
		t, err := time.Parse("Jan 2006", parts[0]+" "+parts[1])
		if err != nil {
			return first, last, false
		}
		return t, t.AddDate(0, 1, -1), true
	case 3:
		t, err := time.Parse("2 Jan 2006", strings.Join(parts, " "))
		if err != nil {
			return first, last, false
		}
		return t, t, true
	}
	return first, last, false
}
