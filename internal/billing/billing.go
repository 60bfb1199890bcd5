// Package billing is usage-based billing: the usage ledger (one row per
// billable check, written with the check's result), the price catalogue
// (plans with graduated per-meter tiers), monthly budgets, the Stripe meter
// sync and its daily reconciliation, and the finance queries and exports.
//
// It is domain code: it declares the store and Stripe interfaces it needs;
// internal/store and internal/billing/stripe implement them.
//
// # What is billable
//
// A check is billable when a partner answered it: status COMPLETED with a
// CLEAR, CONSIDER or ALERT outcome. Failed, timed out, skipped and
// cancelled checks are not, nor is a partner's UNAVAILABLE answer (the
// insurer got nothing) nor a check still awaiting the partner (it becomes
// billable when the poll completes; the ledger's unique check id bills it
// once). DOCUMENT_MRZ checks are not billable: they run locally on every
// submission, cost nothing, and charging for them would charge for input
// validation. MeterMRZ is reserved for a plan that prices them later; no
// usage row carries it today.
//
// # Money
//
// Amounts are int64 minor units with an ISO 4217 currency. A usage row's
// amount is decided when it is recorded, from the insurer's plan and the
// position of its units among the month's units of that meter (graduated
// tiers), so every total over rows is exact and independent of how it is
// grouped. The month is the calendar month in UTC.
//
// # Modes
//
// Sandbox (TEST) usage is recorded and shown like live usage, but it never
// counts against a budget and never reaches Stripe live mode: it is sent to
// Stripe test mode only when a test-mode key is configured, and otherwise
// stays in the ledger.
package billing

import (
	"fmt"
	"time"

	"github.com/borderproof/borderproof/internal/id"
	"github.com/borderproof/borderproof/internal/partner"
	"github.com/borderproof/borderproof/internal/risk"
)

// Meter names a billed quantity. The names are Stripe meter event names and
// appear in exports: stable forever.
type Meter string

// Meters.
const (
	MeterDocumentRegistry  Meter = "document_registry_checks"
	MeterImmigrationStatus Meter = "immigration_status_checks"
	MeterBorderMovements   Meter = "border_movement_checks"
	MeterWatchlist         Meter = "watchlist_screenings"
	// MeterMRZ is reserved: MRZ checks are not billable (see the package
	// documentation).
	MeterMRZ Meter = "mrz_checks"
)

// BillableMeters lists the meters usage rows carry, in a fixed order; the
// slice is new on every call.
func BillableMeters() []Meter {
	return []Meter{MeterDocumentRegistry, MeterImmigrationStatus, MeterBorderMovements, MeterWatchlist}
}

// Known reports whether m is a meter of this service.
func (m Meter) Known() bool {
	switch m {
	case MeterDocumentRegistry, MeterImmigrationStatus, MeterBorderMovements, MeterWatchlist, MeterMRZ:
		return true
	}
	return false
}

// MeterFor returns the meter of a check type; false for DOCUMENT_MRZ and
// unknown types.
func MeterFor(t risk.CheckType) (Meter, bool) {
	switch t {
	case risk.CheckDocumentRegistry:
		return MeterDocumentRegistry, true
	case risk.CheckImmigrationStatus:
		return MeterImmigrationStatus, true
	case risk.CheckBorderMovements:
		return MeterBorderMovements, true
	case risk.CheckWatchlist:
		return MeterWatchlist, true
	}
	return "", false
}

// Modes, as stored on usage rows (the tenant package's values).
const (
	ModeLive = "LIVE"
	ModeTest = "TEST"
)

// Money is an amount in minor units of an ISO 4217 currency.
type Money struct {
	Minor    int64
	Currency string
}

func (m Money) String() string { return fmt.Sprintf("%d %s (minor units)", m.Minor, m.Currency) }

// Usage is one ledger row: one billable check.
type Usage struct {
	ID             string
	InsurerID      string
	Mode           string
	Meter          Meter
	Quantity       int64
	Partner        string
	PartnerCost    Money
	VerificationID string
	CheckID        string
	OccurredAt     time.Time

	// Set by the ledger when the row is recorded.
	PlanID   string
	Amount   Money
	SyncedAt time.Time
}

// CheckInfo is what the pipeline knows about a check when it records its
// result.
type CheckInfo struct {
	CheckID        string
	VerificationID string
	InsurerID      string
	Mode           string
	Type           risk.CheckType
	Status         risk.CheckStatus
	// Outcome is the partner's outcome (partner.Outcome values).
	Outcome partner.Outcome
	// PartnerBillable is the partner's Result.Billable: whether the partner
	// charges us for the call. It decides our cost, not the insurer's price.
	PartnerBillable bool
}

// NewUsage builds the ledger row for a check, or reports false when the
// check is not billable (see the package documentation). pc is the config
// of the partner that answered; its Cost is our cost of the call. The
// insurer's price comes from its plan when the row is recorded, not from
// pc.Price. The row's time is now, truncated to the microsecond the store
// keeps.
func NewUsage(c CheckInfo, pc partner.PartnerConfig, now time.Time) (Usage, bool) {
	if c.Status != risk.CheckCompleted {
		return Usage{}, false
	}
	switch c.Outcome {
	case partner.OutcomeClear, partner.OutcomeConsider, partner.OutcomeAlert:
	default:
		return Usage{}, false
	}
	m, ok := MeterFor(c.Type)
	if !ok {
		return Usage{}, false
	}
	now = now.UTC().Truncate(time.Microsecond)
	cost := Money{Currency: pc.Cost.Currency}
	if c.PartnerBillable {
		cost.Minor = pc.Cost.Amount
	}
	if cost.Currency == "" {
		cost.Currency = pc.Price.Currency
	}
	return Usage{
		ID:             id.NewAt(id.Usage, now),
		InsurerID:      c.InsurerID,
		Mode:           c.Mode,
		Meter:          m,
		Quantity:       1,
		Partner:        pc.Name,
		PartnerCost:    cost,
		VerificationID: c.VerificationID,
		CheckID:        c.CheckID,
		OccurredAt:     now,
	}, true
}

// Recorded is the result of recording a usage row.
type Recorded struct {
	// Usage carries the amount and plan the ledger decided.
	Usage Usage
	// Duplicate is true when the check already had a usage row; nothing was
	// written.
	Duplicate bool
	// EventIDs are usage.budget_threshold outbox events written in the same
	// transaction; the caller enqueues their publication after commit.
	EventIDs []string
}

// MonthStart returns the first instant of t's calendar month in UTC.
func MonthStart(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}

// DayStart returns UTC midnight of t's day.
func DayStart(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}
