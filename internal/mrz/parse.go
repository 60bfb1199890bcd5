package mrz

import (
	"strings"
	"time"
	"unicode/utf8"

	"github.com/borderproof/borderproof/internal/country"
	"github.com/borderproof/borderproof/internal/errs"
)

// SpecimenState is the code of Utopia, the fictitious state of the ICAO
// specimens.
const SpecimenState = "UTO"

// expiryWindowYears bounds how far from the reference time an expiry date
// may lie before the other century is chosen.
const expiryWindowYears = 50

// Option adjusts Parse.
type Option func(*options)

type options struct {
	now time.Time
}

// WithNow sets the reference time of the century rules (default: the
// current time). Tests pass a fixed time.
func WithNow(now time.Time) Option {
	return func(o *options) { o.now = now }
}

// Parse reads a machine-readable zone given as its lines, without line
// terminators or surrounding spaces. It detects the format from the number
// and length of the lines: 3×30 TD1; 2×36 TD2, or MRV-B when line 1 starts
// with 'V'; 2×44 TD3, or MRV-A when line 1 starts with 'V'.
//
// Input that is not a machine-readable zone is an errs.Invalid error whose
// message names the line and position only. A zone with suspicious content
// parses, with Document.Problems.
func Parse(lines []string, opts ...Option) (*Document, error) {
	o := options{}
	for _, opt := range opts {
		opt(&o)
	}
	if o.now.IsZero() {
		o.now = time.Now()
	}

	f, err := detect(lines)
	if err != nil {
		return nil, err
	}
	d := &Document{Format: f}
	p := parser{d: d, now: o.now}
	switch f {
	case TD1:
		p.td1(lines)
	case TD2, TD3, MRVA, MRVB:
		p.twoLine(lines)
	}
	return d, nil
}

// ParseString is Parse for text as a client may paste it: lines separated
// by "\n" or "\r\n", surrounding white space ignored. A single line of 90,
// 72 or 88 characters is taken as a TD1, TD2/MRV-B or TD3/MRV-A zone
// written without line breaks.
func ParseString(s string, opts ...Option) (*Document, error) {
	s = strings.TrimSpace(s)
	var lines []string
	for l := range strings.SplitSeq(s, "\n") {
		lines = append(lines, strings.TrimSpace(l))
	}
	if len(lines) == 1 {
		switch one := lines[0]; len(one) {
		case 90:
			lines = []string{one[:30], one[30:60], one[60:]}
		case 72:
			lines = []string{one[:36], one[36:]}
		case 88:
			lines = []string{one[:44], one[44:]}
		default:
			if n := utf8.RuneCountInString(one); n > 44 {
				return nil, errs.E(errs.Invalid, "a zone on one line has %d characters; TD1 has 90, TD2 and MRV-B 72, TD3 and MRV-A 88", n)
			}
		}
	}
	return Parse(lines, opts...)
}

func detect(lines []string) (Format, error) {
	if n := len(lines); n != 2 && n != 3 {
		return "", errs.E(errs.Invalid, "a machine-readable zone has 2 or 3 lines, not %d", n)
	}
	for i, l := range lines {
		pos := 0
		for _, r := range l {
			pos++
			if r >= utf8.RuneSelf {
				return "", badChar(i+1, pos)
			}
			if _, ok := charValue(byte(r)); !ok {
				return "", badChar(i+1, pos)
			}
		}
	}
	if len(lines) == 3 {
		for i, l := range lines {
			if len(l) != 30 {
				return "", errs.E(errs.Invalid, "line %d has %d characters; a three-line zone (TD1) has 30 per line", i+1, len(l))
			}
		}
		return TD1, nil
	}
	w := len(lines[0])
	if w != 36 && w != 44 {
		return "", errs.E(errs.Invalid, "line 1 has %d characters; a two-line zone has 36 (TD2, MRV-B) or 44 (TD3, MRV-A) per line", w)
	}
	if len(lines[1]) != w {
		return "", errs.E(errs.Invalid, "line 2 has %d characters; line 1 has %d", len(lines[1]), w)
	}
	visa := lines[0][0] == 'V'
	switch {
	case w == 36 && visa:
		return MRVB, nil
	case w == 36:
		return TD2, nil
	case visa:
		return MRVA, nil
	}
	return TD3, nil
}

func badChar(line, pos int) error {
	return errs.E(errs.Invalid, "line %d, position %d: character not allowed in a machine-readable zone (A-Z, 0-9, <)", line, pos)
}

