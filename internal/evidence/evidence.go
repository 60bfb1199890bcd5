// Package evidence keeps a tamper-evident record of how each verification
// was decided, for a regulator or a court to check later.
//
// A bundle is one tar archive per verification (format
// "borderproof-evidence/v2"), stored at "evidence/<insurer>/<verification>.tar"
// and holding, in this order:
//
//	manifest.json      the manifest (JSON)
//	manifest.sig       its Ed25519 signature (64 raw bytes)
//	checks/<check>.bin the sealed partner answer of each check that has one
//
// The manifest lists every check with its partner, partner reference, status
// and outcome, the SHA-256 digest and size of each sealed partner answer
// (named by its entry in the archive), the sanctions list version and risk
// policy version used, the decision and each reason code with its points. It
// holds no personal data: only ids, digests, partner references, versions,
// codes and numbers. Entry names are built from check ids only. The archive
// holds no personal data in clear either: the partner answers stay sealed
// under the verification's key, so crypto-shredding a verification leaves
// the bundle verifiable (the digests cover the sealed bytes) while the
// answers can no longer be read.
//
// The signature covers the manifest's exact bytes, so anyone holding the
// service's public key can check a bundle without this code:
//
//	tar -xf <verification>.tar
//	openssl pkeyutl -verify -pubin -inkey evidence.pub -rawin \
//	    -in manifest.json -sigfile manifest.sig
//	sha256sum checks/*.bin   # each equals the manifest's sha256 for that check
//
// VerifyBundle does all of it in one call, and also checks that the archive
// holds nothing the manifest does not list.
//
// Bundles written before v2 (format "borderproof-evidence/v1") are still read
// and verified. They are a folder of blobs: the sealed answers at
// "evidence/<insurer>/<verification>/<check>.bin" with
// "evidence/<insurer>/<verification>/manifest.json" and "manifest.sig"
// beside them; Verify checks that layout.
package evidence

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/borderproof/borderproof/internal/errs"
)

// Manifest layouts. Format is the one Build writes; a later layout gets a
// new value and the readers keep reading the earlier ones.
const (
	// Format is the current layout: one tar archive per verification.
	Format = "borderproof-evidence/v2"
	// FormatV1 is the earlier layout: a folder of blobs (see Verify).
	FormatV1 = "borderproof-evidence/v1"
)

// Names of the manifest and its signature: entries of a v2 bundle, and blob
// keys relative to the folder of a v1 bundle.
const (
	ManifestName  = "manifest.json"
	SignatureName = "manifest.sig"
)

// MaxItemSize bounds one evidence item read for digesting, and a whole
// bundle.
const MaxItemSize = 32 << 20

// BundleContentType is the content type of a stored bundle.
const BundleContentType = "application/x-tar"

// Blobs is the part of the blob store the package needs (blob.Store
// implements it).
type Blobs interface {
	Put(ctx context.Context, key string, body io.Reader, size int64, contentType string) error
	Get(ctx context.Context, key string) (io.ReadCloser, error)
	Exists(ctx context.Context, key string) (bool, error)
	SignedURL(ctx context.Context, key string, ttl time.Duration) (string, error)
	List(ctx context.Context, prefix string) ([]string, error)
	Delete(ctx context.Context, key string) error
}

// Folder is the blob folder of a verification's evidence (no trailing '/'):
// the v1 layout's folder, and the v2 bundle's key without ".tar".
func Folder(insurerID, verificationID string) string {
	return "evidence/" + insurerID + "/" + verificationID
}

// BundleKey is the blob key of a verification's bundle as v2 wrote it,
// one per verification.
func BundleKey(insurerID, verificationID string) string {
	return Folder(insurerID, verificationID) + ".tar"
}

// BundleKeyOf is the blob key of the bundle whose manifest has the digest
// (hex): bundles are written under their content, before the outcome that
// records the digest commits, so two runs of one verification never
// overwrite each other's, and the recorded digest names the one that won.
func BundleKeyOf(insurerID, verificationID, digest string) string {
	return Folder(insurerID, verificationID) + "." + digest + ".tar"
}

