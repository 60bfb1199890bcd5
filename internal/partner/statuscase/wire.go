package statuscase

import "time"

// Wire format of the status-case service (modelled on US SAVE): a case is
// opened, then polled until it is resolved. The simulator serves the same
// types.

// Paths below the base URL.
const (
	CasesPath    = "/api/v2/cases" // POST to open, GET CasesPath/{caseNumber} to poll
	APIKeyHeader = "X-API-Key"
)

// Case statuses.
const (
	StatusInitialPending         = "INITIAL_PENDING"
	StatusAdditionalVerification = "ADDITIONAL_VERIFICATION_REQUIRED"
	StatusResubmit               = "RESUBMIT_WITH_DOCUMENTS"
	StatusVerified               = "VERIFIED_STATUS"
)

// Eligibility statements of a verified case.
const (
	StatementLawfulStatus   = "LAWFUL_STATUS"
	StatementNoLawfulStatus = "NO_LAWFUL_STATUS"
	StatementUnableToVerify = "UNABLE_TO_VERIFY"
)

// InitiateRequest opens a case. RequestID is our check id: opening a case
// with a RequestID already seen returns that case (200 instead of 201).
type InitiateRequest struct {
	RequestID string    `json:"requestId"`
	Applicant Applicant `json:"applicant"`
	Document  CaseDoc   `json:"document"`
	Benefit   string    `json:"benefit"`
}

// Applicant identifies the person.
type Applicant struct {
	LastName    string `json:"lastName"`
	FirstName   string `json:"firstName"`
	DateOfBirth string `json:"dateOfBirth"` // YYYY-MM-DD
}

// CaseDoc is the immigration document.
type CaseDoc struct {
	TypeCode          string `json:"typeCode"`
	Number            string `json:"number"`
	CountryOfIssuance string `json:"countryOfIssuance"`
}

// Case is the answer to opening and to polling.
type Case struct {
	CaseNumber string    `json:"caseNumber"`
	RequestID  string    `json:"requestId"`
	Status     string    `json:"status"`
	CreatedAt  time.Time `json:"createdAt"`
	AsOf       time.Time `json:"asOf"`
	// NextPollSeconds is when to ask again, while pending.
	NextPollSeconds     int          `json:"nextPollSeconds,omitempty"`
	EstimatedCompletion *time.Time   `json:"estimatedCompletion,omitempty"`
	Eligibility         *Eligibility `json:"eligibility,omitempty"`
}

// Eligibility is the resolution of a verified case.
type Eligibility struct {
	Statement     string `json:"statement"`
	Class         string `json:"class,omitempty"`
	AdmittedUntil string `json:"admittedUntil,omitempty"` // YYYY-MM-DD; empty: indefinite
}

// Fault is the service's error body.
type Fault struct {
	Fault FaultDetail `json:"fault"`
}

// FaultDetail holds the code (E1001 …) and text.
type FaultDetail struct {
	FaultCode   string `json:"faultCode"`
	FaultString string `json:"faultString"`
}
