package clients_test

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/borderproof/borderproof/internal/errs"
	"github.com/borderproof/borderproof/internal/partner"
	"github.com/borderproof/borderproof/internal/partner/clients"
	"github.com/borderproof/borderproof/internal/partner/statuscase"
	"github.com/borderproof/borderproof/internal/partner/watchlist"
	"github.com/borderproof/borderproof/internal/partnersim"
	"github.com/borderproof/borderproof/internal/partnersim/simtest"
)

func TestFactoriesCoverDevConfig(t *testing.T) {
	t.Parallel()
	cfg, err := partner.DevConfig()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range cfg.Partners {
		if _, ok := clients.Factories()[p.Protocol]; !ok {
			t.Errorf("no client for protocol %s", p.Protocol)
		}
	}
}

var req = partner.Request{CheckID: "chk_b", CheckType: partner.CheckWatchlist,
	Subject: partner.Subject{GivenNames: "ANNA", Surname: "PLAINNAME", Nationality: "CAN"}}

func TestBreakerOverHTTP(t *testing.T) {
	t.Parallel()
	sim := simtest.Start(t, func(c *partnersim.Config) { c.Population = -1 })
	cfg := simtest.PartnerConfig(t, sim, watchlist.Protocol)
	cfg.Attempts = 1
	cfg.Breaker = partner.BreakerConfig{Failures: 3, OpenFor: 200 * time.Millisecond, HalfOpenRequests: 1}
	c, err := watchlist.New(cfg, sim.Deps(nil))
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	m, err := partner.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	r := partner.Wrap(c, cfg, m, nil)
	if err := sim.SetFault(partnersim.Watchlist, partnersim.Fault{ErrorRate: 1, ErrorStatus: 500}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := r.Check(t.Context(), req); !errs.Is(err, errs.Unavailable) {
			t.Fatalf("failing partner: %v", err)
		}
	}
	var ce *partner.CallError
	_, err = r.Check(t.Context(), req)
	if r.BreakerState() != "open" || !errors.As(err, &ce) || ce.Code != "BREAKER_OPEN" {
		t.Fatalf("after 3 failures: state %s, err %v", r.BreakerState(), err)
	}
	// Half-open: one trial that fails sends it back to open.
	time.Sleep(250 * time.Millisecond)
	if r.BreakerState() != "half-open" {
		t.Fatalf("state %s after the open period", r.BreakerState())
	}
	if _, err := r.Check(t.Context(), req); err == nil || r.BreakerState() != "open" {
		t.Fatalf("failed trial: state %s err %v", r.BreakerState(), err)
	}
	// Partner recovers; the failed trial doubled the opening to 400 ms, and
	// the next trial, after it, closes the breaker.
	if err := sim.SetFault(partnersim.Watchlist, partnersim.Fault{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(250 * time.Millisecond)
	if _, err := r.Check(t.Context(), req); !errors.As(err, &ce) || ce.Code != "BREAKER_OPEN" || r.BreakerState() != "open" {
		t.Fatalf("250 ms into the second opening: state %s err %v", r.BreakerState(), err)
	}
	time.Sleep(200 * time.Millisecond)
	if _, err := r.Check(t.Context(), req); err != nil || r.BreakerState() != "closed" {
		t.Fatalf("good trial: state %s err %v", r.BreakerState(), err)
	}
	mfs, _ := reg.Gather()
	names := map[string]bool{}
	for _, mf := range mfs {
		names[mf.GetName()] = true
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "partner" && l.GetValue() != cfg.Name {
					t.Errorf("metric %s labelled partner=%q", mf.GetName(), l.GetValue())
				}
			}
		}
	}
	for _, n := range []string{"borderproof_partner_call_duration_seconds", "borderproof_partner_calls_total", "borderproof_partner_breaker_state"} {
		if !names[n] {
			t.Errorf("metric %s missing", n)
		}
	}
}