// ManifestKey is the blob key of a v1 bundle's manifest.
func ManifestKey(insurerID, verificationID string) string {
	return Folder(insurerID, verificationID) + "/" + ManifestName
}

// SignatureKey is the blob key of a v1 bundle's manifest signature.
func SignatureKey(insurerID, verificationID string) string {
	return Folder(insurerID, verificationID) + "/" + SignatureName
}

// Manifest is the signed record of one verification. Field order is the
// order of the JSON; the signature covers the bytes as stored.
type Manifest struct {
	Format               string      `json:"format"`
	InsurerID            string      `json:"insurerId"`
	VerificationID       string      `json:"verificationId"`
	Mode                 string      `json:"mode,omitempty"`
	Status               string      `json:"status,omitempty"`
	PolicyVersion        int         `json:"policyVersion"`
	SanctionsListVersion string      `json:"sanctionsListVersion,omitempty"`
	Score                int         `json:"score"`
	Band                 string      `json:"band,omitempty"`
	Decision             string      `json:"decision,omitempty"`
	HardRule             string      `json:"hardRule,omitempty"`
	Provisional          bool        `json:"provisional,omitempty"`
	Reasons              []Reason    `json:"reasons"`
	Checks               []CheckItem `json:"checks"`
	KeyID                string      `json:"keyId"`
	SignedAt             time.Time   `json:"signedAt"`

	// Digest is the SHA-256 (hex) of the manifest bytes as stored; it is
	// not part of the JSON.
	Digest string `json:"-"`
}

// Reason is one reason code's contribution to the score.
type Reason struct {
	Code      string `json:"code"`
	Points    int    `json:"points"`
	CheckID   string `json:"checkId,omitempty"`
	CheckType string `json:"checkType,omitempty"`
}

// CheckItem is one check and, when the partner answered, the digest of its
// sealed answer.
type CheckItem struct {
	CheckID          string `json:"checkId"`
	Type             string `json:"type"`
	Status           string `json:"status"`
	Outcome          string `json:"outcome,omitempty"`
	Partner          string `json:"partner,omitempty"`
	PartnerReference string `json:"partnerReference,omitempty"`
	Evidence         *Item  `json:"evidence,omitempty"`
}

// Item is the digest of one sealed answer. Key names it: its entry in a v2
// bundle (EntryName), its blob key in a v1 bundle.
type Item struct {
	Key    string `json:"key"`
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

// Items lists the digested objects of the manifest, in check order.
func (m *Manifest) Items() []Item {
	var out []Item
	for _, c := range m.Checks {
		if c.Evidence != nil {
			out = append(out, *c.Evidence)
		}
	}
	return out
}

// Service builds and reads bundles.
type Service struct {
	blobs   Blobs
	signer  *Signer
	digests Digests
	log     *slog.Logger
	now     func() time.Time
}

// Digests tells the manifest digest recorded for a verification's bundle
// ("" when none is: no bundle yet, or one stored at BundleKey).
type Digests interface {
	EvidenceDigest(ctx context.Context, insurerID, verificationID string) (string, error)
}

// New builds the service on a blob store, the evidence signing key and
// the recorded digests that name each verification's bundle.
func New(blobs Blobs, signer *Signer, digests Digests, logger *slog.Logger) *Service {
	return &Service{blobs: blobs, signer: signer, digests: digests, log: logger, now: time.Now}
}

// PublicKey is the key verifiers use.
func (s *Service) PublicKey() ed25519.PublicKey { return s.signer.PublicKey() }

// PublicKeyHandler serves the public key as PEM, for whoever checks a
// bundle without an API key (a regulator, a court); the key id manifests
// name is in the X-Evidence-Key-Id header.
func (s *Service) PublicKeyHandler() http.Handler {
	body, keyID := s.signer.PublicKeyPEM(), s.signer.KeyID()
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/x-pem-file")
		w.Header().Set("Cache-Control", "public, max-age=300")
		w.Header().Set("X-Evidence-Key-Id", keyID)
		_, _ = w.Write(body)
	})
}

