// Package partner is the boundary between BorderProof and the immigration and
// border services it consults: the Partner interface every protocol client
// implements, the registry built from the partners config file, the
// resilience layer (timeouts, retries, circuit breaker, rate limit, in-flight
// bound, metrics) and the data-sharing rules that decide which personal
// fields a partner may receive.
//
// The worker's path for one check is:
//
//	d := rules.Decide(input)                     // may the check run, with which fields
//	req, err := partner.Prepare(ctx, d, full, b) // minimise and blind
//	audit.RecordPartnerShare(ctx, partner.NewAuditRecord(...))
//	res, err := registry.Get(name).Check(ctx, req) // through Resilient
//
// Client packages live in internal/partner/<protocol>.
package partner

import (
	"context"
	"time"

	"github.com/borderproof/borderproof/internal/risk"
)

// CheckType names a kind of check. DOCUMENT_MRZ runs locally and never
// reaches a partner.
type CheckType string

// Check types.
const (
	CheckDocumentMRZ       CheckType = "DOCUMENT_MRZ"
	CheckDocumentRegistry  CheckType = "DOCUMENT_REGISTRY"
	CheckImmigrationStatus CheckType = "IMMIGRATION_STATUS"
	CheckBorderMovements   CheckType = "BORDER_MOVEMENTS"
	CheckWatchlist         CheckType = "WATCHLIST"
)

// Outcome summarises a partner's answer. The risk engine scores the signals;
// the outcome tells the worker what to do next.
type Outcome string

// Outcomes.
const (
	// OutcomeClear: the partner answered and found nothing of note.
	OutcomeClear Outcome = "CLEAR"
	// OutcomeConsider: the answer carries signals worth a look.
	OutcomeConsider Outcome = "CONSIDER"
	// OutcomeAlert: the answer carries a strong adverse signal.
	OutcomeAlert Outcome = "ALERT"
	// OutcomeUnavailable: the partner could not give an answer (it said so,
	// not a transport failure); terminal for this check.
	OutcomeUnavailable Outcome = "UNAVAILABLE"
	// OutcomeAwaiting: the partner opened a case; poll Reference again at
	// or after PollAfter.
	OutcomeAwaiting Outcome = "AWAITING"
)

// Terminal reports whether no further poll is needed.
func (o Outcome) Terminal() bool { return o != OutcomeAwaiting }

// Product is the insurance product a policy belongs to.
type Product string

// Products.
const (
	ProductHealth   Product = "HEALTH"
	ProductLife     Product = "LIFE"
	ProductTravel   Product = "TRAVEL"
	ProductProperty Product = "PROPERTY"
	ProductMotor    Product = "MOTOR"
)

// LawfulBasis is the GDPR Article 6 basis the insurer relies on.
type LawfulBasis string

// Lawful bases.
const (
	BasisConsent            LawfulBasis = "CONSENT"
	BasisContract           LawfulBasis = "CONTRACT"
	BasisLegalObligation    LawfulBasis = "LEGAL_OBLIGATION"
	BasisLegitimateInterest LawfulBasis = "LEGITIMATE_INTEREST"
)

// Purpose is why the insurer processes the data.
type Purpose string

// Purposes.
const (
	PurposeUnderwriting       Purpose = "UNDERWRITING"
	PurposeClaims             Purpose = "CLAIMS"
	PurposeRenewal            Purpose = "RENEWAL"
	PurposeFraudInvestigation Purpose = "FRAUD_INVESTIGATION"
)

// Subject holds the policyholder fields a partner may receive. Every field
// is optional: Minimise leaves only those the rules allow.
type Subject struct {
	GivenNames       string
	Surname          string
	DateOfBirth      time.Time // a civil date, UTC midnight; zero when absent
	Nationality      string    // ISO 3166-1 alpha-3
	Sex              string    // F, M or X
	ResidenceCountry string    // ISO 3166-1 alpha-3
	// HolderBlinded is the keyed digest of surname and date of birth
	// (BlindHolder), sent instead of the clear values in privacy mode.
	HolderBlinded string
}

// Document holds the identity document fields a partner may receive.
type Document struct {
	Type           string // PASSPORT, NATIONAL_ID, VISA, RESIDENCE_PERMIT
	Number         string
	NumberBlinded  string // keyed digest of the number (BlindDocumentNumber)
	IssuingCountry string // ISO 3166-1 alpha-3 (or an ICAO code such as D)
	ExpiryDate     time.Time
}

// Request is what one check sends to one partner, after Minimise. Subject,
// Document and ConsentReference are personal data and minimised; the rest is
// context every partner may see.
type Request struct {
	// CheckID is the partner-side idempotency key.
	CheckID   string
	CheckType CheckType

	Subject          Subject
	Document         Document
	ConsentReference string

	LawfulBasis     LawfulBasis
	Purposes        []Purpose
	Product         Product
	CoverageCountry string
	PolicyStart     time.Time
	PolicyEnd       time.Time // zero: open-ended
}

// Result is a partner's normalised answer.
type Result struct {
	Outcome Outcome
	Signals []risk.Signal
	// Reference is the partner's reference: a case number for asynchronous
	// partners (pass it to Poll), an enquiry id otherwise.
	Reference string
	// PollAfter is set when Outcome is AWAITING.
	PollAfter time.Time
	// Evidence is the partner's raw answer, byte for byte; it holds personal
	// data and must be sealed before storage.
	Evidence []byte
	// Billable reports whether the partner charges for this call.
	Billable bool
	// Detail holds non-personal specifics (list version, partner status
	// code); never names, dates of birth or document numbers.
	Detail map[string]string
}

// Partner is one partner service behind one protocol client.
type Partner interface {
	// Name is the partner's configured name (also the metrics label).
	Name() string
	// Jurisdiction is where the partner processes data: ISO 3166-1
	// alpha-3, or "EU" for an EU institution.
	Jurisdiction() string
	// Check sends req and returns the normalised answer. An asynchronous
	// partner returns OutcomeAwaiting with a Reference to poll.
	Check(ctx context.Context, req Request) (Result, error)
	// Poll asks again about a case opened by Check. Synchronous partners
	// return an errs.FailedPrecondition error.
	Poll(ctx context.Context, ref string) (Result, error)
}

// Idempotency is implemented by clients that know whether Check may be
// repeated safely. A client that sends the check id as the partner's
// idempotency key (or whose call is read-only) returns true. The resilience
// layer retries Check only when this is true or the partner certainly did
// not process the attempt (a 429 answer, a refused connection). Poll is
// always safe to retry. A client that does not implement it is treated as
// not idempotent.
type Idempotency interface {
	IdempotentCheck() bool
}

// OutcomeFor picks the outcome for a completed answer: ALERT when any signal
// is in alert, CONSIDER when there are other signals, CLEAR otherwise.
func OutcomeFor(signals []risk.Signal, alert ...risk.SignalCode) Outcome {
	if len(signals) == 0 {
		return OutcomeClear
	}
	for _, s := range signals {
		for _, a := range alert {
			if s.Code == a {
				return OutcomeAlert
			}
		}
	}
	return OutcomeConsider
}
