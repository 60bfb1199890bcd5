package partnersim_test

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"github.com/borderproof/borderproof/internal/mrz"
	"github.com/borderproof/borderproof/internal/partnersim"
	"github.com/borderproof/borderproof/internal/risk"
)

var asOf = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)

func TestExportDeterministic(t *testing.T) {
	t.Parallel()
	export := func(seed uint64) []byte {
		pop, err := partnersim.NewPopulation(partnersim.PopulationConfig{Seed: seed, Size: 500, AsOf: asOf})
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		if err := partnersim.WriteExport(&b, pop); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	a, b, c := export(7), export(7), export(8)
	if !bytes.Equal(a, b) {
		t.Fatal("same seed gave different exports")
	}
	if bytes.Equal(a, c) {
		t.Fatal("different seeds gave the same export")
	}
	if n := bytes.Count(a, []byte("\n")); n != 500 {
		t.Fatalf("%d lines, want 500", n)
	}
}

func TestPopulationTruth(t *testing.T) {
	t.Parallel()
	mix := partnersim.Mix{}
	for _, l := range partnersim.Labels {
		mix[l] = 1
	}
	pop, err := partnersim.NewPopulation(partnersim.PopulationConfig{Seed: 42, Size: 1100, AsOf: asOf, Mix: mix})
	if err != nil {
		t.Fatal(err)
	}
	counts := pop.Counts()
	for _, l := range partnersim.Labels {
		if counts[l] < 40 {
			t.Errorf("label %s: %d people from an even mix of 1100", l, counts[l])
		}
	}
	reused := 0
	for _, p := range pop.People {
		for _, d := range []*partnersim.Document{&p.Passport, visaDoc(p)} {
			if d == nil {
				continue
			}
			doc, err := mrz.Parse(d.MRZ, mrz.WithNow(asOf))
			if err != nil || !doc.Valid() {
				t.Fatalf("person %d %s MRZ %q invalid: %v %+v", p.Index, d.Type, d.MRZ, err, doc)
			}
			if doc.DocumentNumber != d.Number {
				t.Fatalf("MRZ number %q != %q", doc.DocumentNumber, d.Number)
			}
		}
		same := pop.ByDocument(p.Passport.IssuingCountry, p.Passport.Number)
		switch p.Label {
		case partnersim.LabelDocumentReuse:
			if len(same) != 2 || same[0].Surname == same[1].Surname {
				t.Fatalf("reused document: %d holders", len(same))
			}
			reused++
		default:
			if len(same) != 1 {
				t.Fatalf("person %d (%s): %d people share the passport", p.Index, p.Label, len(same))
			}
		}
		switch p.Label {
		case partnersim.LabelStolenDocument:
			if p.Registry.Reason != "STOLEN" {
				t.Fatalf("stolen without registry record")
			}
		case partnersim.LabelNoVisa:
			if p.Visa != nil {
				t.Fatal("NO_VISA with a visa")
			}
		case partnersim.LabelExpiredVisa:
			if p.Visa == nil || !p.Visa.ExpiryDate.Before(asOf) {
				t.Fatal("EXPIRED_VISA with a valid visa")
			}
		case partnersim.LabelIdentityMismatch:
			if p.Registry.HolderSurname == p.Surname {
				t.Fatal("identity mismatch with the same holder")
			}
		case partnersim.LabelClean:
			if p.Registry.Reason != "" || (p.Visa != nil && p.Visa.ExpiryDate.Before(p.Policy.EndDate)) {
				t.Fatalf("clean person %d carries a finding", p.Index)
			}
		}
	}
	if reused%2 != 0 {
		t.Fatalf("%d people with reused documents, want pairs", reused)
	}
}

func visaDoc(p *partnersim.Person) *partnersim.Document {
	if p.Visa == nil {
		return nil
	}
	return &p.Visa.Document
}

func TestDefaultMixMostlyClean(t *testing.T) {
	t.Parallel()
	pop, err := partnersim.NewPopulation(partnersim.PopulationConfig{Seed: 1, Size: 2000, AsOf: asOf})
	if err != nil {
		t.Fatal(err)
	}
	if c := pop.Counts()[partnersim.LabelClean]; c < 1500 || c > 1700 {
		t.Fatalf("%d clean of 2000 with the default 80%% mix", c)
	}
	if _, err := partnersim.NewPopulation(partnersim.PopulationConfig{Size: 1, Mix: partnersim.Mix{"BOGUS": 1}}); err == nil {
		t.Fatal("unknown label accepted")
	}
}

// TestPopulationChecksCoverProduct: every person's check list holds the
// checks the default risk policy requires for their product, and whoever
// is asked about immigration status outside the status-case country
// holds a visa unless their label says they should not.
func TestPopulationChecksCoverProduct(t *testing.T) {
	t.Parallel()
	pop, err := partnersim.NewPopulation(partnersim.PopulationConfig{Seed: 3, Size: 2000, AsOf: asOf})
	if err != nil {
		t.Fatal(err)
	}
	policy := risk.DefaultPolicy()
	for _, p := range pop.People {
		for _, req := range policy.RequiredChecks(risk.Product(p.Policy.Product)) {
			if !slices.Contains(p.Checks, string(req)) {
				t.Fatalf("person %d (%s, %s): checks %v lack %s", p.Index, p.Label, p.Policy.Product, p.Checks, req)
			}
		}
		asked := slices.Contains(p.Checks, string(risk.CheckImmigrationStatus))
		visaless := p.Label == partnersim.LabelNoVisa || p.Label == partnersim.LabelOverstay
		if asked && !visaless && p.Visa == nil {
			t.Fatalf("person %d (%s, %s in %s) is asked about a visa they do not hold", p.Index, p.Label, p.Policy.Product, p.Policy.CoverageCountry)
		}
	}
}
