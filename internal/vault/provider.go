package vault

import (
	"context"
	"encoding/binary"
	"sort"
)

// KeyProvider generates and unwraps data keys under a key-encryption key.
// Implementations: KMS (production) and LocalFile (dev mode).
type KeyProvider interface {
	// GenerateDataKey returns a fresh 32-byte key and its wrapped form, bound
	// to encCtx: Decrypt with another context must fail.
	GenerateDataKey(ctx context.Context, encCtx map[string]string) (plaintext, wrapped []byte, err error)
	// Decrypt unwraps a key produced by GenerateDataKey with the same encCtx.
	Decrypt(ctx context.Context, wrapped []byte, encCtx map[string]string) ([]byte, error)
	// Name identifies the provider kind (for example "aws-kms"); it is
	// stored with each wrapped insurer key so that a key wrapped by one
	// provider is not handed to another.
	Name() string
}

// dataKeySize is the size of every key in the hierarchy (AES-256).
const dataKeySize = 32

// encodeContext renders an encryption context as unambiguous bytes (sorted
// keys, each string length-prefixed) for use as associated data.
func encodeContext(prefix string, encCtx map[string]string) []byte {
	keys := make([]string, 0, len(encCtx))
	for k := range encCtx {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	b := appendString(nil, prefix)
	for _, k := range keys {
		b = appendString(b, k)
		b = appendString(b, encCtx[k])
	}
	return b
}

// appendString appends s with a 4-byte big-endian length prefix.
func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

// zero overwrites b.
func zero(b []byte) {
	clear(b)
}

var (
	_ KeyProvider = (*KMS)(nil)
	_ KeyProvider = (*LocalFile)(nil)
	_ KeyStore    = (*MemKeyStore)(nil)
)
