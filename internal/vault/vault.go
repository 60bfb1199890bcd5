package vault

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"log/slog"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/borderproof/borderproof/internal/errs"
)

// Config tunes the vault. The zero value uses the defaults.
type Config struct {
	// CacheTTL bounds how long an unwrapped key stays in memory
	// (default 5 minutes).
	CacheTTL time.Duration
	// InsurerCacheSize bounds the cached insurer keys (default 1024).
	// Negative disables the cache: every use unwraps through the provider.
	InsurerCacheSize int
	// SubjectCacheSize bounds the cached subject keys (default 4096).
	// Negative disables the cache.
	SubjectCacheSize int
	// UnwrapTimeout bounds one shared unwrap through the provider
	// (default 10 seconds). A shared unwrap does not stop when the request
	// that started it is cancelled, since other requests wait for it.
	UnwrapTimeout time.Duration
}

func (c Config) withDefaults() Config {
	if c.CacheTTL <= 0 {
		c.CacheTTL = 5 * time.Minute
	}
	if c.InsurerCacheSize == 0 {
		c.InsurerCacheSize = 1024
	}
	if c.SubjectCacheSize == 0 {
		c.SubjectCacheSize = 4096
	}
	if c.UnwrapTimeout <= 0 {
		c.UnwrapTimeout = 10 * time.Second
	}
	return c
}

// Purposes label what a sealed value holds; they are part of its associated
// data, so a value sealed for one purpose does not open as another.
const (
	PurposePolicyholder = "policyholder"
	PurposeDocument     = "document"
	PurposeEvidence     = "evidence"
)

// Format versions (the first byte of each output).
const (
	sealVersion       = 1
	subjectKeyVersion = 1
	insurerKeyVersion = 1
)

// Labels for associated data and key derivation.
const (
	labelSeal       = "borderproof/vault/v1/sealed"
	labelSubjectKey = "borderproof/vault/v1/subject-key"
	labelHKDFSalt   = "borderproof/vault/v1/insurer-key"
	infoWrapKey     = "borderproof/vault/v1/subject-key-wrap"
	infoBlindIndex  = "borderproof/vault/v1/blind-index/"
)

// Vault seals and opens personal data for one deployment. It is safe for
// concurrent use.
type Vault struct {
	cfg      Config
	provider KeyProvider
	store    KeyStore
	log      *slog.Logger

	insurers *keyCache
	subjects *keyCache
	flight   singleflight.Group
}

// New builds a vault over a key provider and the store of wrapped insurer
// keys.
func New(cfg Config, provider KeyProvider, store KeyStore, logger *slog.Logger) (*Vault, error) {
	if provider == nil || store == nil || logger == nil {
		return nil, errs.E(errs.Internal, "vault: provider, key store and logger are required")
	}
	if n := provider.Name(); n == "" || len(n) > 255 {
		return nil, errs.E(errs.Internal, "vault: key provider name must have 1 to 255 bytes")
	}
	cfg = cfg.withDefaults()
	return &Vault{
		cfg:      cfg,
		provider: provider,
		store:    store,
		log:      logger,
		insurers: newKeyCache(cfg.InsurerCacheSize, cfg.CacheTTL),
		subjects: newKeyCache(cfg.SubjectCacheSize, cfg.CacheTTL),
	}, nil
}

// Close zeroes every cached key. The vault stays usable (keys are unwrapped
// again on demand); call it on shutdown.
func (v *Vault) Close() {
	v.insurers.purge()
	v.subjects.purge()
}

