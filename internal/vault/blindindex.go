package vault

import (
	"context"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"

	"github.com/borderproof/borderproof/internal/errs"
)

// Blind index kinds.
const (
	// IndexDocument indexes DocumentKey(issuing state, document number).
	IndexDocument = "document"
	// IndexPerson indexes NormalisePersonKey(name, date of birth).
	IndexPerson = "person"
)

// BlindIndex returns a keyed HMAC-SHA256 (hex, 64 characters) of a
// normalised value, so that earlier verifications of the same document or
// person can be found within one insurer without decrypting anything. The
// HMAC key is derived with HKDF from the insurer key and the kind: equal
// values give equal indexes within an insurer and kind, and unrelated ones
// across insurers. Normalise the value first (DocumentKey,
// NormalisePersonKey).
//
// The index reveals equality, and nothing else, to whoever reads the
// database; the value itself cannot be recovered without the insurer key.
func (v *Vault) BlindIndex(ctx context.Context, insurerID, kind, normalised string) (string, error) {
	var f errs.Fields
	if insurerID == "" {
		f.Add("insurerId", "is required")
	}
	if !validKind(kind) {
		f.Add("kind", "must be a lower-case label")
	}
	if normalised == "" {
		f.Add("value", "is empty after normalisation")
	}
	if err := f.Err(); err != nil {
		return "", err
	}
	ins, err := v.insurerKey(ctx, insurerID)
	if err != nil {
		return "", err
	}
	defer ins.release()
	key, err := hkdf.Expand(sha256.New, ins.secret, infoBlindIndex+kind, dataKeySize)
	if err != nil {
		return "", errs.Wrap(err, errs.Internal, "blind index key is unusable")
	}
	defer zero(key)
	return hmacHex(key, normalised), nil
}

func hmacHex(key []byte, value string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(value))
	return hex.EncodeToString(m.Sum(nil))
}

func validKind(kind string) bool {
	if kind == "" || len(kind) > 64 {
		return false
	}
	for i, r := range kind {
		switch {
		case r >= 'a' && r <= 'z':
		case i > 0 && (r >= '0' && r <= '9' || r == '_' || r == '-'):
		default:
			return false
		}
	}
	return true
}

// DocumentKey is the normalised identity of a document: the upper-case
// issuing state code, a colon, and NormaliseDocumentNumber(number). It is ""
// when either part is empty after normalisation.
func DocumentKey(issuingState, number string) string {
	state := strings.ToUpper(strings.TrimSpace(issuingState))
	n := NormaliseDocumentNumber(number)
	if state == "" || n == "" {
		return ""
	}
	return state + ":" + n
}

// NormaliseDocumentNumber folds accents, upper-cases, and keeps only letters
// and digits, dropping spaces, dashes, dots, slashes and the MRZ filler '<'.
// "ab-123 456<<" becomes "AB123456".
func NormaliseDocumentNumber(number string) string {
	var b strings.Builder
	for _, r := range fold(number) {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// NormalisePersonKey is the normalised identity of a person: the name's
// words folded (accents removed, ß→SS, Æ→AE, Ø→O …), upper-cased, split on
// anything that is not a letter (spaces, hyphens, apostrophes, the MRZ
// filler '<'), sorted so that name order does not matter, joined by single
// spaces; then '|' and the digits of the date of birth ("1980-01-15" →
// "19800115"). "Zoë  O'Brien-Núñez", "1980-01-15" becomes
// "BRIEN NUNEZ O ZOE|19800115". It is "" when either part is empty.
func NormalisePersonKey(fullName, dateOfBirth string) string {
	words := strings.FieldsFunc(fold(fullName), func(r rune) bool { return !unicode.IsLetter(r) })
	slices.Sort(words)
	var dob strings.Builder
	for _, r := range dateOfBirth {
		if r >= '0' && r <= '9' {
			dob.WriteRune(r)
		}
	}
	if len(words) == 0 || dob.Len() == 0 {
		return ""
	}
	return strings.Join(words, " ") + "|" + dob.String()
}

// special folds letters that canonical decomposition leaves whole, as the
// ICAO Doc 9303 transliteration table does.
var special = strings.NewReplacer(
	"ß", "SS", "ẞ", "SS", "Æ", "AE", "æ", "AE", "Œ", "OE", "œ", "OE",
	"Ø", "O", "ø", "O", "Ł", "L", "ł", "L", "Đ", "D", "đ", "D",
	"Ð", "D", "ð", "D", "Þ", "TH", "þ", "TH", "ı", "I", "Ħ", "H", "ħ", "H",
)

// fold removes diacritics (canonical decomposition, combining marks
// dropped), applies the special letters above and upper-cases.
func fold(s string) string {
	s = special.Replace(norm.NFD.String(s))
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		if unicode.Is(unicode.Mn, r) {
			continue
		}
		b.WriteRune(unicode.ToUpper(r))
	}
	return b.String()
}
