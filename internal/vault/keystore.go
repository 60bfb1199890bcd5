package vault

import (
	"bytes"
	"context"
	"sync"

	"github.com/borderproof/borderproof/internal/errs"
)

// KeyStore persists wrapped insurer keys. The store package implements it
// (one row per insurer); MemKeyStore is an in-memory one for tests.
type KeyStore interface {
	// InsurerKey returns the wrapped key of the insurer, or an errs.NotFound
	// error when it has none yet.
	InsurerKey(ctx context.Context, insurerID string) ([]byte, error)
	// PutInsurerKeyIfAbsent stores wrapped unless the insurer already has a
	// key, and returns the key that is stored afterwards: wrapped, or the
	// one that won a race.
	PutInsurerKeyIfAbsent(ctx context.Context, insurerID string, wrapped []byte) (stored []byte, err error)
}

// MemKeyStore is a KeyStore in memory, for tests. The zero value is ready.
type MemKeyStore struct {
	mu   sync.Mutex
	keys map[string][]byte
}

// InsurerKey implements KeyStore.
func (m *MemKeyStore) InsurerKey(_ context.Context, insurerID string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k, ok := m.keys[insurerID]
	if !ok {
		return nil, errs.E(errs.NotFound, "insurer key not found")
	}
	return bytes.Clone(k), nil
}

// PutInsurerKeyIfAbsent implements KeyStore.
func (m *MemKeyStore) PutInsurerKeyIfAbsent(_ context.Context, insurerID string, wrapped []byte) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if k, ok := m.keys[insurerID]; ok {
		return bytes.Clone(k), nil
	}
	if m.keys == nil {
		m.keys = make(map[string][]byte)
	}
	m.keys[insurerID] = bytes.Clone(wrapped)
	return bytes.Clone(wrapped), nil
}

// All returns a copy of every stored wrapped key, by insurer id.
func (m *MemKeyStore) All() map[string][]byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string][]byte, len(m.keys))
	for k, v := range m.keys {
		out[k] = bytes.Clone(v)
	}
	return out
}
