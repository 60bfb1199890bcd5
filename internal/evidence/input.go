package evidence

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/borderproof/borderproof/internal/errs"
	"github.com/borderproof/borderproof/internal/verification"
)

// BundleInput is what Build records about one verification. It carries no
// personal data; FromVerification fills it from a loaded verification.
type BundleInput struct {
	InsurerID            string
	VerificationID       string
	Mode                 string
	Status               string
	PolicyVersion        int
	SanctionsListVersion string
	Score                int
	Band                 string
	Decision             string
	HardRule             string
	Provisional          bool
	Reasons              []Reason
	Checks               []CheckInput
	// SignedAt is the time recorded in the manifest (second precision).
	// Zero: now. Passing the verification's completion time makes Build
	// write the same bytes every time.
	SignedAt time.Time
}

// CheckInput is one check. Evidence is its sealed partner answer as the
// pipeline recorded it with the result. EvidenceKey is where an earlier
// version of the pipeline stored such an answer in the blob store (it must
// lie in the verification's evidence folder); Build reads it when Evidence
// is empty. Both empty: the partner never answered.
type CheckInput struct {
	ID               string
	Type             string
	Status           string
	Outcome          string
	Partner          string
	PartnerReference string
	Evidence         []byte
	EvidenceKey      string
}

// Validate reports every bad field.
func (in BundleInput) Validate() error {
	var f errs.Fields
	if !validID(in.InsurerID) {
		f.Add("insurerId", "must be an id")
	}
	if !validID(in.VerificationID) {
		f.Add("verificationId", "must be an id")
	}
	prefix := Folder(in.InsurerID, in.VerificationID) + "/"
	seen := map[string]bool{}
	for i, c := range in.Checks {
		if !validID(c.ID) {
			f.Add(checkPath(i, "id"), "must be an id")
		}
		if seen[c.ID] {
			f.Add(checkPath(i, "id"), "is listed twice")
		}
		seen[c.ID] = true
		if c.Type == "" || c.Status == "" {
			f.Add(checkPath(i, "type"), "type and status are required")
		}
		if k := c.EvidenceKey; k != "" && (!strings.HasPrefix(k, prefix) || strings.Contains(k, "..") ||
			k == prefix+ManifestName || k == prefix+SignatureName) {
			f.Add(checkPath(i, "evidenceKey"), "must lie in the verification's evidence folder")
		}
	}
	return f.Err()
}

func checkPath(i int, field string) string {
	return "checks[" + strconv.Itoa(i) + "]." + field
}

// validID accepts the prefixed ids the service makes (letters, digits, '_'
// and '-'), which are also safe blob key segments.
func validID(s string) bool {
	if s == "" || len(s) > 100 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || (i > 0 && (c == '_' || c == '-'))) {
			return false
		}
	}
	return true
}

// manifest builds the unsigned manifest, checks in id order, and returns
// the input of each of its checks in that order.
func (in BundleInput) manifest() (Manifest, []CheckInput) {
	m := Manifest{
		Format: Format, InsurerID: in.InsurerID, VerificationID: in.VerificationID, Mode: in.Mode, Status: in.Status,
		PolicyVersion: in.PolicyVersion, SanctionsListVersion: in.SanctionsListVersion, Score: in.Score, Band: in.Band,
		Decision: in.Decision, HardRule: in.HardRule, Provisional: in.Provisional, Reasons: sortedReasons(in.Reasons),
		SignedAt: in.SignedAt, Checks: []CheckItem{},
	}
	checks := slices.Clone(in.Checks)
	slices.SortFunc(checks, func(a, b CheckInput) int { return strings.Compare(a.ID, b.ID) })
	for _, c := range checks {
		m.Checks = append(m.Checks, CheckItem{CheckID: c.ID, Type: c.Type, Status: c.Status, Outcome: c.Outcome,
			Partner: c.Partner, PartnerReference: c.PartnerReference})
	}
	return m, checks
}

// FromVerification takes what a bundle records from a loaded verification
// and its outcome. sanctionsListVersion is the watchlist's version at
// screening time (screening.List.Version).
func FromVerification(v *verification.Verification, sanctionsListVersion string) BundleInput {
	in := BundleInput{
		InsurerID: v.InsurerID, VerificationID: v.ID, Mode: v.Mode, Status: string(v.Status),
		SanctionsListVersion: sanctionsListVersion, SignedAt: v.CompletedAt,
	}
	if o := v.Outcome; o != nil {
		in.PolicyVersion, in.Score, in.Band, in.Decision = o.PolicyVersion, o.Score, string(o.Band), string(o.Decision)
		in.HardRule, in.Provisional = o.HardRule, o.Provisional
		for _, r := range o.Reasons {
			in.Reasons = append(in.Reasons, Reason{Code: string(r.Code), Points: r.Points, CheckID: r.CheckID, CheckType: string(r.CheckType)})
		}
	}
	for _, c := range v.Checks {
		in.Checks = append(in.Checks, CheckInput{ID: c.ID, Type: string(c.Type), Status: string(c.Status), Outcome: c.Outcome,
			Partner: c.Partner, PartnerReference: c.PartnerReference, EvidenceKey: c.EvidenceKey})
	}
	return in
}
