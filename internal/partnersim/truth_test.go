package partnersim_test

import (
	"slices"
	"testing"

	"github.com/borderproof/borderproof/internal/partner"
	"github.com/borderproof/borderproof/internal/partner/clients"
	"github.com/borderproof/borderproof/internal/partnersim"
	"github.com/borderproof/borderproof/internal/partnersim/simtest"
	"github.com/borderproof/borderproof/internal/risk"
)

// labelSignal is the signal a correct verification must find for each
// label, from the partners alone. DOCUMENT_REUSE is found by BorderProof
// itself (two policyholders, one document), and SLOW_CASE by its open case.
var labelSignal = map[partnersim.Label]risk.SignalCode{
	partnersim.LabelStolenDocument:        risk.SignalDocumentStolen,
	partnersim.LabelLostDocument:          risk.SignalDocumentLost,
	partnersim.LabelExpiredVisa:           risk.SignalVisaExpired,
	partnersim.LabelNoVisa:                risk.SignalNoValidVisa,
	partnersim.LabelOverstay:              risk.SignalOverstay,
	partnersim.LabelIdentityMismatch:      risk.SignalIdentityMismatch,
	partnersim.LabelWatchlistHit:          risk.SignalWatchlistStrong,
	partnersim.LabelVisaConditionConflict: risk.SignalVisaConditionConflict,
}