// NewSubjectKey creates the key of one verification (the subject) and
// returns it wrapped under the insurer's key. The caller stores the wrapped
// key with the verification and passes it to Seal and Open; deleting it
// erases everything sealed under it (see Shred). The insurer's own key is
// created on first use.
func (v *Vault) NewSubjectKey(ctx context.Context, insurerID, subjectID string) ([]byte, error) {
	if err := checkIDs(insurerID, subjectID); err != nil {
		return nil, err
	}
	ins, err := v.insurerKey(ctx, insurerID)
	if err != nil {
		return nil, err
	}
	defer ins.release()

	key := make([]byte, dataKeySize)
	rand.Read(key)
	defer zero(key)
	nonce := make([]byte, ins.aead.NonceSize())
	rand.Read(nonce)
	wrapped := make([]byte, 1, 1+len(nonce)+dataKeySize+ins.aead.Overhead())
	wrapped[0] = subjectKeyVersion
	wrapped = append(wrapped, nonce...)
	wrapped = ins.aead.Seal(wrapped, nonce, key, subjectKeyAAD(insurerID, subjectID))

	// The caller is about to seal with it: cache it now.
	if e, err := newSubjectEntry(key, wrapped); err == nil {
		v.subjects.put(subjectCacheKey(insurerID, subjectID), e)
	}
	return wrapped, nil
}

// Seal encrypts plaintext for one verification and purpose. The result opens
// only with the same insurer id, subject id, wrapped subject key and purpose.
func (v *Vault) Seal(ctx context.Context, insurerID, subjectID string, wrappedSubjectKey []byte, purpose string, plaintext []byte) ([]byte, error) {
	if err := checkPurpose(purpose); err != nil {
		return nil, err
	}
	sub, err := v.subjectKey(ctx, insurerID, subjectID, wrappedSubjectKey)
	if err != nil {
		return nil, err
	}
	defer sub.release()
	ns := sub.aead.NonceSize()
	out := make([]byte, 1+ns, 1+ns+len(plaintext)+sub.aead.Overhead())
	out[0] = sealVersion
	rand.Read(out[1:])
	return sub.aead.Seal(out, out[1:1+ns], plaintext, sealAAD(insurerID, subjectID, purpose)), nil
}

// Open decrypts a value made by Seal. A value that was altered, or that is
// opened with another insurer, subject, key or purpose, fails with an
// Internal error wrapping ErrAuthentication; a missing wrapped key (erased
// data) fails with FailedPrecondition wrapping ErrErased.
func (v *Vault) Open(ctx context.Context, insurerID, subjectID string, wrappedSubjectKey []byte, purpose string, sealed []byte) ([]byte, error) {
	if err := checkPurpose(purpose); err != nil {
		return nil, err
	}
	sub, err := v.subjectKey(ctx, insurerID, subjectID, wrappedSubjectKey)
	if err != nil {
		return nil, err
	}
	defer sub.release()
	ns := sub.aead.NonceSize()
	if len(sealed) < 1+ns+sub.aead.Overhead() || sealed[0] != sealVersion {
		return nil, badFormat("sealed data")
	}
	plain, err := sub.aead.Open(nil, sealed[1:1+ns], sealed[1+ns:], sealAAD(insurerID, subjectID, purpose))
	if err != nil {
		return nil, authFailed("sealed data")
	}
	return plain, nil
}

// Shred forgets the cached key of one verification. Erasure itself is the
// caller deleting the wrapped subject key it stored: without it nothing
// (neither the insurer key, nor the key provider, nor this vault) can
// rebuild the subject key, so every value sealed under it is unreadable,
// wherever copies of the ciphertext remain. Call Shred after that delete
// commits, in every process that may have the key cached; cached keys also
// expire after Config.CacheTTL.
func (v *Vault) Shred(insurerID, subjectID string) {
	v.subjects.remove(subjectCacheKey(insurerID, subjectID))
}

// insurerKey returns the insurer's unwrapped key entry, held once.
func (v *Vault) insurerKey(ctx context.Context, insurerID string) (*keyEntry, error) {
	return v.cached(ctx, v.insurers, insurerID, func() string { return "i\x00" + insurerID }, nil, func(ctx context.Context) (*keyEntry, error) {
		return v.loadInsurerKey(ctx, insurerID)
	})
}

