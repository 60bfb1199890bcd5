package verification

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/borderproof/borderproof/internal/country"
	"github.com/borderproof/borderproof/internal/errs"
	"github.com/borderproof/borderproof/internal/mrz"
	"github.com/borderproof/borderproof/internal/risk"
)

// Limits on input sizes.
const (
	MaxNameLength     = 200
	MaxDocuments      = 5
	MaxMetadataBytes  = 4096
	MaxReferenceChars = 200
	MaxIdempotencyKey = 255
)

// Enumerations the input accepts.
var (
	DocumentTypes = []string{"PASSPORT", "NATIONAL_ID", "VISA", "RESIDENCE_PERMIT"}
	Sexes         = []string{"F", "M", "X"}
	LawfulBases   = []string{"CONSENT", "CONTRACT", "LEGAL_OBLIGATION", "LEGITIMATE_INTEREST"}
	Purposes      = []string{"UNDERWRITING", "CLAIMS", "RENEWAL", "FRAUD_INVESTIGATION"}
)

// SubmitInput is a request to verify one policyholder. Dates are strings
// (YYYY-MM-DD) so that a bad one is reported with its path.
type SubmitInput struct {
	IdempotencyKey    string          `json:"-"`
	ExternalReference string          `json:"externalReference,omitempty"`
	Policyholder      Policyholder    `json:"policyholder"`
	Documents         []Document      `json:"documents"`
	Policy            *PolicyInput    `json:"policy,omitempty"`
	Consent           ConsentInput    `json:"consent"`
	Checks            []string        `json:"checks,omitempty"`
	Metadata          json.RawMessage `json:"metadata,omitempty"`
}

// PolicyInput is the insurance policy the verification is for.
type PolicyInput struct {
	Reference       string `json:"reference,omitempty"`
	Product         string `json:"product,omitempty"`
	CoverageCountry string `json:"coverageCountry,omitempty"`
	StartDate       string `json:"startDate,omitempty"`
	EndDate         string `json:"endDate,omitempty"`
}

// ConsentInput is the policyholder's consent or other lawful basis.
type ConsentInput struct {
	Reference   string    `json:"reference"`
	ObtainedAt  time.Time `json:"obtainedAt"`
	LawfulBasis string    `json:"lawfulBasis"`
	Purposes    []string  `json:"purposes"`
}

// normalise trims and upper-cases what is case-insensitive, so that the
// same request always hashes the same.
func (in *SubmitInput) normalise() {
	up := func(s string) string { return strings.ToUpper(strings.TrimSpace(s)) }
	in.IdempotencyKey = strings.TrimSpace(in.IdempotencyKey)
	in.ExternalReference = strings.TrimSpace(in.ExternalReference)
	p := &in.Policyholder
	p.GivenNames = collapse(p.GivenNames)
	p.Surname = collapse(p.Surname)
	p.DateOfBirth = strings.TrimSpace(p.DateOfBirth)
	p.Nationality = up(p.Nationality)
	p.Sex = up(p.Sex)
	p.ResidenceCountry = up(p.ResidenceCountry)
	for i := range in.Documents {
		d := &in.Documents[i]
		d.Type = up(d.Type)
		d.Number = strings.NewReplacer(" ", "", "-", "").Replace(up(d.Number))
		d.IssuingCountry = up(d.IssuingCountry)
		d.ExpiryDate = strings.TrimSpace(d.ExpiryDate)
		for j := range d.MRZ {
			d.MRZ[j] = strings.TrimSpace(d.MRZ[j])
		}
	}
	if in.Policy != nil {
		in.Policy.Reference = strings.TrimSpace(in.Policy.Reference)
		in.Policy.Product = up(in.Policy.Product)
		in.Policy.CoverageCountry = up(in.Policy.CoverageCountry)
		in.Policy.StartDate = strings.TrimSpace(in.Policy.StartDate)
		in.Policy.EndDate = strings.TrimSpace(in.Policy.EndDate)
	}
	in.Consent.Reference = strings.TrimSpace(in.Consent.Reference)
	in.Consent.LawfulBasis = up(in.Consent.LawfulBasis)
	in.Consent.ObtainedAt = in.Consent.ObtainedAt.UTC()
	for i := range in.Consent.Purposes {
		in.Consent.Purposes[i] = up(in.Consent.Purposes[i])
	}
	for i := range in.Checks {
		in.Checks[i] = up(in.Checks[i])
	}
}

func collapse(s string) string { return strings.Join(strings.Fields(s), " ") }

