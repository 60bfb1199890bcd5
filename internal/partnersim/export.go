package partnersim

import (
	"bufio"
	"encoding/json"
	"io"
	"time"

	"github.com/borderproof/borderproof/internal/errs"
)

// ExportRecord is one line of the export: the shape of the GraphQL
// SubmitVerificationInput plus the ground-truth label.
type ExportRecord struct {
	IdempotencyKey string           `json:"idempotencyKey"`
	Policyholder   ExportHolder     `json:"policyholder"`
	Documents      []ExportDocument `json:"documents"`
	Policy         ExportPolicy     `json:"policy"`
	Consent        ExportConsent    `json:"consent"`
	Checks         []string         `json:"checks"`
	Label          Label            `json:"label"`
}

// ExportHolder is the policyholder.
type ExportHolder struct {
	GivenNames       string `json:"givenNames"`
	Surname          string `json:"surname"`
	DateOfBirth      string `json:"dateOfBirth"`
	Nationality      string `json:"nationality"`
	Sex              string `json:"sex"`
	ResidenceCountry string `json:"residenceCountry"`
}

// ExportDocument is one document.
type ExportDocument struct {
	Type           string   `json:"type"`
	Number         string   `json:"number"`
	IssuingCountry string   `json:"issuingCountry"`
	ExpiryDate     string   `json:"expiryDate"`
	MRZ            []string `json:"mrz"`
}

// ExportPolicy is the policy.
type ExportPolicy struct {
	Reference       string `json:"reference"`
	Product         string `json:"product"`
	CoverageCountry string `json:"coverageCountry"`
	StartDate       string `json:"startDate"`
	EndDate         string `json:"endDate,omitempty"`
}

// ExportConsent is the consent record.
type ExportConsent struct {
	Reference   string   `json:"reference"`
	ObtainedAt  string   `json:"obtainedAt"`
	LawfulBasis string   `json:"lawfulBasis"`
	Purposes    []string `json:"purposes"`
}

// Record returns the export record of p.
func (p *Person) Record() ExportRecord {
	docs := []ExportDocument{exportDoc(p.Passport)}
	if p.Visa != nil {
		docs = append(docs, exportDoc(p.Visa.Document))
	}
	pol := ExportPolicy{Reference: p.Policy.Reference, Product: p.Policy.Product,
		CoverageCountry: p.Policy.CoverageCountry, StartDate: date(p.Policy.StartDate)}
	if !p.Policy.EndDate.IsZero() {
		pol.EndDate = date(p.Policy.EndDate)
	}
	return ExportRecord{
		IdempotencyKey: "sim-" + p.Policy.Reference,
		Policyholder: ExportHolder{GivenNames: p.GivenNames, Surname: p.Surname, DateOfBirth: date(p.DateOfBirth),
			Nationality: p.Nationality, Sex: p.Sex, ResidenceCountry: p.ResidenceCountry},
		Documents: docs,
		Policy:    pol,
		Consent: ExportConsent{Reference: p.Consent.Reference, ObtainedAt: p.Consent.ObtainedAt.UTC().Format(time.RFC3339),
			LawfulBasis: p.Consent.LawfulBasis, Purposes: p.Consent.Purposes},
		Checks: p.Checks,
		Label:  p.Label,
	}
}

func exportDoc(d Document) ExportDocument {
	return ExportDocument{Type: d.Type, Number: d.Number, IssuingCountry: d.IssuingCountry, ExpiryDate: date(d.ExpiryDate), MRZ: d.MRZ}
}

func date(t time.Time) string { return t.Format(time.DateOnly) }

// WriteExport writes the population as JSON lines, one ExportRecord per
// person in population order. The same population gives the same bytes.
func WriteExport(w io.Writer, pop *Population) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	for _, p := range pop.People {
		if err := enc.Encode(p.Record()); err != nil {
			return errs.Wrap(err, errs.Internal, "cannot write export")
		}
	}
	if err := bw.Flush(); err != nil {
		return errs.Wrap(err, errs.Internal, "cannot write export")
	}
	return nil
}
