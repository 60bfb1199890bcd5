package user_test

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/borderproof/borderproof/internal/errs"
	"github.com/borderproof/borderproof/internal/store"
	"github.com/borderproof/borderproof/internal/store/storetest"
	"github.com/borderproof/borderproof/internal/tenant"
	"github.com/borderproof/borderproof/internal/user"
	"github.com/borderproof/borderproof/internal/vault"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type env struct {
	st      *store.Store
	svc     *user.Service
	clk     *clock
	ins     tenant.Insurer
	other   tenant.Insurer
	admin   user.User
	adminCx context.Context
}

const pw = "correct horse battery"

func newEnv(t *testing.T, st *store.Store) *env {
	t.Helper()
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	tenants := tenant.NewService(st, nil, log)
	e := &env{st: st, clk: &clock{t: time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)}}
	kek, err := vault.NewLocalFile(filepath.Join(t.TempDir(), "kek"), log)
	if err != nil {
		t.Fatal(err)
	}
	v, err := vault.New(vault.Config{}, kek, st, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	e.svc, err = user.New(user.Config{Argon2: user.Argon2{MemoryKiB: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32},
		Now: e.clk.now, Sealer: v}, st, tenants, log)
	if err != nil {
		t.Fatal(err)
	}
	if e.ins, err = tenants.CreateInsurer(ctx, tenant.CreateInsurerInput{Name: "Acme Mutual", Country: "FRA"}); err != nil {
		t.Fatal(err)
	}
	if e.other, err = tenants.CreateInsurer(ctx, tenant.CreateInsurerInput{Name: "Other Re", Country: "GBR", Mode: tenant.Test}); err != nil {
		t.Fatal(err)
	}
	e.admin = e.create(t, e.ins.ID, "Admin@Acme.test", user.RoleAdmin)
	e.adminCx = tenant.WithPrincipal(ctx, e.admin.Principal(e.ins, tenant.Live))
	return e
}

func (e *env) create(t *testing.T, insurerID, email string, role user.Role) user.User {
	t.Helper()
	u, err := e.svc.CreateUser(context.Background(), user.CreateUserInput{InsurerID: insurerID, Email: email, Name: "Someone", Role: role, Password: pw})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestService(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		t.Run("sign in", func(t *testing.T) { testSignIn(t, newEnv(t, st)) })
		t.Run("lock-out", func(t *testing.T) { testLockout(t, newEnv(t, storetest.Open(t, st.Dialect()))) })
		t.Run("totp", func(t *testing.T) { testTOTP(t, newEnv(t, storetest.Open(t, st.Dialect()))) })
		t.Run("totp stored in clear", func(t *testing.T) { testTOTPStoredInClear(t, newEnv(t, storetest.Open(t, st.Dialect()))) })
		t.Run("administration", func(t *testing.T) { testAdmin(t, newEnv(t, storetest.Open(t, st.Dialect()))) })
	})
}

