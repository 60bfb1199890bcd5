package vault

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/borderproof/borderproof/internal/errs"
)

func TestLocalFileCreatesKeyFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "sub", "vault.key")
	p, err := NewLocalFile(path, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", st.Mode().Perm())
	}
	raw, _ := os.ReadFile(path)
	key, err := base64.StdEncoding.DecodeString(string(bytes.TrimSpace(raw)))
	if err != nil || len(key) != 32 {
		t.Fatalf("key file content: %d bytes, %v", len(key), err)
	}
	// No temporary files left behind.
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Fatalf("directory holds %d entries", len(entries))
	}

	// The same file gives the same key: what one wraps the other opens.
	ctx := context.Background()
	encCtx := map[string]string{"insurer": "ins_A"}
	plain, wrapped, err := p.GenerateDataKey(ctx, encCtx)
	if err != nil {
		t.Fatal(err)
	}
	p2, err := NewLocalFile(path, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	got, err := p2.Decrypt(ctx, wrapped, encCtx)
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("reopened provider: %v", err)
	}
	// Another file is another key.
	if _, err := newLocalProvider(t).Decrypt(ctx, wrapped, encCtx); !errors.Is(err, ErrAuthentication) {
		t.Fatalf("other key file: %v", err)
	}
}

func TestLocalFileEncryptionContext(t *testing.T) {
	t.Parallel()
	p := newLocalProvider(t)
	ctx := context.Background()
	plain, wrapped, err := p.GenerateDataKey(ctx, map[string]string{"insurer": "ins_A"})
	if err != nil {
		t.Fatal(err)
	}
	if len(plain) != 32 || bytes.Contains(wrapped, plain) {
		t.Fatal("bad data key")
	}
	for _, bad := range []map[string]string{
		{"insurer": "ins_B"},
		{"insurer": "ins_A", "extra": "x"},
		{},
		{"insurerins_A": ""},
	} {
		if _, err := p.Decrypt(ctx, wrapped, bad); !errors.Is(err, ErrAuthentication) {
			t.Errorf("context %v: %v", bad, err)
		}
	}
	if _, err := p.Decrypt(ctx, wrapped[:10], map[string]string{"insurer": "ins_A"}); !errors.Is(err, ErrFormat) {
		t.Errorf("truncated: %v", err)
	}
}

func TestLocalFileReadsRawKeyAndRejectsJunk(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	raw := filepath.Join(dir, "raw.key")
	os.WriteFile(raw, bytes.Repeat([]byte{7}, 32), 0o600)
	if _, err := NewLocalFile(raw, discardLogger()); err != nil {
		t.Fatalf("raw key: %v", err)
	}
	for name, content := range map[string]string{
		"short.key":  "c2hvcnQ=\n",
		"text.key":   "not a key at all, definitely not base64!!\n",
		"empty.key":  "",
		"long64.key": base64.StdEncoding.EncodeToString(make([]byte, 48)),
	} {
		path := filepath.Join(dir, name)
		os.WriteFile(path, []byte(content), 0o600)
		_, err := NewLocalFile(path, discardLogger())
		if errs.KindOf(err) != errs.FailedPrecondition {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestLocalFileConcurrentCreate(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "vault.key")
	const n = 8
	providers := make([]*LocalFile, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			p, err := NewLocalFile(path, discardLogger())
			if err != nil {
				t.Error(err)
			}
			providers[i] = p
		})
	}
	wg.Wait()
	ctx := context.Background()
	encCtx := map[string]string{"insurer": "ins_A"}
	_, wrapped, _ := providers[0].GenerateDataKey(ctx, encCtx)
	for i, p := range providers {
		if _, err := p.Decrypt(ctx, wrapped, encCtx); err != nil {
			t.Fatalf("provider %d has another key: %v", i, err)
		}
	}
}
