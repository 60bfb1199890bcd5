package billing

import (
	"context"

	"github.com/borderproof/borderproof/internal/errs"
	"github.com/borderproof/borderproof/internal/tenant"
)

// SetupLine reports one meter found or created in Stripe.
type SetupLine struct {
	Mode          string
	Meter         Meter
	StripeMeterID string
}

// Setup makes sure every billable meter exists in Stripe for every
// configured mode (found by event_name, created when missing) and records
// the ids reconciliation needs. It is `borderproof admin billing setup` and
// is safe to run again.
func (s *Service) Setup(ctx context.Context) ([]SetupLine, error) {
	modes := s.sc.Modes()
	if len(modes) == 0 {
		return nil, errs.E(errs.FailedPrecondition, "Stripe is not configured (BORDERPROOF_STRIPE_API_KEY)")
	}
	var out []SetupLine
	for _, mode := range modes {
		client := s.sc.For(mode)
		for _, m := range BillableMeters() {
			mid, err := client.EnsureMeter(ctx, m)
			if err != nil {
				return out, err
			}
			if err := s.st.PutStripeMeter(ctx, mode, m, mid, s.now().UTC()); err != nil {
				return out, err
			}
			out = append(out, SetupLine{Mode: mode, Meter: m, StripeMeterID: mid})
		}
	}
	return out, nil
}

// CustomerLine reports one insurer's Stripe customer in a mode.
type CustomerLine struct {
	InsurerID  string
	Mode       string
	CustomerID string
	// Created is false when the account already had the customer.
	Created bool
}

// SyncCustomers gives every insurer a Stripe customer in each mode it can
// use and that has a client: live-mode customers for LIVE insurers, test-mode
// customers for every insurer when a test-mode key is configured. Customers
// are created with the insurer id as idempotency key, so a repeated run (or
// one that crashed before recording the id) does not create a second one
// within Stripe's idempotency window; ids already recorded are kept. It is
// `borderproof admin billing sync-customers`.
func (s *Service) SyncCustomers(ctx context.Context, insurers []tenant.Insurer) ([]CustomerLine, error) {
	if len(s.sc.Modes()) == 0 {
		return nil, errs.E(errs.FailedPrecondition, "Stripe is not configured (BORDERPROOF_STRIPE_API_KEY)")
	}
	var out []CustomerLine
	for _, ins := range insurers {
		acc, err := s.st.Account(ctx, ins.ID)
		if err != nil {
			return out, err
		}
		for _, mode := range s.sc.Modes() {
			if mode == ModeLive && ins.Mode != tenant.Live {
				continue
			}
			if cur := acc.CustomerFor(mode); cur != "" {
				out = append(out, CustomerLine{InsurerID: ins.ID, Mode: mode, CustomerID: cur})
				continue
			}
			cid, err := s.sc.For(mode).EnsureCustomer(ctx, ins.ID, ins.Name)
			if err != nil {
				return out, err
			}
			if err := s.st.SetStripeCustomer(ctx, ins.ID, mode, cid, s.now().UTC()); err != nil {
				return out, err
			}
			out = append(out, CustomerLine{InsurerID: ins.ID, Mode: mode, CustomerID: cid, Created: true})
		}
	}
	return out, nil
}