// TestPartnersAgreeWithGroundTruth runs every partner check of every
// person through the production clients, as the worker would (routing by
// coverage country, the visa for immigration status when there is one,
// data-sharing rules and blinding), and checks the answers against the
// person's label: each fraud label carries its signal and is not cleared
// by the default policy; a CLEAN person's answers carry nothing but
// watchlist noise, and their check list holds every check the product
// requires.
func TestPartnersAgreeWithGroundTruth(t *testing.T) {
	t.Parallel()
	mix := partnersim.Mix{}
	for _, l := range partnersim.Labels {
		mix[l] = 1
	}
	mix[partnersim.LabelClean] = 4
	sim := simtest.Start(t, func(c *partnersim.Config) {
		c.Seed, c.Population, c.Mix, c.Unthrottled = 7, 420, mix, true
	})
	reg, err := partner.NewRegistry(sim.PartnerConfig(), clients.Factories(), sim.Deps(nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := partner.NewKeyBlinder(sim.PartnerConfig(), sim.Deps(nil))
	if err != nil {
		t.Fatal(err)
	}
	policy := risk.DefaultPolicy()
	seen := map[partnersim.Label]int{}
	for _, p := range sim.Population().People {
		seen[p.Label]++
		in := risk.Input{Product: risk.Product(p.Policy.Product)}
		for _, ct := range p.Checks {
			c := risk.Check{ID: "chk_" + ct, Type: risk.CheckType(ct), Status: risk.CheckCompleted}
			if ct != string(risk.CheckDocumentMRZ) { // checked locally, not by a partner
				res := askPartner(t, reg, kb, p, partner.CheckType(ct))
				if res.Outcome == partner.OutcomeAwaiting {
					c.Status = risk.CheckAwaitingPartner
				}
				in.Signals = append(in.Signals, res.Signals...)
			}
			in.Checks = append(in.Checks, c)
		}
		var codes []risk.SignalCode
		for _, s := range in.Signals {
			codes = append(codes, s.Code)
		}
		out := risk.Score(in, policy)
		switch want, ok := labelSignal[p.Label]; {
		case ok:
			if !slices.Contains(codes, want) {
				t.Errorf("person %d (%s, %s in %s): signals %v lack %s", p.Index, p.Label, p.Policy.Product, p.Policy.CoverageCountry, codes, want)
			}
			if out.Decision == risk.DecisionClear {
				t.Errorf("person %d (%s): the default policy clears %v", p.Index, p.Label, codes)
			}
		case p.Label == partnersim.LabelSlowCase:
			if !out.Provisional {
				t.Errorf("person %d (SLOW_CASE, %s): no open case, signals %v", p.Index, p.Policy.CoverageCountry, codes)
			}
		case p.Label == partnersim.LabelClean:
			for _, req := range policy.RequiredChecks(in.Product) {
				if !slices.Contains(p.Checks, string(req)) {
					t.Errorf("person %d (CLEAN, %s): checks %v lack required %s", p.Index, p.Policy.Product, p.Checks, req)
				}
			}
			noise := slices.DeleteFunc(slices.Clone(codes), func(c risk.SignalCode) bool {
				return c == risk.SignalWatchlistWeak || c == risk.SignalWatchlistStrong
			})
			if len(noise) > 0 {
				t.Errorf("person %d (CLEAN, %s in %s): signals %v", p.Index, p.Policy.Product, p.Policy.CoverageCountry, codes)
			}
			if len(codes) == 0 && (out.Decision != risk.DecisionClear || out.Provisional) {
				t.Errorf("person %d (CLEAN): %s provisional=%v, reasons %+v", p.Index, out.Decision, out.Provisional, out.Reasons)
			}
		}
	}
	for _, l := range partnersim.Labels {
		if seen[l] == 0 {
			t.Errorf("no %s person in the population", l)
		}
	}
}

// askPartner sends one check of p to the partner that serves p's coverage
// country and returns its answer.
func askPartner(t *testing.T, reg *partner.Registry, kb partner.Blinder, p *partnersim.Person, ct partner.CheckType) partner.Result {
	t.Helper()
	pt, err := reg.Route(ct, p.Policy.CoverageCountry)
	if err != nil {
		t.Fatalf("route %s for %s: %v", ct, p.Policy.CoverageCountry, err)
	}
	doc := p.Passport
	if ct == partner.CheckImmigrationStatus && p.Visa != nil {
		doc = p.Visa.Document
	}
	var purposes []partner.Purpose
	for _, pu := range p.Consent.Purposes {
		purposes = append(purposes, partner.Purpose(pu))
	}
	full := partner.Request{
		CheckID: "chk_" + p.Policy.Reference + "_" + string(ct), CheckType: ct,
		Subject: partner.Subject{GivenNames: p.GivenNames, Surname: p.Surname, DateOfBirth: p.DateOfBirth,
			Nationality: p.Nationality, Sex: p.Sex, ResidenceCountry: p.ResidenceCountry},
		Document:         partner.Document{Type: doc.Type, Number: doc.Number, IssuingCountry: doc.IssuingCountry, ExpiryDate: doc.ExpiryDate},
		ConsentReference: p.Consent.Reference, LawfulBasis: partner.LawfulBasis(p.Consent.LawfulBasis), Purposes: purposes,
		Product: partner.Product(p.Policy.Product), CoverageCountry: p.Policy.CoverageCountry,
		PolicyStart: p.Policy.StartDate, PolicyEnd: p.Policy.EndDate,
	}
	d := partner.Decide(partner.SharingInput{InsurerRegion: "EU", SubjectNationality: p.Nationality, SubjectResidence: p.ResidenceCountry,
		PartnerJurisdiction: pt.Jurisdiction(), Protocol: pt.Config().Protocol, CheckType: ct,
		LawfulBasis: full.LawfulBasis, Purposes: full.Purposes, HasConsentReference: true})
	if !d.Allowed {
		t.Fatalf("person %d %s: sharing refused by %s", p.Index, ct, d.Rule)
	}
	req, err := partner.Prepare(t.Context(), d, full, pt.Name(), kb)
	if err != nil {
		t.Fatal(err)
	}
	res, err := pt.Check(t.Context(), req)
	if err != nil {
		t.Fatalf("person %d %s via %s: %v", p.Index, ct, pt.Name(), err)
	}
	return res
}

// TestUnthrottledConfig: load harnesses get the dev partners without their
// client-side quotas; everyone else keeps them.
func TestUnthrottledConfig(t *testing.T) {
	t.Parallel()
	for _, lifted := range []bool{false, true} {
		sim := simtest.Start(t, func(c *partnersim.Config) { c.Population, c.Unthrottled = -1, lifted })
		dev, err := partner.DevConfig()
		if err != nil {
			t.Fatal(err)
		}
		for i, p := range sim.PartnerConfig().Partners {
			d := dev.Partners[i]
			if lifted && (p.RateLimit.PerSecond < 1e5 || p.MaxInFlight < 1024) {
				t.Errorf("unthrottled %s: rate %v, in flight %d", p.Name, p.RateLimit.PerSecond, p.MaxInFlight)
			}
			if !lifted && (p.RateLimit != d.RateLimit || p.MaxInFlight != d.MaxInFlight) {
				t.Errorf("%s: %+v/%d, dev config %+v/%d", p.Name, p.RateLimit, p.MaxInFlight, d.RateLimit, d.MaxInFlight)
			}
		}
	}
}
