package docregistry_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/borderproof/borderproof/internal/errs"
	"github.com/borderproof/borderproof/internal/partner"
	"github.com/borderproof/borderproof/internal/partner/docregistry"
	"github.com/borderproof/borderproof/internal/partnersim"
	"github.com/borderproof/borderproof/internal/partnersim/simtest"
	"github.com/borderproof/borderproof/internal/risk"
)

// prepared runs the data-sharing rules and blinding the worker runs.
func prepared(t *testing.T, sim *partnersim.Sim, surname string, dob time.Time, issuing, number string) partner.Request {
	t.Helper()
	full := partner.Request{
		CheckID: "chk_" + number + time.Now().Format("150405.000000000"), CheckType: partner.CheckDocumentRegistry,
		Subject:     partner.Subject{GivenNames: "X", Surname: surname, DateOfBirth: dob, Nationality: issuing},
		Document:    partner.Document{Type: "PASSPORT", Number: number, IssuingCountry: issuing},
		LawfulBasis: partner.BasisContract, Purposes: []partner.Purpose{partner.PurposeUnderwriting},
	}
	d := partner.Decide(partner.SharingInput{InsurerRegion: "EU", SubjectResidence: "FRA", PartnerJurisdiction: "FRA",
		Protocol: docregistry.Protocol, CheckType: partner.CheckDocumentRegistry, LawfulBasis: full.LawfulBasis, Purposes: full.Purposes})
	kb, err := partner.NewKeyBlinder(sim.PartnerConfig(), sim.Deps(nil))
	if err != nil {
		t.Fatal(err)
	}
	req, err := partner.Prepare(t.Context(), d, full, "docregistry-sim", kb)
	if err != nil {
		t.Fatal(err)
	}
	if req.Document.Number != "" || req.Subject.Surname != "" {
		t.Fatal("clear identifiers reached the registry request")
	}
	return req
}

func newClient(t *testing.T, sim *partnersim.Sim, mod ...func(*partner.PartnerConfig)) *docregistry.Client {
	t.Helper()
	cfg := simtest.PartnerConfig(t, sim, docregistry.Protocol)
	for _, m := range mod {
		m(&cfg)
	}
	c, err := docregistry.New(cfg, sim.Deps(nil))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func codes(r partner.Result) []risk.SignalCode {
	var out []risk.SignalCode
	for _, s := range r.Signals {
		out = append(out, s.Code)
	}
	return out
}

func TestMagicPrivacyMode(t *testing.T) {
	t.Parallel()
	sim := simtest.Start(t)
	c := newClient(t, sim)
	dob := time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		number string
		want   []risk.SignalCode
	}{
		{"ZZ1234567", nil},
		{partnersim.MagicStolen, []risk.SignalCode{risk.SignalDocumentStolen}},
		{partnersim.MagicLost, []risk.SignalCode{risk.SignalDocumentLost}},
		{partnersim.MagicRevoked, []risk.SignalCode{risk.SignalDocumentRevoked}},
		{partnersim.MagicInvalidated, []risk.SignalCode{risk.SignalDocumentInvalidated}},
		{partnersim.MagicMismatch, []risk.SignalCode{risk.SignalIdentityMismatch}},
	} {
		res, err := c.Check(t.Context(), prepared(t, sim, "DOE", dob, "NLD", tc.number))
		if err != nil {
			t.Fatalf("%s: %v", tc.number, err)
		}
		if !slices.Equal(codes(res), tc.want) {
			t.Errorf("%s: %v, want %v", tc.number, codes(res), tc.want)
		}
		wantOutcome := partner.OutcomeClear
		if tc.want != nil {
			wantOutcome = partner.OutcomeAlert
		}
		if res.Outcome != wantOutcome {
			t.Errorf("%s: outcome %s", tc.number, res.Outcome)
		}
	}
}

