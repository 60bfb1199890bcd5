package partner_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/borderproof/borderproof/internal/partner"
)

func TestDecideMatrix(t *testing.T) {
	t.Parallel()
	type want struct {
		allowed bool
		rule    string
		blind   bool
		fields  []string
	}
	base := partner.SharingInput{
		InsurerRegion: "US", SubjectNationality: "USA", SubjectResidence: "USA",
		LawfulBasis: partner.BasisContract, Purposes: []partner.Purpose{partner.PurposeUnderwriting},
		HasConsentReference: true,
	}
	with := func(mod func(*partner.SharingInput)) partner.SharingInput {
		in := base
		in.Purposes = slices.Clone(base.Purposes)
		mod(&in)
		return in
	}
	cases := []struct {
		name string
		in   partner.SharingInput
		want want
	}{
		{"mrz never leaves", with(func(in *partner.SharingInput) {
			in.CheckType, in.Protocol = partner.CheckDocumentMRZ, "watchlist"
		}), want{rule: partner.RuleLocalCheck}},
		{"no purposes", with(func(in *partner.SharingInput) { in.Protocol, in.Purposes = "watchlist", nil }),
			want{rule: partner.RulePurposesRequired}},
		{"fraud on consent refused", with(func(in *partner.SharingInput) {
			in.Protocol, in.LawfulBasis, in.Purposes = "watchlist", partner.BasisConsent, []partner.Purpose{partner.PurposeFraudInvestigation}
		}), want{rule: partner.RulePurposeBasis}},
		{"fraud on contract refused", with(func(in *partner.SharingInput) {
			in.Protocol, in.Purposes = "watchlist", []partner.Purpose{partner.PurposeFraudInvestigation}
		}), want{rule: partner.RulePurposeBasis}},
		{"fraud on legal obligation", with(func(in *partner.SharingInput) {
			in.Protocol, in.LawfulBasis, in.Purposes, in.PartnerJurisdiction = "watchlist", partner.BasisLegalObligation, []partner.Purpose{partner.PurposeFraudInvestigation}, "USA"
		}), want{allowed: true, rule: "fields.watchlist", fields: []string{partner.FieldDateOfBirth, partner.FieldGivenNames, partner.FieldNationality, partner.FieldSurname}}},
		{"underwriting on legal obligation refused", with(func(in *partner.SharingInput) {
			in.Protocol, in.LawfulBasis = "watchlist", partner.BasisLegalObligation
		}), want{rule: partner.RulePurposeBasis}},
		{"claims on legal obligation", with(func(in *partner.SharingInput) {
			in.Protocol, in.LawfulBasis, in.Purposes, in.PartnerJurisdiction = "watchlist", partner.BasisLegalObligation, []partner.Purpose{partner.PurposeClaims}, "USA"
		}), want{allowed: true, rule: "fields.watchlist", fields: []string{partner.FieldDateOfBirth, partner.FieldGivenNames, partner.FieldNationality, partner.FieldSurname}}},
		{"one bad purpose among good refuses", with(func(in *partner.SharingInput) {
			in.Protocol, in.Purposes = "watchlist", []partner.Purpose{partner.PurposeUnderwriting, partner.PurposeFraudInvestigation}
		}), want{rule: partner.RulePurposeBasis}},
		{"EU resident to AUS partner on contract refused", with(func(in *partner.SharingInput) {
			in.SubjectResidence, in.Protocol, in.PartnerJurisdiction = "FRA", "visastatus", "AUS"
		}), want{rule: partner.RuleTransferEEAConsent}},
		{"EEA (NOR) resident to USA partner on legitimate interest refused", with(func(in *partner.SharingInput) {
			in.SubjectResidence, in.Protocol, in.PartnerJurisdiction, in.LawfulBasis = "NOR", "statuscase", "USA", partner.BasisLegitimateInterest
		}), want{rule: partner.RuleTransferEEAConsent}},
		{"EU resident to AUS partner on consent", with(func(in *partner.SharingInput) {
			in.SubjectResidence, in.Protocol, in.PartnerJurisdiction, in.LawfulBasis = "DEU", "visastatus", "AUS", partner.BasisConsent
		}), want{allowed: true, rule: "fields.visastatus", fields: []string{partner.FieldConsentReference, partner.FieldDateOfBirth, partner.FieldDocumentNumber, partner.FieldDocumentType, partner.FieldIssuingCountry}}},
		{"EU insurer, US resident, US partner, contract refused", with(func(in *partner.SharingInput) {
			in.InsurerRegion, in.Protocol, in.PartnerJurisdiction = "EU", "statuscase", "USA"
		}), want{rule: partner.RuleTransferEEAConsent}},
		{"EU resident to EU institution on contract", with(func(in *partner.SharingInput) {
			in.SubjectResidence, in.Protocol, in.PartnerJurisdiction = "ITA", "bordermovements", "EU"
		}), want{allowed: true, rule: "fields.bordermovements", fields: []string{partner.FieldDocumentNumber, partner.FieldIssuingCountry, partner.FieldNationality}}},
		{"EU resident to FRA registry on contract, blinded", with(func(in *partner.SharingInput) {
			in.SubjectResidence, in.Protocol, in.PartnerJurisdiction = "ESP", "docregistry", "FRA"
		}), want{allowed: true, rule: "fields.docregistry", blind: true, fields: []string{partner.FieldDocumentNumberBlinded, partner.FieldDocumentType, partner.FieldHolderBlinded, partner.FieldIssuingCountry}}},
		{"EU national living outside EEA, non-EU insurer: no transfer rule", with(func(in *partner.SharingInput) {
			in.SubjectNationality, in.Protocol, in.PartnerJurisdiction = "FRA", "statuscase", "USA"
		}), want{allowed: true, rule: "fields.statuscase", fields: []string{partner.FieldDateOfBirth, partner.FieldDocumentNumber, partner.FieldDocumentType, partner.FieldGivenNames, partner.FieldIssuingCountry, partner.FieldSurname}}},
		{"visa status without consent reference refused", with(func(in *partner.SharingInput) {
			in.Protocol, in.PartnerJurisdiction, in.HasConsentReference = "visastatus", "AUS", false
		}), want{rule: partner.RuleVisaConsentRef}},
		{"statuscase without consent reference allowed", with(func(in *partner.SharingInput) {
			in.Protocol, in.PartnerJurisdiction, in.HasConsentReference = "statuscase", "USA", false
		}), want{allowed: true, rule: "fields.statuscase", fields: []string{partner.FieldDateOfBirth, partner.FieldDocumentNumber, partner.FieldDocumentType, partner.FieldGivenNames, partner.FieldIssuingCountry, partner.FieldSurname}}},
		{"unknown protocol refused", with(func(in *partner.SharingInput) { in.Protocol = "telepathy" }),
			want{rule: partner.RuleUnknownProtocol}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := partner.Decide(tc.in)
			if d.Allowed != tc.want.allowed || d.Rule != tc.want.rule || d.BlindDocumentNumber != tc.want.blind {
				t.Fatalf("Decide = allowed %v rule %q blind %v (rules %v); want allowed %v rule %q blind %v",
					d.Allowed, d.Rule, d.BlindDocumentNumber, d.Rules, tc.want.allowed, tc.want.rule, tc.want.blind)
			}
			if want := slices.Sorted(slices.Values(tc.want.fields)); !slices.Equal(d.Fields, want) {
				t.Fatalf("fields = %v, want %v", d.Fields, want)
			}
			if d.Allowed == (d.Reason != "") {
				t.Fatalf("reason %q inconsistent with allowed %v", d.Reason, d.Allowed)
			}
			if !d.Allowed && d.Reason != "DATA_SHARING_NOT_PERMITTED" {
				t.Fatalf("reason = %q", d.Reason)
			}
		})
	}
}