// Validate reports every bad field at once, by path. now anchors the date
// rules. It normalises the input first.
func (in *SubmitInput) Validate(now time.Time) error {
	in.normalise()
	var f errs.Fields
	if len(in.IdempotencyKey) > MaxIdempotencyKey {
		f.Add("idempotencyKey", "must be at most %d characters", MaxIdempotencyKey)
	}
	if len([]rune(in.ExternalReference)) > MaxReferenceChars {
		f.Add("externalReference", "must be at most %d characters", MaxReferenceChars)
	}
	today := now.UTC().Truncate(24 * time.Hour)

	p := in.Policyholder
	checkName(&f, "policyholder.surname", p.Surname, true)
	checkName(&f, "policyholder.givenNames", p.GivenNames, false)
	if dob, ok := checkDate(&f, "policyholder.dateOfBirth", p.DateOfBirth, true); ok {
		if !dob.Before(today) {
			f.Add("policyholder.dateOfBirth", "must be in the past")
		} else if dob.Year() < 1900 {
			f.Add("policyholder.dateOfBirth", "must be after 1900-01-01")
		}
	}
	checkCountry(&f, "policyholder.nationality", p.Nationality, true)
	checkCountry(&f, "policyholder.residenceCountry", p.ResidenceCountry, true)
	if !slices.Contains(Sexes, p.Sex) {
		f.Add("policyholder.sex", "must be F, M or X")
	}

	if len(in.Documents) == 0 {
		f.Add("documents", "at least one document is required")
	}
	if len(in.Documents) > MaxDocuments {
		f.Add("documents", "at most %d documents", MaxDocuments)
	}
	for i, d := range in.Documents {
		path := fmt.Sprintf("documents[%d]", i)
		if !slices.Contains(DocumentTypes, d.Type) {
			f.Add(path+".type", "must be one of %s", strings.Join(DocumentTypes, ", "))
		}
		if d.Number == "" || len(d.Number) > 20 || strings.IndexFunc(d.Number, func(r rune) bool {
			return !(r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
		}) >= 0 {
			f.Add(path+".number", "must be 1 to 20 letters and digits")
		}
		checkCountry(&f, path+".issuingCountry", d.IssuingCountry, true)
		// A past expiry date is a fraud signal, not an input error.
		checkDate(&f, path+".expiryDate", d.ExpiryDate, true)
		if len(d.MRZ) > 0 {
			if _, err := mrz.Parse(d.MRZ, mrz.WithNow(now)); err != nil {
				msg := "is not a machine-readable zone"
				if e, ok := errs.As(err); ok && e.Msg != "" {
					msg = e.Msg
				}
				f.Add(path+".mrz", "%s", msg)
			}
		}
	}

	if pol := in.Policy; pol != nil {
		if len([]rune(pol.Reference)) > MaxReferenceChars {
			f.Add("policy.reference", "must be at most %d characters", MaxReferenceChars)
		}
		if pol.Product != "" && !risk.Product(pol.Product).Known() {
			f.Add("policy.product", "must be HEALTH, LIFE, TRAVEL, PROPERTY or MOTOR")
		}
		checkCountry(&f, "policy.coverageCountry", pol.CoverageCountry, false)
		start, okS := checkDate(&f, "policy.startDate", pol.StartDate, false)
		end, okE := checkDate(&f, "policy.endDate", pol.EndDate, false)
		if okS && okE && !start.IsZero() && !end.IsZero() && end.Before(start) {
			f.Add("policy.endDate", "must not be before the start date")
		}
	}

	c := in.Consent
	if c.Reference == "" || len([]rune(c.Reference)) > MaxReferenceChars {
		f.Add("consent.reference", "must be 1 to %d characters", MaxReferenceChars)
	}
	if c.ObtainedAt.IsZero() {
		f.Add("consent.obtainedAt", "is required")
	} else if c.ObtainedAt.After(now.Add(5 * time.Minute)) {
		f.Add("consent.obtainedAt", "must not be in the future")
	}
	if !slices.Contains(LawfulBases, c.LawfulBasis) {
		f.Add("consent.lawfulBasis", "must be one of %s", strings.Join(LawfulBases, ", "))
	}
	if len(c.Purposes) == 0 {
		f.Add("consent.purposes", "at least one purpose is required")
	}
	for i, p := range c.Purposes {
		if !slices.Contains(Purposes, p) {
			f.Add(fmt.Sprintf("consent.purposes[%d]", i), "must be one of %s", strings.Join(Purposes, ", "))
		}
	}
	seen := map[string]bool{}
	for i, ct := range in.Checks {
		switch {
		case !risk.CheckType(ct).Known():
			f.Add(fmt.Sprintf("checks[%d]", i), "unknown check type")
		case seen[ct]:
			f.Add(fmt.Sprintf("checks[%d]", i), "listed twice")
		}
		seen[ct] = true
	}
	if len(in.Metadata) > 0 {
		if len(in.Metadata) > MaxMetadataBytes {
			f.Add("metadata", "must be at most %d bytes", MaxMetadataBytes)
		} else if !json.Valid(in.Metadata) || in.Metadata[0] != '{' {
			f.Add("metadata", "must be a JSON object")
		}
	}
	return f.Err()
}

func checkName(f *errs.Fields, path, s string, required bool) {
	if s == "" {
		if required {
			f.Add(path, "is required")
		}
		return
	}
	if len([]rune(s)) > MaxNameLength {
		f.Add(path, "must be at most %d characters", MaxNameLength)
		return
	}
	for _, r := range s {
		if unicode.IsLetter(r) && !unicode.Is(unicode.Latin, r) {
			f.Add(path, "must be written in Latin script (transliterate as in ICAO 9303; other scripts are not supported yet)")
			return
		}
		if !unicode.IsLetter(r) && !unicode.IsMark(r) && !strings.ContainsRune(" -'.,", r) {
			f.Add(path, "may hold letters, spaces, hyphens, apostrophes and full stops only")
			return
		}
	}
}

func checkDate(f *errs.Fields, path, s string, required bool) (time.Time, bool) {
	if s == "" {
		if required {
			f.Add(path, "is required")
			return time.Time{}, false
		}
		return time.Time{}, true
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		f.Add(path, "must be a real date in the form YYYY-MM-DD")
		return time.Time{}, false
	}
	return t, true
}

func checkCountry(f *errs.Fields, path, code string, required bool) {
	if code == "" {
		if required {
			f.Add(path, "is required")
		}
		return
	}
	if !country.Valid(code) && code != mrz.SpecimenState {
		f.Add(path, "must be an ISO 3166-1 alpha-3 or ICAO 9303 country code")
	}
}

// Hash is the request's fingerprint for idempotent replays: the same
// normalised input always hashes the same.
func (in *SubmitInput) Hash() string {
	b, _ := json.Marshal(in)
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}
