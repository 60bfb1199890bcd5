package mrz

import "github.com/borderproof/borderproof/internal/errs"

// charValue is the ICAO 9303-3 §4.9 value of an MRZ character: digits their
// value, A–Z 10–35, the filler '<' 0. ok is false for any other byte.
func charValue(c byte) (v int, ok bool) {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0'), true
	case c >= 'A' && c <= 'Z':
		return int(c-'A') + 10, true
	case c == '<':
		return 0, true
	}
	return 0, false
}

// checkDigit computes the 7-3-1 check digit of s, which must hold only MRZ
// characters.
func checkDigit(s string) byte {
	sum := 0
	for i := 0; i < len(s); i++ {
		v, _ := charValue(s[i])
		switch i % 3 {
		case 0:
			sum += 7 * v
		case 1:
			sum += 3 * v
		default:
			sum += v
		}
	}
	return byte('0' + sum%10)
}

// CheckDigit computes the ICAO 9303 check digit of data (weights 7, 3, 1;
// '<' counts 0). data must be non-empty and hold only A–Z, 0–9 and '<'.
func CheckDigit(data string) (byte, error) {
	if data == "" {
		return 0, errs.E(errs.Invalid, "check digit of empty data")
	}
	for i := 0; i < len(data); i++ {
		if _, ok := charValue(data[i]); !ok {
			return 0, errs.E(errs.Invalid, "position %d: character not allowed in a machine-readable zone", i+1)
		}
	}
	return checkDigit(data), nil
}

// VerifyCheckDigit reports whether cd is the check digit of data. A field
// made only of fillers may carry '<' as its check digit. Invalid data or a
// non-digit check character is false.
func VerifyCheckDigit(data string, cd byte) bool {
	want, err := CheckDigit(data)
	if err != nil {
		return false
	}
	if cd == '<' {
		return allFiller(data)
	}
	return cd == want
}

func allFiller(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] != '<' {
			return false
		}
	}
	return true
}
