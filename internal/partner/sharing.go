package partner

import (
	"slices"

	"github.com/borderproof/borderproof/internal/country"
	"github.com/borderproof/borderproof/internal/risk"
)

// Names of the personal fields a Request can carry. Decisions, audit records
// and Minimise speak of fields by these names.
const (
	FieldGivenNames            = "subject.givenNames"
	FieldSurname               = "subject.surname"
	FieldDateOfBirth           = "subject.dateOfBirth"
	FieldNationality           = "subject.nationality"
	FieldSex                   = "subject.sex"
	FieldResidenceCountry      = "subject.residenceCountry"
	FieldHolderBlinded         = "subject.holderBlinded"
	FieldDocumentType          = "document.type"
	FieldDocumentNumber        = "document.number"
	FieldDocumentNumberBlinded = "document.numberBlinded"
	FieldIssuingCountry        = "document.issuingCountry"
	FieldDocumentExpiry        = "document.expiryDate"
	FieldConsentReference      = "consent.reference"
)

// Rule ids, recorded in decisions and audit records. Stable: they appear in
// the audit log.
const (
	RuleLocalCheck         = "local-check"
	RulePurposesRequired   = "purposes.required"
	RulePurposeBasis       = "purpose.lawful-basis"
	RuleTransferEEAConsent = "transfer.eea-consent"
	RuleVisaConsentRef     = "visastatus.consent-reference"
	RuleRegistryBlinded    = "docregistry.blinded-number"
	RuleUnknownProtocol    = "fields.unknown-protocol"
	// Field-set rules are "fields." + protocol, e.g. "fields.watchlist".
)

// ReasonNotPermitted is the reason code of every refusal; it is also the
// risk signal the worker records for a check that may not run.
const ReasonNotPermitted = string(risk.SignalDataSharingForbidden)

// SharingInput is what the rules look at for one check and one partner.
type SharingInput struct {
	// InsurerRegion is where the insurer is established: a country.Region
	// value ("EU", "EEA", "UK", "US", "AU", "OTHER") or an alpha-3 code.
	InsurerRegion       string
	SubjectNationality  string
	SubjectResidence    string
	PartnerJurisdiction string // alpha-3 or "EU"
	Protocol            string // the partner's protocol, e.g. "watchlist"
	CheckType           CheckType
	LawfulBasis         LawfulBasis
	Purposes            []Purpose
	HasConsentReference bool
}

// Decision says whether a check may run and what it may send.
type Decision struct {
	Allowed bool
	// Fields are the personal fields the partner may receive, sorted.
	Fields []string
	// BlindDocumentNumber: send Document.NumberBlinded, never the number.
	BlindDocumentNumber bool
	// Rule is the id of the deciding rule: the refusing rule, or the
	// field-set rule when allowed.
	Rule string
	// Rules lists every rule that applied, in order.
	Rules []string
	// Reason is ReasonNotPermitted when refused, empty otherwise.
	Reason string
}

// Allows reports whether field may be sent.
func (d Decision) Allows(field string) bool {
	return d.Allowed && slices.Contains(d.Fields, field)
}

// fieldSets is the minimisation table: per protocol, the only personal
// fields the partner receives.
//
//   - visastatus (an Australian VEVO-style enquiry) identifies a visa by
//     travel document and date of birth; it needs the consent reference.
//   - statuscase (a US SAVE-style case) matches on name, date of birth and
//     the immigration document.
//   - docregistry (lost and stolen documents) receives keyed digests of the
//     document number and of surname plus date of birth, never clear values,
//     and the issuing state and document type.
//   - bordermovements receives document number, issuing state and
//     nationality only.
//   - watchlist receives names, date of birth and nationality only.
var fieldSets = map[string][]string{
	"visastatus":      {FieldDateOfBirth, FieldDocumentType, FieldDocumentNumber, FieldIssuingCountry, FieldConsentReference},
	"statuscase":      {FieldGivenNames, FieldSurname, FieldDateOfBirth, FieldDocumentType, FieldDocumentNumber, FieldIssuingCountry},
	"docregistry":     {FieldDocumentNumberBlinded, FieldIssuingCountry, FieldDocumentType, FieldHolderBlinded},
	"bordermovements": {FieldDocumentNumber, FieldIssuingCountry, FieldNationality},
	"watchlist":       {FieldGivenNames, FieldSurname, FieldDateOfBirth, FieldNationality},
}

