package billing

import (
	"context"
	"time"
)

// Stripe is what billing needs from one Stripe account and mode;
// internal/billing/stripe implements it with stripe-go. Errors are
// classified with internal/errs: RateLimited (with RetryAfterSeconds when
// Stripe said) and Unavailable are worth retrying, anything else is not.
type Stripe interface {
	// EnsureMeter finds the meter whose event_name is the meter's name, or
	// creates it (sum of the payload's value, customer by
	// stripe_customer_id), and returns its id.
	EnsureMeter(ctx context.Context, m Meter) (string, error)
	// EnsureCustomer creates the insurer's customer with the insurer id as
	// idempotency key and metadata, and returns its id.
	EnsureCustomer(ctx context.Context, insurerID, name string) (string, error)
	// SendMeterEvent reports one usage row. A duplicate identifier means
	// Stripe already holds the event and is not an error.
	SendMeterEvent(ctx context.Context, e MeterEvent) error
	// MeterEventSummary returns the customer's aggregated value of the
	// meter for [start, end).
	MeterEventSummary(ctx context.Context, meterID, customerID string, start, end time.Time) (int64, error)
	// PreviewInvoice returns the customer's upcoming invoice.
	PreviewInvoice(ctx context.Context, customerID string) (StripeInvoice, error)
}

// MeterEvent is one usage row as a Stripe meter event: identifier is the
// usage row id, the payload {stripe_customer_id, value}, the timestamp the
// row's occurred_at.
type MeterEvent struct {
	Identifier string
	EventName  string
	CustomerID string
	Value      int64
	Timestamp  time.Time
}

// StripeInvoice is the part of a Stripe invoice finance compares with the
// ledger.
type StripeInvoice struct {
	ID          string
	Currency    string // ISO 4217, upper case
	Subtotal    int64
	Total       int64
	PeriodStart time.Time
	PeriodEnd   time.Time
	Lines       []InvoiceLine
}

// InvoiceLine is one line of a Stripe invoice.
type InvoiceLine struct {
	Description string
	// StripeMeterID is the meter of the line's price, if metered; Meter is
	// ours when it is one of ours (filled by the service).
	StripeMeterID string
	Meter         Meter
	Quantity      int64
	Amount        int64
	Currency      string
}

// Stripes are the Stripe clients per mode. Live receives LIVE usage; Test,
// which must hold a test-mode key, receives TEST usage. A nil client keeps
// that mode's usage in the ledger only.
type Stripes struct {
	Live Stripe
	Test Stripe
}

// For returns the client of a mode, or nil.
func (s Stripes) For(mode string) Stripe {
	switch mode {
	case ModeLive:
		return s.Live
	case ModeTest:
		return s.Test
	}
	return nil
}

// Modes lists the modes that have a client, live first.
func (s Stripes) Modes() []string {
	var out []string
	if s.Live != nil {
		out = append(out, ModeLive)
	}
	if s.Test != nil {
		out = append(out, ModeTest)
	}
	return out
}
