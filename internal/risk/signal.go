package risk

import "math"

// SignalCode names one fact a check established about a verification. Codes
// are stable forever: they reach clients inside reason codes and webhooks.
type SignalCode string

// Signals produced by checks. Partner clients and the local MRZ check emit
// them; the scoring engine turns them into points and reason codes.
const (
	// Document and machine-readable zone.
	SignalMRZCheckDigitFailed SignalCode = "MRZ_CHECK_DIGIT_FAILED"
	SignalMRZFieldMismatch    SignalCode = "MRZ_FIELD_MISMATCH"
	SignalDocumentExpired     SignalCode = "DOCUMENT_EXPIRED"
	SignalSpecimenDocument    SignalCode = "SPECIMEN_DOCUMENT"
	SignalDocumentReuse       SignalCode = "DOCUMENT_REUSE"

	// Document registry (lost and stolen travel documents).
	SignalDocumentStolen      SignalCode = "DOCUMENT_STOLEN"
	SignalDocumentLost        SignalCode = "DOCUMENT_LOST"
	SignalDocumentRevoked     SignalCode = "DOCUMENT_REVOKED"
	SignalDocumentInvalidated SignalCode = "DOCUMENT_INVALIDATED"
	SignalIdentityMismatch    SignalCode = "IDENTITY_MISMATCH"

	// Immigration and visa status.
	SignalNoValidVisa             SignalCode = "NO_VALID_VISA"
	SignalVisaExpired             SignalCode = "VISA_EXPIRED"
	SignalVisaExpiresBeforePolicy SignalCode = "VISA_EXPIRES_BEFORE_POLICY_END"
	SignalVisaConditionConflict   SignalCode = "VISA_CONDITION_CONFLICT"
	SignalStatusUnverified        SignalCode = "IMMIGRATION_STATUS_UNVERIFIED"

	// Border movements.
	SignalOverstay     SignalCode = "OVERSTAY"
	SignalRefusedEntry SignalCode = "REFUSED_ENTRY"
	SignalNotInCountry SignalCode = "NOT_PRESENT_IN_COVERAGE_COUNTRY"

	// Watchlists.
	SignalWatchlistStrong SignalCode = "WATCHLIST_MATCH_STRONG"
	SignalWatchlistWeak   SignalCode = "WATCHLIST_MATCH_WEAK"

	// Process. Besides being emitted by the worker, the scoring engine
	// derives these from check status: a failed check yields
	// PARTNER_UNAVAILABLE, a skipped one DATA_SHARING_NOT_PERMITTED, an
	// unanswered one AWAITING_PARTNER, and a check the product requires but
	// the verification does not have yields REQUIRED_CHECK_NOT_RUN.
	SignalPartnerUnavailable   SignalCode = "PARTNER_UNAVAILABLE"
	SignalPartnerTimeout       SignalCode = "PARTNER_TIMEOUT"
	SignalDataSharingForbidden SignalCode = "DATA_SHARING_NOT_PERMITTED"
	SignalAwaitingPartner      SignalCode = "AWAITING_PARTNER"
	SignalRequiredCheckNotRun  SignalCode = "REQUIRED_CHECK_NOT_RUN"
)

// SignalCodes returns every known signal code in a fixed order (the order
// of the declarations above). The slice is new on every call.
func SignalCodes() []SignalCode {
	return []SignalCode{
		SignalMRZCheckDigitFailed,
		SignalMRZFieldMismatch,
		SignalDocumentExpired,
		SignalSpecimenDocument,
		SignalDocumentReuse,
		SignalDocumentStolen,
		SignalDocumentLost,
		SignalDocumentRevoked,
		SignalDocumentInvalidated,
		SignalIdentityMismatch,
		SignalNoValidVisa,
		SignalVisaExpired,
		SignalVisaExpiresBeforePolicy,
		SignalVisaConditionConflict,
		SignalStatusUnverified,
		SignalOverstay,
		SignalRefusedEntry,
		SignalNotInCountry,
		SignalWatchlistStrong,
		SignalWatchlistWeak,
		SignalPartnerUnavailable,
		SignalPartnerTimeout,
		SignalDataSharingForbidden,
		SignalAwaitingPartner,
		SignalRequiredCheckNotRun,
	}
}

// Known reports whether c is one of the codes above.
func (c SignalCode) Known() bool {
	_, ok := catalogue(c)
	return ok
}

// Keys of Signal.Detail that partner clients share. Values are strings
// and never personal data.
const (
	DetailVisaCondition = "visaCondition" // a condition code such as "8501"
	DetailOverstayDays  = "overstayDays"  // whole days, decimal
	DetailSimilarity    = "similarity"    // watchlist similarity, "0.00".."1.00"
	DetailListVersion   = "listVersion"   // watchlist or registry version
)

// Signal is one fact from one check. Detail holds non-personal specifics
// (a visa condition code, days of overstay, a similarity score, a list
// version); it must never hold names, dates of birth or document numbers.
// The scoring engine never copies Detail into reasons.
type Signal struct {
	Code      SignalCode `json:"code"`
	CheckID   string     `json:"checkId,omitempty"`
	CheckType string     `json:"checkType,omitempty"`
	// Strength grades the evidence where it is graded (watchlist
	// similarity, days of overstay): a value in (0,1] multiplies the
	// signal's weight. 0 means "not graded" and scores at full strength.
	// Values above 1 count as 1; negative or NaN values count as full
	// strength, so a malformed grade never lowers a risk. Build graded
	// values with GradedStrength or OverstayStrength, which never return 0.
	Strength float64           `json:"strength,omitempty"`
	Detail   map[string]string `json:"detail,omitempty"`
}

// EffectiveStrength is the factor the scoring engine applies to the
// signal's weight, always in (0,1]. See Signal.Strength.
func (s Signal) EffectiveStrength() float64 {
	if !(s.Strength > 0) || s.Strength >= 1 { // also catches NaN
		return 1
	}
	return s.Strength
}

// MinStrength is the smallest grade GradedStrength returns.
const MinStrength = 0.01

// GradedStrength turns a measure in [0,1] (for example a watchlist
// similarity) into a Signal.Strength. It never returns 0, which would mean
// full strength: values below MinStrength become MinStrength, values above 1
// become 1, and NaN becomes 1.
func GradedStrength(x float64) float64 {
	switch {
	case math.IsNaN(x) || x >= 1:
		return 1
	case x < MinStrength:
		return MinStrength
	default:
		return x
	}
}

// Overstay grading: a stay past its permitted end scores a quarter of the
// OVERSTAY weight up to OverstayFullDays/4 days and rises linearly to full
// weight at OverstayFullDays days.
const OverstayFullDays = 180

// OverstayStrength is the Signal.Strength partner clients attach to an
// OVERSTAY signal for an overstay of days whole days: days/180, at least
// 0.25 and at most 1. It never returns 0.
func OverstayStrength(days int) float64 {
	s := float64(days) / OverstayFullDays
	switch {
	case s < 0.25:
		return 0.25
	case s > 1:
		return 1
	default:
		return s
	}
}
