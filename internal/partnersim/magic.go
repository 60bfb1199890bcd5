package partnersim

import (
	"net/http"
	"strings"
)

// Magic document numbers: any issuing state, any name. See MAGIC.md.
const (
	MagicStolen      = "STOLEN001"   // registry: HIT STOLEN
	MagicLost        = "LOST00001"   // registry: HIT LOST
	MagicRevoked     = "REVOKED01"   // registry: HIT REVOKED
	MagicInvalidated = "INVALID01"   // registry: HIT INVALIDATED
	MagicMismatch    = "MISMATCH1"   // registry: holder mismatch
	MagicNoVisa      = "NOVISA001"   // visa status: NO_VISA_FOUND; status case: no lawful status
	MagicVisaExpired = "VISAEXP01"   // visa status: CEASED, expired; status case: admitted-until past
	MagicVisaShort   = "VISASHORT"   // visa status: in effect, expires in 30 days
	MagicNoHealth    = "NOHEALTH1"   // visa status: visitor visa without condition 8501
	MagicSlowCase    = "SLOWCASE1"   // status case: ADDITIONAL_VERIFICATION_REQUIRED for 3 working days
	MagicResubmit    = "RESUBMIT1"   // status case: RESUBMIT_WITH_DOCUMENTS
	MagicOverstay    = "OVERSTAY1"   // border movements: entered 120 days ago, still present
	MagicRefused     = "REFUSED01"   // border movements: a refusal of entry
	MagicAbroad      = "ABROAD001"   // border movements: last crossing an exit
	MagicUnavailable = "UNAVAIL01"   // every partner: 503 in its dialect
	MagicHang        = "HANG00001"   // every partner: never answers
	MagicSanctioned  = "SANCTIONED"  // surname: strong watchlist match
	MagicWeakMatch   = "SANCTIONISH" // surname: weak watchlist match
)

// magicFault answers the magic numbers that make any partner fail. It
// reports whether it answered.
func magicFault(w http.ResponseWriter, r *http.Request, number string, we errorWriter) bool {
	switch strings.ToUpper(number) {
	case MagicUnavailable:
		w.Header().Set("Retry-After", "1")
		we(w, http.StatusServiceUnavailable, "UNAVAILABLE", "service temporarily unavailable")
		return true
	case MagicHang:
		<-r.Context().Done()
		return true
	}
	return false
}
