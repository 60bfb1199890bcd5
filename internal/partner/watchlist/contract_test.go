package watchlist_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/borderproof/borderproof/internal/errs"
	"github.com/borderproof/borderproof/internal/partner"
	"github.com/borderproof/borderproof/internal/partner/watchlist"
	"github.com/borderproof/borderproof/internal/partnersim"
	"github.com/borderproof/borderproof/internal/partnersim/simtest"
	"github.com/borderproof/borderproof/internal/risk"
)

func request(given, surname string, dob time.Time, nat string) partner.Request {
	return partner.Request{CheckID: "chk_w", CheckType: partner.CheckWatchlist,
		Subject: partner.Subject{GivenNames: given, Surname: surname, DateOfBirth: dob, Nationality: nat}}
}

func newClient(t *testing.T, sim *partnersim.Sim) *watchlist.Client {
	t.Helper()
	c, err := watchlist.New(simtest.PartnerConfig(t, sim, watchlist.Protocol), sim.Deps(nil))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func only(t *testing.T, r partner.Result) risk.SignalCode {
	t.Helper()
	switch len(r.Signals) {
	case 0:
		return ""
	case 1:
		return r.Signals[0].Code
	}
	t.Fatalf("%d signals", len(r.Signals))
	return ""
}

func TestScreening(t *testing.T) {
	t.Parallel()
	sim := simtest.Start(t, func(c *partnersim.Config) {
		c.Mix = partnersim.Mix{partnersim.LabelClean: 1, partnersim.LabelWatchlistHit: 1}
		c.Population = 60
	})
	c := newClient(t, sim)
	res, err := c.Check(t.Context(), request("MAGIC", partnersim.MagicSanctioned, time.Time{}, ""))
	if err != nil {
		t.Fatal(err)
	}
	if only(t, res) != risk.SignalWatchlistStrong || res.Outcome != partner.OutcomeAlert || res.Signals[0].Strength < 0.92 {
		t.Fatalf("magic strong: %+v", res)
	}
	if v := res.Detail["listVersion"]; !strings.HasPrefix(v, sim.SanctionsListVersion()) || res.Signals[0].Detail["listVersion"] != v {
		t.Fatalf("list version %q", v)
	}
	res, _ = c.Check(t.Context(), request("MAGIC", partnersim.MagicWeakMatch, time.Time{}, ""))
	if only(t, res) != risk.SignalWatchlistWeak || res.Outcome != partner.OutcomeConsider {
		t.Fatalf("magic weak: %+v", res)
	}
	hits, clean := 0, 0
	for _, p := range sim.Population().People {
		res, err := c.Check(t.Context(), request(p.GivenNames, p.Surname, p.DateOfBirth, p.Nationality))
		if err != nil {
			t.Fatal(err)
		}
		got := only(t, res)
		switch p.Label {
		case partnersim.LabelWatchlistHit:
			// Borrowed names keep the listed date of birth and nationality,
			// so even a misspelt one is a strong match.
			if got != risk.SignalWatchlistStrong {
				t.Errorf("listed person %d: %q, want a strong match", p.Index, got)
			}
			hits++
		case partnersim.LabelClean:
			if got == risk.SignalWatchlistStrong {
				t.Errorf("clean person %d: strong match", p.Index)
			}
			clean++
		}
	}
	if hits == 0 || clean == 0 {
		t.Fatalf("population: %d hits, %d clean", hits, clean)
	}
}

func TestErrorDialect(t *testing.T) {
	t.Parallel()
	sim := simtest.Start(t, func(c *partnersim.Config) { c.Population = -1 })
	c := newClient(t, sim)
	var ce *partner.CallError
	if _, err := c.Check(t.Context(), request("", "", time.Time{}, "")); !errs.Is(err, errs.Invalid) {
		t.Fatalf("no name: %v", err)
	}
	cfg := simtest.PartnerConfig(t, sim, watchlist.Protocol)
	bad, _ := watchlist.New(cfg, partner.Deps{LookupEnv: func(string) (string, bool) { return "wrong", true }})
	if _, err := bad.Check(t.Context(), request("A", "B", time.Time{}, "")); !errs.Is(err, errs.Unauthenticated) || !errors.As(err, &ce) || ce.Code != "HTTP-401" {
		t.Fatalf("bad token: %v", err)
	}
	if err := sim.SetFault(partnersim.Watchlist, partnersim.Fault{RateLimit: 0.01, Burst: 1}); err != nil {
		t.Fatal(err)
	}
	_, _ = c.Check(t.Context(), request("A", "B", time.Time{}, ""))
	_, err := c.Check(t.Context(), request("A", "B", time.Time{}, ""))
	if e, _ := errs.As(err); e == nil || e.Kind != errs.RateLimited || e.RetryAfterSeconds < 1 {
		t.Fatalf("429: %v", err)
	}
}

func TestNewerListFromDir(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sdn := `9001,"ZYXWVUT, Qwerty",individual,SDGT,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,"DOB 02 Mar 1970; nationality Iran."` + "\n"
	if err := os.WriteFile(filepath.Join(dir, "sdn.csv"), []byte(sdn), 0o644); err != nil {
		t.Fatal(err)
	}
	sim := simtest.Start(t, func(c *partnersim.Config) { c.SDNDir, c.Population = dir, -1 })
	c := newClient(t, sim)
	res, err := c.Check(t.Context(), request("QWERTY", "ZYXWVUT", time.Date(1970, 3, 2, 0, 0, 0, 0, time.UTC), "IRN"))
	if err != nil {
		t.Fatal(err)
	}
	if only(t, res) != risk.SignalWatchlistStrong || res.Signals[0].Detail["entityId"] != "9001" {
		t.Fatalf("entity from the newer list not found: %+v", res)
	}
}
