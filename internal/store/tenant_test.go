package store_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/borderproof/borderproof/internal/errs"
	"github.com/borderproof/borderproof/internal/store"
	"github.com/borderproof/borderproof/internal/store/storetest"
	"github.com/borderproof/borderproof/internal/tenant"
)

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// TestTenantContract is the tenant.Store contract, on every backend.
func TestTenantContract(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		svc := tenant.NewService(s, nil, discard())

		a, err := svc.CreateInsurer(ctx, tenant.CreateInsurerInput{Name: "Acme Mutual", Country: "fra", Region: "EU"})
		if err != nil {
			t.Fatal(err)
		}
		b, err := svc.CreateInsurer(ctx, tenant.CreateInsurerInput{Name: "Other Re", Country: "USA", Mode: tenant.Test})
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.Insurer(ctx, a.ID)
		if err != nil || got.Name != "Acme Mutual" || got.Country != "FRA" || got.Region != "EU" || got.RetentionDays != 365 || !got.CreatedAt.Equal(a.CreatedAt) {
			t.Fatalf("insurer round trip: %+v, %v", got, err)
		}
		if _, err := s.Insurer(ctx, "ins_missing"); !errs.Is(err, errs.NotFound) {
			t.Fatalf("missing insurer: %v", err)
		}
		all, err := s.Insurers(ctx)
		if err != nil || len(all) != 2 {
			t.Fatalf("insurers: %d %v", len(all), err)
		}

		key, plain, err := svc.CreateKey(ctx, tenant.CreateKeyInput{InsurerID: a.ID, Mode: tenant.Live,
			Scopes: []tenant.Scope{tenant.ScopeVerificationsRead}, Purposes: []string{"UNDERWRITING"}})
		if err != nil {
			t.Fatal(err)
		}
		if len(plain) != len("bp_live_")+43 || key.Prefix != plain[:14] {
			t.Fatalf("key shape: %q prefix %q", plain, key.Prefix)
		}
		// A sandbox-only insurer cannot hold live keys.
		if _, _, err := svc.CreateKey(ctx, tenant.CreateKeyInput{InsurerID: b.ID, Mode: tenant.Live, Scopes: []tenant.Scope{tenant.ScopeAdmin}}); !errs.Is(err, errs.FailedPrecondition) {
			t.Fatalf("live key for sandbox insurer: %v", err)
		}
		p, err := svc.Authenticate(ctx, plain)
		if err != nil {
			t.Fatal(err)
		}
		if p.Insurer.ID != a.ID || p.Key.ID != key.ID || !p.Has(tenant.ScopeVerificationsRead) || p.Has(tenant.ScopePIIRead) || !p.AllowsPurpose("UNDERWRITING") || p.AllowsPurpose("CLAIMS") {
			t.Fatalf("principal: %+v", p)
		}
		keys, err := s.APIKeys(ctx, a.ID)
		if err != nil || len(keys) != 1 || keys[0].LastUsedAt.IsZero() {
			t.Fatalf("keys after use: %+v %v", keys, err)
		}
		// Tenancy: b cannot see or revoke a's key.
		if keys, _ := s.APIKeys(ctx, b.ID); len(keys) != 0 {
			t.Fatalf("foreign keys visible: %+v", keys)
		}
		if err := svc.RevokeKey(ctx, b.ID, key.ID); !errs.Is(err, errs.NotFound) {
			t.Fatalf("foreign revoke: %v", err)
		}
		if err := svc.RevokeKey(ctx, a.ID, key.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Authenticate(ctx, plain); !errs.Is(err, errs.Unauthenticated) {
			t.Fatalf("revoked key authenticated: %v", err)
		}
		for _, bad := range []string{"", "bp_live_short", plain[:len(plain)-1] + "A", "Bearer " + plain} {
			if _, err := svc.Authenticate(ctx, bad); !errs.Is(err, errs.Unauthenticated) {
				t.Fatalf("bad key %q: %v", bad, err)
			}
		}
		if err := s.UpdateInsurerSettings(ctx, a.ID, 30, tenant.Settings{DefaultChecks: []string{"WATCHLIST"}}); err != nil {
			t.Fatal(err)
		}
		got, _ = s.Insurer(ctx, a.ID)
		if got.RetentionDays != 30 || len(got.Settings.DefaultChecks) != 1 {
			t.Fatalf("settings: %+v", got)
		}
		_ = time.Now
	})
}

func TestMigrateIsIdempotent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		applied, err := s.Migrate(context.Background())
		if err != nil || len(applied) != 0 {
			t.Fatalf("second migrate applied %v, %v", applied, err)
		}
	})
}