func testSignIn(t *testing.T, e *env) {
	ctx := context.Background()
	if _, err := e.svc.CreateUser(ctx, user.CreateUserInput{InsurerID: e.ins.ID, Email: "not an email", Name: "", Role: "BOSS", Password: "short"}); !errs.Is(err, errs.Invalid) {
		t.Fatalf("bad input: %v", err)
	} else if fe, _ := errs.As(err); len(fe.Fields) != 4 {
		t.Fatalf("every bad field: %+v", fe.Fields)
	}
	if _, err := e.svc.CreateUser(ctx, user.CreateUserInput{InsurerID: e.other.ID, Email: "admin@acme.test", Name: "X", Role: user.RoleAdmin, Password: pw}); !errs.Is(err, errs.Conflict) {
		t.Fatalf("email is unique across insurers: %v", err)
	}
	if e.admin.Email != "admin@acme.test" {
		t.Fatalf("email stored in lower case: %q", e.admin.Email)
	}
	var failures []error
	for _, c := range [][2]string{{"admin@acme.test", "wrong password here"}, {"nobody@acme.test", pw}, {"admin@acme.test", ""}} {
		_, err := e.svc.SignIn(ctx, c[0], c[1])
		failures = append(failures, err)
	}
	for _, err := range failures {
		if !errs.Is(err, errs.Unauthenticated) || err.Error() != failures[0].Error() {
			t.Fatalf("failures must look alike: %v", failures)
		}
	}
	in, err := e.svc.SignIn(ctx, " ADMIN@acme.test ", pw)
	if err != nil {
		t.Fatal(err)
	}
	if in.Token == "" || in.Session.MFAPending || in.Session.Mode != tenant.Live || in.Session.CSRF == "" || in.User.ID != e.admin.ID {
		t.Fatalf("sign-in: %+v", in)
	}
	sess, u, err := e.svc.Authenticate(ctx, in.Token)
	if err != nil || u.ID != e.admin.ID || string(sess.Hash) != string(user.HashToken(in.Token)) {
		t.Fatalf("authenticate: %v", err)
	}
	if u.FailedAttempts != 0 {
		t.Fatalf("a sign-in clears failures: %d", u.FailedAttempts)
	}
	p, err := e.svc.Principal(ctx, sess, u)
	if err != nil || p.Key.ID != e.admin.ID || p.Insurer.ID != e.ins.ID || !p.Has(tenant.ScopeAdmin) || p.Mode() != tenant.Live {
		t.Fatalf("principal: %+v %v", p, err)
	}
	sess, err = e.svc.SetMode(ctx, sess, tenant.Test)
	if err != nil || sess.Mode != tenant.Test {
		t.Fatalf("mode: %v", err)
	}
	if _, _, err := e.svc.Authenticate(ctx, in.Token+"x"); !errs.Is(err, errs.Unauthenticated) {
		t.Fatalf("wrong token: %v", err)
	}

	// Idle and absolute lifetimes.
	e.clk.add(59 * time.Minute)
	if _, _, err := e.svc.Authenticate(ctx, in.Token); err != nil {
		t.Fatalf("within idle time: %v", err)
	}
	e.clk.add(61 * time.Minute)
	if _, _, err := e.svc.Authenticate(ctx, in.Token); !errs.Is(err, errs.Unauthenticated) {
		t.Fatalf("idle session: %v", err)
	}
	in, _ = e.svc.SignIn(ctx, "admin@acme.test", pw)
	for i := 0; i < 13; i++ {
		e.clk.add(59 * time.Minute)
		_, _, err = e.svc.Authenticate(ctx, in.Token)
	}
	if !errs.Is(err, errs.Unauthenticated) {
		t.Fatalf("absolute lifetime: %v", err)
	}

	// Sign out, and sign out everywhere.
	one, _ := e.svc.SignIn(ctx, "admin@acme.test", pw)
	two, _ := e.svc.SignIn(ctx, "admin@acme.test", pw)
	three, _ := e.svc.SignIn(ctx, "admin@acme.test", pw)
	if err := e.svc.SignOut(ctx, one.Token); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.svc.Authenticate(ctx, one.Token); !errs.Is(err, errs.Unauthenticated) {
		t.Fatalf("signed out: %v", err)
	}
	if n, err := e.svc.SignOutEverywhere(ctx, two.User); err != nil || n != 2 {
		t.Fatalf("everywhere: %d %v", n, err)
	}
	for _, tok := range []string{two.Token, three.Token} {
		if _, _, err := e.svc.Authenticate(ctx, tok); !errs.Is(err, errs.Unauthenticated) {
			t.Fatalf("signed out everywhere: %v", err)
		}
	}
	// A sandbox-only insurer's users see TEST data and cannot switch.
	sb := e.create(t, e.other.ID, "sandbox@other.test", user.RoleUnderwriter)
	in, err = e.svc.SignIn(ctx, sb.Email, pw)
	if err != nil || in.Session.Mode != tenant.Test {
		t.Fatalf("sandbox mode: %+v %v", in.Session, err)
	}
	if _, err := e.svc.SetMode(ctx, in.Session, tenant.Live); !errs.Is(err, errs.FailedPrecondition) {
		t.Fatalf("live for sandbox insurer: %v", err)
	}
}