// subjectKey returns the unwrapped subject key entry, held once.
func (v *Vault) subjectKey(ctx context.Context, insurerID, subjectID string, wrapped []byte) (*keyEntry, error) {
	if err := checkIDs(insurerID, subjectID); err != nil {
		return nil, err
	}
	if len(wrapped) == 0 {
		return nil, erased()
	}
	digest := sha256.Sum256(wrapped)
	ck := subjectCacheKey(insurerID, subjectID)
	return v.cached(ctx, v.subjects, ck, func() string { return "s\x00" + ck + "\x00" + string(digest[:]) },
		func(e *keyEntry) bool { return e.digest == digest },
		func(ctx context.Context) (*keyEntry, error) {
			return v.loadSubjectKey(ctx, insurerID, subjectID, wrapped)
		})
}

// cached looks k up in c and otherwise runs load once for all concurrent
// callers with the same flight key, caching the result.
func (v *Vault) cached(ctx context.Context, c *keyCache, k string, flightKey func() string, match func(*keyEntry) bool, load func(context.Context) (*keyEntry, error)) (*keyEntry, error) {
	if c == nil {
		e, err := load(ctx)
		if err != nil {
			return nil, err
		}
		return uncached(e), nil
	}
	// An entry loaded for us can be evicted (and zeroed) by a concurrent put
	// before we take our reference; then try again, and after a few losses
	// bypass the cache.
	for range 3 {
		if e, ok := c.get(k, match); ok {
			return e, nil
		}
		ch := v.flight.DoChan(flightKey(), func() (any, error) {
			lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), v.cfg.UnwrapTimeout)
			defer cancel()
			e, err := load(lctx)
			if err != nil {
				return nil, err
			}
			c.put(k, e)
			return e, nil
		})
		select {
		case <-ctx.Done():
			return nil, unavailable(ctx.Err())
		case r := <-ch:
			if r.Err != nil {
				return nil, r.Err
			}
			if e := r.Val.(*keyEntry); e.acquire() {
				return e, nil
			}
		}
	}
	e, err := load(ctx)
	if err != nil {
		return nil, err
	}
	return uncached(e), nil
}

// loadInsurerKey reads the insurer's wrapped key, creating it on first use,
// and unwraps it through the provider.
func (v *Vault) loadInsurerKey(ctx context.Context, insurerID string) (*keyEntry, error) {
	encCtx := map[string]string{"insurer": insurerID}
	record, err := v.store.InsurerKey(ctx, insurerID)
	if errs.Is(err, errs.NotFound) {
		plain, wrapped, gerr := v.provider.GenerateDataKey(ctx, encCtx)
		if gerr != nil {
			return nil, gerr
		}
		mine := v.encodeInsurerRecord(wrapped)
		record, err = v.store.PutInsurerKeyIfAbsent(ctx, insurerID, mine)
		if err != nil {
			zero(plain)
			return nil, storeError(err)
		}
		if bytes.Equal(record, mine) {
			v.log.InfoContext(ctx, "vault: created insurer key", "insurer_id", insurerID, "provider", v.provider.Name())
			defer zero(plain)
			return newInsurerEntry(plain)
		}
		// Another process stored its key first; use that one.
		zero(plain)
	} else if err != nil {
		return nil, storeError(err)
	}
	wrapped, err := v.decodeInsurerRecord(record)
	if err != nil {
		return nil, err
	}
	plain, err := v.provider.Decrypt(ctx, wrapped, encCtx)
	if err != nil {
		return nil, err
	}
	defer zero(plain)
	return newInsurerEntry(plain)
}

