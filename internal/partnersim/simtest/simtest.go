// Package simtest starts the partner simulator for tests.
package simtest

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/borderproof/borderproof/internal/partner"
	"github.com/borderproof/borderproof/internal/partnersim"
)

// Start runs a simulator on loopback ports for the test, with a small
// population (200 people, seed 1) unless mod changes the config. It is
// closed when the test ends.
func Start(t testing.TB, mod ...func(*partnersim.Config)) *partnersim.Sim {
	t.Helper()
	cfg := partnersim.Config{Seed: 1, Population: 200, CaseInitialDelay: -1}
	for _, m := range mod {
		m(&cfg)
	}
	sim, err := partnersim.New(cfg, nil)
	if err != nil {
		t.Fatalf("partnersim.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := sim.Start(ctx); err != nil {
		cancel()
		t.Fatalf("partnersim.Start: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		_ = sim.Close()
	})
	return sim
}

// PartnerConfig returns the simulator's config for one protocol with quick
// test timings: 2s timeout, 3 attempts, millisecond backoff.
func PartnerConfig(t testing.TB, sim *partnersim.Sim, protocol string) partner.PartnerConfig {
	t.Helper()
	for _, p := range sim.PartnerConfig().Partners {
		if p.Protocol == protocol {
			p.Timeout = 2 * time.Second
			p.BackoffBase, p.BackoffMax = time.Millisecond, 10*time.Millisecond
			p.RateLimit = partner.RateLimit{PerSecond: 1000, Burst: 1000, MaxWait: time.Second}
			return p
		}
	}
	t.Fatalf("no %s partner in the simulator config", protocol)
	return partner.PartnerConfig{}
}

// Admin sends a JSON request to the simulator's admin endpoint and fails
// the test unless it answers 2xx.
func Admin(t testing.TB, sim *partnersim.Sim, method, path string, body any) {
	t.Helper()
	var b []byte
	if body != nil {
		var err error
		if b, err = json.Marshal(body); err != nil {
			t.Fatal(err)
		}
	}
	req, err := http.NewRequest(method, sim.URLs().Admin+path, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("admin %s %s: status %d", method, path, resp.StatusCode)
	}
}
