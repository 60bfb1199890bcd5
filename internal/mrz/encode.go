package mrz

import (
	"strings"

	"github.com/borderproof/borderproof/internal/errs"
)

// Encode writes the lines of a machine-readable zone for d in d.Format,
// computing every check digit. It reads DocumentCode (empty: "P" for TD3,
// "I" for TD1 and TD2, "V" for visas), IssuingState, PrimaryIdentifier and
// SecondaryIdentifier (transliterated, see Transliterate, and truncated to
// the field), DocumentNumber (longer than nine characters only in TD1 and
// TD2, where it continues in the optional data), Nationality, BirthDate,
// Sex, ExpiryDate, OptionalData and OptionalData2 (TD1). CheckDigits and
// Problems are ignored; an empty TD3 personal number gets '<' as its check
// digit.
//
// A field that cannot be written is an errs.Invalid error naming the field.
func Encode(d Document) ([]string, error) {
	w := d.Format.Width()
	if w == 0 {
		return nil, errs.E(errs.Invalid, "unknown machine-readable zone format")
	}
	var bad errs.Fields
	e := encoder{bad: &bad}

	code := d.DocumentCode
	if code == "" {
		switch d.Format {
		case TD3:
			code = "P"
		case MRVA, MRVB:
			code = "V"
		default:
			code = "I"
		}
	}
	codeF := e.field(FieldDocumentCode, code, 2)
	if codeF != "" && (d.Format == MRVA || d.Format == MRVB) != (codeF[0] == 'V') {
		bad.Add(string(FieldDocumentCode), "a visa code starts with V, other documents do not")
	}
	state := e.field(FieldIssuingState, d.IssuingState, 3)
	nat := e.field(FieldNationality, d.Nationality, 3)
	birth := e.date(FieldBirthDate, d)
	expiry := e.date(FieldExpiryDate, d)
	sex := "<"
	switch d.Sex {
	case SexFemale, SexMale, SexUnspecified:
		sex = string(d.Sex)
	case SexNotGiven:
	default:
		bad.Add(string(FieldSex), "must be F, M, X or empty")
	}

	nameW := w - 5
	if d.Format == TD1 {
		nameW = 30
	}
	name := e.name(d.PrimaryIdentifier, d.SecondaryIdentifier, nameW)

	optW := optionalWidth(d.Format)
	num := strings.ToUpper(d.DocumentNumber)
	if !isMRZText(num) || num == "" {
		bad.Add(string(FieldDocumentNumber), "must be 1 or more of A-Z, 0-9")
	}
	opt := strings.ToUpper(d.OptionalData)
	if !isMRZText(opt) {
		bad.Add(string(FieldOptionalData), "characters not allowed in a machine-readable zone")
	}
	numF, numCD := pad(num, 9), checkDigit(pad(num, 9))
	if len(num) > 9 {
		if d.Format != TD1 && d.Format != TD2 {
			bad.Add(string(FieldDocumentNumber), "longer than 9 characters; only TD1 and TD2 can hold it")
		} else if strings.IndexByte(num, '<') >= 0 {
			bad.Add(string(FieldDocumentNumber), "a number longer than 9 characters cannot hold fillers")
		} else {
			numF, numCD = num[:9], '<'
			ext := num[9:] + string(checkDigit(num))
			if opt != "" {
				ext += "<" + opt
			}
			opt = ext
		}
	}
	if len(opt) > optW {
		bad.Add(string(FieldOptionalData), "too long for the format")
	}
	if d.Format == TD1 {
		if o2 := strings.ToUpper(d.OptionalData2); !isMRZText(o2) || len(o2) > 11 {
			bad.Add("optionalData2", "must be at most 11 of A-Z, 0-9, <")
		}
	} else if d.OptionalData2 != "" {
		bad.Add("optionalData2", "only TD1 has a second optional data field")
	}
	if err := bad.Err(); err != nil {
		return nil, err
	}

	dates := birth + string(checkDigit(birth)) + sex + expiry + string(checkDigit(expiry))
	optF := pad(opt, optW)
	switch d.Format {
	case TD1:
		l1 := pad(codeF, 2) + pad(state, 3) + numF + string(numCD) + optF
		opt2 := pad(strings.ToUpper(d.OptionalData2), 11)
		l2 := dates + pad(nat, 3) + opt2
		l2 += string(checkDigit(l1[5:30] + l2[0:7] + l2[8:15] + l2[18:29]))
		return []string{l1, l2, name}, nil
	case TD2:
		l2 := numF + string(numCD) + pad(nat, 3) + dates + optF
		l2 += string(checkDigit(l2[0:10] + l2[13:20] + l2[21:35]))
		return []string{pad(codeF, 2) + pad(state, 3) + name, l2}, nil
	case TD3:
		pn := byte('<')
		if !allFiller(optF) {
			pn = checkDigit(optF)
		}
		l2 := numF + string(numCD) + pad(nat, 3) + dates + optF + string(pn)
		l2 += string(checkDigit(l2[0:10] + l2[13:20] + l2[21:43]))
		return []string{pad(codeF, 2) + pad(state, 3) + name, l2}, nil
	default: // MRVA, MRVB
		l2 := numF + string(numCD) + pad(nat, 3) + dates + optF
		return []string{pad(codeF, 2) + pad(state, 3) + name, l2}, nil
	}
}

// optionalWidth is the width of the optional data field holding a
// document-number extension (TD1 line 1, TD2) or the personal number (TD3).
func optionalWidth(f Format) int {
	switch f {
	case TD1:
		return 15
	case TD2:
		return 7
	case TD3:
		return 14
	case MRVA:
		return 16
	case MRVB:
		return 8
	}
	return 0
}

type encoder struct {
	bad *errs.Fields
}

// field upper-cases a code and checks it fits width.
func (e encoder) field(f Field, v string, width int) string {
	v = strings.ToUpper(v)
	if v == "" || len(v) > width || !isMRZText(v) {
		e.bad.Add(string(f), "must be 1 to %d of A-Z, 0-9, <", width)
		return ""
	}
	return v
}

func (e encoder) date(f Field, d Document) string {
	t := d.BirthDate
	if f == FieldExpiryDate {
		t = d.ExpiryDate
	}
	if t.IsZero() {
		e.bad.Add(string(f), "required")
		return "<<<<<<"
	}
	return formatDate(t)
}

// name writes "PRIMARY<<SECONDARY" padded or truncated to width.
func (e encoder) name(primary, secondary string, width int) string {
	p, ok1 := Transliterate(primary)
	s, ok2 := Transliterate(secondary)
	if !ok1 || !ok2 || (p == "" && s == "") {
		e.bad.Add(string(FieldName), "has no transliteration to A-Z")
		return ""
	}
	full := p
	if s != "" {
		full += "<<" + s
	}
	if len(full) > width {
		full = strings.TrimRight(full[:width], "<")
	}
	return pad(full, width)
}

func pad(s string, width int) string {
	if len(s) >= width {
		return s
	}
	return s + strings.Repeat("<", width-len(s))
}

func isMRZText(s string) bool {
	for i := 0; i < len(s); i++ {
		if _, ok := charValue(s[i]); !ok {
			return false
		}
	}
	return true
}
