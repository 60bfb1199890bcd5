package bordermovements

import "time"

// Wire format of the border-movements service (modelled on the EU
// Entry/Exit System's carrier and authority interfaces), served over mutual
// TLS. The simulator serves the same types.

// Path below the base URL.
const QueryPath = "/v1/travel-history-queries"

// Movement types.
const (
	MovementEntry   = "ENTRY"
	MovementExit    = "EXIT"
	MovementRefusal = "REFUSAL"
)

// Schengen lists the states whose external borders the system records
// (alpha-3), sorted.
var Schengen = []string{
	"AUT", "BEL", "BGR", "CHE", "CZE", "DEU", "DNK", "ESP", "EST", "FIN", "FRA", "GRC", "HRV",
	"HUN", "ISL", "ITA", "LIE", "LTU", "LUX", "LVA", "MLT", "NLD", "NOR", "POL", "PRT", "ROU",
	"SVK", "SVN", "SWE",
}

// Query asks for the travel history of a document.
type Query struct {
	QueryID        string         `json:"queryId"`
	TravelDocument TravelDocument `json:"travelDocument"`
	Nationality    string         `json:"nationality"`
	// LookbackDays is the window, ending now (default and maximum 1095).
	LookbackDays int `json:"lookbackDays"`
}

// TravelDocument identifies the document.
type TravelDocument struct {
	Number       string `json:"number"`
	IssuingState string `json:"issuingState"`
}

// History is the answer.
type History struct {
	QueryID   string     `json:"queryId"`
	AsOf      time.Time  `json:"asOf"`
	Movements []Movement `json:"movements"`
	Summary   Summary    `json:"summary"`
}

// Movement is one crossing or refusal.
type Movement struct {
	Type        string `json:"type"`
	MemberState string `json:"memberState"`
	Date        string `json:"date"` // YYYY-MM-DD
}

// Summary is the service's own reckoning.
type Summary struct {
	// DaysPresent per member state in the window, sorted by state.
	DaysPresent []StateDays `json:"daysPresent"`
	// DaysInLast180 is the short-stay count of the 90/180-day rule.
	DaysInLast180 int `json:"daysInLast180"`
	// OverstayDays is how far DaysInLast180 exceeds 90 (0: none).
	OverstayDays int       `json:"overstayDays"`
	Refusals     int       `json:"refusals"`
	LastCrossing *Movement `json:"lastCrossing,omitempty"`
	// PresentInArea: the last crossing was an entry.
	PresentInArea bool `json:"presentInArea"`
}

// StateDays is days present in one member state.
type StateDays struct {
	MemberState string `json:"memberState"`
	Days        int    `json:"days"`
}

// ErrorBody is the service's error dialect.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail holds an EES-nnnn code.
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	TraceID string `json:"traceId"`
}
