package user

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"log/slog"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/borderproof/borderproof/internal/errs"
	"github.com/borderproof/borderproof/internal/id"
	"github.com/borderproof/borderproof/internal/tenant"
)

// InvitationPrefix is the id prefix of invitations.
const InvitationPrefix = "inv"

// Config tunes the service. Zero values take the defaults.
type Config struct {
	Argon2 Argon2
	// SessionIdle ends a session unused for this long (default 1 hour).
	SessionIdle time.Duration
	// SessionMax ends a session this long after sign-in (default 12 hours).
	SessionMax time.Duration
	// MFAWindow is how long a correct password waits for its TOTP code
	// (default 5 minutes).
	MFAWindow time.Duration
	// MaxFailures consecutive failures lock sign-in (default 5) for
	// LockBase, doubling with each further failure up to LockMax
	// (defaults 30 seconds and 1 hour).
	MaxFailures int
	LockBase    time.Duration
	LockMax     time.Duration
	// InviteTTL is how long an invitation link works (default 7 days).
	InviteTTL time.Duration
	// Issuer names the service in authenticator apps (default BorderProof).
	Issuer string
	Now    func() time.Time
	// Sealer keeps second-factor secrets sealed at rest under the
	// insurer's key (*vault.Vault). Without one, second factors cannot be
	// enrolled or checked (an error, never a secret stored in clear).
	Sealer Sealer
}

// Sealer seals and opens small secrets under a per-subject key wrapped by
// the insurer's key; *vault.Vault implements it.
type Sealer interface {
	NewSubjectKey(ctx context.Context, insurerID, subjectID string) ([]byte, error)
	Seal(ctx context.Context, insurerID, subjectID string, wrappedSubjectKey []byte, purpose string, plaintext []byte) ([]byte, error)
	Open(ctx context.Context, insurerID, subjectID string, wrappedSubjectKey []byte, purpose string, sealed []byte) ([]byte, error)
}

