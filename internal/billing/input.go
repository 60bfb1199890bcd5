package billing

import (
	"slices"
	"time"

	"github.com/borderproof/borderproof/internal/errs"
)

// Group is a dimension of a usage report.
type Group string

// Groups.
const (
	GroupDay     Group = "DAY"
	GroupMonth   Group = "MONTH"
	GroupMeter   Group = "METER"
	GroupPartner Group = "PARTNER"
)

// MaxRangeDays bounds a report or export period.
const MaxRangeDays = 400

// UsageQuery asks for usage totals. From and To are calendar days in UTC,
// both included.
type UsageQuery struct {
	// InsurerID is the insurer; empty reads every insurer (operators only:
	// the caller checks).
	InsurerID string
	Mode      string
	From, To  time.Time
	GroupBy   []Group
}

// Validate names the bad field.
func (q UsageQuery) Validate() error {
	var f errs.Fields
	validMode(&f, q.Mode)
	validRange(&f, q.From, q.To)
	seen := map[Group]bool{}
	for _, g := range q.GroupBy {
		if !slices.Contains([]Group{GroupDay, GroupMonth, GroupMeter, GroupPartner}, g) {
			f.Add("groupBy", "unknown group")
		} else if seen[g] {
			f.Add("groupBy", "listed twice")
		}
		seen[g] = true
	}
	return f.Err()
}

func (q UsageQuery) has(g Group) bool { return slices.Contains(q.GroupBy, g) }

// ExportInput asks for a usage export of one insurer. From and To are
// calendar days in UTC, both included.
type ExportInput struct {
	InsurerID string
	Mode      string
	From, To  time.Time
	// Format is "CSV", the only one.
	Format string
	// Actor is the key or user id that asked, recorded with the export.
	Actor string
}

// Validate names the bad field.
func (in ExportInput) Validate() error {
	var f errs.Fields
	if in.InsurerID == "" {
		f.Add("insurerId", "required")
	}
	validMode(&f, in.Mode)
	validRange(&f, in.From, in.To)
	if in.Format != "CSV" {
		f.Add("format", "must be CSV")
	}
	return f.Err()
}

// SetBudgetInput sets an insurer's monthly cap; CapMinor 0 removes it.
type SetBudgetInput struct {
	InsurerID string
	CapMinor  int64
	Currency  string
	Hard      bool
}

// Validate names the bad field.
func (in SetBudgetInput) Validate() error {
	var f errs.Fields
	if in.InsurerID == "" {
		f.Add("insurerId", "required")
	}
	if in.CapMinor < 0 {
		f.Add("capMinor", "must not be negative")
	}
	if in.CapMinor > 0 && !currencyRe.MatchString(in.Currency) {
		f.Add("currency", "must be an ISO 4217 code")
	}
	return f.Err()
}

func validMode(f *errs.Fields, mode string) {
	if mode != ModeLive && mode != ModeTest {
		f.Add("mode", "must be LIVE or TEST")
	}
}

func validRange(f *errs.Fields, from, to time.Time) {
	switch {
	case from.IsZero():
		f.Add("from", "required")
	case to.IsZero():
		f.Add("to", "required")
	case to.Before(from):
		f.Add("to", "must not be before from")
	case DayStart(to).Sub(DayStart(from)) > (MaxRangeDays-1)*24*time.Hour:
		f.Add("to", "the period may span at most %d days", MaxRangeDays)
	}
}

// ParseDay reads a calendar date (2026-11-27) as UTC midnight.
func ParseDay(s string) (time.Time, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return time.Time{}, errs.E(errs.Invalid, "dates are YYYY-MM-DD")
	}
	return t.UTC(), nil
}

// ParseMonth reads a month (2026-11) as its first instant in UTC.
func ParseMonth(s string) (time.Time, error) {
	t, err := time.Parse("2006-01", s)
	if err != nil {
		return time.Time{}, errs.E(errs.Invalid, "months are YYYY-MM")
	}
	return t.UTC(), nil
}
