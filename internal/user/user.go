// Package user holds the people who sign in to the console: underwriters,
// finance staff and administrators of an insurer, their roles, passwords,
// optional TOTP second factor, sessions and invitations. It is domain code:
// no transport, no SQL; the store implements Store.
//
// A signed-in user acts through a tenant.Principal whose scopes come from
// the user's role, so the domain services authorize console users by the
// same rules as API keys.
package user

import (
	"slices"
	"time"

	"github.com/borderproof/borderproof/internal/tenant"
)

// Role is what a user may do.
type Role string

// The roles.
const (
	RoleUnderwriter Role = "UNDERWRITER"
	RoleFinance     Role = "FINANCE"
	RoleAdmin       Role = "ADMIN"
)

// Roles lists every role in a stable order.
var Roles = []Role{RoleUnderwriter, RoleFinance, RoleAdmin}

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return slices.Contains(Roles, r) }

// Scopes are the API scopes a role carries.
func (r Role) Scopes() []tenant.Scope {
	switch r {
	case RoleUnderwriter:
		return []tenant.Scope{tenant.ScopeVerificationsRead, tenant.ScopePIIRead, tenant.ScopeReviewsWrite}
	case RoleFinance:
		return []tenant.Scope{tenant.ScopeBillingRead, tenant.ScopeVerificationsRead}
	case RoleAdmin:
		return []tenant.Scope{tenant.ScopeAdmin}
	}
	return nil
}

// User is a person who signs in to the console. Email is unique across the
// service (sign-in finds the tenant by it) and stored in lower case.
type User struct {
	ID        string
	InsurerID string
	Email     string
	Name      string
	Role      Role
	// PasswordHash is an argon2id hash in PHC string form.
	PasswordHash string
	// TOTPSecret is the second factor's secret as stored: sealed under
	// the insurer's key (Service.sealTOTP), or plain base32 when stored
	// before sealing (sealed at the next sign-in); empty when the user has
	// none.
	TOTPSecret string
	// TOTPLastStep is the last accepted time step, so a code is used once.
	TOTPLastStep   int64
	FailedAttempts int
	LockedUntil    time.Time
	DisabledAt     time.Time
	CreatedAt      time.Time
	UpdatedAt      time.Time
	LastSignInAt   time.Time
}

// Disabled reports whether the user may no longer sign in.
func (u User) Disabled() bool { return !u.DisabledAt.IsZero() }

// HasTOTP reports whether the user has a second factor.
func (u User) HasTOTP() bool { return u.TOTPSecret != "" }

// Principal is the caller the domain services see for this user: the
// user's id stands where an API key id would (audit entries and review
// records name the user), with the role's scopes, in the given data mode.
func (u User) Principal(ins tenant.Insurer, mode tenant.Mode) tenant.Principal {
	return tenant.Principal{
		Insurer: ins,
		Key: tenant.APIKey{
			ID:        u.ID,
			InsurerID: u.InsurerID,
			Name:      "console",
			Mode:      mode,
			Scopes:    u.Role.Scopes(),
			CreatedAt: u.CreatedAt,
		},
	}
}

// Session is a signed-in browser. Only the SHA-256 of the session token is
// stored; the token itself lives in the browser's cookie.
type Session struct {
	Hash      []byte
	UserID    string
	InsurerID string
	// CSRF is the synchronizer token every state change must carry.
	CSRF string
	// Mode is the data the user is looking at: LIVE or TEST.
	Mode tenant.Mode
	// MFAPending is true between a correct password and a correct TOTP
	// code; such a session opens nothing but the code form.
	MFAPending bool
	// PendingTOTP is the otpauth:// URL of a second factor being
	// enrolled, not yet confirmed by a code.
	PendingTOTP string
	CreatedAt   time.Time
	LastSeenAt  time.Time
	ExpiresAt   time.Time
}

// Invitation lets someone create a user of an insurer with a role, once.
// Only the SHA-256 of its token is stored.
type Invitation struct {
	ID         string
	InsurerID  string
	Email      string
	Role       Role
	TokenHash  []byte
	InvitedBy  string
	CreatedAt  time.Time
	ExpiresAt  time.Time
	AcceptedAt time.Time
	UserID     string
}

// Pending reports whether the invitation can still be accepted at now.
func (i Invitation) Pending(now time.Time) bool {
	return i.AcceptedAt.IsZero() && now.Before(i.ExpiresAt)
}