func (c *Config) defaults() {
	if c.Argon2 == (Argon2{}) {
		c.Argon2 = DefaultArgon2
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.SessionIdle, time.Hour)
	def(&c.SessionMax, 12*time.Hour)
	def(&c.MFAWindow, 5*time.Minute)
	def(&c.LockBase, 30*time.Second)
	def(&c.LockMax, time.Hour)
	def(&c.InviteTTL, 7*24*time.Hour)
	if c.MaxFailures <= 0 {
		c.MaxFailures = 5
	}
	if c.Issuer == "" {
		c.Issuer = "BorderProof"
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Service signs users in and manages them.
type Service struct {
	cfg      Config
	store    Store
	insurers Insurers
	log      *slog.Logger
	// dummy is a hash verified when there is no real one, so an unknown
	// email costs as much time as a wrong password.
	dummy string
}

// New builds the service.
func New(cfg Config, store Store, insurers Insurers, log *slog.Logger) (*Service, error) {
	cfg.defaults()
	var b [16]byte
	_, _ = rand.Read(b[:])
	dummy, err := hashPassword(base64.RawURLEncoding.EncodeToString(b[:]), cfg.Argon2)
	if err != nil {
		return nil, err
	}
	return &Service{cfg: cfg, store: store, insurers: insurers, log: log, dummy: dummy}, nil
}

func (s *Service) now() time.Time { return s.cfg.Now().UTC().Truncate(time.Microsecond) }

var (
	errSignIn = errs.E(errs.Unauthenticated,
		"Sign-in failed. Check your email and password; after repeated failures sign-in pauses for a while.")
	errCode = errs.E(errs.Unauthenticated,
		"That code is not valid. Enter the current code from your authenticator app.")
	errSession    = errs.E(errs.Unauthenticated, "your session has ended; sign in again")
	errInvitation = errs.E(errs.NotFound, "this invitation link is not valid any more; ask an administrator for a new one")
)

// newToken returns a random token and its stored hash.
func newToken() (string, []byte, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", nil, err
	}
	plain := base64.RawURLEncoding.EncodeToString(b[:])
	return plain, HashToken(plain), nil
}

// HashToken is the stored form of a session or invitation token.
func HashToken(plain string) []byte {
	h := sha256.Sum256([]byte(plain))
	return h[:]
}

// SignIn is a new session and the token for its cookie.
type SignIn struct {
	Token   string
	Session Session
	User    User
}

// SignIn checks an email and password. A user with a second factor gets a
// session that waits for VerifyTOTP. Every failure answers the same
// Unauthenticated error, so callers learn nothing about which emails exist
// or which accounts are locked.
func (s *Service) SignIn(ctx context.Context, email, password string) (SignIn, error) {
	now := s.now()
	if len(password) > 4*MaxPasswordLength {
		return SignIn{}, errSignIn
	}
	u, err := s.store.UserByEmail(ctx, NormaliseEmail(email))
	if errs.Is(err, errs.NotFound) {
		verifyPassword(s.dummy, password)
		return SignIn{}, errSignIn
	}
	if err != nil {
		return SignIn{}, err
	}
	if u.Disabled() || now.Before(u.LockedUntil) {
		verifyPassword(s.dummy, password)
		return SignIn{}, errSignIn
	}
	if !verifyPassword(u.PasswordHash, password) {
		return SignIn{}, s.fail(ctx, u, now, errSignIn)
	}
	if needsRehash(u.PasswordHash, s.cfg.Argon2) {
		if h, err := hashPassword(password, s.cfg.Argon2); err == nil {
			if err := s.store.SetUserPassword(ctx, u.InsurerID, u.ID, h, now); err != nil {
				s.log.WarnContext(ctx, "rehash password", "user_id", u.ID, "err", err)
			}
		}
	}
	ins, err := s.insurers.Insurer(ctx, u.InsurerID)
	if err != nil {
		return SignIn{}, err
	}
	mode := tenant.Live
	if ins.Mode == tenant.Test {
		mode = tenant.Test
	}
	if u.HasTOTP() {
		return s.newSession(ctx, u, mode, true, now)
	}
	if err := s.store.RecordSignIn(ctx, u.InsurerID, u.ID, 0, now); err != nil {
		return SignIn{}, err
	}
	return s.newSession(ctx, u, mode, false, now)
}

// fail records a failed attempt and returns answer.
func (s *Service) fail(ctx context.Context, u User, now time.Time, answer error) error {
	n, err := s.store.RecordSignInFailure(ctx, u.InsurerID, u.ID, s.lockedUntil(now), now)
	if err != nil {
		return err
	}
	if n >= s.cfg.MaxFailures {
		s.log.WarnContext(ctx, "console sign-in locked after repeated failures", "user_id", u.ID, "failures", n)
	}
	return answer
}

// lockedUntil is the backoff: none below MaxFailures, then LockBase
// doubling per further failure, at most LockMax.
func (s *Service) lockedUntil(now time.Time) func(int) time.Time {
	return func(failures int) time.Time {
		over := failures - s.cfg.MaxFailures
		if over < 0 {
			return time.Time{}
		}
		d := s.cfg.LockMax
		if over < 20 {
			d = min(s.cfg.LockBase<<over, s.cfg.LockMax)
		}
		return now.Add(d)
	}
}

func (s *Service) newSession(ctx context.Context, u User, mode tenant.Mode, mfa bool, now time.Time) (SignIn, error) {
	token, hash, err := newToken()
	if err != nil {
		return SignIn{}, err
	}
	csrf, _, err := newToken()
	if err != nil {
		return SignIn{}, err
	}
	life := s.cfg.SessionMax
	if mfa {
		life = s.cfg.MFAWindow
	}
	sess := Session{Hash: hash, UserID: u.ID, InsurerID: u.InsurerID, CSRF: csrf, Mode: mode, MFAPending: mfa,
		CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(life)}
	if err := s.store.CreateSession(ctx, sess); err != nil {
		return SignIn{}, err
	}
	return SignIn{Token: token, Session: sess, User: u}, nil
}

// totpOpts are the authenticator parameters every common app uses.
var totpOpts = totp.ValidateOpts{Period: 30, Skew: 1, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// matchTOTP returns the time step whose code equals code, allowing one step
// of clock drift either way.
func matchTOTP(secret, code string, now time.Time) (int64, bool) {
	if len(code) != 6 {
		return 0, false
	}
	var step int64
	ok := false
	for d := -1; d <= 1; d++ {
		t := now.Add(time.Duration(d) * 30 * time.Second)
		want, err := totp.GenerateCodeCustom(secret, t, totpOpts)
		if err != nil {
			return 0, false
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			step, ok = t.Unix()/30, true
		}
	}
	return step, ok
}

// VerifyTOTP completes a sign-in that waits for its second factor. The
// waiting session is replaced by a new one, so its token is worth nothing
// afterwards. A code is accepted once.
func (s *Service) VerifyTOTP(ctx context.Context, token, code string) (SignIn, error) {
	now := s.now()
	sess, u, err := s.lookup(ctx, token, now)
	if err != nil {
		return SignIn{}, err
	}
	if !sess.MFAPending {
		return SignIn{}, errs.E(errs.FailedPrecondition, "this session is already signed in")
	}
	if now.Before(u.LockedUntil) {
		return SignIn{}, errCode
	}
	secret, sealed, err := s.openTOTP(ctx, u)
	if err != nil {
		return SignIn{}, err
	}
	step, ok := matchTOTP(secret, code, now)
	if !ok || step <= u.TOTPLastStep {
		return SignIn{}, s.fail(ctx, u, now, errCode)
	}
	if err := s.store.RecordSignIn(ctx, u.InsurerID, u.ID, step, now); err != nil {
		if errs.Is(err, errs.Conflict) {
			return SignIn{}, s.fail(ctx, u, now, errCode)
		}
		return SignIn{}, err
	}
	if !sealed {
		// Enrolled before secrets were sealed: seal it now.
		if stored, err := s.sealTOTP(ctx, u, secret); err != nil {
			s.log.WarnContext(ctx, "seal a second-factor secret; it stays as it was", "user_id", u.ID, "err", err)
		} else if err := s.store.SetUserTOTP(ctx, u.InsurerID, u.ID, stored, step, now); err != nil {
			s.log.WarnContext(ctx, "store a sealed second-factor secret; it stays as it was", "user_id", u.ID, "err", err)
		}
	}
	if err := s.store.DeleteSession(ctx, sess.Hash); err != nil {
		return SignIn{}, err
	}
	return s.newSession(ctx, u, sess.Mode, false, now)
}

// lookup finds a live session by token.
func (s *Service) lookup(ctx context.Context, token string, now time.Time) (Session, User, error) {
	if token == "" || len(token) > 100 {
		return Session{}, User{}, errSession
	}
	sess, u, err := s.store.SessionByHash(ctx, HashToken(token))
	if errs.Is(err, errs.NotFound) {
		return Session{}, User{}, errSession
	}
	if err != nil {
		return Session{}, User{}, err
	}
	idle := s.cfg.SessionIdle
	if sess.MFAPending {
		idle = s.cfg.MFAWindow
	}
	if !now.Before(sess.ExpiresAt) || now.Sub(sess.LastSeenAt) > idle || u.Disabled() {
		if err := s.store.DeleteSession(ctx, sess.Hash); err != nil {
			s.log.WarnContext(ctx, "delete ended session", "err", err)
		}
		return Session{}, User{}, errSession
	}
	return sess, u, nil
}

// Authenticate resolves a session token to its session and user, ending
// sessions past their idle or absolute lifetime. The caller must refuse a
// session with MFAPending everywhere but the code form.
func (s *Service) Authenticate(ctx context.Context, token string) (Session, User, error) {
	now := s.now()
	sess, u, err := s.lookup(ctx, token, now)
	if err != nil {
		return sess, u, err
	}
	if now.Sub(sess.LastSeenAt) >= time.Minute {
		sess.LastSeenAt = now
		if err := s.store.UpdateSession(ctx, sess); err != nil {
			s.log.WarnContext(ctx, "record session use", "err", err)
		}
	}
	return sess, u, nil
}

// Principal is the caller the domain services see for a signed-in user.
func (s *Service) Principal(ctx context.Context, sess Session, u User) (tenant.Principal, error) {
	if sess.MFAPending {
		return tenant.Principal{}, errs.E(errs.Unauthenticated, "enter your authentication code first")
	}
	ins, err := s.insurers.Insurer(ctx, u.InsurerID)
	if err != nil {
		return tenant.Principal{}, err
	}
	return u.Principal(ins, sess.Mode), nil
}

// SetMode switches the data a session looks at.
func (s *Service) SetMode(ctx context.Context, sess Session, mode tenant.Mode) (Session, error) {
	if !mode.Valid() {
		return sess, errs.InvalidFields(errs.FieldError{Path: "mode", Message: "must be LIVE or TEST"})
	}
	ins, err := s.insurers.Insurer(ctx, sess.InsurerID)
	if err != nil {
		return sess, err
	}
	if mode == tenant.Live && ins.Mode != tenant.Live {
		return sess, errs.E(errs.FailedPrecondition, "this insurer is sandbox-only: there is no live data")
	}
	sess.Mode = mode
	return sess, s.store.UpdateSession(ctx, sess)
}

// SignOut ends one session.
func (s *Service) SignOut(ctx context.Context, token string) error {
	return s.store.DeleteSession(ctx, HashToken(token))
}

// SignOutEverywhere ends every session of the user.
func (s *Service) SignOutEverywhere(ctx context.Context, u User) (int, error) {
	return s.store.DeleteUserSessions(ctx, u.InsurerID, u.ID)
}

// PurgeSessions deletes expired sessions (a periodic chore).
func (s *Service) PurgeSessions(ctx context.Context) (int, error) {
	return s.store.DeleteExpiredSessions(ctx, s.now())
}

// Enrolment is a second-factor secret waiting for its first code.
type Enrolment struct {
	Secret string // base32, for manual entry
	URL    string // otpauth:// URL, for a QR code
}

// StartTOTP begins enrolling a second factor: the key is kept in the
// session, sealed as a confirmed one is, until ConfirmTOTP proves the app
// holds it.
func (s *Service) StartTOTP(ctx context.Context, sess Session, u User) (Enrolment, error) {
	key, err := totp.Generate(totp.GenerateOpts{Issuer: s.cfg.Issuer, AccountName: u.Email, Period: 30,
		Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return Enrolment{}, err
	}
	sealed, err := s.sealTOTP(ctx, u, key.URL())
	if err != nil {
		return Enrolment{}, err
	}
	sess.PendingTOTP = sealed
	if err := s.store.UpdateSession(ctx, sess); err != nil {
		return Enrolment{}, err
	}
	return Enrolment{Secret: key.Secret(), URL: key.URL()}, nil
}

// PendingEnrolment returns the enrolment in progress in the session of u.
// An enrolment started before pending secrets were sealed (the otpauth://
// URL in clear) is still returned.
func (s *Service) PendingEnrolment(ctx context.Context, sess Session, u User) (Enrolment, bool) {
	if sess.PendingTOTP == "" || sess.UserID != u.ID {
		return Enrolment{}, false
	}
	url, _, err := s.openSealedTOTP(ctx, u, sess.PendingTOTP)
	if err != nil {
		s.log.WarnContext(ctx, "a pending second factor could not be opened; the set-up starts again", "user_id", u.ID, "err", err)
		return Enrolment{}, false
	}
	key, err := otp.NewKeyFromURL(url)
	if err != nil || key.Secret() == "" {
		return Enrolment{}, false
	}
	return Enrolment{Secret: key.Secret(), URL: key.URL()}, true
}

// ConfirmTOTP turns on the second factor once a code from the app matches
// the pending secret.
func (s *Service) ConfirmTOTP(ctx context.Context, sess Session, u User, code string) error {
	e, ok := s.PendingEnrolment(ctx, sess, u)
	if !ok {
		return errs.E(errs.FailedPrecondition, "start the set-up again")
	}
	now := s.now()
	step, ok := matchTOTP(e.Secret, code, now)
	if !ok {
		return errCode
	}
	stored, err := s.sealTOTP(ctx, u, e.Secret)
	if err != nil {
		return err
	}
	if err := s.store.SetUserTOTP(ctx, u.InsurerID, u.ID, stored, step, now); err != nil {
		return err
	}
	sess.PendingTOTP = ""
	return s.store.UpdateSession(ctx, sess)
}

// Stored second-factor secrets: sealedTOTPPrefix, the wrapped per-user key
// and the sealed base32 secret, both base64url, joined by '.'. A value
// without the prefix was stored before sealing (plain base32).
const (
	sealedTOTPPrefix = "sealed1:"
	// TOTPPurpose is the vault purpose second-factor secrets are sealed
	// for; it is bound into the ciphertext with the insurer and user ids.
	TOTPPurpose = "totp"
)

var errNoSealer = errs.E(errs.Unavailable, "second factors are not available: the vault is not configured")

// sealTOTP seals a second-factor secret for storage.
func (s *Service) sealTOTP(ctx context.Context, u User, secret string) (string, error) {
	if s.cfg.Sealer == nil {
		return "", errNoSealer
	}
	wrapped, err := s.cfg.Sealer.NewSubjectKey(ctx, u.InsurerID, u.ID)
	if err != nil {
		return "", err
	}
	sealed, err := s.cfg.Sealer.Seal(ctx, u.InsurerID, u.ID, wrapped, TOTPPurpose, []byte(secret))
	if err != nil {
		return "", err
	}
	return sealedTOTPPrefix + base64.RawURLEncoding.EncodeToString(wrapped) + "." + base64.RawURLEncoding.EncodeToString(sealed), nil
}

// openTOTP returns the user's second-factor secret and whether it was
// stored sealed.
func (s *Service) openTOTP(ctx context.Context, u User) (string, bool, error) {
	return s.openSealedTOTP(ctx, u, u.TOTPSecret)
}

// openSealedTOTP opens a value made by sealTOTP for u; a value without the
// prefix is returned as it is, with false.
func (s *Service) openSealedTOTP(ctx context.Context, u User, stored string) (string, bool, error) {
	v, ok := strings.CutPrefix(stored, sealedTOTPPrefix)
	if !ok {
		return stored, false, nil
	}
	if s.cfg.Sealer == nil {
		return "", true, errNoSealer
	}
	w, sl, ok := strings.Cut(v, ".")
	wrapped, err1 := base64.RawURLEncoding.DecodeString(w)
	sealed, err2 := base64.RawURLEncoding.DecodeString(sl)
	if !ok || err1 != nil || err2 != nil {
		return "", true, errs.E(errs.Internal, "a stored second-factor secret is unreadable")
	}
	plain, err := s.cfg.Sealer.Open(ctx, u.InsurerID, u.ID, wrapped, TOTPPurpose, sealed)
	if err != nil {
		return "", true, err
	}
	return string(plain), true, nil
}

// DisableTOTP removes the second factor after checking the password.
func (s *Service) DisableTOTP(ctx context.Context, u User, password string) error {
	now := s.now()
	if now.Before(u.LockedUntil) || !verifyPassword(u.PasswordHash, password) {
		return s.fail(ctx, u, now, errs.E(errs.Unauthenticated, "the password is not correct"))
	}
	return s.store.SetUserTOTP(ctx, u.InsurerID, u.ID, "", 0, now)
}

// CreateUser creates a user directly: the operator's admin command and the
// dev-mode demo users. It needs no principal.
func (s *Service) CreateUser(ctx context.Context, in CreateUserInput) (User, error) {
	if err := in.Validate(); err != nil {
		return User{}, err
	}
	if _, err := s.insurers.Insurer(ctx, in.InsurerID); err != nil {
		return User{}, err
	}
	h, err := hashPassword(in.Password, s.cfg.Argon2)
	if err != nil {
		return User{}, err
	}
	now := s.now()
	u := User{ID: id.NewAt(id.User, now), InsurerID: in.InsurerID, Email: in.Email, Name: in.Name, Role: in.Role,
		PasswordHash: h, CreatedAt: now, UpdatedAt: now}
	if err := s.store.CreateUser(ctx, u); err != nil {
		return User{}, err
	}
	return u, nil
}

// UserByEmail finds a user by email (operators, dev mode).
func (s *Service) UserByEmail(ctx context.Context, email string) (User, error) {
	return s.store.UserByEmail(ctx, NormaliseEmail(email))
}

// ResetPassword sets a new password and ends the user's sessions
// (operators, dev mode).
func (s *Service) ResetPassword(ctx context.Context, insurerID, userID, password string) error {
	var f errs.Fields
	checkPassword(&f, "password", password)
	if err := f.Err(); err != nil {
		return err
	}
	h, err := hashPassword(password, s.cfg.Argon2)
	if err != nil {
		return err
	}
	if err := s.store.SetUserPassword(ctx, insurerID, userID, h, s.now()); err != nil {
		return err
	}
	_, err = s.store.DeleteUserSessions(ctx, insurerID, userID)
	return err
}

// Users lists the caller's insurer's users (admin).
func (s *Service) Users(ctx context.Context) ([]User, error) {
	p, err := tenant.Authorize(ctx, tenant.ScopeAdmin)
	if err != nil {
		return nil, err
	}
	return s.store.Users(ctx, p.Insurer.ID)
}

// Invite creates an invitation to the caller's insurer and returns it with
// the token for its link, which is never stored (admin).
func (s *Service) Invite(ctx context.Context, in InviteInput) (Invitation, string, error) {
	p, err := tenant.Authorize(ctx, tenant.ScopeAdmin)
	if err != nil {
		return Invitation{}, "", err
	}
	if err := in.Validate(); err != nil {
		return Invitation{}, "", err
	}
	if _, err := s.store.UserByEmail(ctx, in.Email); err == nil {
		return Invitation{}, "", errs.E(errs.Conflict, "a user with this email already exists")
	} else if !errs.Is(err, errs.NotFound) {
		return Invitation{}, "", err
	}
	token, hash, err := newToken()
	if err != nil {
		return Invitation{}, "", err
	}
	now := s.now()
	inv := Invitation{ID: id.NewAt(InvitationPrefix, now), InsurerID: p.Insurer.ID, Email: in.Email, Role: in.Role,
		TokenHash: hash, InvitedBy: p.Key.ID, CreatedAt: now, ExpiresAt: now.Add(s.cfg.InviteTTL)}
	if err := s.store.CreateInvitation(ctx, inv); err != nil {
		return Invitation{}, "", err
	}
	return inv, token, nil
}

// Invitations lists the caller's insurer's pending invitations (admin).
func (s *Service) Invitations(ctx context.Context) ([]Invitation, error) {
	p, err := tenant.Authorize(ctx, tenant.ScopeAdmin)
	if err != nil {
		return nil, err
	}
	return s.store.Invitations(ctx, p.Insurer.ID, s.now())
}

// RevokeInvitation deletes a pending invitation (admin).
func (s *Service) RevokeInvitation(ctx context.Context, invitationID string) error {
	p, err := tenant.Authorize(ctx, tenant.ScopeAdmin)
	if err != nil {
		return err
	}
	return s.store.DeleteInvitation(ctx, p.Insurer.ID, invitationID)
}

// Invitation returns the pending invitation a token opens.
func (s *Service) Invitation(ctx context.Context, token string) (Invitation, error) {
	if token == "" || len(token) > 100 {
		return Invitation{}, errInvitation
	}
	inv, err := s.store.InvitationByHash(ctx, HashToken(token))
	if errs.Is(err, errs.NotFound) {
		return Invitation{}, errInvitation
	}
	if err != nil {
		return Invitation{}, err
	}
	if !inv.Pending(s.now()) {
		return Invitation{}, errInvitation
	}
	return inv, nil
}

// AcceptInvitation creates the invited user with a name and password. It
// works once.
func (s *Service) AcceptInvitation(ctx context.Context, in AcceptInput) (User, error) {
	if err := in.Validate(); err != nil {
		return User{}, err
	}
	inv, err := s.Invitation(ctx, in.Token)
	if err != nil {
		return User{}, err
	}
	h, err := hashPassword(in.Password, s.cfg.Argon2)
	if err != nil {
		return User{}, err
	}
	now := s.now()
	u := User{ID: id.NewAt(id.User, now), InsurerID: inv.InsurerID, Email: inv.Email, Name: in.Name, Role: inv.Role,
		PasswordHash: h, CreatedAt: now, UpdatedAt: now}
	if err := s.store.AcceptInvitation(ctx, inv.TokenHash, u, now); err != nil {
		if errs.Is(err, errs.FailedPrecondition) {
			return User{}, errInvitation
		}
		return User{}, err
	}
	return u, nil
}

// ChangeRole gives a user of the caller's insurer another role. The last
// active administrator keeps the role (admin).
func (s *Service) ChangeRole(ctx context.Context, userID string, role Role) (User, error) {
	p, err := tenant.Authorize(ctx, tenant.ScopeAdmin)
	if err != nil {
		return User{}, err
	}
	var f errs.Fields
	checkRole(&f, "role", role)
	if err := f.Err(); err != nil {
		return User{}, err
	}
	u, err := s.store.User(ctx, p.Insurer.ID, userID)
	if err != nil {
		return User{}, err
	}
	if u.Role == RoleAdmin && role != RoleAdmin && !u.Disabled() {
		if err := s.keepOneAdmin(ctx, p.Insurer.ID, u.ID); err != nil {
			return User{}, err
		}
	}
	if err := s.store.SetUserRole(ctx, p.Insurer.ID, u.ID, role, s.now()); err != nil {
		return User{}, err
	}
	return s.store.User(ctx, p.Insurer.ID, u.ID)
}

// SetDisabled disables or re-enables a user of the caller's insurer.
// Disabling ends the user's sessions; nobody disables themselves or the last
// active administrator (admin).
func (s *Service) SetDisabled(ctx context.Context, userID string, disabled bool) (User, error) {
	p, err := tenant.Authorize(ctx, tenant.ScopeAdmin)
	if err != nil {
		return User{}, err
	}
	u, err := s.store.User(ctx, p.Insurer.ID, userID)
	if err != nil {
		return User{}, err
	}
	now := s.now()
	at := time.Time{}
	if disabled {
		if u.ID == p.Key.ID {
			return User{}, errs.E(errs.FailedPrecondition, "you cannot disable your own account")
		}
		if u.Role == RoleAdmin {
			if err := s.keepOneAdmin(ctx, p.Insurer.ID, u.ID); err != nil {
				return User{}, err
			}
		}
		at = now
	}
	if err := s.store.SetUserDisabled(ctx, p.Insurer.ID, u.ID, at, now); err != nil {
		return User{}, err
	}
	return s.store.User(ctx, p.Insurer.ID, u.ID)
}

// keepOneAdmin refuses a change that would leave the insurer without an
// active administrator.
func (s *Service) keepOneAdmin(ctx context.Context, insurerID, changing string) error {
	users, err := s.store.Users(ctx, insurerID)
	if err != nil {
		return err
	}
	for _, o := range users {
		if o.ID != changing && o.Role == RoleAdmin && !o.Disabled() {
			return nil
		}
	}
	return errs.E(errs.FailedPrecondition, "the insurer needs at least one active administrator")
}
