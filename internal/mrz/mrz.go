package mrz

import "time"

// Format is the layout of a machine-readable zone.
type Format string

// Formats of ICAO Doc 9303.
const (
	TD1  Format = "TD1"  // 3×30, identity cards (Part 5)
	TD2  Format = "TD2"  // 2×36, official travel documents (Part 6)
	TD3  Format = "TD3"  // 2×44, passports (Part 4)
	MRVA Format = "MRVA" // 2×44, full-size visa (Part 7)
	MRVB Format = "MRVB" // 2×36, smaller visa (Part 7)
)

// Lines is the number of lines of the format.
func (f Format) Lines() int {
	if f == TD1 {
		return 3
	}
	return 2
}

// Width is the number of characters per line of the format, 0 when unknown.
func (f Format) Width() int {
	switch f {
	case TD1:
		return 30
	case TD2, MRVB:
		return 36
	case TD3, MRVA:
		return 44
	}
	return 0
}

// Sex as written in the zone.
type Sex string

// Values of Sex.
const (
	SexFemale      Sex = "F"
	SexMale        Sex = "M"
	SexUnspecified Sex = "X"
	// SexNotGiven is a filler '<' in the sex position.
	SexNotGiven Sex = ""
)

// Field names a field of a document. The values are stable and may be shown
// to clients (they are names, never values).
type Field string

// Fields of a document.
const (
	FieldDocumentCode   Field = "documentCode"
	FieldIssuingState   Field = "issuingState"
	FieldName           Field = "name"
	FieldSurname        Field = "surname"
	FieldGivenNames     Field = "givenNames"
	FieldDocumentNumber Field = "documentNumber"
	FieldNationality    Field = "nationality"
	FieldBirthDate      Field = "birthDate"
	FieldSex            Field = "sex"
	FieldExpiryDate     Field = "expiryDate"
	FieldOptionalData   Field = "optionalData"
	FieldComposite      Field = "composite"
)

// ProblemCode is a stable code for something suspicious in a zone that
// parsed.
type ProblemCode string

// Problem codes.
const (
	ProblemCheckDigitDocumentNumber ProblemCode = "CHECK_DIGIT_DOCUMENT_NUMBER"
	ProblemCheckDigitBirthDate      ProblemCode = "CHECK_DIGIT_BIRTH_DATE"
	ProblemCheckDigitExpiryDate     ProblemCode = "CHECK_DIGIT_EXPIRY_DATE"
	// ProblemCheckDigitPersonalNumber is the check digit over the TD3
	// personal number (optional data).
	ProblemCheckDigitPersonalNumber ProblemCode = "CHECK_DIGIT_PERSONAL_NUMBER"
	ProblemCheckDigitComposite      ProblemCode = "CHECK_DIGIT_COMPOSITE"
	// ProblemUnknownState: the issuing state or nationality is neither an
	// ISO 3166-1 nor an ICAO 9303-3 code.
	ProblemUnknownState ProblemCode = "UNKNOWN_STATE"
	// ProblemSpecimenState: the issuing state or nationality is UTO, the
	// ICAO specimen state. A notice: it does not make the document invalid.
	ProblemSpecimenState ProblemCode = "SPECIMEN_STATE"
	// ProblemInvalidDate: a birth or expiry date that is not a calendar
	// date (or is partly unknown).
	ProblemInvalidDate ProblemCode = "INVALID_DATE"
	// ProblemInvalidSex: a sex other than F, M, X or '<'.
	ProblemInvalidSex ProblemCode = "INVALID_SEX"
	// ProblemInvalidName: an empty name, digits in the name, or a name that
	// is not "PRIMARY<<SECONDARY<COMPONENTS".
	ProblemInvalidName ProblemCode = "INVALID_NAME"
	// ProblemInvalidDocumentNumber: an empty number, or an extended number
	// whose extension is missing.
	ProblemInvalidDocumentNumber ProblemCode = "INVALID_DOCUMENT_NUMBER"
	// ProblemInvalidDocumentCode: a document code that does not belong to
	// the format (a TD3 not starting with P, a TD1 not starting with A, C
	// or I, a second character that is a digit).
	ProblemInvalidDocumentCode ProblemCode = "INVALID_DOCUMENT_CODE"
)