// Build digests every sealed partner answer of the verification, signs the
// manifest, writes the bundle (one object at BundleKeyOf its digest) and
// returns the manifest, whose digest the caller records. Answers come from CheckInput.Evidence, or for an answer an
// earlier version stored as a blob, from CheckInput.EvidenceKey. Given the
// same input (SignedAt included) it writes the same bytes, so running it
// again is harmless.
func (s *Service) Build(ctx context.Context, in BundleInput) (Manifest, error) {
	if err := in.Validate(); err != nil {
		return Manifest{}, err
	}
	m, checks := in.manifest()
	m.KeyID = s.signer.KeyID()
	if m.SignedAt.IsZero() {
		m.SignedAt = s.now()
	}
	m.SignedAt = m.SignedAt.UTC().Truncate(time.Second)
	var answers []entry
	for i, c := range checks {
		b := c.Evidence
		if len(b) == 0 {
			if c.EvidenceKey == "" {
				continue
			}
			var err error
			if b, err = s.read(ctx, c.EvidenceKey); err != nil {
				if errs.Is(err, errs.NotFound) {
					return Manifest{}, errs.Wrap(err, errs.FailedPrecondition, "evidence of a check is missing")
				}
				return Manifest{}, err
			}
		}
		if len(b) > MaxItemSize {
			return Manifest{}, errs.E(errs.FailedPrecondition, "evidence item is too large")
		}
		m.Checks[i].Evidence = &Item{Key: EntryName(c.ID), SHA256: digest(b), Size: int64(len(b))}
		answers = append(answers, entry{EntryName(c.ID), b})
	}
	body, err := encode(m)
	if err != nil {
		return Manifest{}, err
	}
	sig := s.signer.sign(body)
	bundle, err := writeBundle(m, body, sig, answers)
	if err != nil {
		return Manifest{}, err
	}
	m.Digest = digest(body)
	if err := s.blobs.Put(ctx, BundleKeyOf(m.InsurerID, m.VerificationID, m.Digest), bytes.NewReader(bundle), int64(len(bundle)), BundleContentType); err != nil {
		return Manifest{}, err
	}
	s.log.InfoContext(ctx, "evidence: bundle signed", "verification_id", m.VerificationID,
		"checks", len(m.Checks), "key_id", m.KeyID)
	return m, nil
}

// Get reads a verification's manifest and checks its signature: from the
// bundle, which it verifies whole (VerifyBundle), or from a v1 folder, where
// it checks the signature only (Check verifies the items). errs.NotFound
// when no bundle was built.
func (s *Service) Get(ctx context.Context, insurerID, verificationID string) (Manifest, error) {
	m, _, err := s.get(ctx, insurerID, verificationID)
	return m, err
}

// Link is Get with a time-limited download link (the blob store's signed
// URL) to what it read: the bundle, or a v1 layout's manifest.
func (s *Service) Link(ctx context.Context, insurerID, verificationID string, ttl time.Duration) (Manifest, string, error) {
	m, key, err := s.get(ctx, insurerID, verificationID)
	if err != nil {
		return Manifest{}, "", err
	}
	url, err := s.blobs.SignedURL(ctx, key, ttl)
	if err != nil {
		return Manifest{}, "", err
	}
	return m, url, nil
}

// get is Get, and the blob key of what it read.
func (s *Service) get(ctx context.Context, insurerID, verificationID string) (Manifest, string, error) {
	if err := checkIDs(insurerID, verificationID); err != nil {
		return Manifest{}, "", err
	}
	var m Manifest
	bundle, key, err := s.readBundle(ctx, insurerID, verificationID)
	switch {
	case err == nil:
		if m, err = VerifyBundle(bundle, s.signer.PublicKey()); err != nil {
			return Manifest{}, "", err
		}
	case errs.Is(err, errs.NotFound):
		body, sig, err := s.loadV1(ctx, insurerID, verificationID)
		if err != nil {
			return Manifest{}, "", err
		}
		if m, err = parseSigned(body, sig, s.signer.PublicKey(), FormatV1); err != nil {
			return Manifest{}, "", err
		}
		key = ManifestKey(insurerID, verificationID)
	default:
		return Manifest{}, "", err
	}
	if err := belongs(m, insurerID, verificationID); err != nil {
		return Manifest{}, "", err
	}
	return m, key, nil
}

