package billing

import (
	"context"
	"io"
	"time"
)

// Store is the billing repository; internal/store implements it on
// PostgreSQL and SQLite. Methods that read one insurer's data take its id;
// the few that span insurers (sync, reconciliation, operator reports) say
// so.
type Store interface {
	// RecordUsage writes a usage row in its own transaction (see
	// internal/store for the helper that writes it inside the caller's
	// transaction). It prices the row from the insurer's plan and the
	// month's running total of the meter, updates the daily and monthly
	// rollups and the month's spend, and writes a usage.budget_threshold
	// outbox event for each budget threshold newly reached. A check that
	// already has a row is a Duplicate and changes nothing.
	RecordUsage(ctx context.Context, u Usage) (Recorded, error)
	// RollUpUsage prices up to limit usage rows written without a price
	// (the check pipeline's), oldest first, exactly as RecordUsage would
	// have, and returns how many it priced.
	RollUpUsage(ctx context.Context, limit int) (int, error)

	// PutPlan creates or replaces a plan and its prices.
	PutPlan(ctx context.Context, p Plan, at time.Time) error
	// Plan returns a plan with its prices; errs.NotFound when unknown.
	Plan(ctx context.Context, id string) (Plan, error)
	// Plans lists every plan with its prices, by id.
	Plans(ctx context.Context) ([]Plan, error)

	// Account returns the insurer's billing account; an insurer without one
	// gets the default plan and no budget (CreatedAt zero).
	Account(ctx context.Context, insurerID string) (Account, error)
	// Accounts lists the accounts that exist (operators, sync, reconcile).
	Accounts(ctx context.Context) ([]Account, error)
	// SetPlan moves the insurer to a plan (creating its account); it
	// applies to usage recorded from then on.
	SetPlan(ctx context.Context, insurerID, planID string, at time.Time) error
	// SetBudget sets (CapMinor > 0) or removes (CapMinor 0) the monthly cap.
	SetBudget(ctx context.Context, insurerID string, b Budget, at time.Time) (Account, error)
	// SetStripeCustomer records the insurer's Stripe customer for a mode.
	SetStripeCustomer(ctx context.Context, insurerID, mode, customerID string, at time.Time) error

	// BudgetState reads the cap and the month's live spend: one indexed
	// row, cheap enough for every submission.
	BudgetState(ctx context.Context, insurerID string, month time.Time) (Budget, Money, error)
	// BudgetNotices lists the thresholds reached in a month.
	BudgetNotices(ctx context.Context, insurerID string, month time.Time) ([]Notice, error)

	// UsageDaily reads the daily rollup for days in [from, to). An empty
	// insurerID reads every insurer (operators).
	UsageDaily(ctx context.Context, insurerID, mode string, from, to time.Time) ([]DailyRow, error)
	// UsageRows streams the usage rows of an insurer and mode with
	// occurred_at in [from, to), oldest first.
	UsageRows(ctx context.Context, insurerID, mode string, from, to time.Time, fn func(Usage) error) error
	// LedgerTotals sums an insurer's usage rows with occurred_at in
	// [from, to) per meter: every row, and the rows Stripe accepted.
	LedgerTotals(ctx context.Context, insurerID, mode string, from, to time.Time) ([]MeterTotal, error)

	// ClaimUnsynced leases up to limit unsynced rows of the mode whose
	// insurer has a Stripe customer for it, oldest first, until leaseUntil;
	// rows leased by another run are skipped. Spans insurers.
	ClaimUnsynced(ctx context.Context, mode string, now, leaseUntil time.Time, limit int) ([]Pending, error)
	// MarkSynced records that Stripe accepted the rows.
	MarkSynced(ctx context.Context, ids []string, at time.Time) error
	// ReleaseClaims ends the lease of rows that were not accepted.
	ReleaseClaims(ctx context.Context, ids []string) error
	// RecordSyncIssues records rows that could not be sent. Issues of kind
	// IssueTooOld also mark the row as never to be sent.
	RecordSyncIssues(ctx context.Context, issues []SyncIssue) error
	// SyncIssues lists recorded issues, newest first.
	SyncIssues(ctx context.Context, limit int) ([]SyncIssue, error)
	// CountUnsyncedWithoutCustomer counts unsynced rows of the mode whose
	// insurer has no Stripe customer for it.
	CountUnsyncedWithoutCustomer(ctx context.Context, mode string) (int64, error)
	// SaveSyncRun records a sync run.
	SaveSyncRun(ctx context.Context, r SyncRun) error

	// StripeMeters returns the Stripe meter ids found or created by setup.
	StripeMeters(ctx context.Context, mode string) (map[Meter]string, error)
	// PutStripeMeter records a Stripe meter id.
	PutStripeMeter(ctx context.Context, mode string, m Meter, stripeID string, at time.Time) error

	// SaveReconciliation records a run and its differences.
	SaveReconciliation(ctx context.Context, r ReconciliationRun) error
	// Reconciliations lists runs with their differences, newest first.
	Reconciliations(ctx context.Context, limit int) ([]ReconciliationRun, error)

	// SaveExport records an export.
	SaveExport(ctx context.Context, e Export) error
}