func testLockout(t *testing.T, e *env) {
	ctx := context.Background()
	u := e.create(t, e.ins.ID, "under@acme.test", user.RoleUnderwriter)
	// Each row: failures so far → how long sign-in stays locked after them.
	tests := []struct {
		failures int
		locked   time.Duration
	}{
		{4, 0}, {5, 30 * time.Second}, {6, time.Minute}, {7, 2 * time.Minute}, {12, time.Hour}, {13, time.Hour},
	}
	n := 0
	for _, tc := range tests {
		for n < tc.failures {
			// Wait out any lock: attempts while locked do not count.
			if got, _ := e.st.User(ctx, e.ins.ID, u.ID); got.LockedUntil.After(e.clk.now()) {
				e.clk.add(got.LockedUntil.Sub(e.clk.now()))
			}
			_, err := e.svc.SignIn(ctx, u.Email, "not the password")
			if !errs.Is(err, errs.Unauthenticated) {
				t.Fatal(err)
			}
			n++
		}
		got, _ := e.st.User(ctx, e.ins.ID, u.ID)
		if got.FailedAttempts != tc.failures {
			t.Fatalf("after %d failures stored %d", tc.failures, got.FailedAttempts)
		}
		lock := time.Duration(0)
		if !got.LockedUntil.IsZero() {
			lock = got.LockedUntil.Sub(e.clk.now())
		}
		if lock != tc.locked {
			t.Fatalf("after %d failures locked for %v, want %v", tc.failures, lock, tc.locked)
		}
		if tc.locked > 0 {
			// Even the right password fails while locked, and does not
			// count as a failure.
			if _, err := e.svc.SignIn(ctx, u.Email, pw); !errs.Is(err, errs.Unauthenticated) {
				t.Fatalf("right password while locked: %v", err)
			}
			if got, _ := e.st.User(ctx, e.ins.ID, u.ID); got.FailedAttempts != tc.failures {
				t.Fatalf("an attempt while locked counted: %d", got.FailedAttempts)
			}
		}
	}
	e.clk.add(time.Hour)
	if _, err := e.svc.SignIn(ctx, u.Email, pw); err != nil {
		t.Fatalf("after the lock: %v", err)
	}
	got, _ := e.st.User(ctx, e.ins.ID, u.ID)
	if got.FailedAttempts != 0 || !got.LockedUntil.IsZero() {
		t.Fatalf("sign-in resets the count: %+v", got)
	}
}

