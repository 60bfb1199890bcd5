package mrz

import (
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

type parsedName struct {
	primary, secondary string
	truncated          bool
	ok                 bool
}

// parseName splits a name field "PRIMARY<<SECONDARY<COMPONENTS<<<" into
// its identifiers, with spaces between components.
func parseName(field string) parsedName {
	n := parsedName{truncated: field[len(field)-1] != '<', ok: true}
	s := strings.TrimRight(field, "<")
	if s == "" {
		n.ok = false
		return n
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c != '<' && (c < 'A' || c > 'Z') {
			n.ok = false // digits in a name
			break
		}
	}
	primary, secondary, _ := strings.Cut(s, "<<")
	if strings.HasPrefix(primary, "<") || strings.HasPrefix(secondary, "<") || strings.Contains(secondary, "<<") {
		n.ok = false // a leading filler, or a third identifier
	}
	n.primary = strings.ReplaceAll(primary, "<", " ")
	n.secondary = strings.ReplaceAll(secondary, "<", " ")
	return n
}

// Transliterate writes a name in the characters of a machine-readable zone
// following ICAO 9303-3 §6: upper case A–Z, diacritics removed (Ä → AE,
// Ö → OE, Ü → UE, Å → AA, ß → SS, Æ → AE, Ø → OE, Þ → TH…), Cyrillic per the
// ICAO table, spaces, hyphens and commas become one '<', apostrophes and
// periods are dropped. ok is false when a character has no transliteration
// (digits, scripts without a table).
func Transliterate(name string) (mrz string, ok bool) {
	return transliterate(name, true)
}

// transliterate implements Transliterate; expand selects the two-letter
// forms of Ä, Ö, Ü and Å (ICAO's first choice) rather than the bare letter
// (its alternative).
func transliterate(name string, expand bool) (string, bool) {
	var b strings.Builder
	b.Grow(len(name))
	ok := true
	sep := false // a separator is pending
	emit := func(s string) {
		if sep && b.Len() > 0 {
			b.WriteByte('<')
		}
		sep = false
		b.WriteString(s)
	}
	for _, r := range norm.NFC.String(name) {
		r = unicode.ToUpper(r)
		switch {
		case r >= 'A' && r <= 'Z':
			emit(string(r))
			continue
		case r == ' ' || r == '-' || r == '<' || r == ',' || r == '\u2010' || r == '\u2011' || r == '\u00a0' || unicode.IsSpace(r):
			sep = true
			continue
		case r == '\'' || r == '.' || r == '\u2019' || r == '\u02bc' || r == '`' || r == '\u00b4':
			continue
		}
		if expand {
			if s, found := expanded(r); found {
				emit(s)
				continue
			}
		}
		if s, found := special(r); found {
			emit(s)
			continue
		}
		if s, found := cyrillic(r); found {
			if s != "" {
				emit(s)
			}
			continue
		}
		// Decompose and keep the base letter: É → E, Ç → C, Ň → N.
		base := ""
		for _, c := range norm.NFD.String(string(r)) {
			if c >= 'A' && c <= 'Z' {
				base += string(c)
			} else if !unicode.Is(unicode.Mn, c) {
				base = ""
				break
			}
		}
		if base == "" {
			ok = false
			continue
		}
		emit(base)
	}
	return b.String(), ok
}

// expanded holds ICAO's two-letter forms, whose alternative is the bare
// letter.
func expanded(r rune) (string, bool) {
	switch r {
	case 'Ä':
		return "AE", true
	case 'Ö':
		return "OE", true
	case 'Ü':
		return "UE", true
	case 'Å':
		return "AA", true
	}
	return "", false
}

// special holds Latin letters that do not decompose.
func special(r rune) (string, bool) {
	switch r {
	case 'ß':
		return "SS", true
	case 'ẞ':
		return "SS", true
	case 'Æ':
		return "AE", true
	case 'Ø':
		return "OE", true
	case 'Œ':
		return "OE", true
	case 'Þ':
		return "TH", true
	case 'Ð':
		return "D", true
	case 'Đ':
		return "D", true
	case 'Ł':
		return "L", true
	case 'Ħ':
		return "H", true
	case 'Ŧ':
		return "T", true
	case 'Ŋ':
		return "N", true
	case 'Ĳ':
		return "IJ", true
	case 'ı':
		return "I", true
	}
	return "", false
}

// cyrillic is the ICAO 9303-3 transliteration of Cyrillic (upper case; the
// soft sign is dropped).
func cyrillic(r rune) (string, bool) {
	switch r {
	case 'А':
		return "A", true
	case 'Б':
		return "B", true
	case 'В':
		return "V", true
	case 'Г':
		return "G", true
	case 'Ґ':
		return "G", true
	case 'Ѓ':
		return "G", true
	case 'Д':
		return "D", true
	case 'Ђ':
		return "D", true
	case 'Е':
		return "E", true
	case 'Ё':
		return "E", true
	case 'Є':
		return "IE", true
	case 'Ж':
		return "ZH", true
	case 'З':
		return "Z", true
	case 'Ѕ':
		return "DZ", true
	case 'И':
		return "I", true
	case 'І':
		return "I", true
	case 'Ї':
		return "I", true
	case 'Й':
		return "I", true
	case 'Ј':
		return "J", true
	case 'К':
		return "K", true
	case 'Ќ':
		return "K", true
	case 'Л':
		return "L", true
	case 'Љ':
		return "LJ", true
	case 'М':
		return "M", true
	case 'Н':
		return "N", true
	case 'Њ':
		return "NJ", true
	case 'О':
		return "O", true
	case 'П':
		return "P", true
	case 'Р':
		return "R", true
	case 'С':
		return "S", true
	case 'Т':
		return "T", true
	case 'Ћ':
		return "C", true
	case 'У':
		return "U", true
	case 'Ў':
		return "U", true
	case 'Ф':
		return "F", true
	case 'Х':
		return "KH", true
	case 'Ц':
		return "TS", true
	case 'Ч':
		return "CH", true
	case 'Џ':
		return "DZ", true
	case 'Ш':
		return "SH", true
	case 'Щ':
		return "SHCH", true
	case 'Ъ':
		return "IE", true
	case 'Ы':
		return "Y", true
	case 'Ь':
		return "", true
	case 'Э':
		return "E", true
	case 'Ю':
		return "IU", true
	case 'Я':
		return "IA", true
	}
	return "", false
}
