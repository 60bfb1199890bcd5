// Package verification is the heart of the domain: a verification of one
// policyholder, its checks, the status machine they follow, and the service
// that submits, reads, cancels and erases them. It imports no transport.
package verification

import (
	"encoding/json"
	"time"

	"github.com/borderproof/borderproof/internal/risk"
)

// Status is where a verification stands.
type Status string

// Verification statuses.
const (
	StatusQueued          Status = "QUEUED"
	StatusRunning         Status = "RUNNING"
	StatusAwaitingPartner Status = "AWAITING_PARTNER"
	StatusCompleted       Status = "COMPLETED"
	StatusFailed          Status = "FAILED"
	StatusCancelled       Status = "CANCELLED"
)

// Statuses lists every status in a stable order.
var Statuses = []Status{StatusQueued, StatusRunning, StatusAwaitingPartner, StatusCompleted, StatusFailed, StatusCancelled}

// Terminal reports whether the status never changes again.
func (s Status) Terminal() bool {
	return s == StatusCompleted || s == StatusFailed || s == StatusCancelled
}

// transitions is the one status machine; every change goes through CanMove.
var transitions = map[Status][]Status{
	StatusQueued:          {StatusRunning, StatusAwaitingPartner, StatusCompleted, StatusFailed, StatusCancelled},
	StatusRunning:         {StatusAwaitingPartner, StatusCompleted, StatusFailed, StatusCancelled},
	StatusAwaitingPartner: {StatusRunning, StatusCompleted, StatusFailed, StatusCancelled},
}

// CanMove reports whether from → to is allowed. Staying put is allowed for
// non-terminal statuses (a retry records the same status again).
func CanMove(from, to Status) bool {
	if from == to {
		return !from.Terminal()
	}
	for _, s := range transitions[from] {
		if s == to {
			return true
		}
	}
	return false
}

// checkTransitions is the status machine of one check.
var checkTransitions = map[risk.CheckStatus][]risk.CheckStatus{
	risk.CheckPending:         {risk.CheckAwaitingPartner, risk.CheckCompleted, risk.CheckFailed, risk.CheckSkipped},
	risk.CheckAwaitingPartner: {risk.CheckCompleted, risk.CheckFailed, risk.CheckSkipped},
}

// CanMoveCheck reports whether a check may go from → to.
func CanMoveCheck(from, to risk.CheckStatus) bool {
	if from == to {
		return !from.Terminal()
	}
	for _, s := range checkTransitions[from] {
		if s == to {
			return true
		}
	}
	return false
}

// Verification is one request to verify a policyholder. It holds no
// personal data: that is sealed, and opened only by Service.Policyholder.
type Verification struct {
	ID                string
	InsurerID         string
	Mode              string
	Status            Status
	ExternalReference string
	IdempotencyKey    string
	RequestHash       string
	APIKeyID          string
	Product           string
	CoverageCountry   string
	PolicyStart       string
	PolicyEnd         string
	Metadata          json.RawMessage
	DeadlineAt        time.Time
	Outcome           *risk.Outcome
	Review            *Review
	Checks            []Check
	Consent           Consent
	CreatedAt         time.Time
	UpdatedAt         time.Time
	CompletedAt       time.Time
	CancelledAt       time.Time
	ErasedAt          time.Time
	ErasedBy          string
	EraseReason       string
}

// Erased reports whether the verification's personal data is gone.
func (v *Verification) Erased() bool { return !v.ErasedAt.IsZero() }

// Review is an underwriter's decision on a REVIEW outcome.
type Review struct {
	Decision   string
	ReviewedBy string
	ReviewedAt time.Time
	Note       string
}

// Check is one check of a verification.
type Check struct {
	ID               string
	VerificationID   string
	InsurerID        string
	Type             risk.CheckType
	Status           risk.CheckStatus
	Partner          string
	Outcome          string
	Signals          []risk.Signal
	Reason           string
	PartnerReference string
	// EvidenceKey is where an earlier version stored the sealed partner
	// answer as a blob; EvidenceSHA256 (hex) names the sealed answer
	// recorded with the result, which the evidence bundle holds. Either
	// set: the partner's answer is kept.
	EvidenceKey    string
	EvidenceSHA256 string
	Attempts       int
	PollAfter      time.Time
	CreatedAt      time.Time
	UpdatedAt      time.Time
	CompletedAt    time.Time
}

// Consent is the ledger entry recorded with each submission.
type Consent struct {
	ID          string
	Reference   string
	ObtainedAt  time.Time
	LawfulBasis string
	Purposes    []string
}

// PII is everything personal about a verification. It exists in clear only
// in memory; at rest it is sealed under the verification's own key.
type PII struct {
	Policyholder    Policyholder `json:"policyholder"`
	Documents       []Document   `json:"documents"`
	PolicyReference string       `json:"policyReference,omitempty"`
}

// Policyholder is the person being verified.
type Policyholder struct {
	GivenNames       string `json:"givenNames"`
	Surname          string `json:"surname"`
	DateOfBirth      string `json:"dateOfBirth"`
	Nationality      string `json:"nationality"`
	Sex              string `json:"sex"`
	ResidenceCountry string `json:"residenceCountry"`
}

// Document is an identity or travel document.
type Document struct {
	Type           string   `json:"type"`
	Number         string   `json:"number"`
	IssuingCountry string   `json:"issuingCountry"`
	ExpiryDate     string   `json:"expiryDate"`
	MRZ            []string `json:"mrz,omitempty"`
}

// Page is one page of a list with its continuation.
type Page struct {
	Items       []Verification
	HasNext     bool
	EndCursor   string
	StartCursor string
}

// Filter narrows a list of verifications.
type Filter struct {
	Status            Status
	Decision          string
	ExternalReference string
	CreatedFrom       time.Time
	CreatedTo         time.Time
}
