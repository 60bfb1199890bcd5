package blob

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"slices"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/borderproof/borderproof/internal/errs"
	"github.com/borderproof/borderproof/internal/id"
)

// testStore is the contract every Store meets.
func testStore(t *testing.T, s Store) {
	ctx := context.Background()
	prefix := "evidence/" + id.New("ins") + "/" + id.New("ver") + "/"

	t.Run("put get exists delete", func(t *testing.T) {
		key := prefix + id.New("chk") + ".bin"
		body := make([]byte, 10_000)
		rand.Read(body)
		if ok, err := s.Exists(ctx, key); err != nil || ok {
			t.Fatalf("Exists before Put: %v, %v", ok, err)
		}
		if _, err := s.Get(ctx, key); errs.KindOf(err) != errs.NotFound {
			t.Fatalf("Get before Put: %v", err)
		}
		// A reader that is neither seekable nor generous with its reads.
		r := iotest.HalfReader(io.MultiReader(bytes.NewReader(body[:3000]), bytes.NewReader(body[3000:])))
		if err := s.Put(ctx, key, r, int64(len(body)), "application/octet-stream"); err != nil {
			t.Fatal(err)
		}
		if ok, err := s.Exists(ctx, key); err != nil || !ok {
			t.Fatalf("Exists after Put: %v, %v", ok, err)
		}
		rc, err := s.Get(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(got, body) {
			t.Fatalf("Get: %d bytes, %v", len(got), err)
		}
		// Replace.
		if err := s.Put(ctx, key, strings.NewReader("v2"), 2, "text/plain"); err != nil {
			t.Fatal(err)
		}
		rc, _ = s.Get(ctx, key)
		got, _ = io.ReadAll(rc)
		rc.Close()
		if string(got) != "v2" {
			t.Fatalf("after replace: %q", got)
		}
		if err := s.Delete(ctx, key); err != nil {
			t.Fatal(err)
		}
		if ok, err := s.Exists(ctx, key); err != nil || ok {
			t.Fatalf("Exists after Delete: %v, %v", ok, err)
		}
		if err := s.Delete(ctx, key); err != nil {
			t.Fatalf("second Delete: %v", err)
		}
	})

	t.Run("empty blob", func(t *testing.T) {
		key := prefix + "empty"
		if err := s.Put(ctx, key, strings.NewReader(""), 0, ""); err != nil {
			t.Fatal(err)
		}
		rc, err := s.Get(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(rc)
		rc.Close()
		if len(got) != 0 {
			t.Fatalf("got %d bytes", len(got))
		}
	})

	t.Run("size mismatch stores nothing", func(t *testing.T) {
		for _, tc := range []struct {
			body string
			size int64
		}{{"short", 10}, {"much longer than said", 4}} {
			key := prefix + "mismatch"
			err := s.Put(ctx, key, strings.NewReader(tc.body), tc.size, "")
			if errs.KindOf(err) != errs.Invalid {
				t.Fatalf("%q as %d bytes: %v", tc.body, tc.size, err)
			}
			if ok, _ := s.Exists(ctx, key); ok {
				t.Fatalf("%q as %d bytes was stored", tc.body, tc.size)
			}
		}
		if err := s.Put(ctx, prefix+"x", strings.NewReader("x"), -1, ""); errs.KindOf(err) != errs.Invalid {
			t.Fatalf("unknown size: %v", err)
		}
	})

	t.Run("list", func(t *testing.T) {
		dir := prefix + "list/"
		keys := []string{dir + "a.1.tar", dir + "a.2.tar", dir + "a/x.bin", dir + "ab.tar", dir + "b.tar"}
		for _, k := range keys {
			if err := s.Put(ctx, k, strings.NewReader("x"), 1, ""); err != nil {
				t.Fatal(err)
			}
		}
		list := func(p string) []string {
			t.Helper()
			got, err := s.List(ctx, p)
			if err != nil {
				t.Fatalf("List(%q): %v", p, err)
			}
			return got
		}
		for _, c := range []struct {
			prefix string
			want   []string
		}{
			{dir + "a.", keys[:2]},
			{dir + "a", keys[:4]}, // '.' < '/' < 'b' in byte order
			{dir, keys},
			{dir + "b.tar", keys[4:]},
			{dir + "zz", nil},
			{prefix + "nowhere/", nil},
		} {
			if got := list(c.prefix); !slices.Equal(got, c.want) {
				t.Errorf("List(%q) = %q, want %q", c.prefix, got, c.want)
			}
		}
		if err := s.Delete(ctx, keys[0]); err != nil {
			t.Fatal(err)
		}
		if got := list(dir + "a."); !slices.Equal(got, keys[1:2]) {
			t.Errorf("after Delete: %q", got)
		}
		for _, p := range []string{"", "../x", "a//b", "/abs"} {
			if _, err := s.List(ctx, p); errs.KindOf(err) != errs.Invalid {
				t.Errorf("List(%q): %v, want Invalid", p, err)
			}
		}
	})

	t.Run("bad keys refused", func(t *testing.T) {
		for _, key := range badKeys {
			if err := s.Put(ctx, key, strings.NewReader("x"), 1, ""); errs.KindOf(err) != errs.Invalid {
				t.Errorf("Put(%q): %v", key, err)
			}
			if _, err := s.Get(ctx, key); errs.KindOf(err) != errs.Invalid {
				t.Errorf("Get(%q): %v", key, err)
			}
			if err := s.Delete(ctx, key); errs.KindOf(err) != errs.Invalid {
				t.Errorf("Delete(%q): %v", key, err)
			}
			if _, err := s.Exists(ctx, key); errs.KindOf(err) != errs.Invalid {
				t.Errorf("Exists(%q): %v", key, err)
			}
			if _, err := s.SignedURL(ctx, key, 60e9); errs.KindOf(err) != errs.Invalid {
				t.Errorf("SignedURL(%q): %v", key, err)
			}
		}
	})
}

var badKeys = []string{
	"", "../etc/passwd", "a/../../b", "..", ".", "a/./b", "/abs", "a//b", "a/", `a\b`,
	"a/.hidden", "evidence/ver 1", "é", "a\x00b", "a?b", "a%2e%2e", strings.Repeat("a", MaxKeyLen+1),
}

func TestValidateKey(t *testing.T) {
	t.Parallel()
	for _, key := range []string{"a", "evidence/ins_01J/ver_01J/chk_01J.bin", "exports/ins_1/usage-2026-01.csv", "A9/b.c_d-e", strings.Repeat("a", MaxKeyLen)} {
		if err := ValidateKey(key); err != nil {
			t.Errorf("ValidateKey(%q): %v", key, err)
		}
	}
	for _, key := range badKeys {
		if err := ValidateKey(key); errs.KindOf(err) != errs.Invalid {
			t.Errorf("ValidateKey(%q) = %v, want Invalid", key, err)
		}
	}
}

func TestExactReader(t *testing.T) {
	t.Parallel()
	tests := []struct {
		body     string
		size     int64
		want     string
		mismatch bool
	}{
		{"hello", 5, "hello", false},
		{"", 0, "", false},
		{"x", 1, "x", false},
		{"hell", 5, "hell", true},
		{"hello!", 5, "hell", true}, // the last byte is held back
		{"x", 0, "", true},
		{"", 1, "", true},
	}
	for _, tc := range tests {
		for _, half := range []bool{false, true} {
			var r io.Reader = strings.NewReader(tc.body)
			if half {
				r = iotest.OneByteReader(r)
			}
			er := &exactReader{r: r, left: tc.size}
			got, err := io.ReadAll(er)
			if string(got) != tc.want || er.mismatch() != tc.mismatch || (err != nil) != tc.mismatch {
				t.Errorf("%q as %d (one byte %v): got %q, err %v, mismatch %v", tc.body, tc.size, half, got, err, er.mismatch())
			}
		}
	}
}
