package vault

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/borderproof/borderproof/internal/errs"
)

// LocalFile is a KeyProvider for dev mode: the key-encryption key is 32
// bytes in a file, and data keys are wrapped with AES-256-GCM under it with
// the encryption context as associated data. It gives none of the
// guarantees of a KMS (the key sits on disk next to the data); production
// uses KMS.
type LocalFile struct {
	aead cipher.AEAD
}

// localWrapVersion is the first byte of a key wrapped by LocalFile.
const localWrapVersion = 1

// NewLocalFile reads the key-encryption key from path, creating the file
// (mode 0600, with a fresh random key) when it does not exist. The file holds
// the key in standard base64 (a raw 32-byte file is read too). Creation is
// atomic, so processes racing to create it all end up with the same key.
func NewLocalFile(path string, logger *slog.Logger) (*LocalFile, error) {
	if path == "" {
		return nil, errs.E(errs.Invalid, "vault key file path is required")
	}
	key, err := readOrCreateKeyFile(path, logger)
	if err != nil {
		return nil, err
	}
	defer zero(key)
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, errs.Wrap(err, errs.Internal, "vault key file is unusable")
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, errs.Wrap(err, errs.Internal, "vault key file is unusable")
	}
	return &LocalFile{aead: aead}, nil
}

func readOrCreateKeyFile(path string, logger *slog.Logger) ([]byte, error) {
	key, err := readKeyFile(path, logger)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return key, err
	}
	if err := createKeyFile(path); err != nil {
		return nil, err
	}
	logger.Info("vault: created local key file", "path", path)
	return readKeyFile(path, logger)
}

func readKeyFile(path string, logger *slog.Logger) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		return nil, errs.Wrap(err, errs.FailedPrecondition, "vault key file cannot be read")
	}
	if st.Mode().Perm()&0o077 != 0 {
		logger.Warn("vault: key file is readable by group or others; chmod 600", "path", path, "mode", st.Mode().Perm().String())
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, errs.Wrap(err, errs.FailedPrecondition, "vault key file cannot be read")
	}
	defer zero(raw)
	if len(raw) == dataKeySize {
		return bytes.Clone(raw), nil
	}
	text := bytes.TrimSpace(raw)
	key := make([]byte, base64.StdEncoding.DecodedLen(len(text)))
	n, err := base64.StdEncoding.Decode(key, text)
	if err != nil || n != dataKeySize {
		zero(key)
		return nil, errs.E(errs.FailedPrecondition, "vault key file must hold 32 bytes, raw or base64")
	}
	return key[:n], nil
}

// createKeyFile writes a fresh key to a temporary file and links it into
// place; the link fails if another process got there first, and then that
// process's key is used.
func createKeyFile(path string) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return errs.Wrap(err, errs.FailedPrecondition, "vault key file cannot be created")
	}
	tmp, err := os.CreateTemp(dir, ".vaultkey-*")
	if err != nil {
		return errs.Wrap(err, errs.FailedPrecondition, "vault key file cannot be created")
	}
	defer os.Remove(tmp.Name())
	key := make([]byte, dataKeySize)
	rand.Read(key)
	text := []byte(base64.StdEncoding.EncodeToString(key) + "\n")
	zero(key)
	_, err = tmp.Write(text)
	zero(text)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return errs.Wrap(err, errs.FailedPrecondition, "vault key file cannot be created")
	}
	// CreateTemp already uses 0600; make it explicit.
	if err := os.Chmod(tmp.Name(), 0o600); err != nil {
		return errs.Wrap(err, errs.FailedPrecondition, "vault key file cannot be created")
	}
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, fs.ErrExist) {
		return errs.Wrap(err, errs.FailedPrecondition, "vault key file cannot be created")
	}
	return nil
}

// Name implements KeyProvider.
func (l *LocalFile) Name() string { return "local-file" }

// GenerateDataKey implements KeyProvider.
func (l *LocalFile) GenerateDataKey(_ context.Context, encCtx map[string]string) ([]byte, []byte, error) {
	key := make([]byte, dataKeySize)
	rand.Read(key)
	out := make([]byte, 1, 1+l.aead.NonceSize()+dataKeySize+l.aead.Overhead())
	out[0] = localWrapVersion
	nonce := make([]byte, l.aead.NonceSize())
	rand.Read(nonce)
	out = append(out, nonce...)
	out = l.aead.Seal(out, nonce, key, encodeContext("borderproof/vault/local-file/v1", encCtx))
	return key, out, nil
}

// Decrypt implements KeyProvider.
func (l *LocalFile) Decrypt(_ context.Context, wrapped []byte, encCtx map[string]string) ([]byte, error) {
	ns := l.aead.NonceSize()
	if len(wrapped) < 1+ns+l.aead.Overhead() || wrapped[0] != localWrapVersion {
		return nil, badFormat("insurer key")
	}
	key, err := l.aead.Open(nil, wrapped[1:1+ns], wrapped[1+ns:], encodeContext("borderproof/vault/local-file/v1", encCtx))
	if err != nil {
		return nil, authFailed("insurer key")
	}
	if len(key) != dataKeySize {
		zero(key)
		return nil, badFormat("insurer key")
	}
	return key, nil
}
