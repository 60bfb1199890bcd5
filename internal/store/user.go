package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/borderproof/borderproof/internal/errs"
	"github.com/borderproof/borderproof/internal/tenant"
	"github.com/borderproof/borderproof/internal/user"
)

var _ user.Store = (*Store)(nil)

func (s *Store) CreateUser(ctx context.Context, u user.User) error {
	return createUser(ctx, s.pool(), u)
}

func createUser(ctx context.Context, c conn, u user.User) error {
	_, err := c.exec(ctx, `INSERT INTO users (id, insurer_id, email, name, role, password_hash, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		u.ID, u.InsurerID, u.Email, u.Name, string(u.Role), u.PasswordHash, micros(u.CreatedAt), micros(u.UpdatedAt))
	if isUnique(err) {
		return errs.E(errs.Conflict, "a user with this email already exists")
	}
	return err
}

const userCols = `u.id, u.insurer_id, u.email, u.name, u.role, u.password_hash, u.totp_secret, u.totp_last_step,
	u.failed_attempts, u.locked_until, u.disabled_at, u.created_at, u.updated_at, u.last_sign_in_at`

func scanUser(sc interface{ Scan(...any) error }, extra ...any) (user.User, error) {
	var u user.User
	var role string
	var created, updated int64
	var locked, disabled, signedIn sql.NullInt64
	dest := append([]any{&u.ID, &u.InsurerID, &u.Email, &u.Name, &role, &u.PasswordHash, &u.TOTPSecret, &u.TOTPLastStep,
		&u.FailedAttempts, &locked, &disabled, &created, &updated, &signedIn}, extra...)
	if err := sc.Scan(dest...); err != nil {
		return u, err
	}
	u.Role = user.Role(role)
	u.LockedUntil, u.DisabledAt, u.LastSignInAt = fromNullMicros(locked), fromNullMicros(disabled), fromNullMicros(signedIn)
	u.CreatedAt, u.UpdatedAt = fromMicros(created), fromMicros(updated)
	return u, nil
}

func (s *Store) UserByEmail(ctx context.Context, email string) (user.User, error) {
	u, err := scanUser(s.pool().row(ctx, `SELECT `+userCols+` FROM users u WHERE u.email = $1`, email))
	if errors.Is(err, sql.ErrNoRows) {
		return u, notFound("user")
	}
	return u, err
}

func (s *Store) User(ctx context.Context, insurerID, id string) (user.User, error) {
	u, err := scanUser(s.pool().row(ctx, `SELECT `+userCols+` FROM users u WHERE u.insurer_id = $1 AND u.id = $2`, insurerID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return u, notFound("user")
	}
	return u, err
}

func (s *Store) Users(ctx context.Context, insurerID string) ([]user.User, error) {
	rows, err := s.pool().query(ctx, `SELECT `+userCols+` FROM users u WHERE u.insurer_id = $1 ORDER BY u.email`, insurerID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []user.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

// updateUser runs an UPDATE on one user of the insurer and answers
// NotFound when no row matched.
func (s *Store) updateUser(ctx context.Context, c conn, query string, args ...any) error {
	res, err := c.exec(ctx, query, args...)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return notFound("user")
	}
	return nil
}

func (s *Store) SetUserRole(ctx context.Context, insurerID, id string, role user.Role, at time.Time) error {
	return s.updateUser(ctx, s.pool(), `UPDATE users SET role = $3, updated_at = $4 WHERE insurer_id = $1 AND id = $2`,
		insurerID, id, string(role), micros(at))
}

func (s *Store) SetUserDisabled(ctx context.Context, insurerID, id string, disabledAt, at time.Time) error {
	return s.tx(ctx, func(c conn) error {
		if err := s.updateUser(ctx, c, `UPDATE users SET disabled_at = $3, updated_at = $4 WHERE insurer_id = $1 AND id = $2`,
			insurerID, id, nullMicros(disabledAt), micros(at)); err != nil {
			return err
		}
		if disabledAt.IsZero() {
			return nil
		}
		_, err := c.exec(ctx, `DELETE FROM user_sessions WHERE insurer_id = $1 AND user_id = $2`, insurerID, id)
		return err
	})
}

func (s *Store) SetUserPassword(ctx context.Context, insurerID, id, hash string, at time.Time) error {
	return s.updateUser(ctx, s.pool(), `UPDATE users SET password_hash = $3, updated_at = $4 WHERE insurer_id = $1 AND id = $2`,
		insurerID, id, hash, micros(at))
}

func (s *Store) SetUserTOTP(ctx context.Context, insurerID, id, secret string, lastStep int64, at time.Time) error {
	return s.updateUser(ctx, s.pool(), `UPDATE users SET totp_secret = $3, totp_last_step = $4, updated_at = $5
		WHERE insurer_id = $1 AND id = $2`, insurerID, id, secret, lastStep, micros(at))
}

func (s *Store) RecordSignInFailure(ctx context.Context, insurerID, id string, lockedUntil func(int) time.Time, at time.Time) (int, error) {
	var n int
	err := s.tx(ctx, func(c conn) error {
		err := c.row(ctx, `UPDATE users SET failed_attempts = failed_attempts + 1, updated_at = $3
			WHERE insurer_id = $1 AND id = $2 RETURNING failed_attempts`, insurerID, id, micros(at)).Scan(&n)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("user")
		}
		if err != nil {
			return err
		}
		until := lockedUntil(n)
		if until.IsZero() {
			return nil
		}
		_, err = c.exec(ctx, `UPDATE users SET locked_until = $3 WHERE insurer_id = $1 AND id = $2`, insurerID, id, micros(until))
		return err
	})
	return n, err
}

func (s *Store) RecordSignIn(ctx context.Context, insurerID, id string, totpStep int64, at time.Time) error {
	if totpStep == 0 {
		return s.updateUser(ctx, s.pool(), `UPDATE users SET failed_attempts = 0, locked_until = NULL, last_sign_in_at = $3
			WHERE insurer_id = $1 AND id = $2`, insurerID, id, micros(at))
	}
	return s.tx(ctx, func(c conn) error {
		res, err := c.exec(ctx, `UPDATE users SET failed_attempts = 0, locked_until = NULL, last_sign_in_at = $3,
			totp_last_step = $4 WHERE insurer_id = $1 AND id = $2 AND totp_last_step < $4`, insurerID, id, micros(at), totpStep)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 1 {
			return nil
		}
		var one int
		if err := c.row(ctx, `SELECT 1 FROM users WHERE insurer_id = $1 AND id = $2`, insurerID, id).Scan(&one); errors.Is(err, sql.ErrNoRows) {
			return notFound("user")
		} else if err != nil {
			return err
		}
		return errs.E(errs.Conflict, "this code was already used")
	})
}

func (s *Store) CreateSession(ctx context.Context, ss user.Session) error {
	_, err := s.pool().exec(ctx, `INSERT INTO user_sessions (hash, user_id, insurer_id, csrf, mode, mfa_pending, pending_totp,
		created_at, last_seen_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		ss.Hash, ss.UserID, ss.InsurerID, ss.CSRF, string(ss.Mode), ss.MFAPending, ss.PendingTOTP,
		micros(ss.CreatedAt), micros(ss.LastSeenAt), micros(ss.ExpiresAt))
	if isUnique(err) {
		return errs.E(errs.Conflict, "session already exists")
	}
	return err
}

func (s *Store) SessionByHash(ctx context.Context, hash []byte) (user.Session, user.User, error) {
	var ss user.Session
	var mode string
	var created, seen, expires int64
	row := s.pool().row(ctx, `SELECT `+userCols+`, us.hash, us.user_id, us.insurer_id, us.csrf, us.mode, us.mfa_pending,
		us.pending_totp, us.created_at, us.last_seen_at, us.expires_at
		FROM user_sessions us JOIN users u ON u.id = us.user_id AND u.insurer_id = us.insurer_id WHERE us.hash = $1`, hash)
	u, err := scanUser(row, &ss.Hash, &ss.UserID, &ss.InsurerID, &ss.CSRF, &mode, &ss.MFAPending, &ss.PendingTOTP,
		&created, &seen, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return ss, u, notFound("session")
	}
	if err != nil {
		return ss, u, err
	}
	ss.Mode = tenant.Mode(mode)
	ss.CreatedAt, ss.LastSeenAt, ss.ExpiresAt = fromMicros(created), fromMicros(seen), fromMicros(expires)
	return ss, u, nil
}

func (s *Store) UpdateSession(ctx context.Context, ss user.Session) error {
	res, err := s.pool().exec(ctx, `UPDATE user_sessions SET mode = $2, mfa_pending = $3, pending_totp = $4, last_seen_at = $5
		WHERE hash = $1`, ss.Hash, string(ss.Mode), ss.MFAPending, ss.PendingTOTP, micros(ss.LastSeenAt))
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return notFound("session")
	}
	return nil
}