// Notice reports whether the code is informative only and leaves the
// document valid.
func (c ProblemCode) Notice() bool { return c == ProblemSpecimenState }

// Problem is one suspicious finding. It names the field, never its value.
type Problem struct {
	Code  ProblemCode `json:"code"`
	Field Field       `json:"field"`
}

// CheckDigits are the check characters as printed in the zone ('0'–'9', or
// '<' where the zone has a filler). Zero where the format has none.
type CheckDigits struct {
	DocumentNumber byte
	BirthDate      byte
	ExpiryDate     byte
	// PersonalNumber is the TD3 optional-data check digit.
	PersonalNumber byte
	Composite      byte
}

// Document is a parsed machine-readable zone. Text fields hold the zone's
// characters with trailing filler removed; inside names a '<' between
// components becomes a space.
type Document struct {
	Format Format
	// DocumentCode is one or two characters: "P", "PO", "I", "ID", "V"…
	DocumentCode string
	// IssuingState is the code as written without filler ("UTO", "D", "FRA").
	IssuingState string
	// PrimaryIdentifier is the surname(s), components separated by a space.
	PrimaryIdentifier string
	// SecondaryIdentifier is the given name(s), components separated by a space.
	SecondaryIdentifier string
	// NameTruncated is true when the name fills the field to its last
	// position, so it may have been truncated.
	NameTruncated bool
	// DocumentNumber is the whole number, including the part of an extended
	// (longer than nine characters) number kept in the optional data.
	DocumentNumber string
	Nationality    string
	// BirthDate and ExpiryDate are UTC midnight; zero when the zone's date
	// is invalid (a ProblemInvalidDate is then reported).
	BirthDate  time.Time
	Sex        Sex
	ExpiryDate time.Time
	// OptionalData is the optional data of line 1 (TD1, after any
	// document-number extension), of line 2 (TD2, MRV-A, MRV-B, again after
	// any extension), or the personal number (TD3). Fillers inside are kept.
	OptionalData string
	// OptionalData2 is the optional data of TD1 line 2.
	OptionalData2 string
	CheckDigits   CheckDigits
	// Problems found while parsing; empty for a clean document.
	Problems []Problem
}

// Valid reports whether the document has no problem other than a notice.
func (d *Document) Valid() bool {
	for _, p := range d.Problems {
		if !p.Code.Notice() {
			return false
		}
	}
	return true
}

// Has reports whether the document has a problem with code.
func (d *Document) Has(code ProblemCode) bool {
	for _, p := range d.Problems {
		if p.Code == code {
			return true
		}
	}
	return false
}

// Specimen reports whether the issuing state or nationality is the ICAO
// specimen state.
func (d *Document) Specimen() bool { return d.Has(ProblemSpecimenState) }

// Expired reports whether the expiry date is before the day of now (UTC).
// A document whose expiry date is invalid is not reported as expired.
func (d *Document) Expired(now time.Time) bool {
	if d.ExpiryDate.IsZero() {
		return false
	}
	return d.ExpiryDate.Before(midnight(now))
}

// MRZInformation is the document number, date of birth and date of expiry,
// each followed by its check digit: the key seed of Basic Access Control
// (ICAO 9303-11). For an extended number the whole number and the check
// digit from the optional data are used. It is personal data.
func (d *Document) MRZInformation() string {
	return d.DocumentNumber + string(d.CheckDigits.DocumentNumber) +
		formatDate(d.BirthDate) + string(d.CheckDigits.BirthDate) +
		formatDate(d.ExpiryDate) + string(d.CheckDigits.ExpiryDate)
}

func (d *Document) addProblem(code ProblemCode, field Field) {
	d.Problems = append(d.Problems, Problem{Code: code, Field: field})
}

func midnight(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

// formatDate writes YYMMDD, or six fillers for the zero time.
func formatDate(t time.Time) string {
	if t.IsZero() {
		return "<<<<<<"
	}
	return t.UTC().Format("060102")
}
