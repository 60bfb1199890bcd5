package mrz

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/borderproof/borderproof/internal/errs"
)

func date(y int, m time.Month, d int) time.Time {
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// The ICAO 9303 Part 7 specimen visas (Utopia, Anna Maria Eriksson).
var (
	mrvaLines = []string{
		"V<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
		"L8988901C4XXX4009078F96121096ZE184226B<<<<<<",
	}
	mrvbLines = []string{
		"V<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<",
		"L8988901C4XXX4009078F9612109<<<<<<<<",
	}
)

func TestParseVisas(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		lines    []string
		format   Format
		code     string
		optional string
		problems []Problem
	}{
		{"MRV-A specimen", mrvaLines, MRVA, "V", "6ZE184226B", []Problem{{ProblemSpecimenState, FieldIssuingState}}},
		{"MRV-B specimen", mrvbLines, MRVB, "V", "", []Problem{{ProblemSpecimenState, FieldIssuingState}}},
		{"MRV-A type char and real state", []string{
			"VDFRAMARTIN<<CLAIRE<<<<<<<<<<<<<<<<<<<<<<<<<",
			"L8988901C4XXX4009078F9612109<<<<<<<<<<<<<<<<",
		}, MRVA, "VD", "", nil},
		{"MRV-B bad visa number check digit", []string{
			"V<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<",
			"L8988901C5XXX4009078F9612109<<<<<<<<",
		}, MRVB, "V", "", []Problem{{ProblemSpecimenState, FieldIssuingState}, {ProblemCheckDigitDocumentNumber, FieldDocumentNumber}}},
		{"MRV-A bad birth and expiry check digits", []string{
			"V<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
			"L8988901C4XXX4009077F96121016ZE184226B<<<<<<",
		}, MRVA, "V", "6ZE184226B", []Problem{{ProblemSpecimenState, FieldIssuingState}, {ProblemCheckDigitBirthDate, FieldBirthDate}, {ProblemCheckDigitExpiryDate, FieldExpiryDate}}},
		{"MRV-B optional data fills the line, no composite", []string{
			"V<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<",
			"L8988901C4XXX4009078F9612109ABCDEFGH",
		}, MRVB, "V", "ABCDEFGH", []Problem{{ProblemSpecimenState, FieldIssuingState}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d, err := Parse(tt.lines, WithNow(testNow))
			if err != nil {
				t.Fatal(err)
			}
			if d.Format != tt.format || d.DocumentCode != tt.code || d.OptionalData != tt.optional {
				t.Errorf("format %s code %q optional %q", d.Format, d.DocumentCode, d.OptionalData)
			}
			if d.DocumentNumber != "L8988901C" || d.Nationality != "XXX" || d.Sex != SexFemale ||
				!d.BirthDate.Equal(date(1940, 9, 7)) || !d.ExpiryDate.Equal(date(1996, 12, 10)) {
				t.Errorf("fields %+v", d)
			}
			if d.CheckDigits.Composite != 0 || d.CheckDigits.PersonalNumber != 0 {
				t.Errorf("a visa has no composite or personal-number check digit: %+v", d.CheckDigits)
			}
			if !slices.Equal(d.Problems, tt.problems) {
				t.Errorf("problems %v, want %v", d.Problems, tt.problems)
			}
			if len(tt.problems) <= 1 { // only the specimen notice
				lines, err := Encode(*d)
				if err != nil || !slices.Equal(lines, tt.lines) {
					t.Errorf("Encode = %q, %v; want %q", lines, err, tt.lines)
				}
			}
		})
	}
}