func fullRequest() partner.Request {
	return partner.Request{
		CheckID: "chk_1", CheckType: partner.CheckBorderMovements,
		Subject: partner.Subject{GivenNames: "ANNA MARIA", Surname: "ERIKSSON", DateOfBirth: time.Date(1990, 1, 2, 0, 0, 0, 0, time.UTC),
			Nationality: "SWE", Sex: "F", ResidenceCountry: "SWE", HolderBlinded: "h"},
		Document: partner.Document{Type: "PASSPORT", Number: "L898902C3", NumberBlinded: "b", IssuingCountry: "SWE",
			ExpiryDate: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)},
		ConsentReference: "cns_1", LawfulBasis: partner.BasisContract,
		Purposes: []partner.Purpose{partner.PurposeUnderwriting}, Product: partner.ProductHealth,
		CoverageCountry: "FRA", PolicyStart: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
	}
}

func TestMinimise(t *testing.T) {
	t.Parallel()
	for _, proto := range []string{"visastatus", "statuscase", "docregistry", "bordermovements", "watchlist"} {
		t.Run(proto, func(t *testing.T) {
			d := partner.Decide(partner.SharingInput{InsurerRegion: "US", SubjectResidence: "USA", PartnerJurisdiction: "USA",
				Protocol: proto, LawfulBasis: partner.BasisConsent, Purposes: []partner.Purpose{partner.PurposeUnderwriting}, HasConsentReference: true})
			got := partner.Minimise(d, fullRequest())
			shared := partner.SharedFields(got)
			for _, f := range shared {
				if !slices.Contains(d.Fields, f) {
					t.Errorf("field %s sent but not allowed", f)
				}
			}
			// Everything allowed that the full request had is kept, except
			// the clear number under blinding.
			for _, f := range d.Fields {
				if !slices.Contains(shared, f) {
					t.Errorf("allowed field %s dropped", f)
				}
			}
			if d.BlindDocumentNumber && got.Document.Number != "" {
				t.Error("clear number sent under blinding")
			}
			if got.CheckID != "chk_1" || got.CoverageCountry != "FRA" || got.Product != partner.ProductHealth || got.PolicyStart.IsZero() {
				t.Errorf("context lost: %+v", got)
			}
		})
	}
	refused := partner.Minimise(partner.Decision{}, fullRequest())
	if len(partner.SharedFields(refused)) != 0 {
		t.Fatalf("refused decision shares %v", partner.SharedFields(refused))
	}
}