// Check verifies a stored bundle end to end with the service's own key:
// signature, then every item's digest, and that the manifest is the one of
// the verification asked for. A v1 folder is checked with Verify.
func (s *Service) Check(ctx context.Context, insurerID, verificationID string) error {
	if err := checkIDs(insurerID, verificationID); err != nil {
		return err
	}
	bundle, _, err := s.readBundle(ctx, insurerID, verificationID)
	if err == nil {
		m, err := VerifyBundle(bundle, s.signer.PublicKey())
		if err != nil {
			return err
		}
		return belongs(m, insurerID, verificationID)
	}
	if !errs.Is(err, errs.NotFound) {
		return err
	}
	body, sig, err := s.loadV1(ctx, insurerID, verificationID)
	if err != nil {
		return err
	}
	m, err := parseSigned(body, sig, s.signer.PublicKey(), FormatV1)
	if err != nil {
		return err
	}
	if err := belongs(m, insurerID, verificationID); err != nil {
		return err
	}
	return Verify(body, sig, s.signer.PublicKey(), func(key string) ([]byte, error) { return s.read(ctx, key) })
}

// SignedURL is a time-limited download link (the blob store's signed URL)
// to the verification's bundle, or, for a verification whose evidence was
// recorded in the v1 layout, to its manifest. It does not check that the v1
// manifest exists.
func (s *Service) SignedURL(ctx context.Context, insurerID, verificationID string, ttl time.Duration) (string, error) {
	if err := checkIDs(insurerID, verificationID); err != nil {
		return "", err
	}
	key, err := s.bundleKey(ctx, insurerID, verificationID)
	if err != nil {
		return "", err
	}
	ok, err := s.blobs.Exists(ctx, key)
	if err != nil {
		return "", err
	}
	if !ok && key != BundleKey(insurerID, verificationID) {
		key = BundleKey(insurerID, verificationID)
		if ok, err = s.blobs.Exists(ctx, key); err != nil {
			return "", err
		}
	}
	if !ok {
		key = ManifestKey(insurerID, verificationID)
	}
	return s.blobs.SignedURL(ctx, key, ttl)
}

// SignatureURL is a time-limited download link to the manifest signature of
// the v1 layout. A v2 bundle carries its signature inside (SignedURL).
func (s *Service) SignatureURL(ctx context.Context, insurerID, verificationID string, ttl time.Duration) (string, error) {
	return s.blobs.SignedURL(ctx, SignatureKey(insurerID, verificationID), ttl)
}

