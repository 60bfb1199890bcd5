package tenant

import (
	"regexp"
	"strconv"
	"strings"

	"github.com/borderproof/borderproof/internal/errs"
)

// CreateInsurerInput creates a tenant.
type CreateInsurerInput struct {
	Name          string
	Country       string // alpha-3
	Region        string // optional; derived from the country when empty
	Mode          Mode
	RetentionDays int // optional; default 365
}

var alpha3 = regexp.MustCompile(`^[A-Z]{3}$`)

// Validate reports every bad field.
func (in *CreateInsurerInput) Validate() error {
	var f errs.Fields
	in.Name = strings.TrimSpace(in.Name)
	if in.Name == "" || len(in.Name) > 200 {
		f.Add("name", "must be 1 to 200 characters")
	}
	in.Country = strings.ToUpper(strings.TrimSpace(in.Country))
	if !alpha3.MatchString(in.Country) {
		f.Add("country", "must be an ISO 3166-1 alpha-3 code")
	}
	if in.Mode == "" {
		in.Mode = Live
	}
	if !in.Mode.Valid() {
		f.Add("mode", "must be LIVE or TEST")
	}
	if in.RetentionDays == 0 {
		in.RetentionDays = 365
	}
	if in.RetentionDays < 1 || in.RetentionDays > 3650 {
		f.Add("retentionDays", "must be between 1 and 3650")
	}
	return f.Err()
}

// CreateKeyInput creates an API key.
type CreateKeyInput struct {
	InsurerID string
	Name      string
	Mode      Mode
	Scopes    []Scope
	Purposes  []string
}

// Purposes a consent may declare.
var Purposes = []string{"UNDERWRITING", "CLAIMS", "RENEWAL", "FRAUD_INVESTIGATION"}

// Validate reports every bad field.
func (in *CreateKeyInput) Validate() error {
	var f errs.Fields
	if in.InsurerID == "" {
		f.Add("insurerId", "is required")
	}
	if !in.Mode.Valid() {
		f.Add("mode", "must be LIVE or TEST")
	}
	if len(in.Scopes) == 0 {
		f.Add("scopes", "at least one scope is required")
	}
	for i, s := range in.Scopes {
		if _, ok := ParseScope(string(s)); !ok {
			f.Add(indexPath("scopes", i), "unknown scope")
		}
	}
	for i, p := range in.Purposes {
		ok := false
		for _, known := range Purposes {
			ok = ok || p == known
		}
		if !ok {
			f.Add(indexPath("purposes", i), "unknown purpose")
		}
	}
	if len(in.Name) > 200 {
		f.Add("name", "must be at most 200 characters")
	}
	return f.Err()
}

func indexPath(field string, i int) string {
	return field + "[" + strconv.Itoa(i) + "]"
}