func TestPrepareBlinds(t *testing.T) {
	t.Parallel()
	d := partner.Decide(partner.SharingInput{InsurerRegion: "EU", SubjectResidence: "SWE", PartnerJurisdiction: "FRA",
		Protocol: "docregistry", LawfulBasis: partner.BasisContract, Purposes: []partner.Purpose{partner.PurposeUnderwriting}})
	full := fullRequest()
	full.Document.NumberBlinded, full.Subject.HolderBlinded = "", ""
	kb := partner.KeyBlinder{"reg": []byte("k1")}
	got, err := partner.Prepare(t.Context(), d, full, "reg", kb)
	if err != nil {
		t.Fatal(err)
	}
	if got.Document.Number != "" || got.Subject.Surname != "" || got.Subject.DateOfBirth != (time.Time{}) {
		t.Fatalf("clear identifiers left: %+v", got)
	}
	if want := partner.BlindDocumentNumber([]byte("k1"), "SWE", "l898 902c3"); got.Document.NumberBlinded != want {
		t.Fatalf("blinded number %q, want %q (normalisation)", got.Document.NumberBlinded, want)
	}
	if got.Document.NumberBlinded == partner.BlindDocumentNumber([]byte("k2"), "SWE", "L898902C3") {
		t.Fatal("digest does not depend on the key")
	}
	if got.Subject.HolderBlinded != partner.BlindHolder([]byte("k1"), "eriksson", full.Subject.DateOfBirth) {
		t.Fatal("holder digest mismatch")
	}
	if _, err := partner.Prepare(t.Context(), d, full, "other", kb); err == nil {
		t.Fatal("Prepare without a key for the partner succeeded")
	}
	if _, err := partner.Prepare(t.Context(), d, full, "reg", nil); err == nil {
		t.Fatal("Prepare without a blinder succeeded")
	}
}

type named struct{}

func (named) Name() string         { return "watchlist-x" }
func (named) Jurisdiction() string { return "IRL" }
func (named) Check(context.Context, partner.Request) (partner.Result, error) {
	return partner.Result{}, nil
}
func (named) Poll(context.Context, string) (partner.Result, error) { return partner.Result{}, nil }

func TestAuditRecordNamesFieldsOnly(t *testing.T) {
	t.Parallel()
	d := partner.Decide(partner.SharingInput{InsurerRegion: "EU", SubjectResidence: "FRA", PartnerJurisdiction: "IRL",
		Protocol: "watchlist", LawfulBasis: partner.BasisContract, Purposes: []partner.Purpose{partner.PurposeUnderwriting}})
	req := partner.Minimise(d, fullRequest())
	at := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	rec := partner.NewAuditRecord(named{}, req, d, at)
	want := []string{partner.FieldDateOfBirth, partner.FieldGivenNames, partner.FieldNationality, partner.FieldSurname}
	if !slices.Equal(rec.Fields, want) || rec.Rule != "fields.watchlist" || rec.Partner != "watchlist-x" ||
		rec.Jurisdiction != "IRL" || rec.LawfulBasis != partner.BasisContract || !rec.Allowed || rec.CheckID != "chk_1" {
		t.Fatalf("record %+v", rec)
	}
	b, _ := json.Marshal(rec)
	for _, pii := range []string{"ERIKSSON", "ANNA", "1990-01-02", "L898902C3"} {
		if strings.Contains(string(b), pii) {
			t.Fatalf("audit record carries %q", pii)
		}
	}
	refused := partner.NewAuditRecord(named{}, partner.Minimise(partner.Decision{}, fullRequest()), partner.Decide(partner.SharingInput{}), at)
	if refused.Allowed || len(refused.Fields) != 0 || refused.Reason != partner.ReasonNotPermitted {
		t.Fatalf("refused record %+v", refused)
	}
}
