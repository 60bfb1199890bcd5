package user

import (
	"context"
	"time"

	"github.com/borderproof/borderproof/internal/tenant"
)

// Store persists users, sessions and invitations. Every method takes the
// insurer id except the lookups by which a request finds its tenant: a user
// by email at sign-in, a session by token hash, an invitation by token hash.
// A row of another insurer answers errs.NotFound.
type Store interface {
	// CreateUser inserts a user; errs.Conflict when the email is taken.
	CreateUser(ctx context.Context, u User) error
	// UserByEmail finds a user by lower-case email; errs.NotFound when none.
	UserByEmail(ctx context.Context, email string) (User, error)
	User(ctx context.Context, insurerID, id string) (User, error)
	// Users lists an insurer's users by email.
	Users(ctx context.Context, insurerID string) ([]User, error)
	SetUserRole(ctx context.Context, insurerID, id string, role Role, at time.Time) error
	// SetUserDisabled disables (at non-zero) or enables (zero) a user and,
	// when disabling, deletes the user's sessions in the same transaction.
	SetUserDisabled(ctx context.Context, insurerID, id string, disabledAt, at time.Time) error
	SetUserPassword(ctx context.Context, insurerID, id, hash string, at time.Time) error
	// SetUserTOTP replaces the second-factor secret ("" removes it) and
	// sets the last accepted step.
	SetUserTOTP(ctx context.Context, insurerID, id, secret string, lastStep int64, at time.Time) error
	// RecordSignInFailure adds one to the failure count, sets lockedUntil
	// from it, and returns the new count.
	RecordSignInFailure(ctx context.Context, insurerID, id string, lockedUntil func(failures int) time.Time, at time.Time) (int, error)
	// RecordSignIn clears failures and the lock and records the time and,
	// when totpStep is non-zero, the last accepted TOTP step; it fails with
	// errs.Conflict when totpStep is not above the stored one (a replayed
	// code).
	RecordSignIn(ctx context.Context, insurerID, id string, totpStep int64, at time.Time) error

	CreateSession(ctx context.Context, s Session) error
	// SessionByHash returns the session and its user; errs.NotFound when none.
	SessionByHash(ctx context.Context, hash []byte) (Session, User, error)
	// UpdateSession stores a session's mode, MFA and enrolment state and
	// its last-seen time.
	UpdateSession(ctx context.Context, s Session) error
	DeleteSession(ctx context.Context, hash []byte) error
	// DeleteUserSessions signs a user out everywhere.
	DeleteUserSessions(ctx context.Context, insurerID, userID string) (int, error)
	// DeleteExpiredSessions removes sessions that expired before cutoff.
	DeleteExpiredSessions(ctx context.Context, cutoff time.Time) (int, error)

	CreateInvitation(ctx context.Context, inv Invitation) error
	// InvitationByHash finds an invitation by token hash; errs.NotFound.
	InvitationByHash(ctx context.Context, hash []byte) (Invitation, error)
	// Invitations lists an insurer's invitations not accepted and not
	// expired at now, newest first.
	Invitations(ctx context.Context, insurerID string, now time.Time) ([]Invitation, error)
	// AcceptInvitation creates the user and marks the invitation accepted
	// in one transaction; errs.Conflict when it was accepted already or the
	// email is taken, errs.FailedPrecondition when it expired.
	AcceptInvitation(ctx context.Context, hash []byte, u User, at time.Time) error
	DeleteInvitation(ctx context.Context, insurerID, id string) error
}

// Insurers is what the service needs of the tenant service.
type Insurers interface {
	Insurer(ctx context.Context, id string) (tenant.Insurer, error)
}
