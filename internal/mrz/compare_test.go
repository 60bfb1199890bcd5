package mrz

import (
	"slices"
	"testing"
	"time"
)

func mustParse(t *testing.T, lines ...string) *Document {
	t.Helper()
	d, err := Parse(lines, WithNow(testNow))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestCompare(t *testing.T) {
	t.Parallel()
	anna := mustParse(t, "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<", "L898902C36UTO7408122F1204159ZE184226B<<<<<10")
	prt := mustParse(t, "I<PRT007777779<ZZ92<<<<<<<<<<<", "8303143M3405282PRT<<<<<<<<<<<2", "CACADOR<DE<ARAUJO<<ANDRE<ESTEV")
	erika := mustParse(t, "P<D<<MUSTERMANN<<ERIKA<<<<<<<<<<<<<<<<<<<<<<", "C01X0006H1D<<6408125F1710319<<<<<<<<<<<<<<<0")
	mueller := mustParse(t, mustLines(Encode(Document{Format: TD3, IssuingState: "D", Nationality: "D", DocumentNumber: "C01X0006H",
		PrimaryIdentifier: "Müller", SecondaryIdentifier: "Jürgen", BirthDate: date(1964, 8, 12), Sex: SexNotGiven, ExpiryDate: date(2030, 1, 1)}))...)
	muller := mustParse(t, mustLines(Encode(Document{Format: TD3, IssuingState: "CHE", Nationality: "CHE", DocumentNumber: "C01X0006H",
		PrimaryIdentifier: "MULLER", SecondaryIdentifier: "JURGEN", BirthDate: date(1964, 8, 12), Sex: SexUnspecified, ExpiryDate: date(2030, 1, 1)}))...)
	ivanov := mustParse(t, mustLines(Encode(Document{Format: TD3, IssuingState: "RUS", Nationality: "RUS", DocumentNumber: "721234567",
		PrimaryIdentifier: "IVANOV", SecondaryIdentifier: "PETR", BirthDate: date(1980, 1, 1), Sex: SexMale, ExpiryDate: date(2030, 1, 1)}))...)
	badDate := mustParse(t, td3With(t, "741312", "F", "300101")...)

	berlin := time.FixedZone("CEST", 2*3600)
	tests := []struct {
		name  string
		doc   *Document
		typed Typed
		want  []Field
	}{
		{"everything matches", anna, Typed{
			Surname: "Eriksson", GivenNames: "Anna Maria", BirthDate: date(1974, 8, 12), DocumentNumber: "L898902C3",
			ExpiryDate: date(2012, 4, 15), Nationality: "UTO", Sex: "f",
		}, nil},
		{"nothing typed", anna, Typed{}, nil},
		{"hyphenated given names", anna, Typed{GivenNames: "Anna-Maria"}, nil},
		{"date in another zone, same day", anna, Typed{BirthDate: time.Date(1974, 8, 12, 0, 0, 0, 0, berlin)}, nil},
		{"formatted document number", anna, Typed{DocumentNumber: "l898-902 c3"}, nil},
		{"every field differs", anna, Typed{
			Surname: "Eriksen", GivenNames: "Anna", BirthDate: date(1974, 8, 13), DocumentNumber: "L898902C4",
			ExpiryDate: date(2013, 4, 15), Nationality: "SWE", Sex: SexMale,
		}, []Field{FieldSurname, FieldGivenNames, FieldBirthDate, FieldDocumentNumber, FieldExpiryDate, FieldNationality, FieldSex}},
		{"truncated given names accept the full name", prt, Typed{Surname: "Caçador de Araújo", GivenNames: "André Estevão"}, nil},
		{"truncated given names still compare the prefix", prt, Typed{GivenNames: "André Esteban"}, []Field{FieldGivenNames}},
		{"an untruncated name is not a prefix", anna, Typed{GivenNames: "Anna Marianne"}, []Field{FieldGivenNames}},
		{"extended document number", prt, Typed{DocumentNumber: "007777779ZZ9", Nationality: "PT"}, nil},
		{"D is DEU is DE", erika, Typed{Nationality: "DEU"}, nil},
		{"D is DE", erika, Typed{Nationality: "de"}, nil},
		{"D is not FRA", erika, Typed{Nationality: "FRA"}, []Field{FieldNationality}},
		{"Ü written UE", mueller, Typed{Surname: "Müller", GivenNames: "Jürgen"}, nil},
		{"Ü written U", muller, Typed{Surname: "Müller", GivenNames: "Jürgen"}, nil},
		{"UE is not U", mueller, Typed{Surname: "Muller"}, []Field{FieldSurname}},
		{"X matches an unspecified sex", mueller, Typed{Sex: SexUnspecified}, nil},
		{"F does not match an unspecified sex", mueller, Typed{Sex: SexFemale}, []Field{FieldSex}},
		{"X in the zone", muller, Typed{Sex: SexUnspecified}, nil},
		{"Cyrillic typed name", ivanov, Typed{Surname: "Иванов", GivenNames: "Пётр"}, nil},
		{"untransliterable typed name", ivanov, Typed{Surname: "王"}, []Field{FieldSurname}},
		{"unreadable zone date never matches", badDate, Typed{BirthDate: date(1974, 12, 13)}, []Field{FieldBirthDate}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := Compare(tt.doc, tt.typed)
			var fields []Field
			for _, m := range got {
				fields = append(fields, m.Field)
				for _, r := range m.Code {
					if (r < 'A' || r > 'Z') && r != '_' {
						t.Errorf("code %q is not a stable upper-case code", m.Code)
					}
				}
			}
			if !slices.Equal(fields, tt.want) {
				t.Errorf("mismatches %v, want %v", got, tt.want)
			}
		})
	}
}

// mustLines returns lines or panics; for fixtures only.
func mustLines(lines []string, err error) []string {
	if err != nil {
		panic(err)
	}
	return lines
}
