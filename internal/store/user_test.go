package store_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/borderproof/borderproof/internal/errs"
	"github.com/borderproof/borderproof/internal/store"
	"github.com/borderproof/borderproof/internal/store/storetest"
	"github.com/borderproof/borderproof/internal/tenant"
	"github.com/borderproof/borderproof/internal/user"
)

// TestUserContract is the user.Store contract, on every backend.
func TestUserContract(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		tenants := tenant.NewService(s, nil, discard())
		a, err := tenants.CreateInsurer(ctx, tenant.CreateInsurerInput{Name: "Acme Mutual", Country: "FRA"})
		if err != nil {
			t.Fatal(err)
		}
		b, err := tenants.CreateInsurer(ctx, tenant.CreateInsurerInput{Name: "Other Re", Country: "GBR"})
		if err != nil {
			t.Fatal(err)
		}
		now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
		alice := user.User{ID: "usr_a", InsurerID: a.ID, Email: "alice@acme.test", Name: "Alice", Role: user.RoleAdmin,
			PasswordHash: "$argon2id$x", CreatedAt: now, UpdatedAt: now}
		if err := s.CreateUser(ctx, alice); err != nil {
			t.Fatal(err)
		}
		dup := alice
		dup.ID, dup.InsurerID = "usr_dup", b.ID
		if err := s.CreateUser(ctx, dup); !errs.Is(err, errs.Conflict) {
			t.Fatalf("email taken in another insurer: %v", err)
		}
		got, err := s.UserByEmail(ctx, "alice@acme.test")
		if err != nil || got.ID != "usr_a" || got.Role != user.RoleAdmin || got.PasswordHash != "$argon2id$x" || !got.CreatedAt.Equal(now) || got.Disabled() {
			t.Fatalf("by email: %+v %v", got, err)
		}
		if _, err := s.User(ctx, b.ID, "usr_a"); !errs.Is(err, errs.NotFound) {
			t.Fatalf("foreign insurer: %v", err)
		}
		if _, err := s.UserByEmail(ctx, "nobody@acme.test"); !errs.Is(err, errs.NotFound) {
			t.Fatalf("unknown email: %v", err)
		}
		if err := s.SetUserRole(ctx, b.ID, "usr_a", user.RoleFinance, now); !errs.Is(err, errs.NotFound) {
			t.Fatalf("role change across insurers: %v", err)
		}
		if err := s.SetUserRole(ctx, a.ID, "usr_a", user.RoleFinance, now); err != nil {
			t.Fatal(err)
		}

		// Failures count up and lock through the callback.
		lock := func(n int) time.Time {
			if n < 3 {
				return time.Time{}
			}
			return now.Add(time.Duration(n) * time.Minute)
		}
		for want := 1; want <= 3; want++ {
			n, err := s.RecordSignInFailure(ctx, a.ID, "usr_a", lock, now)
			if err != nil || n != want {
				t.Fatalf("failure %d: %d %v", want, n, err)
			}
		}
		got, _ = s.User(ctx, a.ID, "usr_a")
		if got.FailedAttempts != 3 || !got.LockedUntil.Equal(now.Add(3*time.Minute)) || got.Role != user.RoleFinance {
			t.Fatalf("after failures: %+v", got)
		}
		if err := s.RecordSignIn(ctx, a.ID, "usr_a", 0, now); err != nil {
			t.Fatal(err)
		}
		got, _ = s.User(ctx, a.ID, "usr_a")
		if got.FailedAttempts != 0 || !got.LockedUntil.IsZero() || !got.LastSignInAt.Equal(now) {
			t.Fatalf("after sign-in: %+v", got)
		}
		// A TOTP step is accepted once, and only moving forward.
		if err := s.SetUserTOTP(ctx, a.ID, "usr_a", "JBSWY3DPEHPK3PXP", 100, now); err != nil {
			t.Fatal(err)
		}
		if err := s.RecordSignIn(ctx, a.ID, "usr_a", 100, now); !errs.Is(err, errs.Conflict) {
			t.Fatalf("replayed step: %v", err)
		}
		if err := s.RecordSignIn(ctx, a.ID, "usr_a", 101, now); err != nil {
			t.Fatal(err)
		}
		if err := s.RecordSignIn(ctx, b.ID, "usr_a", 102, now); !errs.Is(err, errs.NotFound) {
			t.Fatalf("step across insurers: %v", err)
		}
		got, _ = s.User(ctx, a.ID, "usr_a")
		if got.TOTPSecret != "JBSWY3DPEHPK3PXP" || got.TOTPLastStep != 101 {
			t.Fatalf("totp: %+v", got)
		}

		// Sessions: found by hash with their user, updated, deleted per user.
		sess := user.Session{Hash: bytes.Repeat([]byte{1}, 32), UserID: "usr_a", InsurerID: a.ID, CSRF: "csrf1", Mode: tenant.Live,
			MFAPending: true, CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour)}
		if err := s.CreateSession(ctx, sess); err != nil {
			t.Fatal(err)
		}
		sess2 := sess
		sess2.Hash, sess2.MFAPending, sess2.ExpiresAt = bytes.Repeat([]byte{2}, 32), false, now.Add(-time.Second)
		if err := s.CreateSession(ctx, sess2); err != nil {
			t.Fatal(err)
		}
		gs, gu, err := s.SessionByHash(ctx, sess.Hash)
		if err != nil || gu.ID != "usr_a" || gs.CSRF != "csrf1" || !gs.MFAPending || gs.Mode != tenant.Live || !gs.ExpiresAt.Equal(now.Add(time.Hour)) {
			t.Fatalf("session: %+v %+v %v", gs, gu, err)
		}
		gs.Mode, gs.MFAPending, gs.PendingTOTP, gs.LastSeenAt = tenant.Test, false, "otpauth://totp/x", now.Add(time.Minute)
		if err := s.UpdateSession(ctx, gs); err != nil {
			t.Fatal(err)
		}
		gs, _, _ = s.SessionByHash(ctx, sess.Hash)
		if gs.Mode != tenant.Test || gs.MFAPending || gs.PendingTOTP != "otpauth://totp/x" || !gs.LastSeenAt.Equal(now.Add(time.Minute)) {
			t.Fatalf("updated session: %+v", gs)
		}
		if n, err := s.DeleteExpiredSessions(ctx, now); err != nil || n != 1 {
			t.Fatalf("expired sessions: %d %v", n, err)
		}
		if n, err := s.DeleteUserSessions(ctx, b.ID, "usr_a"); err != nil || n != 0 {
			t.Fatalf("sign-out across insurers: %d %v", n, err)
		}
		if err := s.SetUserDisabled(ctx, a.ID, "usr_a", now, now); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.SessionByHash(ctx, sess.Hash); !errs.Is(err, errs.NotFound) {
			t.Fatalf("disabling ends sessions: %v", err)
		}
		if got, _ = s.User(ctx, a.ID, "usr_a"); !got.Disabled() {
			t.Fatal("not disabled")
		}
		if err := s.SetUserDisabled(ctx, a.ID, "usr_a", time.Time{}, now); err != nil {
			t.Fatal(err)
		}
		if got, _ = s.User(ctx, a.ID, "usr_a"); got.Disabled() {
			t.Fatal("not enabled again")
		}
		if err := s.CreateSession(ctx, sess); err != nil {
			t.Fatal(err)
		}
		if n, err := s.DeleteUserSessions(ctx, a.ID, "usr_a"); err != nil || n != 1 {
			t.Fatalf("sign out everywhere: %d %v", n, err)
		}

		// Invitations: accepted once, never after expiry.
		inv := user.Invitation{ID: "inv_1", InsurerID: a.ID, Email: "bob@acme.test", Role: user.RoleUnderwriter,
			TokenHash: bytes.Repeat([]byte{3}, 32), InvitedBy: "usr_a", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
		if err := s.CreateInvitation(ctx, inv); err != nil {
			t.Fatal(err)
		}
		old := inv
		old.ID, old.Email, old.TokenHash, old.ExpiresAt = "inv_0", "carol@acme.test", bytes.Repeat([]byte{4}, 32), now.Add(-time.Minute)
		if err := s.CreateInvitation(ctx, old); err != nil {
			t.Fatal(err)
		}
		list, err := s.Invitations(ctx, a.ID, now)
		if err != nil || len(list) != 1 || list[0].ID != "inv_1" {
			t.Fatalf("pending invitations: %+v %v", list, err)
		}
		if list, _ := s.Invitations(ctx, b.ID, now); len(list) != 0 {
			t.Fatalf("invitations across insurers: %+v", list)
		}
		bob := user.User{ID: "usr_b", InsurerID: a.ID, Email: "bob@acme.test", Name: "Bob", Role: user.RoleUnderwriter,
			PasswordHash: "h", CreatedAt: now, UpdatedAt: now}
		carol := bob
		carol.ID, carol.Email = "usr_c", "carol@acme.test"
		if err := s.AcceptInvitation(ctx, old.TokenHash, carol, now); !errs.Is(err, errs.FailedPrecondition) {
			t.Fatalf("expired invitation: %v", err)
		}
		if err := s.AcceptInvitation(ctx, inv.TokenHash, bob, now); err != nil {
			t.Fatal(err)
		}
		bob.ID = "usr_b2"
		if err := s.AcceptInvitation(ctx, inv.TokenHash, bob, now); !errs.Is(err, errs.Conflict) {
			t.Fatalf("second acceptance: %v", err)
		}
		gi, err := s.InvitationByHash(ctx, inv.TokenHash)
		if err != nil || gi.UserID != "usr_b" || !gi.AcceptedAt.Equal(now) {
			t.Fatalf("accepted invitation: %+v %v", gi, err)
		}
		users, err := s.Users(ctx, a.ID)
		if err != nil || len(users) != 2 || users[0].Email != "alice@acme.test" || users[1].Email != "bob@acme.test" {
			t.Fatalf("users: %+v %v", users, err)
		}
		if err := s.DeleteInvitation(ctx, a.ID, "inv_1"); !errs.Is(err, errs.NotFound) {
			t.Fatalf("deleting an accepted invitation: %v", err)
		}
		if err := s.DeleteInvitation(ctx, a.ID, "inv_0"); err != nil {
			t.Fatal(err)
		}
	})
}
