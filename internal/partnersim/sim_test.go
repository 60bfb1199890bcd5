package partnersim_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/borderproof/borderproof/internal/errs"
	"github.com/borderproof/borderproof/internal/partner"
	"github.com/borderproof/borderproof/internal/partner/clients"
	"github.com/borderproof/borderproof/internal/partnersim"
	"github.com/borderproof/borderproof/internal/partnersim/simtest"
	"github.com/borderproof/borderproof/internal/screening"
)

func TestWatchlistNamesFromEmbeddedList(t *testing.T) {
	t.Parallel()
	l, err := screening.LoadDefault(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	names, err := partnersim.WatchlistNames(l, screening.DefaultFS())
	if err != nil {
		t.Fatal(err)
	}
	if len(names) < 100 {
		t.Fatalf("%d usable listed individuals", len(names))
	}
	for _, n := range names[:20] {
		if n.DateOfBirth.IsZero() || len(n.Nationality) != 3 || n.Surname == "" {
			t.Fatalf("incomplete %+v", n)
		}
	}
}

// TestRegistryOverSimulator builds the production registry from the
// simulator's config and runs one check per protocol through the
// resilience layer.
func TestRegistryOverSimulator(t *testing.T) {
	t.Parallel()
	sim := simtest.Start(t, func(c *partnersim.Config) { c.CaseInitialDelay = time.Hour })
	reg, err := partner.NewRegistry(sim.PartnerConfig(), clients.Factories(), sim.Deps(nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	dob := time.Date(1985, 6, 1, 0, 0, 0, 0, time.UTC)
	kb, err := partner.NewKeyBlinder(sim.PartnerConfig(), sim.Deps(nil))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		check    partner.CheckType
		coverage string
		want     partner.Outcome
	}{
		{partner.CheckImmigrationStatus, "AUS", partner.OutcomeClear},
		{partner.CheckImmigrationStatus, "USA", partner.OutcomeAwaiting},
		{partner.CheckDocumentRegistry, "FRA", partner.OutcomeClear},
		{partner.CheckBorderMovements, "FRA", partner.OutcomeClear},
		{partner.CheckWatchlist, "FRA", partner.OutcomeClear},
	} {
		p, err := reg.Route(tc.check, tc.coverage)
		if err != nil {
			t.Fatal(err)
		}
		full := partner.Request{CheckID: "chk_" + string(tc.check) + tc.coverage, CheckType: tc.check,
			Subject:          partner.Subject{GivenNames: "ANNA", Surname: "SMITH", DateOfBirth: dob, Nationality: "CAN", ResidenceCountry: tc.coverage},
			Document:         partner.Document{Type: "PASSPORT", Number: "QA1234567", IssuingCountry: "CAN"},
			ConsentReference: "CNS-1", LawfulBasis: partner.BasisConsent, Purposes: []partner.Purpose{partner.PurposeUnderwriting},
			Product: partner.ProductLife, CoverageCountry: tc.coverage, PolicyStart: time.Now(), PolicyEnd: time.Now().AddDate(1, 0, 0)}
		d := partner.Decide(partner.SharingInput{InsurerRegion: "EU", SubjectNationality: "CAN", SubjectResidence: tc.coverage,
			PartnerJurisdiction: p.Jurisdiction(), Protocol: p.Config().Protocol, CheckType: tc.check,
			LawfulBasis: full.LawfulBasis, Purposes: full.Purposes, HasConsentReference: true})
		if !d.Allowed {
			t.Fatalf("%s: sharing refused by %s", tc.check, d.Rule)
		}
		req, err := partner.Prepare(t.Context(), d, full, p.Name(), kb)
		if err != nil {
			t.Fatal(err)
		}
		res, err := p.Check(t.Context(), req)
		if err != nil {
			t.Fatalf("%s via %s: %v", tc.check, p.Name(), err)
		}
		if res.Outcome != tc.want {
			t.Errorf("%s via %s: %s, want %s", tc.check, p.Name(), res.Outcome, tc.want)
		}
	}
}

func adminJSON(t *testing.T, sim *partnersim.Sim, method, path string, body any, out any) int {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequestWithContext(t.Context(), method, sim.URLs().Admin+path, bytes.NewReader(b))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		_ = json.NewDecoder(resp.Body).Decode(out)
	}
	return resp.StatusCode
}

func TestAdminFaultsAndClock(t *testing.T) {
	t.Parallel()
	sim := simtest.Start(t, func(c *partnersim.Config) { c.Population = -1 })
	if code := adminJSON(t, sim, http.MethodPut, "/faults/watchlist", map[string]any{"latency": "5ms", "errorRate": 1}, nil); code != 200 {
		t.Fatalf("PUT fault: %d", code)
	}
	if f, _ := sim.Fault(partnersim.Watchlist); f.ErrorRate != 1 || time.Duration(f.Latency) != 5*time.Millisecond {
		t.Fatalf("fault not set: %+v", f)
	}
	if code := adminJSON(t, sim, http.MethodPut, "/faults/nosuch", map[string]any{}, nil); code != 404 {
		t.Fatalf("unknown partner: %d", code)
	}
	if code := adminJSON(t, sim, http.MethodPut, "/faults/watchlist", map[string]any{"errorRate": 3}, nil); code != 400 {
		t.Fatalf("bad rate: %d", code)
	}
	cfg := simtest.PartnerConfig(t, sim, "watchlist")
	cfg.Attempts = 1
	p, err := clients.Factories()["watchlist"](cfg, sim.Deps(nil))
	if err != nil {
		t.Fatal(err)
	}
	req := partner.Request{CheckID: "chk_1", Subject: partner.Subject{Surname: "DOE"}}
	if _, err := p.Check(t.Context(), req); !errs.Is(err, errs.Unavailable) {
		t.Fatalf("error rate 1: %v", err)
	}
	if code := adminJSON(t, sim, http.MethodDelete, "/faults/watchlist", nil, nil); code != 204 {
		t.Fatalf("DELETE: %d", code)
	}
	if _, err := p.Check(t.Context(), req); err != nil {
		t.Fatalf("after clearing: %v", err)
	}

	// A scheduled outage in simulated time: reached by moving the clock.
	now := sim.Clock().Now()
	out := partnersim.Fault{Outages: []partnersim.Outage{{From: now.Add(time.Hour), To: now.Add(2 * time.Hour)}}}
	if err := sim.SetFault("watchlist", out); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Check(t.Context(), req); err != nil {
		t.Fatalf("before the outage: %v", err)
	}
	var clock map[string]string
	adminJSON(t, sim, http.MethodPost, "/clock", map[string]string{"advance": "90m"}, &clock)
	if clock["offset"] != "1h30m0s" {
		t.Fatalf("clock answer %v", clock)
	}
	_, err = p.Check(t.Context(), req)
	if e, _ := errs.As(err); e == nil || e.Kind != errs.Unavailable || e.RetryAfterSeconds < 1700 {
		t.Fatalf("during the outage: %v", err)
	}
	adminJSON(t, sim, http.MethodPost, "/clock", map[string]string{"advance": "1h"}, nil)
	if _, err := p.Check(t.Context(), req); err != nil {
		t.Fatalf("after the outage: %v", err)
	}
}

func TestHangingRequestTimesOut(t *testing.T) {
	t.Parallel()
	sim := simtest.Start(t, func(c *partnersim.Config) {
		c.Population = -1
		c.Faults = map[string]partnersim.Fault{partnersim.Watchlist: {HangRate: 1}}
	})
	cfg := simtest.PartnerConfig(t, sim, "watchlist")
	cfg.Timeout, cfg.Attempts = 50*time.Millisecond, 2
	p, err := clients.Factories()["watchlist"](cfg, sim.Deps(nil))
	if err != nil {
		t.Fatal(err)
	}
	_, err = partner.Wrap(p, cfg, nil, nil).Check(t.Context(), partner.Request{CheckID: "c", Subject: partner.Subject{Surname: "DOE"}})
	if !partner.IsTimeout(err) || !errs.Is(err, errs.Unavailable) {
		t.Fatalf("hanging partner: %v", err)
	}
}

func TestRunWritesExport(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	cfg := partnersim.Config{Seed: 3, Population: 50, AsOf: asOf, ExportFile: filepath.Join(dir, "pop.jsonl"), TLSDir: filepath.Join(dir, "tls")}
	go func() { done <- partnersim.Run(ctx, cfg, nil) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(dir, "tls", partnersim.ClientKeyFile)); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Run did not write the TLS files")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(cfg.ExportFile)
	if err != nil {
		t.Fatal(err)
	}
	pop, _ := partnersim.NewPopulation(partnersim.PopulationConfig{Seed: 3, Size: 50, AsOf: asOf, Watchlist: mustNames(t)})
	var want bytes.Buffer
	if err := partnersim.WriteExport(&want, pop); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatal("Run's export differs from the population's")
	}
	if _, err := partner.ClientTLS(partnersim.ReadClientFiles(filepath.Join(dir, "tls"))); err != nil {
		t.Fatalf("written TLS files do not load: %v", err)
	}
}

func mustNames(t *testing.T) []partnersim.WatchlistName {
	l, err := screening.LoadDefault(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	n, err := partnersim.WatchlistNames(l, screening.DefaultFS())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestDefaultPopulationSize(t *testing.T) {
	t.Parallel()
	sim, err := partnersim.New(partnersim.Config{Seed: 9}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(sim.Population().People); n != partnersim.DefaultPopulation {
		t.Fatalf("%d people", n)
	}
	if _, err := partnersim.New(partnersim.Config{Faults: map[string]partnersim.Fault{"nosuch": {}}}, nil); err == nil {
		t.Fatal("fault for an unknown partner accepted")
	}
}
