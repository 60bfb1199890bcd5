package visastatus

import "time"

// Wire format of the visa-status service (modelled on Australia's VEVO
// organisation enquiries). The simulator serves the same types.

// Paths below the base URL.
const (
	TokenPath   = "/oauth2/token"
	EnquiryPath = "/v1/visa-enquiries"
)

// Visa statuses.
const (
	StatusInEffect    = "IN_EFFECT"
	StatusCeased      = "CEASED"
	StatusNoVisaFound = "NO_VISA_FOUND"
)

// Visa condition codes the client knows.
const (
	ConditionHealthInsurance = "8501" // maintain adequate health insurance
	ConditionWorkLimitation  = "8105" // work limitation
	ConditionNoWork          = "8101" // no work
	ConditionNoFurtherStay   = "8503" // no further stay
)

// EnquiryRequest asks for the visa held on a travel document.
type EnquiryRequest struct {
	// EnquiryReference is our check id: the service answers a repeated
	// reference with the first answer.
	EnquiryReference string         `json:"enquiryReference"`
	ConsentReference string         `json:"consentReference"`
	Person           Person         `json:"person"`
	TravelDocument   TravelDocument `json:"travelDocument"`
}

// Person identifies the visa holder.
type Person struct {
	DateOfBirth string `json:"dateOfBirth"` // YYYY-MM-DD
}

// TravelDocument is the document the visa is linked to.
type TravelDocument struct {
	Type           string `json:"type,omitempty"`
	Number         string `json:"number"`
	CountryOfIssue string `json:"countryOfIssue"`
}

// EnquiryResponse is the answer.
type EnquiryResponse struct {
	EnquiryID        string    `json:"enquiryId"`
	EnquiryReference string    `json:"enquiryReference"`
	CheckedAt        time.Time `json:"checkedAt"`
	Visa             Visa      `json:"visa"`
}

// Visa is the visa found (Status NO_VISA_FOUND leaves the rest empty).
type Visa struct {
	Status       string      `json:"status"`
	Class        string      `json:"class,omitempty"`
	Subclass     string      `json:"subclass,omitempty"`
	SubclassName string      `json:"subclassName,omitempty"`
	GrantDate    string      `json:"grantDate,omitempty"`
	ExpiryDate   string      `json:"expiryDate,omitempty"` // empty: indefinite
	Conditions   []Condition `json:"conditions,omitempty"`
}

// Condition is one visa condition.
type Condition struct {
	Code  string `json:"code"`
	Title string `json:"title"`
}

// ErrorResponse is the service's error body for business errors:
// 400/422 with codes such as VEVO-400-CONSENT, 429 VEVO-429, 503 VEVO-503.
type ErrorResponse struct {
	Errors []APIError `json:"errors"`
}

// APIError is one error.
type APIError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// TokenError is the OAuth 2.0 error body (RFC 6749 §5.2, RFC 6750 §3.1),
// used by the token endpoint and for a rejected bearer token.
type TokenError struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description,omitempty"`
}