func TestParseNotAnMRZ(t *testing.T) {
	t.Parallel()
	td3 := []string{"P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<", "L898902C36UTO7408122F1204159ZE184226B<<<<<10"}
	tests := []struct {
		name  string
		lines []string
		want  string // in the message
	}{
		{"no lines", nil, "2 or 3 lines, not 0"},
		{"one line", td3[:1], "2 or 3 lines, not 1"},
		{"four lines", []string{td3[0], td3[1], td3[0], td3[1]}, "2 or 3 lines, not 4"},
		{"line 1 too long", []string{td3[0] + "<", td3[1]}, "line 1 has 45 characters"},
		{"line 2 shorter", []string{td3[0], td3[1][:43]}, "line 2 has 43 characters; line 1 has 44"},
		{"TD1 line 3 short", []string{
			"I<UTOD231458907<<<<<<<<<<<<<<<", "7408122F1204159UTO<<<<<<<<<<<6", "ERIKSSON<<ANNA<MARIA<<<<<<<<<",
		}, "line 3 has 29 characters"},
		{"lower case", []string{td3[0], strings.Replace(td3[1], "L", "l", 1)}, "line 2, position 1: character not allowed"},
		{"space", []string{strings.Replace(td3[0], "<<ANNA", "< ANNA", 1), td3[1]}, "line 1, position 15: character not allowed"},
		{"accent counted as one position", []string{strings.Replace(td3[0], "ERIKSSON", "ÉRIKSSON", 1), td3[1]}, "line 1, position 6: character not allowed"},
		{"invalid UTF-8", []string{td3[0], "\xff" + td3[1][1:]}, "line 2, position 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d, err := Parse(tt.lines)
			if d != nil || !errs.Is(err, errs.Invalid) {
				t.Fatalf("Parse = %v, %v; want an Invalid error", d, err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not say %q", err, tt.want)
			}
			assertNoContent(t, err.Error(), tt.lines)
		})
	}
}

func TestParseString(t *testing.T) {
	t.Parallel()
	want := []string{"P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<", "L898902C36UTO7408122F1204159ZE184226B<<<<<10"}
	for _, in := range []string{
		want[0] + "\n" + want[1],
		"  " + want[0] + "\r\n" + want[1] + "\r\n",
		want[0] + want[1],
	} {
		d, err := ParseString(in, WithNow(testNow))
		if err != nil || d.Format != TD3 || d.DocumentNumber != "L898902C3" {
			t.Errorf("ParseString(%q) = %+v, %v", in, d, err)
		}
	}
	_, err := ParseString(want[0] + want[1] + "<")
	if !errs.Is(err, errs.Invalid) || !strings.Contains(err.Error(), "one line has 89 characters") {
		t.Errorf("89 characters on one line: %v", err)
	}
}

// td3With builds a valid TD3 with the given birth and expiry (YYMMDD) and
// sex, recomputing the check digits.
func td3With(t *testing.T, birth, sex, expiry string) []string {
	t.Helper()
	l2 := "L898902C36UTO" + birth + string(checkDigit(birth)) + sex + expiry + string(checkDigit(expiry)) + "ZE184226B<<<<<1"
	l2 += string(checkDigit(l2[0:10] + l2[13:20] + l2[21:43]))
	return []string{"P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<", l2}
}

func TestCenturyRules(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 6, 1, 15, 0, 0, 0, time.UTC)
	tests := []struct {
		name          string
		birth, expiry string
		wantBirth     time.Time
		wantExpiry    time.Time
		problems      []Problem
	}{
		{"birth this century", "010203", "300101", date(2001, 2, 3), date(2030, 1, 1), nil},
		{"birth YY above current year is last century", "260101", "300101", date(1926, 1, 1), date(2030, 1, 1), nil},
		{"birth today", "250601", "300101", date(2025, 6, 1), date(2030, 1, 1), nil},
		{"birth tomorrow is last century", "250602", "300101", date(1925, 6, 2), date(2030, 1, 1), nil},
		{"birth 00 is 2000", "000229", "300101", date(2000, 2, 29), date(2030, 1, 1), nil},
		{"expiry 50 years ahead", "800101", "751231", date(1980, 1, 1), date(2075, 12, 31), nil},
		{"expiry 51 years ahead is last century", "800101", "760101", date(1980, 1, 1), date(1976, 1, 1), nil},
		{"expiry long past", "500101", "990101", date(1950, 1, 1), date(1999, 1, 1), nil},
		{"invalid birth month", "741312", "300101", time.Time{}, date(2030, 1, 1), []Problem{{ProblemInvalidDate, FieldBirthDate}}},
		{"30 February", "740230", "300101", time.Time{}, date(2030, 1, 1), []Problem{{ProblemInvalidDate, FieldBirthDate}}},
		{"29 February in a common year", "800101", "270229", date(1980, 1, 1), time.Time{}, []Problem{{ProblemInvalidDate, FieldExpiryDate}}},
		{"day zero", "800100", "300101", time.Time{}, date(2030, 1, 1), []Problem{{ProblemInvalidDate, FieldBirthDate}}},
		{"unknown birth day", "7408<<", "300101", time.Time{}, date(2030, 1, 1), []Problem{{ProblemInvalidDate, FieldBirthDate}}},
		{"unknown birth date", "<<<<<<", "300101", time.Time{}, date(2030, 1, 1), []Problem{{ProblemInvalidDate, FieldBirthDate}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			lines := td3With(t, tt.birth, "F", tt.expiry)
			if tt.birth == "<<<<<<" {
				// An all-filler date may carry '<' as its check digit.
				lines[1] = lines[1][:19] + "<" + lines[1][20:]
			}
			d, err := Parse(lines, WithNow(now))
			if err != nil {
				t.Fatal(err)
			}
			if !d.BirthDate.Equal(tt.wantBirth) || !d.ExpiryDate.Equal(tt.wantExpiry) {
				t.Errorf("birth %v expiry %v; want %v %v", d.BirthDate, d.ExpiryDate, tt.wantBirth, tt.wantExpiry)
			}
			got := slices.DeleteFunc(slices.Clone(d.Problems), func(p Problem) bool { return p.Code.Notice() })
			if !slices.Equal(got, tt.problems) {
				t.Errorf("problems %v, want %v", got, tt.problems)
			}
			if d.BirthDate.After(now) {
				t.Errorf("birth date in the future")
			}
		})
	}
}

