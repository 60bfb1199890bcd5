package pipeline

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/borderproof/borderproof/internal/errs"
	"github.com/borderproof/borderproof/internal/mrz"
	"github.com/borderproof/borderproof/internal/partner"
	"github.com/borderproof/borderproof/internal/risk"
	"github.com/borderproof/borderproof/internal/vault"
	"github.com/borderproof/borderproof/internal/verification"
)

// mrzUpdate is the local document check: each document's machine-readable
// zone is parsed and compared with the typed fields; expired and specimen
// documents are flagged; the blind index finds the same document used by
// another person in an earlier verification of the insurer. With reuse
// nil, that last answer is left to the caller (withReuse): a run asks it
// with the start of its partner checks.
func (p *Pipeline) mrzUpdate(ctx context.Context, v verification.Verification, c verification.Check, now time.Time, openPII func() (*verification.PII, error), reuse func(context.Context, verification.Verification, *verification.PII) (bool, error)) (*CheckUpdate, error) {
	pii, err := openPII()
	if errs.Is(err, errs.FailedPrecondition) {
		u := p.failed(c, now, ReasonErased, risk.SignalRequiredCheckNotRun)
		u.Status = risk.CheckSkipped
		return u, nil
	}
	if err != nil {
		return nil, err
	}
	signals := stamp(DocumentSignals(pii, now), c)
	u := &CheckUpdate{
		InsurerID: v.InsurerID, VerificationID: v.ID, CheckID: c.ID, From: open, Attempts: -1,
		Status: risk.CheckCompleted, Outcome: string(mrzOutcome(signals)), Signals: signals, At: now,
	}
	if reuse != nil {
		reused, err := reuse(ctx, v, pii)
		if err != nil {
			return nil, err
		}
		withReuse(u, c, reused)
	}
	return u, nil
}

// withReuse adds to a document check's update the answer of the blind
// index: whether the document was used by another person.
func withReuse(u *CheckUpdate, c verification.Check, reused bool) {
	if !reused {
		return
	}
	u.Signals = append(u.Signals, stamp([]risk.Signal{{Code: risk.SignalDocumentReuse}}, c)...)
	u.Outcome = string(mrzOutcome(u.Signals))
}

func mrzOutcome(signals []risk.Signal) partner.Outcome {
	return partner.OutcomeFor(signals, risk.SignalSpecimenDocument, risk.SignalMRZCheckDigitFailed, risk.SignalDocumentReuse)
}

// DocumentSignals checks every document of a submission: check digits,
// zone against typed fields, expiry (zone or typed) and specimen. Signal
// details name fields and problem codes, never values; each code appears
// once.
func DocumentSignals(pii *verification.PII, now time.Time) []risk.Signal {
	found := map[risk.SignalCode][]string{}
	add := func(code risk.SignalCode, detail ...string) {
		if _, ok := found[code]; !ok {
			found[code] = []string{}
		}
		for _, d := range detail {
			if !slices.Contains(found[code], d) {
				found[code] = append(found[code], d)
			}
		}
	}
	today := now.UTC().Truncate(24 * time.Hour)
	ph := pii.Policyholder
	for _, d := range pii.Documents {
		if exp := date(d.ExpiryDate); !exp.IsZero() && exp.Before(today) {
			add(risk.SignalDocumentExpired)
		}
		if d.IssuingCountry == mrz.SpecimenState {
			add(risk.SignalSpecimenDocument)
		}
		if len(d.MRZ) == 0 {
			continue
		}
		doc, err := mrz.Parse(d.MRZ, mrz.WithNow(now))
		if err != nil {
			add(risk.SignalMRZCheckDigitFailed, "unreadable")
			continue
		}
		for _, pr := range doc.Problems {
			if strings.HasPrefix(string(pr.Code), "CHECK_DIGIT_") {
				add(risk.SignalMRZCheckDigitFailed, string(pr.Field))
			}
		}
		typed := mrz.Typed{
			Surname: ph.Surname, GivenNames: ph.GivenNames, BirthDate: date(ph.DateOfBirth),
			DocumentNumber: d.Number, ExpiryDate: date(d.ExpiryDate), Nationality: ph.Nationality, Sex: mrz.Sex(ph.Sex),
		}
		for _, m := range mrz.Compare(doc, typed) {
			add(risk.SignalMRZFieldMismatch, string(m.Field))
		}
		if doc.Expired(now) {
			add(risk.SignalDocumentExpired)
		}
		if doc.Specimen() {
			add(risk.SignalSpecimenDocument)
		}
	}
	var out []risk.Signal
	for _, code := range risk.SignalCodes() {
		fields, ok := found[code]
		if !ok {
			continue
		}
		s := risk.Signal{Code: code}
		if len(fields) > 0 {
			slices.Sort(fields)
			s.Detail = map[string]string{"fields": strings.Join(fields, ",")}
		}
		out = append(out, s)
	}
	return out
}

// documentReused reports whether any document of the verification was
// used in another verification of the insurer by a different person.
func (p *Pipeline) documentReused(ctx context.Context, v verification.Verification, pii *verification.PII) (bool, error) {
	ph := pii.Policyholder
	person, err := p.d.Sealer.BlindIndex(ctx, v.InsurerID, vault.IndexPerson,
		vault.NormalisePersonKey(strings.TrimSpace(ph.GivenNames+" "+ph.Surname), ph.DateOfBirth))
	if err != nil {
		return false, err
	}
	digests := make([]string, 0, len(pii.Documents))
	for _, d := range pii.Documents {
		digest, err := p.d.Sealer.BlindIndex(ctx, v.InsurerID, vault.IndexDocument, vault.DocumentKey(d.IssuingCountry, d.Number))
		if err != nil {
			return false, err
		}
		digests = append(digests, digest)
	}
	if len(digests) == 0 {
		return false, nil
	}
	return p.d.Store.DocumentReused(ctx, v.InsurerID, v.ID, digests, person)
}
