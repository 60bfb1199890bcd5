package vault

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"testing"
)

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// countingProvider counts calls to a real provider and can hold Decrypt
// until gate is closed.
type countingProvider struct {
	KeyProvider
	generated atomic.Int64
	decrypted atomic.Int64
	gate      chan struct{}
}

func (c *countingProvider) GenerateDataKey(ctx context.Context, encCtx map[string]string) ([]byte, []byte, error) {
	c.generated.Add(1)
	return c.KeyProvider.GenerateDataKey(ctx, encCtx)
}

func (c *countingProvider) Decrypt(ctx context.Context, wrapped []byte, encCtx map[string]string) ([]byte, error) {
	c.decrypted.Add(1)
	if c.gate != nil {
		<-c.gate
	}
	return c.KeyProvider.Decrypt(ctx, wrapped, encCtx)
}

func newLocalProvider(t testing.TB) *LocalFile {
	t.Helper()
	p, err := NewLocalFile(filepath.Join(t.TempDir(), "vault.key"), discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

type fixture struct {
	v     *Vault
	prov  *countingProvider
	store *MemKeyStore
}

func newFixture(t testing.TB, cfg Config) *fixture {
	t.Helper()
	prov := &countingProvider{KeyProvider: newLocalProvider(t)}
	store := &MemKeyStore{}
	v, err := New(cfg, prov, store, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	return &fixture{v: v, prov: prov, store: store}
}

// newVault builds another vault over the same provider and store, with a
// cold cache (another process).
func (f *fixture) newVault(t testing.TB, cfg Config) *Vault {
	t.Helper()
	v, err := New(cfg, f.prov, f.store, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	return v
}

func mustSubjectKey(t testing.TB, v *Vault, insurerID, subjectID string) []byte {
	t.Helper()
	w, err := v.NewSubjectKey(context.Background(), insurerID, subjectID)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func mustSeal(t testing.TB, v *Vault, insurerID, subjectID string, wrapped []byte, purpose string, plain []byte) []byte {
	t.Helper()
	s, err := v.Seal(context.Background(), insurerID, subjectID, wrapped, purpose, plain)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