func TestSex(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		c     string
		sex   Sex
		valid bool
	}{
		{"F", SexFemale, true}, {"M", SexMale, true}, {"X", SexUnspecified, true},
		{"<", SexNotGiven, true}, {"A", "A", false}, {"1", "1", false},
	} {
		d, err := Parse(td3With(t, "740812", tt.c, "300101"), WithNow(testNow))
		if err != nil {
			t.Fatal(err)
		}
		if d.Sex != tt.sex || d.Valid() != tt.valid || d.Has(ProblemInvalidSex) == tt.valid {
			t.Errorf("sex %q: got %q valid=%v problems %v", tt.c, d.Sex, d.Valid(), d.Problems)
		}
	}
}

func TestNamesAndCodes(t *testing.T) {
	t.Parallel()
	l2 := "L898902C36UTO7408122F1204159ZE184226B<<<<<10"
	tests := []struct {
		line1              string
		code               string
		primary, secondary string
		truncated          bool
		problems           []ProblemCode
	}{
		{"P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<", "P", "ERIKSSON", "ANNA MARIA", false, nil},
		{"P<UTOERIKSSON<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<", "P", "ERIKSSON", "", false, nil},
		{"P<UTOVAN<DER<BERG<<ANNA<<<<<<<<<<<<<<<<<<<<<", "P", "VAN DER BERG", "ANNA", false, nil},
		{"P<UTO<<ANNA<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<", "P", "", "ANNA", false, nil},
		{"P<UTOERIKSSONSTEVENSONABCDEFGH<<ANNA<MARIAXY", "P", "ERIKSSONSTEVENSONABCDEFGH", "ANNA MARIAXY", true, nil},
		{"P<UTO<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<", "P", "", "", false, []ProblemCode{ProblemInvalidName}},
		{"P<UTOERIKSSON<<ANNA<<MARIA<<<<<<<<<<<<<<<<<<", "P", "ERIKSSON", "ANNA  MARIA", false, []ProblemCode{ProblemInvalidName}},
		{"P<UTO<ERIKSSON<<ANNA<<<<<<<<<<<<<<<<<<<<<<<<", "P", " ERIKSSON", "ANNA", false, []ProblemCode{ProblemInvalidName}},
		{"P<UTOERIKSSON<<<ANNA<<<<<<<<<<<<<<<<<<<<<<<<", "P", "ERIKSSON", " ANNA", false, []ProblemCode{ProblemInvalidName}},
		{"P<UTOER1KSSON<<ANNA<<<<<<<<<<<<<<<<<<<<<<<<<", "P", "ER1KSSON", "ANNA", false, []ProblemCode{ProblemInvalidName}},
		{"PDUTOERIKSSON<<ANNA<<<<<<<<<<<<<<<<<<<<<<<<<", "PD", "ERIKSSON", "ANNA", false, nil},
		{"I<UTOERIKSSON<<ANNA<<<<<<<<<<<<<<<<<<<<<<<<<", "I", "ERIKSSON", "ANNA", false, []ProblemCode{ProblemInvalidDocumentCode}},
		{"P1UTOERIKSSON<<ANNA<<<<<<<<<<<<<<<<<<<<<<<<<", "P1", "ERIKSSON", "ANNA", false, []ProblemCode{ProblemInvalidDocumentCode}},
		{"P<XYZERIKSSON<<ANNA<<<<<<<<<<<<<<<<<<<<<<<<<", "P", "ERIKSSON", "ANNA", false, []ProblemCode{ProblemUnknownState}},
		{"P<D<<ERIKSSON<<ANNA<<<<<<<<<<<<<<<<<<<<<<<<<", "P", "ERIKSSON", "ANNA", false, nil},
		{"P<<<DERIKSSON<<ANNA<<<<<<<<<<<<<<<<<<<<<<<<<", "P", "ERIKSSON", "ANNA", false, []ProblemCode{ProblemUnknownState}},
	}
	for _, tt := range tests {
		d, err := Parse([]string{tt.line1, l2}, WithNow(testNow))
		if err != nil {
			t.Fatal(err)
		}
		var got []ProblemCode
		for _, p := range d.Problems {
			if p.Field != FieldNationality && !p.Code.Notice() {
				got = append(got, p.Code)
			}
		}
		if d.DocumentCode != tt.code || d.PrimaryIdentifier != tt.primary || d.SecondaryIdentifier != tt.secondary ||
			d.NameTruncated != tt.truncated || !slices.Equal(got, tt.problems) {
			t.Errorf("%s: code %q primary %q secondary %q truncated %v problems %v", tt.line1,
				d.DocumentCode, d.PrimaryIdentifier, d.SecondaryIdentifier, d.NameTruncated, got)
		}
	}
}