func (s *Store) DeleteSession(ctx context.Context, hash []byte) error {
	_, err := s.pool().exec(ctx, `DELETE FROM user_sessions WHERE hash = $1`, hash)
	return err
}

func (s *Store) DeleteUserSessions(ctx context.Context, insurerID, userID string) (int, error) {
	res, err := s.pool().exec(ctx, `DELETE FROM user_sessions WHERE insurer_id = $1 AND user_id = $2`, insurerID, userID)
	if err != nil {
		return 0, err
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

func (s *Store) DeleteExpiredSessions(ctx context.Context, cutoff time.Time) (int, error) {
	res, err := s.pool().exec(ctx, `DELETE FROM user_sessions WHERE expires_at < $1`, micros(cutoff))
	if err != nil {
		return 0, err
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

const invitationCols = `id, insurer_id, email, role, token_hash, invited_by, created_at, expires_at, accepted_at, user_id`

func scanInvitation(sc interface{ Scan(...any) error }) (user.Invitation, error) {
	var inv user.Invitation
	var role string
	var created, expires int64
	var accepted sql.NullInt64
	var uid sql.NullString
	if err := sc.Scan(&inv.ID, &inv.InsurerID, &inv.Email, &role, &inv.TokenHash, &inv.InvitedBy, &created, &expires,
		&accepted, &uid); err != nil {
		return inv, err
	}
	inv.Role, inv.UserID = user.Role(role), uid.String
	inv.CreatedAt, inv.ExpiresAt, inv.AcceptedAt = fromMicros(created), fromMicros(expires), fromNullMicros(accepted)
	return inv, nil
}

func (s *Store) CreateInvitation(ctx context.Context, inv user.Invitation) error {
	_, err := s.pool().exec(ctx, `INSERT INTO user_invitations (id, insurer_id, email, role, token_hash, invited_by, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		inv.ID, inv.InsurerID, inv.Email, string(inv.Role), inv.TokenHash, inv.InvitedBy, micros(inv.CreatedAt), micros(inv.ExpiresAt))
	if isUnique(err) {
		return errs.E(errs.Conflict, "invitation already exists")
	}
	return err
}

func (s *Store) InvitationByHash(ctx context.Context, hash []byte) (user.Invitation, error) {
	inv, err := scanInvitation(s.pool().row(ctx, `SELECT `+invitationCols+` FROM user_invitations WHERE token_hash = $1`, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return inv, notFound("invitation")
	}
	return inv, err
}

func (s *Store) Invitations(ctx context.Context, insurerID string, now time.Time) ([]user.Invitation, error) {
	rows, err := s.pool().query(ctx, `SELECT `+invitationCols+` FROM user_invitations
		WHERE insurer_id = $1 AND accepted_at IS NULL AND expires_at > $2 ORDER BY id DESC`, insurerID, micros(now))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []user.Invitation
	for rows.Next() {
		inv, err := scanInvitation(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, inv)
	}
	return out, rows.Err()
}

func (s *Store) AcceptInvitation(ctx context.Context, hash []byte, u user.User, at time.Time) error {
	return s.tx(ctx, func(c conn) error {
		inv, err := scanInvitation(c.row(ctx, `SELECT `+invitationCols+` FROM user_invitations WHERE token_hash = $1`, hash))
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("invitation")
		}
		if err != nil {
			return err
		}
		if !inv.AcceptedAt.IsZero() {
			return errs.E(errs.Conflict, "this invitation was already accepted")
		}
		if !at.Before(inv.ExpiresAt) {
			return errs.E(errs.FailedPrecondition, "this invitation has expired")
		}
		if inv.InsurerID != u.InsurerID || inv.Email != u.Email {
			return errs.E(errs.Invalid, "the user does not match the invitation")
		}
		res, err := c.exec(ctx, `UPDATE user_invitations SET accepted_at = $2, user_id = $3 WHERE id = $1 AND accepted_at IS NULL`,
			inv.ID, micros(at), u.ID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return errs.E(errs.Conflict, "this invitation was already accepted")
		}
		return createUser(ctx, c, u)
	})
}

func (s *Store) DeleteInvitation(ctx context.Context, insurerID, id string) error {
	res, err := s.pool().exec(ctx, `DELETE FROM user_invitations WHERE insurer_id = $1 AND id = $2 AND accepted_at IS NULL`,
		insurerID, id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return notFound("invitation")
	}
	return nil
}
