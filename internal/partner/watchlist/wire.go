package watchlist

import "time"

// Wire format of the watchlist screening service. The simulator serves the
// same types.

// Path below the base URL.
const ScreenPath = "/screening/v1/screen"

// ScreenRequest screens one person.
type ScreenRequest struct {
	Reference string  `json:"reference"`
	Subject   Subject `json:"subject"`
	// MinScore is the lowest candidate score returned.
	MinScore float64 `json:"minScore"`
}

// Subject is the person screened.
type Subject struct {
	GivenNames  string `json:"givenNames,omitempty"`
	Surname     string `json:"surname"`
	DateOfBirth string `json:"dateOfBirth,omitempty"` // YYYY-MM-DD
	Nationality string `json:"nationality,omitempty"`
}

// ScreenResponse is the answer, candidates best first.
type ScreenResponse struct {
	Reference   string      `json:"reference"`
	ListVersion string      `json:"listVersion"`
	ScreenedAt  time.Time   `json:"screenedAt"`
	Candidates  []Candidate `json:"candidates"`
}

// Candidate is one listed entity the subject may be.
type Candidate struct {
	EntityID         string   `json:"entityId"`
	ListName         string   `json:"listName"`
	MatchedName      string   `json:"matchedName"`
	Score            float64  `json:"score"`
	NameScore        float64  `json:"nameScore"`
	DateOfBirthMatch string   `json:"dateOfBirthMatch"`
	NationalityMatch string   `json:"nationalityMatch"`
	Programs         []string `json:"programs,omitempty"`
}

// Values of Candidate.DateOfBirthMatch and NationalityMatch.
const (
	MatchMatched    = "match"
	MatchMismatched = "mismatch"
	MatchUnknown    = "unknown"
)

// ErrorBody is the service's error dialect: a message, and field errors on
// 422.
type ErrorBody struct {
	Message string              `json:"message"`
	Errors  map[string][]string `json:"errors,omitempty"`
}
