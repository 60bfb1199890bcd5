package mrz

import (
	"slices"
	"strings"
	"testing"

	"github.com/borderproof/borderproof/internal/errs"
)

// FuzzParse checks that Parse never panics, that every rejection is an
// Invalid error, and that a valid document survives Encode → Parse: the
// fields come back equal, and where the check digits do too, so do the lines.
func FuzzParse(f *testing.F) {
	cases, err := readCases()
	if err != nil {
		f.Fatal(err)
	}
	for _, c := range cases {
		if c.Lines != nil {
			f.Add(strings.Join(c.Lines, "\n"))
		} else {
			f.Add(c.Raw)
		}
	}
	f.Add(strings.Join(mrvaLines, "\n"))
	f.Add(strings.Join(mrvbLines, "\n"))
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseString(s, WithNow(testNow))
		if err != nil {
			if d != nil || !errs.Is(err, errs.Invalid) {
				t.Fatalf("ParseString = %v, %v", d, err)
			}
			return
		}
		if !d.Valid() {
			return
		}
		lines, err := Encode(*d)
		if err != nil {
			t.Fatalf("Encode of a valid document: %v", err)
		}
		again, err := Parse(lines, WithNow(testNow))
		if err != nil {
			t.Fatalf("Parse(Encode): %v", err)
		}
		if !again.Valid() {
			t.Fatalf("Parse(Encode) problems %v", again.Problems)
		}
		a, b := *d, *again
		a.CheckDigits, b.CheckDigits = CheckDigits{}, CheckDigits{}
		if !sameDocument(a, b) {
			t.Fatalf("round trip changed the document:\n%+v\n%+v", a, b)
		}
		if d.CheckDigits == again.CheckDigits {
			if want := inputLines(s); want != nil && !slices.Equal(lines, want) {
				t.Fatalf("Encode = %q, input %q", lines, want)
			}
		}
	})
}

func sameDocument(a, b Document) bool {
	return a.Format == b.Format && a.DocumentCode == b.DocumentCode && a.IssuingState == b.IssuingState &&
		a.PrimaryIdentifier == b.PrimaryIdentifier && a.SecondaryIdentifier == b.SecondaryIdentifier &&
		a.NameTruncated == b.NameTruncated && a.DocumentNumber == b.DocumentNumber &&
		a.Nationality == b.Nationality && a.BirthDate.Equal(b.BirthDate) && a.Sex == b.Sex &&
		a.ExpiryDate.Equal(b.ExpiryDate) && a.OptionalData == b.OptionalData &&
		a.OptionalData2 == b.OptionalData2 && slices.Equal(a.Problems, b.Problems)
}

// inputLines splits s the way ParseString does.
func inputLines(s string) []string {
	var lines []string
	for l := range strings.SplitSeq(strings.TrimSpace(s), "\n") {
		lines = append(lines, strings.TrimSpace(l))
	}
	if len(lines) == 1 {
		one := lines[0]
		switch len(one) {
		case 90:
			return []string{one[:30], one[30:60], one[60:]}
		case 72:
			return []string{one[:36], one[36:]}
		case 88:
			return []string{one[:44], one[44:]}
		}
	}
	return lines
}