type parser struct {
	d   *Document
	now time.Time
}

// td1: line 1 code(2) state(3) number(9) check optional(15); line 2 birth(6)
// check sex expiry(6) check nationality(3) optional(11) composite; line 3 name.
func (p *parser) td1(lines []string) {
	l1, l2, l3 := lines[0], lines[1], lines[2]
	p.documentCode(l1[0:2])
	p.state(l1[2:5], FieldIssuingState, &p.d.IssuingState)
	p.name(l3)
	p.documentNumber(l1[5:14], l1[14], l1[15:30], true)
	p.state(l2[15:18], FieldNationality, &p.d.Nationality)
	p.birthDate(l2[0:6], l2[6])
	p.sex(l2[7])
	p.expiryDate(l2[8:14], l2[14])
	p.d.OptionalData2 = strings.TrimRight(l2[18:29], "<")
	p.composite(l2[29], l1[5:30], l2[0:7], l2[8:15], l2[18:29])
}

// twoLine: line 1 code(2) state(3) name; line 2 number(9) check
// nationality(3) birth(6) check sex expiry(6) check, then per format:
// TD2 optional(7) composite; TD3 personal number(14) check composite;
// MRV-A optional(16); MRV-B optional(8).
func (p *parser) twoLine(lines []string) {
	l1, l2 := lines[0], lines[1]
	f := p.d.Format
	p.documentCode(l1[0:2])
	p.state(l1[2:5], FieldIssuingState, &p.d.IssuingState)
	p.name(l1[5:])
	var opt string
	switch f {
	case TD2:
		opt = l2[28:35]
	case TD3:
		opt = l2[28:42]
	default:
		opt = l2[28:]
	}
	p.documentNumber(l2[0:9], l2[9], opt, f == TD2)
	p.state(l2[10:13], FieldNationality, &p.d.Nationality)
	p.birthDate(l2[13:19], l2[19])
	p.sex(l2[20])
	p.expiryDate(l2[21:27], l2[27])
	switch f {
	case TD2:
		p.composite(l2[35], l2[0:10], l2[13:20], l2[21:35])
	case TD3:
		p.d.CheckDigits.PersonalNumber = l2[42]
		if !VerifyCheckDigit(opt, l2[42]) {
			p.d.addProblem(ProblemCheckDigitPersonalNumber, FieldOptionalData)
		}
		p.composite(l2[43], l2[0:10], l2[13:20], l2[21:43])
	}
}

func (p *parser) documentCode(code string) {
	p.d.DocumentCode = strings.TrimRight(code, "<")
	first, second := code[0], code[1]
	ok := second == '<' || (second >= 'A' && second <= 'Z')
	switch p.d.Format {
	case TD1, TD2:
		ok = ok && (first == 'A' || first == 'C' || first == 'I')
	case TD3:
		ok = ok && first == 'P'
	}
	if !ok {
		p.d.addProblem(ProblemInvalidDocumentCode, FieldDocumentCode)
	}
}

func (p *parser) state(raw string, field Field, dst *string) {
	code := strings.TrimRight(raw, "<")
	*dst = code
	switch {
	case code == SpecimenState:
		p.d.addProblem(ProblemSpecimenState, field)
	case !country.Valid(code):
		p.d.addProblem(ProblemUnknownState, field)
	}
}

func (p *parser) name(field string) {
	n := parseName(field)
	p.d.PrimaryIdentifier = n.primary
	p.d.SecondaryIdentifier = n.secondary
	p.d.NameTruncated = n.truncated
	if !n.ok {
		p.d.addProblem(ProblemInvalidName, FieldName)
	}
}

