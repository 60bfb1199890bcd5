package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/borderproof/borderproof/internal/audit"
	"github.com/borderproof/borderproof/internal/errs"
	"github.com/borderproof/borderproof/internal/id"
	"github.com/borderproof/borderproof/internal/pipeline"
	"github.com/borderproof/borderproof/internal/risk"
	"github.com/borderproof/borderproof/internal/store"
	"github.com/borderproof/borderproof/internal/store/storetest"
	"github.com/borderproof/borderproof/internal/tenant"
	"github.com/borderproof/borderproof/internal/verification"
)

// TestStartChecksAuditedAndProgress: the attempt and its audit entry commit
// together, and only while the check is PENDING; CheckProgress counts the
// checks by state for the insurer only.
func TestStartChecksAuditedAndProgress(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		tenants := tenant.NewService(s, nil, discard())
		ins, err := tenants.CreateInsurer(ctx, tenant.CreateInsurerInput{Name: "Acme", Country: "FRA", Region: "EU"})
		if err != nil {
			t.Fatal(err)
		}
		other, err := tenants.CreateInsurer(ctx, tenant.CreateInsurerInput{Name: "Other", Country: "USA"})
		if err != nil {
			t.Fatal(err)
		}
		t0 := time.Now().UTC().Truncate(time.Microsecond).Add(-time.Hour)
		v := seedVerification(t, s, ins.ID, t0, risk.CheckDocumentRegistry, risk.CheckWatchlist, risk.CheckImmigrationStatus)
		reg, wl := v.Checks[0], v.Checks[1]
		shares := func() int {
			t.Helper()
			es, err := s.AuditLog(ctx, ins.ID, audit.Filter{Action: audit.ActionPartnerShare, VerificationID: v.ID}, "", 50)
			if err != nil {
				t.Fatal(err)
			}
			return len(es)
		}
		entry := func(at time.Time) *audit.Entry {
			return &audit.Entry{ID: id.NewAt(id.Audit, at), InsurerID: ins.ID, Actor: "system", Action: audit.ActionPartnerShare,
				VerificationID: v.ID, Purpose: "UNDERWRITING", Detail: []byte(`{"partner":"p"}`), CreatedAt: at}
		}

		if pr, err := s.CheckProgress(ctx, ins.ID, v.ID); err != nil || pr != (pipeline.Progress{Status: verification.StatusQueued, Checks: 3, Pending: 3}) {
			t.Fatalf("progress at start: %+v %v", pr, err)
		}
		if _, err := s.CheckProgress(ctx, other.ID, v.ID); !errs.Is(err, errs.NotFound) {
			t.Fatalf("foreign progress: %v", err)
		}
		if ok, err := startCheck(ctx, s, other.ID, reg.ID, "p", t0, entry(t0)); err != nil || ok || shares() != 0 {
			t.Fatalf("foreign start: %v %v, %d entries", ok, err, shares())
		}
		if ok, err := startCheck(ctx, s, ins.ID, reg.ID, "p", t0.Add(time.Second), entry(t0.Add(time.Second))); err != nil || !ok || shares() != 1 {
			t.Fatalf("start: %v %v, %d entries", ok, err, shares())
		}
		finish := func(c verification.Check, st risk.CheckStatus) {
			t.Helper()
			u := pipeline.CheckUpdate{InsurerID: ins.ID, VerificationID: v.ID, CheckID: c.ID, From: []risk.CheckStatus{risk.CheckPending},
				Attempts: -1, Status: st, Partner: "p", Signals: []risk.Signal{}, At: t0.Add(2 * time.Second)}
			if ok, err := s.UpdateCheck(ctx, u); err != nil || !ok {
				t.Fatalf("update %s: %v %v", c.ID, ok, err)
			}
		}
		finish(reg, risk.CheckCompleted)
		// RUNNING with checks still open: the verification row is not
		// touched (updated_at is still the start's).
		if got, err := s.PipelineVerification(ctx, ins.ID, v.ID); err != nil || !got.UpdatedAt.Equal(t0.Add(time.Second)) {
			t.Fatalf("a finished sibling touched the verification: %v %v", got.UpdatedAt, err)
		}
		finish(wl, risk.CheckAwaitingPartner)
		if pr, err := s.CheckProgress(ctx, ins.ID, v.ID); err != nil || pr != (pipeline.Progress{Status: verification.StatusAwaitingPartner, Checks: 3, Terminal: 1, Pending: 1}) {
			t.Fatalf("progress: %+v %v", pr, err)
		}
		// No longer PENDING: no attempt and no audit entry.
		if ok, err := startCheck(ctx, s, ins.ID, reg.ID, "p", t0.Add(3*time.Second), entry(t0.Add(3*time.Second))); err != nil || ok || shares() != 1 {
			t.Fatalf("start of a finished check: %v %v, %d entries", ok, err, shares())
		}

		// A second started check leaves a RUNNING verification alone; the
		// verification row changes only with its status or when its last
		// open check ends (the sweeper's clock).
		updatedAt := func() time.Time {
			t.Helper()
			got, err := s.PipelineVerification(ctx, ins.ID, v.ID)
			if err != nil {
				t.Fatal(err)
			}
			return got.UpdatedAt
		}
		immigration := v.Checks[2]
		before := updatedAt()
		if ok, err := startCheck(ctx, s, ins.ID, immigration.ID, "p", t0.Add(4*time.Second), nil); err != nil || !ok {
			t.Fatalf("start: %v %v", ok, err)
		}
		if got := updatedAt(); !got.Equal(before) {
			t.Fatalf("a check start touched the verification: %s → %s", before, got)
		}
		end := func(c verification.Check, from risk.CheckStatus, at time.Time) {
			t.Helper()
			u := pipeline.CheckUpdate{InsurerID: ins.ID, VerificationID: v.ID, CheckID: c.ID, From: []risk.CheckStatus{from},
				Attempts: -1, Status: risk.CheckCompleted, Partner: "p", Signals: []risk.Signal{}, At: at}
			if ok, err := s.UpdateCheck(ctx, u); err != nil || !ok {
				t.Fatalf("update %s: %v %v", c.ID, ok, err)
			}
		}
		end(wl, risk.CheckAwaitingPartner, t0.Add(5*time.Second)) // AWAITING_PARTNER → RUNNING
		if pr, err := s.CheckProgress(ctx, ins.ID, v.ID); err != nil || pr.Status != verification.StatusRunning {
			t.Fatalf("after the case closed: %+v %v", pr, err)
		}
		if got := updatedAt(); !got.Equal(t0.Add(5 * time.Second)) {
			t.Fatalf("status change at %s, updated_at %s", t0.Add(5*time.Second), got)
		}
		end(immigration, risk.CheckPending, t0.Add(6*time.Second)) // the last open check
		if got := updatedAt(); !got.Equal(t0.Add(6 * time.Second)) {
			t.Fatalf("last check at %s, updated_at %s", t0.Add(6*time.Second), got)
		}
	})
}
