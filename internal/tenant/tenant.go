// Package tenant holds insurers, their API keys and the scopes those keys
// carry. It is domain code: no transport, no SQL; the store implements Store.
package tenant

import (
	"slices"
	"strings"
	"time"
)

// Mode separates sandbox data from live data. A TEST key sees only TEST
// data and routes every check to the partner simulator.
type Mode string

const (
	Live Mode = "LIVE"
	Test Mode = "TEST"
)

// Valid reports whether m is a known mode.
func (m Mode) Valid() bool { return m == Live || m == Test }

// Scope is a permission carried by an API key.
type Scope string

// The scopes. Admin implies every other scope.
const (
	ScopeVerificationsWrite Scope = "verifications:write"
	ScopeVerificationsRead  Scope = "verifications:read"
	ScopePIIRead            Scope = "pii:read"
	ScopeReviewsWrite       Scope = "reviews:write"
	ScopeWebhooksManage     Scope = "webhooks:manage"
	ScopeBillingRead        Scope = "billing:read"
	ScopeAdmin              Scope = "admin"
)

// AllScopes lists every scope in a stable order.
var AllScopes = []Scope{
	ScopeVerificationsWrite, ScopeVerificationsRead, ScopePIIRead,
	ScopeReviewsWrite, ScopeWebhooksManage, ScopeBillingRead, ScopeAdmin,
}

// ParseScope returns the scope named s.
func ParseScope(s string) (Scope, bool) {
	sc := Scope(strings.TrimSpace(s))
	return sc, slices.Contains(AllScopes, sc)
}

// Insurer is a customer of the service: one tenant.
type Insurer struct {
	ID      string
	Name    string
	Country string // ISO 3166-1 alpha-3
	Region  string // coarse data-protection region (EU, UK, US, ...), for data-sharing rules
	// Mode TEST insurers may only hold TEST keys; LIVE insurers may hold both.
	Mode          Mode
	RetentionDays int
	Settings      Settings
	CreatedAt     time.Time
}

// Settings are an insurer's defaults.
type Settings struct {
	// DefaultChecks run when a submission names none.
	DefaultChecks []string `json:"defaultChecks,omitempty"`
	// DeadlineSeconds per mode bound how long checks may wait for partners.
	TestDeadlineSeconds int `json:"testDeadlineSeconds,omitempty"`
	LiveDeadlineSeconds int `json:"liveDeadlineSeconds,omitempty"`
}

// APIKey is a credential. The plaintext is shown once at creation; only its
// SHA-256 hash and a short visible prefix are stored.
type APIKey struct {
	ID        string
	InsurerID string
	Name      string
	Prefix    string
	Mode      Mode
	Scopes    []Scope
	// Purposes restricts which consent purposes submissions made with this
	// key may declare; empty means any.
	Purposes   []string
	CreatedAt  time.Time
	RevokedAt  time.Time
	LastUsedAt time.Time
}

// Revoked reports whether the key has been revoked.
func (k APIKey) Revoked() bool { return !k.RevokedAt.IsZero() }

// Principal is the authenticated caller of one request or command.
type Principal struct {
	Insurer Insurer
	Key     APIKey
}

// Has reports whether the principal carries scope (admin carries all).
func (p Principal) Has(scope Scope) bool {
	return slices.Contains(p.Key.Scopes, scope) || slices.Contains(p.Key.Scopes, ScopeAdmin)
}

// Mode is the data mode the principal acts in.
func (p Principal) Mode() Mode { return p.Key.Mode }

// AllowsPurpose reports whether the key may declare the consent purpose.
func (p Principal) AllowsPurpose(purpose string) bool {
	return len(p.Key.Purposes) == 0 || slices.Contains(p.Key.Purposes, purpose)
}