func code(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func testTOTP(t *testing.T, e *env) {
	ctx := context.Background()
	in, err := e.svc.SignIn(ctx, e.admin.Email, pw)
	if err != nil {
		t.Fatal(err)
	}
	enr, err := e.svc.StartTOTP(ctx, in.Session, in.User)
	if err != nil || enr.Secret == "" || enr.URL == "" {
		t.Fatalf("start: %+v %v", enr, err)
	}
	sess, u, _ := e.svc.Authenticate(ctx, in.Token)
	if got, ok := e.svc.PendingEnrolment(ctx, sess, u); !ok || got.Secret != enr.Secret || got.URL != enr.URL {
		t.Fatalf("pending enrolment: %+v", got)
	}
	// The secret waiting for its first code is sealed in the session row
	// too, and opens only for its user.
	if pending := e.storedPendingTOTP(t, u.ID); !strings.HasPrefix(pending, "sealed1:") || strings.Contains(pending, enr.Secret) {
		t.Fatalf("pending second factor %q is not sealed", pending)
	}
	other := u
	other.ID = "usr_other"
	if _, ok := e.svc.PendingEnrolment(ctx, sess, other); ok {
		t.Fatal("another user's session opened the enrolment")
	}
	// An enrolment started before sealing (the URL in clear) still works.
	legacy := sess
	legacy.PendingTOTP = enr.URL
	if got, ok := e.svc.PendingEnrolment(ctx, legacy, u); !ok || got.Secret != enr.Secret {
		t.Fatalf("clear pending enrolment: %+v", got)
	}
	if err := e.svc.ConfirmTOTP(ctx, sess, u, "000000"); !errs.Is(err, errs.Unauthenticated) && code(t, enr.Secret, e.clk.now()) != "000000" {
		t.Fatalf("wrong code: %v", err)
	}
	if err := e.svc.ConfirmTOTP(ctx, sess, u, code(t, enr.Secret, e.clk.now())); err != nil {
		t.Fatal(err)
	}
	sess, _, _ = e.svc.Authenticate(ctx, in.Token)
	if sess.PendingTOTP != "" {
		t.Fatal("enrolment left in the session")
	}
	// At rest the secret is sealed: the column holds neither the base32
	// secret nor anything an authenticator could use.
	stored := e.storedTOTP(t, u.ID)
	if !strings.HasPrefix(stored, "sealed1:") || strings.Contains(stored, enr.Secret) {
		t.Fatalf("stored second factor %q is not sealed", stored)
	}

	// Sign-in now waits for a code.
	e.clk.add(30 * time.Second)
	in, err = e.svc.SignIn(ctx, e.admin.Email, pw)
	if err != nil || !in.Session.MFAPending {
		t.Fatalf("pending sign-in: %+v %v", in.Session, err)
	}
	s2, u2, _ := e.svc.Authenticate(ctx, in.Token)
	if _, err := e.svc.Principal(ctx, s2, u2); !errs.Is(err, errs.Unauthenticated) {
		t.Fatalf("a pending session has no principal: %v", err)
	}
	good := code(t, enr.Secret, e.clk.now())
	bad := "123456"
	if bad == good {
		bad = "654321"
	}
	if _, err := e.svc.VerifyTOTP(ctx, in.Token, bad); !errs.Is(err, errs.Unauthenticated) {
		t.Fatalf("bad code: %v", err)
	}
	full, err := e.svc.VerifyTOTP(ctx, in.Token, good)
	if err != nil || full.Session.MFAPending || full.Token == in.Token {
		t.Fatalf("verify: %+v %v", full.Session, err)
	}
	if _, _, err := e.svc.Authenticate(ctx, in.Token); !errs.Is(err, errs.Unauthenticated) {
		t.Fatalf("the pending token is spent: %v", err)
	}
	// The same code cannot be used twice.
	again, _ := e.svc.SignIn(ctx, e.admin.Email, pw)
	if _, err := e.svc.VerifyTOTP(ctx, again.Token, good); !errs.Is(err, errs.Unauthenticated) {
		t.Fatalf("replayed code: %v", err)
	}
	// A pending session ends after the MFA window.
	e.clk.add(6 * time.Minute)
	if _, err := e.svc.VerifyTOTP(ctx, again.Token, code(t, enr.Secret, e.clk.now())); !errs.Is(err, errs.Unauthenticated) {
		t.Fatalf("stale pending session: %v", err)
	}
	// Turning it off needs the password.
	if err := e.svc.DisableTOTP(ctx, full.User, "wrong password!!"); !errs.Is(err, errs.Unauthenticated) {
		t.Fatalf("disable with wrong password: %v", err)
	}
	if err := e.svc.DisableTOTP(ctx, full.User, pw); err != nil {
		t.Fatal(err)
	}
	if in, err := e.svc.SignIn(ctx, e.admin.Email, pw); err != nil || in.Session.MFAPending {
		t.Fatalf("after disabling: %v", err)
	}
}

// storedTOTP reads users.totp_secret as stored.
func (e *env) storedPendingTOTP(t *testing.T, userID string) string {
	t.Helper()
	return e.text(t, `SELECT pending_totp FROM user_sessions WHERE user_id = $1 AND pending_totp <> ''`, userID)
}

func (e *env) storedTOTP(t *testing.T, userID string) string {
	t.Helper()
	return e.text(t, `SELECT totp_secret FROM users WHERE id = $1`, userID)
}

// text reads one text value with a query of one parameter ($1).
func (e *env) text(t *testing.T, q string, arg any) string {
	t.Helper()
	if e.st.Dialect() == store.SQLite {
		q = strings.ReplaceAll(q, "$1", "?1")
	}
	var v string
	if err := e.st.DB().QueryRow(q, arg).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// testTOTPStoredInClear: a secret stored before sealing still signs in,
// and is sealed by that sign-in; without a sealer nothing is enrolled.
func testTOTPStoredInClear(t *testing.T, e *env) {
	ctx := context.Background()
	u := e.create(t, e.ins.ID, "legacy@acme.test", user.RoleUnderwriter)
	const secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
	if err := e.st.SetUserTOTP(ctx, u.InsurerID, u.ID, secret, 0, e.clk.now()); err != nil {
		t.Fatal(err)
	}
	in, err := e.svc.SignIn(ctx, u.Email, pw)
	if err != nil || !in.Session.MFAPending {
		t.Fatalf("pending sign-in: %v", err)
	}
	if _, err := e.svc.VerifyTOTP(ctx, in.Token, code(t, secret, e.clk.now())); err != nil {
		t.Fatalf("a secret stored in clear no longer signs in: %v", err)
	}
	stored := e.storedTOTP(t, u.ID)
	if !strings.HasPrefix(stored, "sealed1:") || strings.Contains(stored, secret) {
		t.Fatalf("not sealed after sign-in: %q", stored)
	}
	e.clk.add(time.Minute)
	in, err = e.svc.SignIn(ctx, u.Email, pw)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.VerifyTOTP(ctx, in.Token, code(t, secret, e.clk.now())); err != nil {
		t.Fatalf("the sealed secret does not sign in: %v", err)
	}

	// A service without a sealer refuses to enrol rather than store the
	// secret in clear.
	bare, err := user.New(user.Config{Argon2: user.Argon2{MemoryKiB: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, Now: e.clk.now},
		e.st, tenant.NewService(e.st, nil, slog.New(slog.DiscardHandler)), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	v := e.create(t, e.ins.ID, "nosealer@acme.test", user.RoleUnderwriter)
	vin, err := bare.SignIn(ctx, v.Email, pw)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bare.StartTOTP(ctx, vin.Session, vin.User); !errs.Is(err, errs.Unavailable) {
		t.Fatalf("enrol without a sealer: %v", err)
	}
	sess, _, _ := bare.Authenticate(ctx, vin.Token)
	if sess.PendingTOTP != "" {
		t.Fatalf("pending secret kept without a sealer: %q", sess.PendingTOTP)
	}
	if stored := e.storedTOTP(t, v.ID); stored != "" {
		t.Fatalf("stored without a sealer: %q", stored)
	}
}

func testAdmin(t *testing.T, e *env) {
	ctx := context.Background()
	uw := e.create(t, e.ins.ID, "under@acme.test", user.RoleUnderwriter)
	uwCx := tenant.WithPrincipal(ctx, uw.Principal(e.ins, tenant.Live))
	if _, _, err := e.svc.Invite(uwCx, user.InviteInput{Email: "x@acme.test", Role: user.RoleAdmin}); !errs.Is(err, errs.Forbidden) {
		t.Fatalf("underwriter invites: %v", err)
	}
	if _, err := e.svc.Users(ctx); !errs.Is(err, errs.Unauthenticated) {
		t.Fatalf("no principal: %v", err)
	}
	if _, _, err := e.svc.Invite(e.adminCx, user.InviteInput{Email: "UNDER@acme.test", Role: user.RoleFinance}); !errs.Is(err, errs.Conflict) {
		t.Fatalf("inviting an existing user: %v", err)
	}
	inv, token, err := e.svc.Invite(e.adminCx, user.InviteInput{Email: "Fin@Acme.test", Role: "finance"})
	if err != nil || inv.Email != "fin@acme.test" || inv.Role != user.RoleFinance || inv.InvitedBy != e.admin.ID || token == "" {
		t.Fatalf("invite: %+v %v", inv, err)
	}
	list, err := e.svc.Invitations(e.adminCx)
	if err != nil || len(list) != 1 {
		t.Fatalf("pending: %v %v", list, err)
	}
	if got, err := e.svc.Invitation(ctx, token); err != nil || got.ID != inv.ID {
		t.Fatalf("open invitation: %v", err)
	}
	if _, err := e.svc.AcceptInvitation(ctx, user.AcceptInput{Token: token, Name: "Fin", Password: "short"}); !errs.Is(err, errs.Invalid) {
		t.Fatalf("weak password: %v", err)
	}
	fin, err := e.svc.AcceptInvitation(ctx, user.AcceptInput{Token: token, Name: "Fin Ance", Password: pw})
	if err != nil || fin.Role != user.RoleFinance || fin.InsurerID != e.ins.ID {
		t.Fatalf("accept: %+v %v", fin, err)
	}
	if _, err := e.svc.AcceptInvitation(ctx, user.AcceptInput{Token: token, Name: "Again", Password: pw}); !errs.Is(err, errs.NotFound) {
		t.Fatalf("second use: %v", err)
	}
	if _, err := e.svc.SignIn(ctx, "fin@acme.test", pw); err != nil {
		t.Fatalf("invited user signs in: %v", err)
	}
	_, late, _ := e.svc.Invite(e.adminCx, user.InviteInput{Email: "late@acme.test", Role: user.RoleUnderwriter})
	e.clk.add(8 * 24 * time.Hour)
	if _, err := e.svc.AcceptInvitation(ctx, user.AcceptInput{Token: late, Name: "Late", Password: pw}); !errs.Is(err, errs.NotFound) {
		t.Fatalf("expired invitation: %v", err)
	}

	// The last administrator keeps the role and cannot be disabled.
	if _, err := e.svc.ChangeRole(e.adminCx, e.admin.ID, user.RoleFinance); !errs.Is(err, errs.FailedPrecondition) {
		t.Fatalf("demote the last admin: %v", err)
	}
	if _, err := e.svc.SetDisabled(e.adminCx, e.admin.ID, true); !errs.Is(err, errs.FailedPrecondition) {
		t.Fatalf("disable yourself: %v", err)
	}
	if _, err := e.svc.ChangeRole(e.adminCx, uw.ID, "ROOT"); !errs.Is(err, errs.Invalid) {
		t.Fatalf("unknown role: %v", err)
	}
	up, err := e.svc.ChangeRole(e.adminCx, uw.ID, user.RoleAdmin)
	if err != nil || up.Role != user.RoleAdmin {
		t.Fatalf("promote: %v", err)
	}
	if got, err := e.svc.ChangeRole(e.adminCx, e.admin.ID, user.RoleFinance); err != nil || got.Role != user.RoleFinance {
		t.Fatalf("demote with another admin: %v", err)
	}
	// Another insurer's admin sees nothing of this one.
	oa := e.create(t, e.other.ID, "admin@other.test", user.RoleAdmin)
	oCx := tenant.WithPrincipal(ctx, oa.Principal(e.other, tenant.Test))
	if _, err := e.svc.SetDisabled(oCx, uw.ID, true); !errs.Is(err, errs.NotFound) {
		t.Fatalf("foreign user: %v", err)
	}
	users, _ := e.svc.Users(oCx)
	if len(users) != 1 {
		t.Fatalf("foreign users listed: %d", len(users))
	}
	// Disabling ends the user's sessions and refuses sign-in.
	fs, _ := e.svc.SignIn(ctx, "fin@acme.test", pw)
	newAdminCx := tenant.WithPrincipal(ctx, up.Principal(e.ins, tenant.Live))
	if _, err := e.svc.SetDisabled(newAdminCx, fin.ID, true); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.svc.Authenticate(ctx, fs.Token); !errs.Is(err, errs.Unauthenticated) {
		t.Fatalf("disabled user's session: %v", err)
	}
	if _, err := e.svc.SignIn(ctx, "fin@acme.test", pw); !errs.Is(err, errs.Unauthenticated) {
		t.Fatalf("disabled user signs in: %v", err)
	}
	if _, err := e.svc.SetDisabled(newAdminCx, fin.ID, false); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.SignIn(ctx, "fin@acme.test", pw); err != nil {
		t.Fatalf("re-enabled: %v", err)
	}
}