// purposeBases says which lawful bases may support each purpose. Our
// choice, following GDPR Article 6 and the EDPB's guidance on insurance:
//
//   - UNDERWRITING and RENEWAL are done to enter into or keep a contract:
//     CONSENT, CONTRACT or LEGITIMATE_INTEREST.
//   - CLAIMS may also rest on a LEGAL_OBLIGATION (claims handling duties).
//   - FRAUD_INVESTIGATION may not rest on CONSENT (the subject could
//     withdraw it to stop the investigation) nor on CONTRACT (it is not
//     needed to perform the contract): only LEGAL_OBLIGATION or
//     LEGITIMATE_INTEREST.
var purposeBases = map[Purpose][]LawfulBasis{
	PurposeUnderwriting:       {BasisConsent, BasisContract, BasisLegitimateInterest},
	PurposeRenewal:            {BasisConsent, BasisContract, BasisLegitimateInterest},
	PurposeClaims:             {BasisConsent, BasisContract, BasisLegalObligation, BasisLegitimateInterest},
	PurposeFraudInvestigation: {BasisLegalObligation, BasisLegitimateInterest},
}

// Decide applies the data-sharing rules, in order; the first refusal wins.
//
//  1. local-check: DOCUMENT_MRZ never goes to a partner.
//  2. purposes.required: at least one purpose.
//  3. purpose.lawful-basis: every purpose must be supported by the lawful
//     basis (table purposeBases).
//  4. transfer.eea-consent: when the subject lives in the EU/EEA or the
//     insurer is established there, a partner outside the EU/EEA receives
//     the data only under lawful basis CONSENT (GDPR Article 49(1)(a); we
//     assume no adequacy decision or safeguards to rely on).
//  5. visastatus.consent-reference: the visa-status partner requires the
//     consent reference.
//  6. fields.<protocol>: the minimisation table; an unknown protocol is
//     refused.
//  7. docregistry.blinded-number: the document registry always receives
//     the blinded number.
func Decide(in SharingInput) Decision {
	var d Decision
	deny := func(rule string) Decision {
		d.Rules = append(d.Rules, rule)
		d.Rule = rule
		d.Reason = ReasonNotPermitted
		d.Allowed = false
		d.Fields = nil
		return d
	}
	if in.CheckType == CheckDocumentMRZ {
		return deny(RuleLocalCheck)
	}
	if len(in.Purposes) == 0 {
		return deny(RulePurposesRequired)
	}
	for _, p := range in.Purposes {
		if !slices.Contains(purposeBases[p], in.LawfulBasis) {
			return deny(RulePurposeBasis)
		}
	}
	d.Rules = append(d.Rules, RulePurposeBasis)
	if (inEEA(in.SubjectResidence) || inEEA(in.InsurerRegion)) && !inEEA(in.PartnerJurisdiction) {
		if in.LawfulBasis != BasisConsent {
			return deny(RuleTransferEEAConsent)
		}
		d.Rules = append(d.Rules, RuleTransferEEAConsent)
	}
	if in.Protocol == "visastatus" {
		if !in.HasConsentReference {
			return deny(RuleVisaConsentRef)
		}
		d.Rules = append(d.Rules, RuleVisaConsentRef)
	}
	fields, ok := fieldSets[in.Protocol]
	if !ok {
		return deny(RuleUnknownProtocol)
	}
	d.Allowed = true
	d.Fields = slices.Sorted(slices.Values(fields))
	d.Rule = "fields." + in.Protocol
	d.Rules = append(d.Rules, d.Rule)
	if in.Protocol == "docregistry" {
		d.BlindDocumentNumber = true
		d.Rules = append(d.Rules, RuleRegistryBlinded)
	}
	return d
}

