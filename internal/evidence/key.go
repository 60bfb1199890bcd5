package evidence

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/borderproof/borderproof/internal/errs"
)

// Signer holds the service's Ed25519 evidence key.
type Signer struct {
	priv  ed25519.PrivateKey
	pub   ed25519.PublicKey
	keyID string
}

// NewSigner wraps an Ed25519 private key.
func NewSigner(priv ed25519.PrivateKey) (*Signer, error) {
	if len(priv) != ed25519.PrivateKeySize {
		return nil, errs.E(errs.Invalid, "evidence signing key must be an Ed25519 private key")
	}
	pub := priv.Public().(ed25519.PublicKey)
	return &Signer{priv: priv, pub: pub, keyID: KeyID(pub)}, nil
}

// GenerateSigner makes a fresh key (tests, and dev mode through
// LoadOrCreateKeyFile).
func GenerateSigner() (*Signer, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, errs.Wrap(err, errs.Internal, "evidence signing key cannot be generated")
	}
	return NewSigner(priv)
}

// ParseSigningKey reads a private key in either form the service accepts: a
// PEM "PRIVATE KEY" block (PKCS #8, as written by `openssl genpkey
// -algorithm ed25519`) or the standard base64 of the 32-byte seed (handy in
// an environment variable).
func ParseSigningKey(b []byte) (*Signer, error) {
	text := bytes.TrimSpace(b)
	if block, _ := pem.Decode(text); block != nil {
		if block.Type != "PRIVATE KEY" {
			return nil, errs.E(errs.Invalid, "evidence signing key must be a PEM PRIVATE KEY block")
		}
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, errs.Wrap(err, errs.Invalid, "evidence signing key is not valid PKCS #8")
		}
		priv, ok := k.(ed25519.PrivateKey)
		if !ok {
			return nil, errs.E(errs.Invalid, "evidence signing key must be an Ed25519 key")
		}
		return NewSigner(priv)
	}
	seed, err := base64.StdEncoding.DecodeString(string(text))
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, errs.E(errs.Invalid, "evidence signing key must be PEM PKCS #8 or the base64 of a 32-byte seed")
	}
	return NewSigner(ed25519.NewKeyFromSeed(seed))
}

// LoadOrCreateKeyFile reads the signing key from path, creating the file
// (mode 0600, a fresh key in PEM) when it does not exist. Dev mode uses it;
// production passes a managed key to ParseSigningKey. Creation is atomic, so
// processes racing to create the file all end up with the same key.
func LoadOrCreateKeyFile(path string, logger *slog.Logger) (*Signer, error) {
	if path == "" {
		return nil, errs.E(errs.Invalid, "evidence key file path is required")
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		if err := createKeyFile(path); err != nil {
			return nil, err
		}
		logger.Info("evidence: created signing key file", "path", path)
		b, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, errs.Wrap(err, errs.FailedPrecondition, "evidence key file cannot be read")
	}
	return ParseSigningKey(b)
}

func createKeyFile(path string) error {
	s, err := GenerateSigner()
	if err != nil {
		return err
	}
	der, err := x509.MarshalPKCS8PrivateKey(s.priv)
	if err != nil {
		return errs.Wrap(err, errs.Internal, "evidence signing key cannot be encoded")
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return errs.Wrap(err, errs.FailedPrecondition, "evidence key file cannot be created")
	}
	tmp, err := os.CreateTemp(dir, ".evidencekey-*")
	if err != nil {
		return errs.Wrap(err, errs.FailedPrecondition, "evidence key file cannot be created")
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o600)
	}
	if err == nil {
		if lerr := os.Link(tmp.Name(), path); lerr != nil && !errors.Is(lerr, fs.ErrExist) {
			err = lerr
		}
	}
	if err != nil {
		return errs.Wrap(err, errs.FailedPrecondition, "evidence key file cannot be created")
	}
	return nil
}

// PublicKey is the key a verifier needs.
func (s *Signer) PublicKey() ed25519.PublicKey { return s.pub }

// KeyID names the key in manifests: "ed25519:" and the first 16 hex digits
// of the SHA-256 of the public key.
func (s *Signer) KeyID() string { return s.keyID }

// PublicKeyPEM is the public key as a PEM "PUBLIC KEY" block (SPKI), the
// form published to regulators and read by `openssl pkeyutl -verify`.
func (s *Signer) PublicKeyPEM() []byte {
	der, _ := x509.MarshalPKIXPublicKey(s.pub)
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func (s *Signer) sign(msg []byte) []byte { return ed25519.Sign(s.priv, msg) }

// KeyID derives the key id of a public key.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return "ed25519:" + hex.EncodeToString(sum[:8])
}

// ParsePublicKey reads a public key as a PEM "PUBLIC KEY" block or the
// standard base64 of its 32 bytes.
func ParsePublicKey(b []byte) (ed25519.PublicKey, error) {
	text := bytes.TrimSpace(b)
	if block, _ := pem.Decode(text); block != nil {
		k, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, errs.Wrap(err, errs.Invalid, "evidence public key is not valid")
		}
		pub, ok := k.(ed25519.PublicKey)
		if !ok {
			return nil, errs.E(errs.Invalid, "evidence public key must be an Ed25519 key")
		}
		return pub, nil
	}
	raw, err := base64.StdEncoding.DecodeString(string(text))
	if err != nil || len(raw) != ed25519.PublicKeySize {
		return nil, errs.E(errs.Invalid, "evidence public key must be PEM or the base64 of 32 bytes")
	}
	return ed25519.PublicKey(raw), nil
}
