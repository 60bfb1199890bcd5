// Package audit records who touched which personal data, and why. Entries
// are append-only: the store offers no update or delete.
package audit

import (
	"context"
	"encoding/json"
	"time"
)

// Actions recorded.
const (
	ActionPIIRead        = "pii.read"
	ActionErase          = "verification.erase"
	ActionPartnerShare   = "partner.share"
	ActionRetentionErase = "retention.erase"
)

// Entry is one audit record. Detail holds field names, rule ids and
// similar; never personal values.
type Entry struct {
	ID             string
	InsurerID      string
	Actor          string // key id, user id or "system"
	Action         string
	VerificationID string
	Purpose        string
	RequestID      string
	Detail         json.RawMessage
	CreatedAt      time.Time
}

// Filter narrows the audit log.
type Filter struct {
	Action         string
	VerificationID string
	Actor          string
	From, To       time.Time
}

// Store appends and lists entries.
type Store interface {
	AppendAudit(ctx context.Context, e Entry) error
	AuditLog(ctx context.Context, insurerID string, f Filter, after string, limit int) ([]Entry, error)
}
