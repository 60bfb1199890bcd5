package risk

import (
	"math"
	"strconv"

	"github.com/borderproof/borderproof/internal/errs"
)

// Product is an insurance product line. Which checks and visa conditions a
// verification needs depends on it.
type Product string

// Products.
const (
	ProductHealth   Product = "HEALTH"
	ProductLife     Product = "LIFE"
	ProductTravel   Product = "TRAVEL"
	ProductProperty Product = "PROPERTY"
	ProductMotor    Product = "MOTOR"
)

// Products returns every product in a fixed order; the slice is new on
// every call.
func Products() []Product {
	return []Product{ProductHealth, ProductLife, ProductTravel, ProductProperty, ProductMotor}
}

// Known reports whether p is one of the products above.
func (p Product) Known() bool {
	switch p {
	case ProductHealth, ProductLife, ProductTravel, ProductProperty, ProductMotor:
		return true
	}
	return false
}

// CheckType is the kind of a check. Signal.CheckType carries the same
// values as a plain string.
type CheckType string

// Check types.
const (
	CheckDocumentMRZ       CheckType = "DOCUMENT_MRZ"
	CheckDocumentRegistry  CheckType = "DOCUMENT_REGISTRY"
	CheckImmigrationStatus CheckType = "IMMIGRATION_STATUS"
	CheckBorderMovements   CheckType = "BORDER_MOVEMENTS"
	CheckWatchlist         CheckType = "WATCHLIST"
)

// CheckTypes returns every check type in a fixed order; the slice is new on
// every call.
func CheckTypes() []CheckType {
	return []CheckType{CheckDocumentMRZ, CheckDocumentRegistry, CheckImmigrationStatus, CheckBorderMovements, CheckWatchlist}
}

// Known reports whether t is one of the check types above.
func (t CheckType) Known() bool {
	switch t {
	case CheckDocumentMRZ, CheckDocumentRegistry, CheckImmigrationStatus, CheckBorderMovements, CheckWatchlist:
		return true
	}
	return false
}

// CheckStatus is where a check stands, as far as scoring cares.
type CheckStatus string

// Check statuses. PENDING and AWAITING_PARTNER are not terminal: a score
// computed while a check is in one of them is provisional.
const (
	// CheckPending: queued or running, no answer yet.
	CheckPending CheckStatus = "PENDING"
	// CheckAwaitingPartner: the partner answered "case pending" and will be
	// asked again.
	CheckAwaitingPartner CheckStatus = "AWAITING_PARTNER"
	// CheckCompleted: the partner answered; its signals are final.
	CheckCompleted CheckStatus = "COMPLETED"
	// CheckFailed: terminal without an answer (the partner was unavailable
	// or timed out until the deadline).
	CheckFailed CheckStatus = "FAILED"
	// CheckSkipped: not run because the data-sharing rules forbid sending
	// the subject's details to the partner's jurisdiction.
	CheckSkipped CheckStatus = "SKIPPED"
)

// Terminal reports whether the check will not change any more. Unknown
// statuses are not terminal, so they make an outcome provisional rather than
// final.
func (s CheckStatus) Terminal() bool {
	switch s {
	case CheckCompleted, CheckFailed, CheckSkipped:
		return true
	}
	return false
}

// Known reports whether s is one of the statuses above.
func (s CheckStatus) Known() bool {
	return s.Terminal() || s == CheckPending || s == CheckAwaitingPartner
}

// Check is one check of a verification as the scoring engine sees it.
type Check struct {
	ID     string      `json:"id"`
	Type   CheckType   `json:"type"`
	Status CheckStatus `json:"status"`
}

// Input is everything Score needs about one verification: the product it
// is for, its checks and the signals they produced. It holds no personal
// data and can be stored as JSON for later simulation.
type Input struct {
	Product Product  `json:"product"`
	Checks  []Check  `json:"checks"`
	Signals []Signal `json:"signals"`
}

// Validate reports unknown products, check types, statuses and signal
// codes, duplicate check ids and out-of-range strengths. Score accepts any
// input; Validate is for callers that build inputs from outside data.
func (in Input) Validate() error {
	var f errs.Fields
	if !in.Product.Known() {
		f.Add("product", "unknown product")
	}
	for i, c := range in.Checks {
		p := "checks[" + strconv.Itoa(i) + "]"
		if c.ID == "" {
			f.Add(p+".id", "required")
		}
		for _, o := range in.Checks[:i] {
			if c.ID != "" && o.ID == c.ID {
				f.Add(p+".id", "duplicate check id")
				break
			}
		}
		if !c.Type.Known() {
			f.Add(p+".type", "unknown check type")
		}
		if !c.Status.Known() {
			f.Add(p+".status", "unknown check status")
		}
	}
	for i, s := range in.Signals {
		p := "signals[" + strconv.Itoa(i) + "]"
		if !s.Code.Known() {
			f.Add(p+".code", "unknown signal code")
		}
		if s.CheckType != "" && !CheckType(s.CheckType).Known() {
			f.Add(p+".checkType", "unknown check type")
		}
		if math.IsNaN(s.Strength) || s.Strength < 0 || s.Strength > 1 {
			f.Add(p+".strength", "must be between 0 and 1")
		}
	}
	return f.Err()
}
