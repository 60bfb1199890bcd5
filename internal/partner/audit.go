package partner

import (
	"context"
	"slices"
	"time"
)

// AuditRecord says which personal fields went to which partner, by name
// only, and on which rule and lawful basis. It never holds the values.
type AuditRecord struct {
	At           time.Time
	Partner      string
	Jurisdiction string
	CheckID      string
	CheckType    CheckType
	// Allowed is false for a refused check (nothing was sent).
	Allowed bool
	// Fields are the names of the personal fields sent.
	Fields      []string
	Rule        string
	Rules       []string
	Reason      string
	LawfulBasis LawfulBasis
	Purposes    []Purpose
	Blinded     bool
}

// AuditSink records partner data sharing. The caller that sends the
// request (the worker) records before the call, so that a send is never
// unrecorded; internal/audit implements it.
type AuditSink interface {
	RecordPartnerShare(ctx context.Context, rec AuditRecord) error
}

// NewAuditRecord builds the record for sending req (already minimised) to p
// under decision d.
func NewAuditRecord(p Partner, req Request, d Decision, at time.Time) AuditRecord {
	rec := AuditRecord{
		At:           at.UTC(),
		Partner:      p.Name(),
		Jurisdiction: p.Jurisdiction(),
		CheckID:      req.CheckID,
		CheckType:    req.CheckType,
		Allowed:      d.Allowed,
		Rule:         d.Rule,
		Rules:        slices.Clone(d.Rules),
		Reason:       d.Reason,
		LawfulBasis:  req.LawfulBasis,
		Purposes:     slices.Clone(req.Purposes),
		Blinded:      d.BlindDocumentNumber,
	}
	if d.Allowed {
		rec.Fields = SharedFields(req)
	}
	return rec
}