// inEEA reports whether a region or country code is in the EU/EEA.
func inEEA(code string) bool {
	switch code {
	case country.RegionEU, country.RegionEEA:
		return true
	case "":
		return false
	}
	return country.IsEEA(code)
}

// Minimise returns full with every personal field the decision does not
// allow set to its zero value. A refused decision keeps only the context
// (check id and type, lawful basis, purposes, product, coverage country,
// policy dates). When the decision requires a blinded number the clear
// number is always removed.
func Minimise(d Decision, full Request) Request {
	out := Request{
		CheckID:         full.CheckID,
		CheckType:       full.CheckType,
		LawfulBasis:     full.LawfulBasis,
		Purposes:        slices.Clone(full.Purposes),
		Product:         full.Product,
		CoverageCountry: full.CoverageCountry,
		PolicyStart:     full.PolicyStart,
		PolicyEnd:       full.PolicyEnd,
	}
	if !d.Allowed {
		return out
	}
	s, doc := full.Subject, full.Document
	keep := func(field string, dst *string, v string) {
		if d.Allows(field) {
			*dst = v
		}
	}
	keep(FieldGivenNames, &out.Subject.GivenNames, s.GivenNames)
	keep(FieldSurname, &out.Subject.Surname, s.Surname)
	keep(FieldNationality, &out.Subject.Nationality, s.Nationality)
	keep(FieldSex, &out.Subject.Sex, s.Sex)
	keep(FieldResidenceCountry, &out.Subject.ResidenceCountry, s.ResidenceCountry)
	keep(FieldHolderBlinded, &out.Subject.HolderBlinded, s.HolderBlinded)
	if d.Allows(FieldDateOfBirth) {
		out.Subject.DateOfBirth = s.DateOfBirth
	}
	keep(FieldDocumentType, &out.Document.Type, doc.Type)
	if !d.BlindDocumentNumber {
		keep(FieldDocumentNumber, &out.Document.Number, doc.Number)
	}
	keep(FieldDocumentNumberBlinded, &out.Document.NumberBlinded, doc.NumberBlinded)
	keep(FieldIssuingCountry, &out.Document.IssuingCountry, doc.IssuingCountry)
	if d.Allows(FieldDocumentExpiry) {
		out.Document.ExpiryDate = doc.ExpiryDate
	}
	keep(FieldConsentReference, &out.ConsentReference, full.ConsentReference)
	return out
}

// SharedFields lists, by name, the personal fields req actually carries:
// what an audit record should say was sent.
func SharedFields(req Request) []string {
	var out []string
	add := func(field string, set bool) {
		if set {
			out = append(out, field)
		}
	}
	s, doc := req.Subject, req.Document
	add(FieldGivenNames, s.GivenNames != "")
	add(FieldSurname, s.Surname != "")
	add(FieldDateOfBirth, !s.DateOfBirth.IsZero())
	add(FieldNationality, s.Nationality != "")
	add(FieldSex, s.Sex != "")
	add(FieldResidenceCountry, s.ResidenceCountry != "")
	add(FieldHolderBlinded, s.HolderBlinded != "")
	add(FieldDocumentType, doc.Type != "")
	add(FieldDocumentNumber, doc.Number != "")
	add(FieldDocumentNumberBlinded, doc.NumberBlinded != "")
	add(FieldIssuingCountry, doc.IssuingCountry != "")
	add(FieldDocumentExpiry, !doc.ExpiryDate.IsZero())
	add(FieldConsentReference, req.ConsentReference != "")
	slices.Sort(out)
	return out
}