// loadSubjectKey unwraps a subject key under the insurer key.
func (v *Vault) loadSubjectKey(ctx context.Context, insurerID, subjectID string, wrapped []byte) (*keyEntry, error) {
	ins, err := v.insurerKey(ctx, insurerID)
	if err != nil {
		return nil, err
	}
	defer ins.release()
	ns := ins.aead.NonceSize()
	if len(wrapped) < 1+ns+ins.aead.Overhead() || wrapped[0] != subjectKeyVersion {
		return nil, badFormat("subject key")
	}
	key, err := ins.aead.Open(nil, wrapped[1:1+ns], wrapped[1+ns:], subjectKeyAAD(insurerID, subjectID))
	if err != nil {
		return nil, authFailed("subject key")
	}
	defer zero(key)
	if len(key) != dataKeySize {
		return nil, badFormat("subject key")
	}
	return newSubjectEntry(key, wrapped)
}

func (v *Vault) encodeInsurerRecord(wrapped []byte) []byte {
	name := v.provider.Name()
	out := make([]byte, 0, 2+len(name)+len(wrapped))
	out = append(out, insurerKeyVersion, byte(len(name)))
	out = append(out, name...)
	return append(out, wrapped...)
}

func (v *Vault) decodeInsurerRecord(record []byte) ([]byte, error) {
	if len(record) < 2 || record[0] != insurerKeyVersion || len(record) < 2+int(record[1]) {
		return nil, badFormat("insurer key")
	}
	name := string(record[2 : 2+int(record[1])])
	if name != v.provider.Name() {
		v.log.Error("vault: insurer key was wrapped by another key provider", "stored", name, "configured", v.provider.Name())
		return nil, errs.Wrap(ErrProviderMismatch, errs.FailedPrecondition, "insurer key was created with another key provider")
	}
	return record[2+int(record[1]):], nil
}

// newInsurerEntry derives the subject-key wrapping cipher and keeps the HKDF
// pseudorandom key for blind indexes. key is not retained.
func newInsurerEntry(key []byte) (*keyEntry, error) {
	prk, err := hkdf.Extract(sha256.New, key, []byte(labelHKDFSalt))
	if err != nil {
		return nil, errs.Wrap(err, errs.Internal, "insurer key is unusable")
	}
	wk, err := hkdf.Expand(sha256.New, prk, infoWrapKey, dataKeySize)
	if err != nil {
		zero(prk)
		return nil, errs.Wrap(err, errs.Internal, "insurer key is unusable")
	}
	defer zero(wk)
	aead, err := newGCM(wk)
	if err != nil {
		zero(prk)
		return nil, err
	}
	return &keyEntry{aead: aead, secret: prk}, nil
}

// newSubjectEntry builds the cipher of a subject key. key is not retained.
func newSubjectEntry(key, wrapped []byte) (*keyEntry, error) {
	aead, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	return &keyEntry{aead: aead, digest: sha256.Sum256(wrapped)}, nil
}

func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, errs.Wrap(err, errs.Internal, "key is unusable")
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, errs.Wrap(err, errs.Internal, "key is unusable")
	}
	return aead, nil
}

func subjectCacheKey(insurerID, subjectID string) string {
	return insurerID + "\x00" + subjectID
}

func subjectKeyAAD(insurerID, subjectID string) []byte {
	b := appendString(nil, labelSubjectKey)
	b = appendString(b, insurerID)
	return appendString(b, subjectID)
}

func sealAAD(insurerID, subjectID, purpose string) []byte {
	b := appendString(nil, labelSeal)
	b = appendString(b, insurerID)
	b = appendString(b, subjectID)
	return appendString(b, purpose)
}

func checkIDs(insurerID, subjectID string) error {
	var f errs.Fields
	if insurerID == "" {
		f.Add("insurerId", "is required")
	}
	if subjectID == "" {
		f.Add("subjectId", "is required")
	}
	return f.Err()
}

func checkPurpose(purpose string) error {
	if purpose == "" {
		return errs.E(errs.Invalid, "seal purpose is required")
	}
	return nil
}

// storeError keeps a classified store error and marks any other as the key
// store being unavailable.
func storeError(err error) error {
	if _, ok := errs.As(err); ok {
		return err
	}
	return errs.Wrap(err, errs.Unavailable, "key store unavailable")
}