// Blobs is where exports are written (internal/blob.Store satisfies it).
type Blobs interface {
	Put(ctx context.Context, key string, body io.Reader, size int64, contentType string) error
	SignedURL(ctx context.Context, key string, ttl time.Duration) (string, error)
}

// Account is an insurer's billing settings.
type Account struct {
	InsurerID string
	PlanID    string
	// StripeCustomerID is the live-mode customer; StripeTestCustomerID the
	// test-mode one that receives sandbox usage.
	StripeCustomerID     string
	StripeTestCustomerID string
	Budget               Budget
	CreatedAt            time.Time
	UpdatedAt            time.Time
}

// CustomerFor returns the Stripe customer of the mode.
func (a Account) CustomerFor(mode string) string {
	if mode == ModeLive {
		return a.StripeCustomerID
	}
	return a.StripeTestCustomerID
}

// Budget is a monthly spend cap on live usage. CapMinor 0 means no cap.
// Hard rejects new submissions once the cap is reached; soft accepts them
// with a warning.
type Budget struct {
	CapMinor int64
	Currency string
	Hard     bool
}

// Set reports whether a cap is configured.
func (b Budget) Set() bool { return b.CapMinor > 0 }

// Thresholds are the percentages of the cap that emit a
// usage.budget_threshold event, once per insurer and month each.
var thresholds = [...]int{80, 100}

// Thresholds returns the notified percentages of the cap; the slice is new
// on every call.
func Thresholds() []int { return thresholds[:] }

// Reached returns the thresholds that spend has reached under the cap.
func (b Budget) Reached(spend int64) []int {
	if !b.Set() {
		return nil
	}
	var out []int
	for _, t := range thresholds {
		// spend/cap ≥ t/100, in integers.
		if spend*100 >= b.CapMinor*int64(t) {
			out = append(out, t)
		}
	}
	return out
}

// Notice is a budget threshold reached in a month.
type Notice struct {
	InsurerID string
	Month     time.Time
	Threshold int
	EventID   string
	Spend     Money
	CapMinor  int64
	CreatedAt time.Time
}

// DailyRow is one row of the daily rollup.
type DailyRow struct {
	InsurerID   string
	Mode        string
	Day         time.Time
	Meter       Meter
	Partner     string
	Quantity    int64
	Amount      Money
	PartnerCost Money
}

// MeterTotal is a per-meter sum of usage rows.
type MeterTotal struct {
	Meter    Meter
	Quantity int64
	// Synced is the quantity of rows Stripe accepted.
	Synced int64
}

// Pending is an unsynced usage row leased by a sync run, with the Stripe
// customer its insurer has in the row's mode.
type Pending struct {
	Usage            Usage
	StripeCustomerID string
}

// Sync issue kinds.
const (
	// IssueTooOld: the row is older than Stripe accepts meter events for;
	// it will never be sent and must be invoiced by hand.
	IssueTooOld = "too_old"
	// IssueRejected: Stripe refused the event; the row stays unsynced and
	// is tried again by later runs.
	IssueRejected = "rejected"
)

// SyncIssue is a usage row that could not be sent to Stripe.
type SyncIssue struct {
	UsageID    string
	InsurerID  string
	Mode       string
	Meter      Meter
	Quantity   int64
	Kind       string
	Detail     string
	OccurredAt time.Time
	RecordedAt time.Time
}

// SyncRun records one pass of the sync over one mode.
type SyncRun struct {
	ID         string
	Mode       string
	StartedAt  time.Time
	FinishedAt time.Time
	Claimed    int
	Accepted   int
	Failed     int
	TooOld     int
	Error      string
}

// ReconciliationRun compares the ledger with Stripe's meter event summaries
// for a period.
type ReconciliationRun struct {
	ID          string
	Mode        string
	From, To    time.Time
	StartedAt   time.Time
	FinishedAt  time.Time
	Compared    int
	Differences []Difference
	Error       string
}

// Difference is a customer and meter whose ledger total and Stripe total
// disagree.
type Difference struct {
	InsurerID        string
	Meter            Meter
	StripeCustomerID string
	// Ledger is every usage row of the period; Synced the rows Stripe
	// accepted; Stripe what Stripe's summary says.
	Ledger int64
	Synced int64
	Stripe int64
}

// Kind explains a difference: PENDING_SYNC (Stripe holds what it accepted;
// rows are still to be sent), MISSING_IN_STRIPE (Stripe holds less than it
// accepted) or EXTRA_IN_STRIPE (Stripe holds more).
func (d Difference) Kind() string {
	switch {
	case d.Stripe == d.Synced:
		return "PENDING_SYNC"
	case d.Stripe < d.Synced:
		return "MISSING_IN_STRIPE"
	default:
		return "EXTRA_IN_STRIPE"
	}
}

// Export is a usage file written to blob storage.
type Export struct {
	ID        string
	InsurerID string
	Mode      string
	From, To  time.Time
	Format    string
	Key       string
	Rows      int64
	Bytes     int64
	CreatedBy string
	CreatedAt time.Time
	// URL is a short-lived download link; ExpiresAt is when it stops
	// working. Neither is stored.
	URL       string
	ExpiresAt time.Time
}
