package partner_test

import (
	"context"
	"strings"
	"testing"

	"github.com/borderproof/borderproof/internal/errs"
	"github.com/borderproof/borderproof/internal/partner"
)

func TestDevConfig(t *testing.T) {
	t.Parallel()
	c, err := partner.DevConfig()
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Partners) != 5 {
		t.Fatalf("%d partners, want 5", len(c.Partners))
	}
	for _, p := range c.Partners {
		if p.Price.Amount <= 0 || p.Cost.Amount <= 0 || p.Price.Currency == "" {
			t.Errorf("%s: price/cost missing", p.Name)
		}
		if p.Timeout <= 0 || p.MaxInFlight <= 0 {
			t.Errorf("%s: defaults not applied", p.Name)
		}
	}
	// Round trip through Marshal.
	b, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	c2, err := partner.ParseConfig(strings.NewReader(string(b)))
	if err != nil || len(c2.Partners) != 5 || c2.Partners[0].Timeout != c.Partners[0].Timeout {
		t.Fatalf("round trip: %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"secret in file":   `partners: [{name: a1, protocol: x, jurisdiction: USA, checks: [WATCHLIST], baseURL: "http://x", credentials: {apiKey: "sk_live_abc123"}}]`,
		"bad jurisdiction": `partners: [{name: a1, protocol: x, jurisdiction: us, checks: [WATCHLIST], baseURL: "http://x"}]`,
		"unknown key":      `partners: [{name: a1, protocol: x, jurisdiction: USA, checks: [WATCHLIST], baseURL: "http://x", secret: 1}]`,
		"local check":      `partners: [{name: a1, protocol: x, jurisdiction: USA, checks: [DOCUMENT_MRZ], baseURL: "http://x"}]`,
		"duplicate":        `partners: [{name: a1, protocol: x, jurisdiction: USA, checks: [WATCHLIST], baseURL: "http://x"}, {name: a1, protocol: x, jurisdiction: USA, checks: [WATCHLIST], baseURL: "http://x"}]`,
		"price currency":   `partners: [{name: a1, protocol: x, jurisdiction: USA, checks: [WATCHLIST], baseURL: "http://x", price: {amount: 5}}]`,
		"breaker backoff":  `partners: [{name: a1, protocol: x, jurisdiction: USA, checks: [WATCHLIST], baseURL: "http://x", breaker: {openFor: 10s, maxOpenFor: 5s}}]`,
	}
	for name, y := range cases {
		if _, err := partner.ParseConfig(strings.NewReader(y)); !errs.Is(err, errs.Invalid) {
			t.Errorf("%s: err = %v, want Invalid", name, err)
		}
	}
}

type stub struct{ name, jur string }

func (s stub) Name() string         { return s.name }
func (s stub) Jurisdiction() string { return s.jur }
func (s stub) Check(context.Context, partner.Request) (partner.Result, error) {
	return partner.Result{}, nil
}
func (s stub) Poll(context.Context, string) (partner.Result, error) { return partner.Result{}, nil }

func TestRegistryRoute(t *testing.T) {
	t.Parallel()
	c, err := partner.DevConfig()
	if err != nil {
		t.Fatal(err)
	}
	f := func(pc partner.PartnerConfig, _ partner.Deps) (partner.Partner, error) {
		return stub{pc.Name, pc.Jurisdiction}, nil
	}
	fs := map[string]partner.Factory{"visastatus": f, "statuscase": f, "docregistry": f, "bordermovements": f, "watchlist": f}
	r, err := partner.NewRegistry(c, fs, partner.Deps{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		check partner.CheckType
		cc    string
		want  string
	}{
		{partner.CheckImmigrationStatus, "USA", "statuscase-sim"},
		{partner.CheckImmigrationStatus, "AUS", "visastatus-sim"},
		{partner.CheckImmigrationStatus, "FRA", "visastatus-sim"},
		{partner.CheckWatchlist, "USA", "watchlist-sim"},
		{partner.CheckDocumentRegistry, "AUS", "docregistry-sim"},
		{partner.CheckBorderMovements, "FRA", "bordermovements-sim"},
	} {
		p, err := r.Route(tc.check, tc.cc)
		if err != nil || p.Name() != tc.want {
			t.Errorf("Route(%s, %s) = %v, %v; want %s", tc.check, tc.cc, p, err, tc.want)
		}
	}
	if _, err := r.Route(partner.CheckDocumentMRZ, "USA"); !errs.Is(err, errs.FailedPrecondition) {
		t.Errorf("MRZ routed: %v", err)
	}
	delete(fs, "watchlist")
	if _, err := partner.NewRegistry(c, fs, partner.Deps{}, nil); err == nil {
		t.Error("registry built with a protocol missing")
	}
}