func TestExtendedDocumentNumber(t *testing.T) {
	t.Parallel()
	l2 := "7408122F1204159UTO<<<<<<<<<<<"
	tests := []struct {
		name     string
		line1    string
		number   string
		optional string
		problem  ProblemCode
	}{
		{"ICAO 9303-11 specimen", "I<UTOD23145890<7349<<<<<<<<<<<", "D23145890734", "", ""},
		{"extension followed by optional data", "I<UTOD23145890<7349<ABC<<<<<<<", "D23145890734", "ABC", ""},
		{"extension fills the field", "I<UTOD23145890<12345678901234" + string(checkDigit("D2314589012345678901234")), "D2314589012345678901234", "", ""},
		{"wrong check digit", "I<UTOD23145890<7340<<<<<<<<<<<", "D23145890734", "", ProblemCheckDigitDocumentNumber},
		{"extension only a check digit", "I<UTOD23145890<7<<<<<<<<<<<<<<", "D23145890", "7", ProblemInvalidDocumentNumber},
		{"no extension at all", "I<UTOD23145890<<<<<<<<<<<<<<<<", "D23145890", "", ProblemInvalidDocumentNumber},
		{"short number with filler check digit", "I<UTOD2314589<<<<<<<<<<<<<<<<<", "D2314589", "", ProblemCheckDigitDocumentNumber},
		{"empty number", "I<UTO<<<<<<<<<<<<<<<<<<<<<<<<<", "", "", ProblemInvalidDocumentNumber},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d, err := Parse([]string{tt.line1, l2 + "0", "ERIKSSON<<ANNA<<<<<<<<<<<<<<<<"}, WithNow(testNow))
			if err != nil {
				t.Fatal(err)
			}
			if d.DocumentNumber != tt.number || d.OptionalData != tt.optional {
				t.Errorf("number %q optional %q; want %q %q", d.DocumentNumber, d.OptionalData, tt.number, tt.optional)
			}
			var got []ProblemCode
			for _, p := range d.Problems {
				if p.Field == FieldDocumentNumber {
					got = append(got, p.Code)
				}
			}
			var want []ProblemCode
			if tt.problem != "" {
				want = append(want, tt.problem)
			}
			if !slices.Equal(got, want) {
				t.Errorf("document-number problems %v, want %v", got, want)
			}
		})
	}
}

func TestDocumentHelpers(t *testing.T) {
	t.Parallel()
	d, err := Parse(mrvaLines, WithNow(testNow))
	if err != nil {
		t.Fatal(err)
	}
	if !d.Expired(testNow) || d.Expired(date(1996, 12, 10)) || !d.Expired(date(1996, 12, 11)) {
		t.Errorf("Expired around 1996-12-10 wrong")
	}
	if !d.Specimen() || !d.Valid() {
		t.Errorf("specimen visa: Specimen %v Valid %v", d.Specimen(), d.Valid())
	}
	if got := d.MRZInformation(); got != "L8988901C44009078961210"+"9" {
		t.Errorf("MRZInformation = %q", got)
	}
	if (&Document{}).Expired(testNow) {
		t.Errorf("a document without expiry date is not expired")
	}
}