// documentNumber reads the nine-character number field and its check
// digit. When extendable (TD1, TD2) and the check position holds '<' after a
// full field, the number continues at the start of opt, followed by its
// check digit and a filler (ICAO 9303-5 and -6, note j).
func (p *parser) documentNumber(field string, cd byte, opt string, extendable bool) {
	d := p.d
	if extendable && cd == '<' && strings.IndexByte(field, '<') < 0 {
		end := strings.IndexByte(opt, '<')
		if end < 0 {
			end = len(opt)
		}
		if end < 2 {
			// Nothing, or only a check digit, in the extension.
			d.DocumentNumber = field
			d.CheckDigits.DocumentNumber = cd
			d.OptionalData = strings.TrimRight(opt, "<")
			d.addProblem(ProblemInvalidDocumentNumber, FieldDocumentNumber)
			return
		}
		ext, extCD := opt[:end-1], opt[end-1]
		d.DocumentNumber = field + ext
		d.CheckDigits.DocumentNumber = extCD
		if end < len(opt) {
			d.OptionalData = strings.TrimRight(opt[end+1:], "<")
		}
		if !VerifyCheckDigit(d.DocumentNumber, extCD) && !VerifyCheckDigit(field+"<"+ext, extCD) {
			d.addProblem(ProblemCheckDigitDocumentNumber, FieldDocumentNumber)
		}
		return
	}
	d.DocumentNumber = strings.TrimRight(field, "<")
	d.CheckDigits.DocumentNumber = cd
	d.OptionalData = strings.TrimRight(opt, "<")
	switch {
	case d.DocumentNumber == "":
		d.addProblem(ProblemInvalidDocumentNumber, FieldDocumentNumber)
	case !VerifyCheckDigit(field, cd):
		d.addProblem(ProblemCheckDigitDocumentNumber, FieldDocumentNumber)
	}
}

func (p *parser) birthDate(raw string, cd byte) {
	p.d.CheckDigits.BirthDate = cd
	if !VerifyCheckDigit(raw, cd) {
		p.d.addProblem(ProblemCheckDigitBirthDate, FieldBirthDate)
	}
	yy, mm, dd, ok := splitDate(raw)
	if ok {
		now := midnight(p.now)
		y := now.Year()/100*100 + yy
		if !dateBefore(y, mm, dd, now) {
			y -= 100 // a birth date is never in the future
		}
		p.d.BirthDate, ok = makeDate(y, mm, dd)
	}
	if !ok {
		p.d.addProblem(ProblemInvalidDate, FieldBirthDate)
	}
}

func (p *parser) expiryDate(raw string, cd byte) {
	p.d.CheckDigits.ExpiryDate = cd
	if !VerifyCheckDigit(raw, cd) {
		p.d.addProblem(ProblemCheckDigitExpiryDate, FieldExpiryDate)
	}
	yy, mm, dd, ok := splitDate(raw)
	if ok {
		ny := p.now.UTC().Year()
		y := ny/100*100 + yy
		switch {
		case y > ny+expiryWindowYears:
			y -= 100
		case y < ny-expiryWindowYears:
			y += 100
		}
		p.d.ExpiryDate, ok = makeDate(y, mm, dd)
	}
	if !ok {
		p.d.addProblem(ProblemInvalidDate, FieldExpiryDate)
	}
}

func (p *parser) sex(c byte) {
	switch c {
	case 'F', 'M', 'X':
		p.d.Sex = Sex(string(c))
	case '<':
		p.d.Sex = SexNotGiven
	default:
		p.d.Sex = Sex(string(c))
		p.d.addProblem(ProblemInvalidSex, FieldSex)
	}
}

func (p *parser) composite(cd byte, parts ...string) {
	p.d.CheckDigits.Composite = cd
	sum, n := 0, 0
	for _, s := range parts {
		for i := 0; i < len(s); i++ {
			v, _ := charValue(s[i])
			sum += v * [3]int{7, 3, 1}[n%3]
			n++
		}
	}
	if cd != byte('0'+sum%10) {
		p.d.addProblem(ProblemCheckDigitComposite, FieldComposite)
	}
}

// splitDate reads YYMMDD; ok is false when any character is not a digit.
func splitDate(s string) (yy, mm, dd int, ok bool) {
	var v [6]int
	for i := 0; i < 6; i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, 0, 0, false
		}
		v[i] = int(s[i] - '0')
	}
	return v[0]*10 + v[1], v[2]*10 + v[3], v[4]*10 + v[5], true
}

// dateBefore reports whether y-m-d (possibly not a calendar date) is not
// after day.
func dateBefore(y, m, d int, day time.Time) bool {
	if y != day.Year() {
		return y < day.Year()
	}
	if m != int(day.Month()) {
		return m < int(day.Month())
	}
	return d <= day.Day()
}

// makeDate builds UTC midnight of y-m-d; ok is false for a date that is not
// in the calendar (month 13, 30 February).
func makeDate(y, m, d int) (time.Time, bool) {
	if m < 1 || m > 12 || d < 1 {
		return time.Time{}, false
	}
	t := time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC)
	if t.Day() != d || int(t.Month()) != m {
		return time.Time{}, false
	}
	return t, true
}