func TestPopulationHolderCheck(t *testing.T) {
	t.Parallel()
	sim := simtest.Start(t, func(c *partnersim.Config) {
		c.Mix = partnersim.Mix{partnersim.LabelClean: 1, partnersim.LabelStolenDocument: 1, partnersim.LabelIdentityMismatch: 1, partnersim.LabelDocumentReuse: 1}
		c.Population = 60
	})
	c := newClient(t, sim)
	want := map[partnersim.Label][]risk.SignalCode{
		partnersim.LabelClean:            nil,
		partnersim.LabelStolenDocument:   {risk.SignalDocumentStolen},
		partnersim.LabelIdentityMismatch: {risk.SignalIdentityMismatch},
	}
	reuse := map[string][]risk.SignalCode{}
	for _, p := range sim.Population().People {
		res, err := c.Check(t.Context(), prepared(t, sim, p.Surname, p.DateOfBirth, p.Passport.IssuingCountry, p.Passport.Number))
		if err != nil {
			t.Fatal(err)
		}
		if p.Label == partnersim.LabelDocumentReuse {
			reuse[p.Passport.Number] = append(reuse[p.Passport.Number], codes(res)...)
			continue
		}
		if res.Detail["holderCheck"] == docregistry.HolderNotChecked {
			t.Fatalf("holder not checked for a known document")
		}
		if !slices.Equal(codes(res), want[p.Label]) {
			t.Errorf("%s: %v, want %v", p.Label, codes(res), want[p.Label])
		}
	}
	for _, got := range reuse {
		// Of the two identities on one number, only the second is not the
		// registered holder.
		if !slices.Equal(got, []risk.SignalCode{risk.SignalIdentityMismatch}) {
			t.Errorf("reused document: %v", got)
		}
	}
}

func TestClearModeAndErrors(t *testing.T) {
	t.Parallel()
	sim := simtest.Start(t)
	clear := newClient(t, sim, func(p *partner.PartnerConfig) { p.Options = map[string]string{"privacyMode": "false"} })
	res, err := clear.Check(t.Context(), partner.Request{CheckID: "chk_c1", Document: partner.Document{Number: partnersim.MagicStolen, IssuingCountry: "USA"}})
	if err != nil || !slices.Equal(codes(res), []risk.SignalCode{risk.SignalDocumentStolen}) {
		t.Fatalf("clear mode: %v %v", codes(res), err)
	}
	private := newClient(t, sim)
	if _, err := private.Check(t.Context(), partner.Request{CheckID: "chk_c2", Document: partner.Document{Number: "A1", IssuingCountry: "USA"}}); !errs.Is(err, errs.Invalid) {
		t.Fatalf("privacy mode with a clear number: %v", err)
	}
	var ce *partner.CallError
	bad, err := docregistry.New(simtest.PartnerConfig(t, sim, docregistry.Protocol), partner.Deps{LookupEnv: func(k string) (string, bool) {
		if v, ok := sim.LookupEnv(k); ok && k != "BORDERPROOF_PARTNER_DOCREGISTRY_SIGNING_SECRET" {
			return v, true
		}
		return "forged", true
	}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = bad.Check(t.Context(), partner.Request{CheckID: "chk_c3", Document: partner.Document{NumberBlinded: "ab", IssuingCountry: "USA"}})
	if !errs.Is(err, errs.Unauthenticated) || !errors.As(err, &ce) || ce.Code != "SLTD-401-SIGNATURE" {
		t.Fatalf("bad signature: %v", err)
	}
	skewed, err := docregistry.New(simtest.PartnerConfig(t, sim, docregistry.Protocol), partner.Deps{LookupEnv: sim.LookupEnv,
		Now: func() time.Time { return time.Now().Add(-time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	_, err = skewed.Check(t.Context(), partner.Request{CheckID: "chk_c4", Document: partner.Document{NumberBlinded: "ab", IssuingCountry: "USA"}})
	if !errors.As(err, &ce) || ce.Code != "SLTD-401-SKEW" {
		t.Fatalf("old timestamp: %v", err)
	}
	_, err = clear.Check(t.Context(), partner.Request{CheckID: "chk_c5", Document: partner.Document{Number: partnersim.MagicUnavailable, IssuingCountry: "USA"}})
	if !errs.Is(err, errs.Unavailable) || !errors.As(err, &ce) || ce.Code != "SLTD-UNAVAILABLE" {
		t.Fatalf("503: %v", err)
	}
}
