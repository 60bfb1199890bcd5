package evidence

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/borderproof/borderproof/internal/blob"
	"github.com/borderproof/borderproof/internal/errs"
	"github.com/borderproof/borderproof/internal/id"
	"github.com/borderproof/borderproof/internal/risk"
	"github.com/borderproof/borderproof/internal/testenv"
	"github.com/borderproof/borderproof/internal/verification"
)

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

type store interface {
	Blobs
	Delete(ctx context.Context, key string) error
}

func newFS(t *testing.T) *blob.FS {
	t.Helper()
	f, err := blob.NewFS(blob.FSConfig{Root: t.TempDir(), BaseURL: "http://127.0.0.1:8080", SigningKey: bytes.Repeat([]byte{7}, 32)}, discard())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func newS3(t *testing.T) *blob.S3 {
	t.Helper()
	endpoint := testenv.Require(t, testenv.S3EndpointVar)
	cfg := aws.Config{Region: "eu-west-1", Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")}
	s, err := blob.NewS3(cfg, blob.S3Config{Bucket: "borderproof-evidence-test", Endpoint: endpoint, UsePathStyle: true}, discard())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.EnsureBucket(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

// fixture stores three sealed answers (random bytes stand in for the
// vault's output) and returns the input of their bundle.
func fixture(t *testing.T, st store) BundleInput {
	t.Helper()
	ctx := context.Background()
	in := BundleInput{
		InsurerID: id.New("ins"), VerificationID: id.New("ver"), Mode: "TEST", Status: "COMPLETED",
		PolicyVersion: 3, SanctionsListVersion: "ofac-sdn:0123456789ab", Score: 55, Band: "HIGH", Decision: "REVIEW",
		SignedAt: time.Date(2026, 11, 27, 11, 13, 26, 0, time.UTC),
	}
	types := []string{"DOCUMENT_REGISTRY", "WATCHLIST", "IMMIGRATION_STATUS"}
	for i, typ := range types {
		cid := id.New("chk")
		c := CheckInput{ID: cid, Type: typ, Status: "COMPLETED", Outcome: "CLEAR", Partner: strings.ToLower(typ), PartnerReference: "REF-" + typ}
		if i < 2 {
			c.EvidenceKey = Folder(in.InsurerID, in.VerificationID) + "/" + cid + ".bin"
			b := make([]byte, 200+i)
			rand.Read(b)
			if err := st.Put(ctx, c.EvidenceKey, bytes.NewReader(b), int64(len(b)), ""); err != nil {
				t.Fatal(err)
			}
		}
		in.Checks = append(in.Checks, c)
	}
	in.Reasons = []Reason{
		{Code: "DOCUMENT_REPORTED_LOST", Points: 40, CheckID: in.Checks[0].ID, CheckType: "DOCUMENT_REGISTRY"},
		{Code: "WATCHLIST_WEAK_MATCH", Points: 15, CheckID: in.Checks[1].ID, CheckType: "WATCHLIST"},
	}
	return in
}

func readAll(t *testing.T, st Blobs, key string) []byte {
	t.Helper()
	rc, err := st.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func fetcher(st Blobs) func(string) ([]byte, error) {
	return func(key string) ([]byte, error) {
		rc, err := st.Get(context.Background(), key)
		if err != nil {
			return nil, err
		}
		defer rc.Close()
		return io.ReadAll(rc)
	}
}

func roundTrip(t *testing.T, st store) {
	ctx := context.Background()
	signer, err := GenerateSigner()
	if err != nil {
		t.Fatal(err)
	}
	svc := New(st, signer, discard())
	in := fixture(t, st)
	m, err := svc.Build(ctx, in)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	if len(m.Items()) != 2 || m.Digest == "" || m.KeyID != signer.KeyID() || !m.SignedAt.Equal(in.SignedAt) {
		t.Fatalf("manifest: %+v", m)
	}
	body := readAll(t, st, ManifestKey(in.InsurerID, in.VerificationID))
	sig := readAll(t, st, SignatureKey(in.InsurerID, in.VerificationID))
	if digest(body) != m.Digest {
		t.Fatal("returned digest is not the stored manifest's")
	}
	if err := Verify(body, sig, signer.PublicKey(), fetcher(st)); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if err := svc.Check(ctx, in.InsurerID, in.VerificationID); err != nil {
		t.Fatalf("Check: %v", err)
	}
	got, err := svc.Get(ctx, in.InsurerID, in.VerificationID)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if got.Digest != m.Digest || got.Decision != "REVIEW" || len(got.Reasons) != 2 || got.SanctionsListVersion != in.SanctionsListVersion {
		t.Fatalf("Get: %+v", got)
	}
	if _, err := svc.Get(ctx, in.InsurerID, id.New("ver")); !errs.Is(err, errs.NotFound) {
		t.Fatalf("Get of a verification without a bundle: %v", err)
	}
	u, err := svc.SignedURL(ctx, in.InsurerID, in.VerificationID, time.Hour)
	if err != nil || !strings.Contains(u, in.VerificationID+"/manifest.json") {
		t.Fatalf("SignedURL: %q %v", u, err)
	}

	// Tampering with a stored item is found by Check.
	item := m.Items()[1]
	b := readAll(t, st, item.Key)
	b[0] ^= 1
	if err := st.Put(ctx, item.Key, bytes.NewReader(b), int64(len(b)), ""); err != nil {
		t.Fatal(err)
	}
	if err := svc.Check(ctx, in.InsurerID, in.VerificationID); !errors.Is(err, ErrTampered) {
		t.Fatalf("Check after tampering: %v", err)
	}
}

func TestRoundTripFS(t *testing.T) {
	t.Parallel()
	roundTrip(t, newFS(t))
}

func TestRoundTripS3(t *testing.T) {
	t.Parallel()
	roundTrip(t, newS3(t))
}

func TestVerifyDetectsTampering(t *testing.T) {
	t.Parallel()
	st := newFS(t)
	signer, _ := GenerateSigner()
	other, _ := GenerateSigner()
	in := fixture(t, st)
	m, err := New(st, signer, discard()).Build(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(t, st, ManifestKey(in.InsurerID, in.VerificationID))
	sig := readAll(t, st, SignatureKey(in.InsurerID, in.VerificationID))
	items := map[string][]byte{}
	for _, it := range m.Items() {
		items[it.Key] = readAll(t, st, it.Key)
	}
	k0, k1 := m.Items()[0].Key, m.Items()[1].Key

	// resign lets a test forge a manifest signed with the right key, to
	// reach the checks behind the signature.
	resign := func(edit func(*Manifest)) ([]byte, []byte) {
		var mm Manifest
		if err := json.Unmarshal(body, &mm); err != nil {
			t.Fatal(err)
		}
		edit(&mm)
		b, err := encode(mm)
		if err != nil {
			t.Fatal(err)
		}
		return b, signer.sign(b)
	}
	flip := func(b []byte, i int) []byte { c := bytes.Clone(b); c[i] ^= 1; return c }

	for _, tc := range []struct {
		name  string
		body  []byte
		sig   []byte
		pub   func() []byte
		items func(map[string][]byte)
		want  error
	}{
		{name: "intact", want: nil},
		{name: "item byte flipped", items: func(m map[string][]byte) { m[k0] = flip(m[k0], 10) }, want: ErrTampered},
		{name: "item truncated", items: func(m map[string][]byte) { m[k1] = m[k1][:len(m[k1])-1] }, want: ErrTampered},
		{name: "item extended", items: func(m map[string][]byte) { m[k1] = append(bytes.Clone(m[k1]), 0) }, want: ErrTampered},
		{name: "items swapped", items: func(m map[string][]byte) { m[k0], m[k1] = m[k1], m[k0] }, want: ErrTampered},
		{name: "item deleted", items: func(m map[string][]byte) { delete(m, k0) }, want: ErrMissing},
		{name: "points changed in manifest", body: bytes.Replace(body, []byte(`"points":40`), []byte(`"points":4`), 1), want: ErrSignature},
		{name: "decision changed in manifest", body: bytes.Replace(body, []byte(`"REVIEW"`), []byte(`"CLEAR"`), 1), want: ErrSignature},
		{name: "manifest byte flipped", body: flip(body, len(body)/2), want: ErrSignature},
		{name: "whitespace added", body: append(bytes.Clone(body), ' '), want: ErrSignature},
		{name: "signature flipped", sig: flip(sig, 5), want: ErrSignature},
		{name: "signature truncated", sig: sig[:63], want: ErrSignature},
		{name: "other key", pub: func() []byte { return other.PublicKey() }, want: ErrSignature},
		{name: "signed by another key", sig: other.sign(body), want: ErrSignature},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, s := body, sig
			if tc.body != nil {
				b = tc.body
			}
			if tc.sig != nil {
				s = tc.sig
			}
			pub := signer.PublicKey()
			if tc.pub != nil {
				pub = tc.pub()
			}
			got := map[string][]byte{}
			for k, v := range items {
				got[k] = bytes.Clone(v)
			}
			if tc.items != nil {
				tc.items(got)
			}
			err := Verify(b, s, pub, func(k string) ([]byte, error) {
				v, ok := got[k]
				if !ok {
					return nil, errs.E(errs.NotFound, "blob not found")
				}
				return v, nil
			})
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				return
			}
			if !errors.Is(err, tc.want) || !errs.Is(err, errs.FailedPrecondition) {
				t.Fatalf("Verify = %v, want %v", err, tc.want)
			}
		})
	}

	forged := []struct {
		name string
		edit func(*Manifest)
	}{
		{"item outside the folder", func(m *Manifest) { m.Checks[0].Evidence.Key = "evidence/" + id.New("ins") + "/x/y.bin" }},
		{"item is the signature", func(m *Manifest) { m.Checks[0].Evidence.Key = SignatureKey(in.InsurerID, in.VerificationID) }},
		{"unknown format", func(m *Manifest) { m.Format = "borderproof-evidence/v0" }},
		{"malformed digest", func(m *Manifest) { m.Checks[0].Evidence.SHA256 = "zz" }},
	}
	for _, tc := range forged {
		t.Run(tc.name, func(t *testing.T) {
			b, s := resign(tc.edit)
			if err := Verify(b, s, signer.PublicKey(), fetcher(st)); !errors.Is(err, ErrTampered) {
				t.Fatalf("Verify = %v, want ErrTampered", err)
			}
		})
	}
	t.Run("unknown field", func(t *testing.T) {
		b := bytes.Replace(body, []byte(`{"format"`), []byte(`{"extra":1,"format"`), 1)
		if err := Verify(b, signer.sign(b), signer.PublicKey(), fetcher(st)); !errors.Is(err, ErrTampered) {
			t.Fatalf("Verify = %v, want ErrTampered", err)
		}
	})
}

func TestBuildIsDeterministic(t *testing.T) {
	t.Parallel()
	st := newFS(t)
	signer, _ := GenerateSigner()
	svc := New(st, signer, discard())
	in := fixture(t, st)
	m1, err := svc.Build(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	// Same input in another order gives the same bytes.
	rev := in
	rev.Checks = slices.Clone(in.Checks)
	slices.Reverse(rev.Checks)
	rev.Reasons = slices.Clone(in.Reasons)
	slices.Reverse(rev.Reasons)
	m2, err := svc.Build(context.Background(), rev)
	if err != nil {
		t.Fatal(err)
	}
	if m1.Digest != m2.Digest {
		t.Fatal("the same bundle built twice differs")
	}
	if in.Checks[0].Type != "DOCUMENT_REGISTRY" {
		t.Fatal("Build reordered the caller's checks")
	}
}

func TestBuildRefuses(t *testing.T) {
	t.Parallel()
	st := newFS(t)
	signer, _ := GenerateSigner()
	svc := New(st, signer, discard())
	base := fixture(t, st)
	for _, tc := range []struct {
		name string
		edit func(*BundleInput)
		kind errs.Kind
	}{
		{"no insurer", func(in *BundleInput) { in.InsurerID = "" }, errs.Invalid},
		{"path in id", func(in *BundleInput) { in.VerificationID = "../x" }, errs.Invalid},
		{"key of another verification", func(in *BundleInput) {
			in.Checks[0].EvidenceKey = Folder(in.InsurerID, id.New("ver")) + "/a.bin"
		}, errs.Invalid},
		{"key is the manifest", func(in *BundleInput) { in.Checks[0].EvidenceKey = ManifestKey(in.InsurerID, in.VerificationID) }, errs.Invalid},
		{"check twice", func(in *BundleInput) { in.Checks[1].ID = in.Checks[0].ID }, errs.Invalid},
		{"missing evidence", func(in *BundleInput) {
			in.Checks[2].EvidenceKey = Folder(in.InsurerID, in.VerificationID) + "/" + in.Checks[2].ID + ".bin"
		}, errs.FailedPrecondition},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := base
			in.Checks = slices.Clone(base.Checks)
			tc.edit(&in)
			if _, err := svc.Build(context.Background(), in); !errs.Is(err, tc.kind) {
				t.Fatalf("Build = %v, want %v", err, tc.kind)
			}
		})
	}
}

// TestManifestFieldsCarryNoPersonalData pins the manifest's field names: a
// new field must be added here on purpose, after checking it is not
// personal data.
func TestManifestFieldsCarryNoPersonalData(t *testing.T) {
	t.Parallel()
	st := newFS(t)
	signer, _ := GenerateSigner()
	in := fixture(t, st)
	in.HardRule, in.Provisional = "STOLEN_DOCUMENT", true
	if _, err := New(st, signer, discard()).Build(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(readAll(t, st, ManifestKey(in.InsurerID, in.VerificationID)), &doc); err != nil {
		t.Fatal(err)
	}
	allowed := []string{"format", "insurerId", "verificationId", "mode", "status", "policyVersion", "sanctionsListVersion",
		"score", "band", "decision", "hardRule", "provisional", "reasons", "checks", "keyId", "signedAt",
		"code", "points", "checkId", "checkType", "type", "outcome", "partner", "partnerReference", "evidence",
		"key", "sha256", "size"}
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, v := range x {
				if !slices.Contains(allowed, k) {
					t.Errorf("manifest field %q is not on the reviewed list", k)
				}
				walk(v)
			}
		case []any:
			for _, v := range x {
				walk(v)
			}
		}
	}
	walk(doc)
}

func TestFromVerification(t *testing.T) {
	t.Parallel()
	done := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	v := &verification.Verification{
		ID: "ver_1", InsurerID: "ins_1", Mode: "TEST", Status: verification.StatusCompleted, CompletedAt: done,
		Outcome: &risk.Outcome{Score: 70, Band: risk.BandCritical, Decision: risk.DecisionDecline, PolicyVersion: 2,
			HardRule: "STOLEN_DOCUMENT", Reasons: []risk.Reason{{Code: "DOCUMENT_REPORTED_STOLEN", Points: 70, CheckID: "chk_1", CheckType: "DOCUMENT_REGISTRY", Message: "m"}}},
		Checks: []verification.Check{{ID: "chk_1", Type: "DOCUMENT_REGISTRY", Status: risk.CheckCompleted, Outcome: "ALERT",
			Partner: "docregistry", PartnerReference: "R1", EvidenceKey: "evidence/ins_1/ver_1/chk_1.bin"}},
	}
	in := FromVerification(v, "ofac-sdn:abc")
	if err := in.Validate(); err != nil {
		t.Fatal(err)
	}
	if in.PolicyVersion != 2 || in.Decision != "DECLINE" || in.HardRule != "STOLEN_DOCUMENT" || !in.SignedAt.Equal(done) ||
		len(in.Reasons) != 1 || in.Reasons[0].Points != 70 || in.Checks[0].EvidenceKey != v.Checks[0].EvidenceKey ||
		in.SanctionsListVersion != "ofac-sdn:abc" {
		t.Fatalf("%+v", in)
	}
}

func TestSigningKeys(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "keys", "evidence.pem")
	a, err := LoadOrCreateKeyFile(path, discard())
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", st, err)
	}
	b, err := LoadOrCreateKeyFile(path, discard())
	if err != nil || b.KeyID() != a.KeyID() {
		t.Fatalf("reload gave another key: %v", err)
	}
	pub, err := ParsePublicKey(a.PublicKeyPEM())
	if err != nil || !pub.Equal(a.PublicKey()) {
		t.Fatalf("ParsePublicKey: %v", err)
	}
	seed := "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=" // bytes 0..31
	s1, err := ParseSigningKey([]byte(seed + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	s2, _ := ParseSigningKey([]byte(seed))
	if s1.KeyID() != s2.KeyID() || s1.KeyID() == a.KeyID() || !strings.HasPrefix(s1.KeyID(), "ed25519:") {
		t.Fatal("seed keys")
	}
	for _, bad := range []string{"", "not base64!", "AAEC", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"} {
		if _, err := ParseSigningKey([]byte(bad)); !errs.Is(err, errs.Invalid) {
			t.Errorf("ParseSigningKey(%q) = %v", bad, err)
		}
	}
	if _, err := ParsePublicKey([]byte("AAEC")); !errs.Is(err, errs.Invalid) {
		t.Error("short public key accepted")
	}
}