// Prune deletes the bundles of a verification other than the one its
// recorded digest names, and reports how many: bundles of runs that wrote
// theirs before their outcome, as runs do, and then lost the race to
// complete or died before their outcome committed. Each is sealed and
// signed; left, it would be a second signed account of the verification
// that never was its outcome. Nothing is deleted while no digest is
// recorded: any bundle may yet be the one recorded.
func (s *Service) Prune(ctx context.Context, insurerID, verificationID string) (int, error) {
	if err := checkIDs(insurerID, verificationID); err != nil {
		return 0, err
	}
	keep, err := s.digests.EvidenceDigest(ctx, insurerID, verificationID)
	if err != nil || keep == "" {
		return 0, err
	}
	prefix := Folder(insurerID, verificationID) + "."
	keys, err := s.blobs.List(ctx, prefix)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, k := range keys {
		d, ok := strings.CutSuffix(strings.TrimPrefix(k, prefix), ".tar")
		if !ok || d == keep || !isDigest(d) {
			continue // the recorded one, or not a bundle stored under its digest
		}
		if err := s.blobs.Delete(ctx, k); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// isDigest tells a SHA-256 digest in lower-case hex.
func isDigest(d string) bool {
	if len(d) != 2*sha256.Size {
		return false
	}
	for i := range len(d) {
		if c := d[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func checkIDs(insurerID, verificationID string) error {
	if insurerID == "" || verificationID == "" {
		return errs.E(errs.Invalid, "insurer and verification ids are required")
	}
	return nil
}

// belongs checks that a verified manifest is the one of the verification
// it was read for (a bundle copied from elsewhere is not).
func belongs(m Manifest, insurerID, verificationID string) error {
	if m.InsurerID != insurerID || m.VerificationID != verificationID {
		return errs.Wrap(ErrTampered, errs.FailedPrecondition, "evidence manifest belongs elsewhere")
	}
	return nil
}

// readBundle reads the verification's bundle, the one its recorded digest
// names or else the one at BundleKey, up to one byte past MaxItemSize so
// that VerifyBundle reports an oversized one, and returns its key.
func (s *Service) readBundle(ctx context.Context, insurerID, verificationID string) ([]byte, string, error) {
	key, err := s.bundleKey(ctx, insurerID, verificationID)
	if err != nil {
		return nil, "", err
	}
	b, err := s.readLimited(ctx, key)
	if errs.Is(err, errs.NotFound) && key != BundleKey(insurerID, verificationID) {
		// Recorded before bundles were stored under their digest.
		key = BundleKey(insurerID, verificationID)
		b, err = s.readLimited(ctx, key)
	}
	return b, key, err
}

// bundleKey is where the verification's recorded bundle is: BundleKeyOf
// its recorded digest, or BundleKey when none is recorded.
func (s *Service) bundleKey(ctx context.Context, insurerID, verificationID string) (string, error) {
	d, err := s.digests.EvidenceDigest(ctx, insurerID, verificationID)
	if err != nil {
		return "", err
	}
	if d == "" {
		return BundleKey(insurerID, verificationID), nil
	}
	return BundleKeyOf(insurerID, verificationID, d), nil
}

func (s *Service) loadV1(ctx context.Context, insurerID, verificationID string) (body, sig []byte, err error) {
	if body, err = s.read(ctx, ManifestKey(insurerID, verificationID)); err != nil {
		return nil, nil, err
	}
	if sig, err = s.read(ctx, SignatureKey(insurerID, verificationID)); err != nil {
		return nil, nil, err
	}
	return body, sig, nil
}

func (s *Service) read(ctx context.Context, key string) ([]byte, error) {
	b, err := s.readLimited(ctx, key)
	if err != nil {
		return nil, err
	}
	if len(b) > MaxItemSize {
		return nil, errs.E(errs.FailedPrecondition, "evidence item is too large")
	}
	return b, nil
}

// readLimited reads at most MaxItemSize+1 bytes of a blob.
func (s *Service) readLimited(ctx context.Context, key string) ([]byte, error) {
	rc, err := s.blobs.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, MaxItemSize+1))
	if err != nil {
		return nil, errs.Wrap(err, errs.Unavailable, "evidence could not be read")
	}
	return b, nil
}

// Errors Verify and VerifyBundle report (match with errors.Is).
var (
	// ErrSignature: the manifest's signature does not verify under the key.
	ErrSignature = errors.New("evidence: signature does not verify")
	// ErrTampered: an item does not match its digest, or the manifest or
	// the bundle is malformed, names objects outside its own bundle, or
	// holds an entry the manifest does not list.
	ErrTampered = errors.New("evidence: item does not match the manifest")
	// ErrMissing: an item the manifest lists cannot be fetched, or a
	// bundle lacks its manifest or signature.
	ErrMissing = errors.New("evidence: item is missing")
)

// ItemError is the failure of one item (or bundle entry); Verify and
// VerifyBundle join one per bad item.
type ItemError struct {
	Key string
	Err error
}

func (e *ItemError) Error() string { return e.Err.Error() + ": " + e.Key }
func (e *ItemError) Unwrap() error { return e.Err }

// Verify checks a bundle in the v1 layout (FormatV1): the Ed25519 signature
// over the manifest bytes under publicKey, the manifest's layout, and the
// SHA-256 digest and size of every item, fetched by blob key. It returns nil
// only when all hold; otherwise an error classified FailedPrecondition that
// matches ErrSignature, ErrTampered or ErrMissing (one ItemError per bad
// item, joined). VerifyBundle checks the current layout.
func Verify(manifest, signature []byte, publicKey ed25519.PublicKey, fetch func(key string) ([]byte, error)) error {
	m, err := parseSigned(manifest, signature, publicKey, FormatV1)
	if err != nil {
		return err
	}
	var problems []error
	for _, it := range m.Items() {
		b, err := fetch(it.Key)
		switch {
		case err != nil:
			cause := ErrMissing
			if !errs.Is(err, errs.NotFound) {
				cause = fmt.Errorf("%w (%v)", ErrMissing, err)
			}
			problems = append(problems, &ItemError{Key: it.Key, Err: cause})
		case int64(len(b)) != it.Size || digest(b) != it.SHA256:
			problems = append(problems, &ItemError{Key: it.Key, Err: ErrTampered})
		}
	}
	if len(problems) > 0 {
		return errs.Wrap(errors.Join(problems...), errs.FailedPrecondition, "evidence does not match its manifest")
	}
	return nil
}

// parseSigned checks the signature, then decodes the manifest and checks
// that it has the given format and that its items are named as that layout
// names them: blob keys in the verification's folder for FormatV1, the
// check's own entry (EntryName) for Format.
func parseSigned(body, sig []byte, pub ed25519.PublicKey, format string) (Manifest, error) {
	var m Manifest
	if len(pub) != ed25519.PublicKeySize {
		return m, errs.E(errs.Invalid, "evidence public key must be 32 bytes")
	}
	if len(sig) != ed25519.SignatureSize || !ed25519.Verify(pub, body, sig) {
		return m, errs.Wrap(ErrSignature, errs.FailedPrecondition, "evidence signature does not verify")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return m, errs.Wrap(fmt.Errorf("%w: %v", ErrTampered, err), errs.FailedPrecondition, "evidence manifest is malformed")
	}
	if m.Format != format {
		return m, errs.Wrap(ErrTampered, errs.FailedPrecondition, "evidence manifest has an unknown format")
	}
	if m.KeyID != KeyID(pub) {
		return m, errs.Wrap(ErrSignature, errs.FailedPrecondition, "evidence manifest names another signing key")
	}
	prefix := Folder(m.InsurerID, m.VerificationID) + "/"
	seen := map[string]bool{}
	for _, c := range m.Checks {
		if format == Format {
			if !validID(c.CheckID) || seen[c.CheckID] {
				return m, errs.Wrap(ErrTampered, errs.FailedPrecondition, "evidence manifest holds a malformed check id")
			}
			seen[c.CheckID] = true
		}
		it := c.Evidence
		if it == nil {
			continue
		}
		if format == Format {
			if it.Key != EntryName(c.CheckID) {
				return m, errs.Wrap(&ItemError{Key: it.Key, Err: ErrTampered}, errs.FailedPrecondition,
					"evidence manifest names an item that is not its check's entry")
			}
		} else if !strings.HasPrefix(it.Key, prefix) || strings.Contains(it.Key, "..") || it.Key == prefix+ManifestName || it.Key == prefix+SignatureName {
			return m, errs.Wrap(ErrTampered, errs.FailedPrecondition, "evidence manifest names an item outside its folder")
		}
		if _, err := hex.DecodeString(it.SHA256); err != nil || len(it.SHA256) != 2*sha256.Size || it.Size < 0 {
			return m, errs.Wrap(ErrTampered, errs.FailedPrecondition, "evidence manifest holds a malformed digest")
		}
	}
	m.Digest = digest(body)
	return m, nil
}

// encode is the manifest's one serialisation: compact JSON in field order
// and a final newline.
func encode(m Manifest) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		return nil, errs.Wrap(err, errs.Internal, "evidence manifest cannot be encoded")
	}
	return buf.Bytes(), nil
}

func digest(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// sortedReasons orders reasons as the risk engine does (points, then code,
// check id and type), so the manifest does not depend on input order.
func sortedReasons(rs []Reason) []Reason {
	out := slices.Clone(rs)
	slices.SortStableFunc(out, func(a, b Reason) int {
		if a.Points != b.Points {
			return b.Points - a.Points
		}
		return strings.Compare(a.Code+"\x00"+a.CheckID+"\x00"+a.CheckType, b.Code+"\x00"+b.CheckID+"\x00"+b.CheckType)
	})
	if out == nil {
		out = []Reason{}
	}
	return out
}
