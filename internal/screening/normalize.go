package screening

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// letterFold spells letters that have no decomposition in plain Latin.
func letterFold(r rune) (string, bool) {
	switch r {
	case 'ß', 'ẞ':
		return "ss", true
	case 'æ', 'Æ':
		return "ae", true
	case 'œ', 'Œ':
		return "oe", true
	case 'ø', 'Ø':
		return "o", true
	case 'đ', 'Đ', 'ð', 'Ð':
		return "d", true
	case 'ł', 'Ł':
		return "l", true
	case 'ı':
		return "i", true
	case 'þ', 'Þ':
		return "th", true
	case 'ħ', 'Ħ':
		return "h", true
	}
	return "", false
}

// isHonorific reports whether a normalised token is a title dropped from
// names before comparison.
func isHonorific(t string) bool {
	switch t {
	case "mr", "mrs", "ms", "miss", "mx", "dr", "prof", "sir", "dame",
		"madam", "mme", "mlle", "herr", "frau":
		return true
	}
	return false
}

// normalizeName lower-cases s, folds accents, removes full stops and
// apostrophes (so "A.I.C." becomes "aic" and "D'S" becomes "ds") and turns
// every other character that is neither letter nor digit into a space.
// Runs of spaces collapse to one; the result has no leading or trailing
// space.
func normalizeName(s string) string {
	if s == "" {
		return ""
	}
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if !ascii {
		s = foldAccents(s)
	}
	var b strings.Builder
	b.Grow(len(s))
	space := true // suppress leading space
	for _, r := range s {
		switch {
		case r == '.' || r == '\'' || r == '\u2019' || r == '`' || r == '\u00b4':
			continue
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			if r < utf8.RuneSelf {
				if r >= 'A' && r <= 'Z' {
					r += 'a' - 'A'
				}
				b.WriteByte(byte(r))
			} else {
				b.WriteRune(unicode.ToLower(r))
			}
			space = false
		default:
			if !space {
				b.WriteByte(' ')
				space = true
			}
		}
	}
	return strings.TrimRight(b.String(), " ")
}

// foldAccents removes diacritics: decompose, drop nonspacing marks,
// recompose, and spell the few letters that do not decompose.
func foldAccents(s string) string {
	d := norm.NFD.String(s)
	var b strings.Builder
	b.Grow(len(d))
	for _, r := range d {
		if unicode.Is(unicode.Mn, r) {
			continue
		}
		if f, ok := letterFold(r); ok {
			b.WriteString(f)
			continue
		}
		b.WriteRune(r)
	}
	return norm.NFC.String(b.String())
}

// nameTokens normalises a name and splits it into tokens, dropping
// honorifics and a leading "the" (kept when it is the whole name).
func nameTokens(s string) []string {
	tokens := strings.Fields(normalizeName(s))
	out := tokens[:0]
	for i, t := range tokens {
		if isHonorific(t) && len(tokens) > 1 {
			continue
		}
		if t == "the" && i == 0 && len(tokens) > 1 {
			continue
		}
		out = append(out, t)
	}
	return out
}
