package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/borderproof/borderproof/internal/risk"
	"github.com/borderproof/borderproof/internal/store"
	"github.com/borderproof/borderproof/internal/store/storetest"
	"github.com/borderproof/borderproof/internal/tenant"
)

func TestRiskPolicies(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		tenants := tenant.NewService(s, nil, discard())
		ins, err := tenants.CreateInsurer(ctx, tenant.CreateInsurerInput{Name: "Acme", Country: "FRA"})
		if err != nil {
			t.Fatal(err)
		}
		other, err := tenants.CreateInsurer(ctx, tenant.CreateInsurerInput{Name: "Other", Country: "USA"})
		if err != nil {
			t.Fatal(err)
		}
		if vs, err := s.RiskPolicies(ctx, ins.ID); err != nil || len(vs) != 0 {
			t.Fatalf("no versions yet: %d %v", len(vs), err)
		}
		t0 := time.Now().UTC().Truncate(time.Second)
		// 53 versions: only the newest 50 are listed, newest first.
		for v := 2; v <= 54; v++ {
			p := risk.DefaultPolicy()
			p.InsurerID, p.Version, p.CreatedAt = ins.ID, v, t0.Add(time.Duration(v)*time.Second)
			p.Weights[risk.SignalOverstay] = v
			if err := s.PutRiskPolicy(ctx, p); err != nil {
				t.Fatal(err)
			}
		}
		vs, err := s.RiskPolicies(ctx, ins.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(vs) != 50 {
			t.Fatalf("listed %d versions, want 50", len(vs))
		}
		for i, p := range vs {
			want := 54 - i
			if p.Version != want || p.InsurerID != ins.ID || p.Weights[risk.SignalOverstay] != want ||
				!p.CreatedAt.Equal(t0.Add(time.Duration(want)*time.Second)) {
				t.Fatalf("version %d: got %d %s %v", i, p.Version, p.InsurerID, p.CreatedAt)
			}
		}
		if vs, err := s.RiskPolicies(ctx, other.ID); err != nil || len(vs) != 0 {
			t.Fatalf("another insurer's versions: %d %v", len(vs), err)
		}
	})
}
