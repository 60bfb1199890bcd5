package user

import (
	"strings"
	"testing"

	"github.com/borderproof/borderproof/internal/tenant"
)

var cheap = Argon2{MemoryKiB: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

func TestPasswordHash(t *testing.T) {
	h, err := hashPassword("correct horse battery", cheap)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatalf("PHC string: %s", h)
	}
	h2, _ := hashPassword("correct horse battery", cheap)
	if h == h2 {
		t.Fatal("two hashes of one password share a salt")
	}
	parts := strings.Split(h, "$")
	tests := []struct {
		name, hash, password string
		want                 bool
	}{
		{"right password", h, "correct horse battery", true},
		{"wrong password", h, "correct horse batterx", false},
		{"empty password", h, "", false},
		{"not a hash", "plain", "plain", false},
		{"argon2i is refused", strings.Replace(h, "argon2id", "argon2i", 1), "correct horse battery", false},
		{"other version", strings.Replace(h, "v=19", "v=16", 1), "correct horse battery", false},
		{"huge memory refused", strings.Replace(h, "m=64", "m=99999999", 1), "correct horse battery", false},
		{"tampered key", strings.Join(append(parts[:5:5], "AAAA"+parts[5][4:]), "$"), "correct horse battery", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := verifyPassword(tc.hash, tc.password); got != tc.want {
				t.Fatalf("verify = %v, want %v", got, tc.want)
			}
		})
	}
	if needsRehash(h, cheap) {
		t.Fatal("same parameters need no rehash")
	}
	if !needsRehash(h, DefaultArgon2) {
		t.Fatal("other parameters need a rehash")
	}
}

func TestRoleScopes(t *testing.T) {
	tests := []struct {
		role Role
		has  []string
		not  []string
	}{
		{RoleUnderwriter, []string{"verifications:read", "pii:read", "reviews:write"}, []string{"billing:read", "admin", "verifications:write"}},
		{RoleFinance, []string{"billing:read", "verifications:read"}, []string{"pii:read", "reviews:write", "admin"}},
		{RoleAdmin, []string{"verifications:read", "pii:read", "reviews:write", "billing:read", "admin", "webhooks:manage"}, nil},
		{Role("ROOT"), nil, []string{"verifications:read"}},
	}
	for _, tc := range tests {
		t.Run(string(tc.role), func(t *testing.T) {
			p := User{ID: "usr_1", Role: tc.role}.Principal(tenantInsurer(), "TEST")
			for _, s := range tc.has {
				if !p.Has(scope(s)) {
					t.Errorf("lacks %s", s)
				}
			}
			for _, s := range tc.not {
				if p.Has(scope(s)) {
					t.Errorf("has %s", s)
				}
			}
			if p.Key.ID != "usr_1" || p.Mode() != "TEST" {
				t.Errorf("principal key: %+v", p.Key)
			}
		})
	}
}

func tenantInsurer() tenant.Insurer { return tenant.Insurer{ID: "ins_1", Mode: tenant.Live} }

func scope(s string) tenant.Scope { return tenant.Scope(s) }
