package bordermovements_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/borderproof/borderproof/internal/errs"
	"github.com/borderproof/borderproof/internal/partner"
	"github.com/borderproof/borderproof/internal/partner/bordermovements"
	"github.com/borderproof/borderproof/internal/partnersim"
	"github.com/borderproof/borderproof/internal/partnersim/simtest"
	"github.com/borderproof/borderproof/internal/risk"
)

func request(number, coverage string) partner.Request {
	return partner.Request{CheckID: "chk_" + number, CheckType: partner.CheckBorderMovements,
		Subject:         partner.Subject{Nationality: "IND"},
		Document:        partner.Document{Number: number, IssuingCountry: "IND"},
		CoverageCountry: coverage}
}

func codes(r partner.Result) []risk.SignalCode {
	var out []risk.SignalCode
	for _, s := range r.Signals {
		out = append(out, s.Code)
	}
	return out
}

func TestOutcomesOverMutualTLS(t *testing.T) {
	t.Parallel()
	sim := simtest.Start(t)
	// The client reads the CA bundle and its certificate from files, as in
	// production.
	cfg := simtest.PartnerConfig(t, sim, bordermovements.Protocol)
	files, err := sim.PKI().WriteClientFiles(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cfg.TLS = files
	c, err := bordermovements.New(cfg, partner.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		number, coverage string
		want             []risk.SignalCode
	}{
		{"K1234567", "FRA", nil},
		{partnersim.MagicOverstay, "FRA", []risk.SignalCode{risk.SignalOverstay}},
		{partnersim.MagicRefused, "DEU", []risk.SignalCode{risk.SignalRefusedEntry}},
		{partnersim.MagicAbroad, "FRA", []risk.SignalCode{risk.SignalNotInCountry}},
		{partnersim.MagicAbroad, "USA", nil},
	} {
		res, err := c.Check(t.Context(), request(tc.number, tc.coverage))
		if err != nil {
			t.Fatalf("%s: %v", tc.number, err)
		}
		if !slices.Equal(codes(res), tc.want) {
			t.Errorf("%s in %s: %v, want %v", tc.number, tc.coverage, codes(res), tc.want)
		}
		if tc.number == partnersim.MagicOverstay {
			if s := res.Signals[0]; s.Detail["overstayDays"] != "31" || s.Strength <= 0 || res.Outcome != partner.OutcomeAlert {
				t.Errorf("overstay detail %+v outcome %s", s, res.Outcome)
			}
		}
	}
}

func TestPopulationOverstay(t *testing.T) {
	t.Parallel()
	sim := simtest.Start(t, func(c *partnersim.Config) {
		c.Mix = partnersim.Mix{partnersim.LabelClean: 1, partnersim.LabelOverstay: 1}
		c.Population = 80
	})
	c, err := bordermovements.New(simtest.PartnerConfig(t, sim, bordermovements.Protocol), partner.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, p := range sim.Population().People {
		if !slices.Contains(p.Checks, "BORDER_MOVEMENTS") {
			continue
		}
		req := request(p.Passport.Number, p.Policy.CoverageCountry)
		req.Subject.Nationality, req.Document.IssuingCountry = p.Nationality, p.Passport.IssuingCountry
		res, err := c.Check(t.Context(), req)
		if err != nil {
			t.Fatal(err)
		}
		overstay := slices.Contains(codes(res), risk.SignalOverstay)
		if overstay != (p.Label == partnersim.LabelOverstay) {
			t.Errorf("person %d %s: signals %v", p.Index, p.Label, codes(res))
		}
		checked++
	}
	if checked < 10 {
		t.Fatalf("only %d people with border checks", checked)
	}
}

func TestMutualTLSRejections(t *testing.T) {
	t.Parallel()
	sim := simtest.Start(t)
	cfg := simtest.PartnerConfig(t, sim, bordermovements.Protocol)

	// Trusts the server but presents no client certificate.
	noCert := cfg
	noCert.TLS = &partner.TLSConfig{CAPEM: sim.PKI().CAPEM}
	c, err := bordermovements.New(noCert, partner.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Check(t.Context(), request("K1", "FRA"))
	if !errs.Is(err, errs.Unavailable) {
		t.Fatalf("without a client certificate: %v, want a refused handshake", err)
	}

	// A certificate from another CA.
	other, err := partnersim.NewPKI()
	if err != nil {
		t.Fatal(err)
	}
	foreign := cfg
	foreign.TLS = &partner.TLSConfig{CAPEM: sim.PKI().CAPEM, CertPEM: other.ClientCertPEM, KeyPEM: other.ClientKeyPEM}
	if c, err = bordermovements.New(foreign, partner.Deps{}); err != nil {
		t.Fatal(err)
	}
	if _, err = c.Check(t.Context(), request("K1", "FRA")); !errs.Is(err, errs.Unavailable) {
		t.Fatalf("foreign client certificate: %v", err)
	}

	// Our certificate, but the server not trusted (system roots only).
	untrusting := cfg
	untrusting.TLS = &partner.TLSConfig{CertPEM: sim.PKI().ClientCertPEM, KeyPEM: sim.PKI().ClientKeyPEM}
	if c, err = bordermovements.New(untrusting, partner.Deps{}); err != nil {
		t.Fatal(err)
	}
	if _, err = c.Check(t.Context(), request("K1", "FRA")); err == nil {
		t.Fatal("server certificate from the test CA trusted without the CA bundle")
	}

	// Error dialect.
	good, err := bordermovements.New(cfg, partner.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	var ce *partner.CallError
	if _, err = good.Check(t.Context(), request(partnersim.MagicUnavailable, "FRA")); !errors.As(err, &ce) || ce.Code != "EES-5030" {
		t.Fatalf("503: %v", err)
	}
}
