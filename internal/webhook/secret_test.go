package webhook

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/borderproof/borderproof/internal/errs"
)

func TestNewSecret(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 20 {
		s := NewSecret()
		if !strings.HasPrefix(s, SecretPrefix) {
			t.Fatalf("secret %q lacks prefix", s)
		}
		key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s, SecretPrefix))
		if err != nil {
			t.Fatalf("secret is not padded standard base64: %v", err)
		}
		if len(key) != 32 {
			t.Fatalf("key is %d bytes, want 32", len(key))
		}
		if err := ValidateSecret(s); err != nil {
			t.Fatalf("ValidateSecret(NewSecret()) = %v", err)
		}
		if seen[s] {
			t.Fatal("NewSecret repeated a secret")
		}
		seen[s] = true
	}
}

func TestValidateSecret(t *testing.T) {
	t.Parallel()
	key := func(n int) string { return base64.StdEncoding.EncodeToString(make([]byte, n)) }
	tests := []struct {
		secret string
		ok     bool
	}{
		{SecretPrefix + key(24), true},
		{SecretPrefix + key(32), true},
		{SecretPrefix + key(64), true},
		{SecretPrefix + strings.TrimRight(key(25), "="), true}, // unpadded
		{SecretPrefix + key(23), false},
		{SecretPrefix + key(65), false},
		{key(32), false}, // prefix required when storing
		{SecretPrefix, false},
		{"", false},
		{SecretPrefix + "!!!!" + key(30), false},
		{"whsk_" + key(32), false},
	}
	for _, tt := range tests {
		err := ValidateSecret(tt.secret)
		if (err == nil) != tt.ok {
			t.Errorf("ValidateSecret(%q) = %v, want ok=%v", tt.secret, err, tt.ok)
		}
		if err != nil {
			if !errors.Is(err, ErrInvalidSecret) || errs.KindOf(err) != errs.Invalid {
				t.Errorf("ValidateSecret(%q) = %v, want invalid ErrInvalidSecret", tt.secret, err)
			}
			if len(tt.secret) > len(SecretPrefix)+4 && strings.Contains(err.Error(), tt.secret[len(SecretPrefix):]) {
				t.Errorf("error text contains the secret: %v", err)
			}
		}
	}
}

func TestKeyring(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var k Keyring
	if got := k.Active(t0); len(got) != 0 {
		t.Fatalf("empty keyring signs with %d secrets", len(got))
	}
	first, second, third := NewSecret(), NewSecret(), NewSecret()
	k, err := k.Rotate(first, t0)
	if err != nil {
		t.Fatal(err)
	}
	assertActive(t, k, t0, first)

	t1 := t0.Add(time.Hour)
	k, err = k.Rotate(second, t1)
	if err != nil {
		t.Fatal(err)
	}
	assertActive(t, k, t1, second, first)
	assertActive(t, k, t1.Add(RotationOverlap-time.Second), second, first)
	assertActive(t, k, t1.Add(RotationOverlap), second)

	// A second rotation inside the overlap drops the oldest secret.
	t2 := t1.Add(time.Minute)
	k2, err := k.Rotate(third, t2)
	if err != nil {
		t.Fatal(err)
	}
	assertActive(t, k2, t2, third, second)

	if _, err := k.Rotate("whsec_short", t2); !errors.Is(err, ErrInvalidSecret) {
		t.Errorf("Rotate to a bad secret = %v, want ErrInvalidSecret", err)
	}

	// A message signed during the overlap verifies with either secret.
	body := []byte(`{"id":"evt_1"}`)
	h, err := Headers("msg_1", t1, body, k.Active(t1)...)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{first, second} {
		if err := Verify(s, h, body, t1, 0); err != nil {
			t.Errorf("Verify during overlap: %v", err)
		}
	}

	for _, out := range []string{fmt.Sprint(k), fmt.Sprintf("%+v", k), fmt.Sprintf("%#v", k)} {
		if strings.Contains(out, strings.TrimPrefix(second, SecretPrefix)) || strings.Contains(out, strings.TrimPrefix(first, SecretPrefix)) {
			t.Errorf("formatted keyring shows a secret: %s", out)
		}
	}
}

func assertActive(t *testing.T, k Keyring, now time.Time, want ...string) {
	t.Helper()
	got := k.Active(now)
	if len(got) != len(want) {
		t.Fatalf("Active(%v) has %d secrets, want %d", now, len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("Active(%v)[%d] is not the expected secret", now, i)
		}
	}
}