func TestRetriesRecoverFromErrors(t *testing.T) {
	t.Parallel()
	sim := simtest.Start(t, func(c *partnersim.Config) {
		c.Population = -1
		c.Seed = 4
		c.Faults = map[string]partnersim.Fault{partnersim.Watchlist: {ErrorRate: 0.3}}
	})
	cfg := simtest.PartnerConfig(t, sim, watchlist.Protocol)
	cfg.Attempts = 6
	c, err := watchlist.New(cfg, sim.Deps(nil))
	if err != nil {
		t.Fatal(err)
	}
	r := partner.Wrap(c, cfg, nil, nil)
	for i := range 20 {
		if _, err := r.Check(t.Context(), req); err != nil {
			t.Fatalf("call %d with 30%% errors and 6 attempts: %v", i, err)
		}
	}
}

// The benchmarks compare a call through the resilience layer (client,
// encoding, interpretation, limiter, breaker, semaphore, metrics) with a
// bare http.Client POST of the same body to the same endpoint.
func BenchmarkResilientCheck(b *testing.B) {
	sim := simtest.Start(b, func(c *partnersim.Config) { c.Population = -1 })
	cfg := simtest.PartnerConfig(b, sim, watchlist.Protocol)
	cfg.RateLimit = partner.RateLimit{PerSecond: 1e9, Burst: 1 << 30}
	c, err := watchlist.New(cfg, sim.Deps(nil))
	if err != nil {
		b.Fatal(err)
	}
	m, _ := partner.NewMetrics(prometheus.NewRegistry())
	r := partner.Wrap(c, cfg, m, nil)
	ctx := b.Context()
	for b.Loop() {
		if _, err := r.Check(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBareHTTP(b *testing.B) {
	sim := simtest.Start(b, func(c *partnersim.Config) { c.Population = -1 })
	body := []byte(`{"reference":"chk_b","subject":{"givenNames":"ANNA","surname":"PLAINNAME","nationality":"CAN"},"minScore":0.85}`)
	url := sim.URLs().Watchlist + watchlist.ScreenPath
	hc := &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	for b.Loop() {
		hreq, _ := http.NewRequestWithContext(b.Context(), http.MethodPost, url, bytes.NewReader(body))
		hreq.Header.Set("Authorization", "Token "+sim.Credentials().WatchlistToken)
		hreq.Header.Set("Content-Type", "application/json")
		resp, err := hc.Do(hreq)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
}

// The poll pair measures the same comparison on a cheap endpoint (a case
// lookup), where the layer's own cost is not hidden by screening work.
func openCase(b *testing.B, sim *partnersim.Sim) (*statuscase.Client, partner.PartnerConfig, string) {
	cfg := simtest.PartnerConfig(b, sim, statuscase.Protocol)
	cfg.RateLimit = partner.RateLimit{PerSecond: 1e9, Burst: 1 << 30}
	c, err := statuscase.New(cfg, sim.Deps(nil))
	if err != nil {
		b.Fatal(err)
	}
	res, err := c.Check(b.Context(), partner.Request{CheckID: "chk_p", Subject: partner.Subject{Surname: "DOE",
		DateOfBirth: time.Date(1990, 1, 1, 0, 0, 0, 0, time.UTC)}, Document: partner.Document{Number: "P1", IssuingCountry: "CAN"}})
	if err != nil {
		b.Fatal(err)
	}
	return c, cfg, res.Reference
}

func BenchmarkResilientPoll(b *testing.B) {
	sim := simtest.Start(b, func(c *partnersim.Config) { c.Population = -1 })
	c, cfg, ref := openCase(b, sim)
	m, _ := partner.NewMetrics(prometheus.NewRegistry())
	r := partner.Wrap(c, cfg, m, nil)
	for b.Loop() {
		if _, err := r.Poll(b.Context(), ref); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBarePoll(b *testing.B) {
	sim := simtest.Start(b, func(c *partnersim.Config) { c.Population = -1 })
	_, _, ref := openCase(b, sim)
	url := sim.URLs().StatusCase + statuscase.CasesPath + "/" + ref
	hc := &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	for b.Loop() {
		hreq, _ := http.NewRequestWithContext(b.Context(), http.MethodGet, url, nil)
		hreq.Header.Set(statuscase.APIKeyHeader, sim.Credentials().StatusCaseAPIKey)
		resp, err := hc.Do(hreq)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
}
