package evidence

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
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
}

// recorded stands for the database: the manifest digest recorded for each
// verification (by id), as the pipeline records Build's after it returns.
type recorded map[string]string

func (r recorded) EvidenceDigest(_ context.Context, _, verificationID string) (string, error) {
	return r[verificationID], nil
}

func newFS(t *testing.T) *blob.FS {
	f, _ := newFSRoot(t)
	return f
}

// newFSRoot also returns the store's root directory, to list what was
// written.
func newFSRoot(t *testing.T) (*blob.FS, string) {
	t.Helper()
	root := t.TempDir()
	f, err := blob.NewFS(blob.FSConfig{Root: root, BaseURL: "http://127.0.0.1:8080", SigningKey: bytes.Repeat([]byte{7}, 32)}, discard())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f, root
}

// storedFiles lists the regular files under a file-system store's root.
func storedFiles(t *testing.T, root string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			files = append(files, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
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

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// fixture is the input of a bundle with three checks, two of them
// answered (random bytes stand in for the vault's sealed output). Check ids
// ascend, so the manifest lists the checks in input order: the answered
// ones first.
func fixture(t *testing.T) BundleInput {
	t.Helper()
	now := time.Now()
	in := BundleInput{
		InsurerID: id.New("ins"), VerificationID: id.New("ver"), Mode: "TEST", Status: "COMPLETED",
		PolicyVersion: 3, SanctionsListVersion: "ofac-sdn:0123456789ab", Score: 55, Band: "HIGH", Decision: "REVIEW",
		SignedAt: time.Date(2026, 11, 27, 11, 13, 26, 0, time.UTC),
	}
	types := []string{"DOCUMENT_REGISTRY", "WATCHLIST", "IMMIGRATION_STATUS"}
	for i, typ := range types {
		c := CheckInput{ID: id.NewAt("chk", now.Add(time.Duration(i)*time.Millisecond)), Type: typ, Status: "COMPLETED", Outcome: "CLEAR", Partner: strings.ToLower(typ), PartnerReference: "REF-" + typ}
		if i < 2 {
			c.Evidence = randomBytes(200 + i)
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

// put stores b as the service would: a bundle as a tar.
func put(t *testing.T, st Blobs, key string, b []byte) {
	t.Helper()
	contentType := ""
	if strings.HasSuffix(key, ".tar") {
		contentType = BundleContentType
	}
	if err := st.Put(context.Background(), key, bytes.NewReader(b), int64(len(b)), contentType); err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
}

func exists(t *testing.T, st Blobs, key string) bool {
	t.Helper()
	ok, err := st.Exists(context.Background(), key)
	if err != nil {
		t.Fatalf("exists %s: %v", key, err)
	}
	return ok
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

// tarEntry is one entry of a bundle as a test reads or forges it.
type tarEntry struct {
	hdr  tar.Header
	body []byte
}

func untar(t *testing.T, bundle []byte) []tarEntry {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(bundle))
	var out []tarEntry
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, tarEntry{hdr: *hdr, body: b})
	}
}

// retar writes entries back into an archive as given (any type flag).
func retar(t *testing.T, entries []tarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		hdr := e.hdr
		hdr.Format = tar.FormatUnknown
		if hdr.Typeflag == tar.TypeReg {
			hdr.Size = int64(len(e.body))
		}
		if err := tw.WriteHeader(&hdr); err != nil {
			t.Fatal(err)
		}
		if len(e.body) > 0 {
			if _, err := tw.Write(e.body); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func entryBody(t *testing.T, bundle []byte, name string) []byte {
	t.Helper()
	for _, e := range untar(t, bundle) {
		if e.hdr.Name == name {
			return e.body
		}
	}
	t.Fatalf("bundle has no %s", name)
	return nil
}

// built is a service over st, its signer and the digests it reads (none
// recorded yet), and the bundle it built from fixture.
func built(t *testing.T, st store) (*Service, *Signer, recorded, BundleInput, Manifest) {
	t.Helper()
	signer, err := GenerateSigner()
	if err != nil {
		t.Fatal(err)
	}
	digests := recorded{}
	svc := New(st, signer, digests, discard())
	in := fixture(t)
	m, err := svc.Build(context.Background(), in)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	return svc, signer, digests, in, m
}

// linksTo holds Link to the manifest Get returns and a link to key.
func linksTo(t *testing.T, svc *Service, in BundleInput, key string) {
	t.Helper()
	ctx := context.Background()
	want, err := svc.Get(ctx, in.InsurerID, in.VerificationID)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	m, u, err := svc.Link(ctx, in.InsurerID, in.VerificationID, time.Hour)
	if err != nil || m.Digest != want.Digest || !strings.Contains(u, key) {
		t.Fatalf("Link: %s %q %v; want %s and a link to %s", m.Digest, u, err, want.Digest, key)
	}
}

func roundTrip(t *testing.T, st store) {
	ctx := context.Background()
	svc, signer, digests, in, m := built(t, st)
	digests[in.VerificationID] = m.Digest
	if m.Format != Format || len(m.Items()) != 2 || m.Digest == "" || m.KeyID != signer.KeyID() || !m.SignedAt.Equal(in.SignedAt) {
		t.Fatalf("manifest: %+v", m)
	}
	for _, c := range in.Checks[:2] {
		i := slices.IndexFunc(m.Checks, func(ci CheckItem) bool { return ci.CheckID == c.ID })
		if it := m.Checks[i].Evidence; it == nil || it.Key != EntryName(c.ID) || it.SHA256 != digest(c.Evidence) || it.Size != int64(len(c.Evidence)) {
			t.Fatalf("item of %s: %+v", c.ID, it)
		}
	}

	key := BundleKeyOf(in.InsurerID, in.VerificationID, m.Digest)
	if key != "evidence/"+in.InsurerID+"/"+in.VerificationID+"."+m.Digest+".tar" {
		t.Fatalf("BundleKeyOf = %q", key)
	}
	bundle := readAll(t, st, key)
	vm, err := VerifyBundle(bundle, signer.PublicKey())
	if err != nil {
		t.Fatalf("VerifyBundle: %v", err)
	}
	if vm.Digest != m.Digest || digest(entryBody(t, bundle, ManifestName)) != m.Digest {
		t.Fatal("returned digest is not the stored manifest's")
	}
	// One object per build: nothing at the legacy key nor in the v1 layout.
	for _, k := range []string{BundleKey(in.InsurerID, in.VerificationID), ManifestKey(in.InsurerID, in.VerificationID),
		SignatureKey(in.InsurerID, in.VerificationID), Folder(in.InsurerID, in.VerificationID) + "/" + in.Checks[0].ID + ".bin"} {
		if exists(t, st, k) {
			t.Fatalf("Build wrote %s", k)
		}
	}

	if err := svc.Check(ctx, in.InsurerID, in.VerificationID); err != nil {
		t.Fatalf("Check: %v", err)
	}
	got, err := svc.Get(ctx, in.InsurerID, in.VerificationID)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if got.Digest != m.Digest || got.Format != Format || got.Decision != "REVIEW" || len(got.Reasons) != 2 ||
		got.SanctionsListVersion != in.SanctionsListVersion || len(got.Checks) != 3 || len(got.Items()) != 2 {
		t.Fatalf("Get: %+v", got)
	}
	other := id.New("ver")
	if _, err := svc.Get(ctx, in.InsurerID, other); !errs.Is(err, errs.NotFound) {
		t.Fatalf("Get of a verification without a bundle: %v", err)
	}
	if err := svc.Check(ctx, in.InsurerID, other); !errs.Is(err, errs.NotFound) {
		t.Fatalf("Check of a verification without a bundle: %v", err)
	}
	u, err := svc.SignedURL(ctx, in.InsurerID, in.VerificationID, time.Hour)
	if err != nil || !strings.Contains(u, key) {
		t.Fatalf("SignedURL: %q %v", u, err)
	}
	linksTo(t, svc, in, key)

	// A bundle copied under another verification is refused, at the
	// legacy key (no digest recorded) and under its digest (recorded).
	put(t, st, BundleKey(in.InsurerID, other), bundle)
	if _, err := svc.Get(ctx, in.InsurerID, other); !errors.Is(err, ErrTampered) {
		t.Fatalf("Get of a copied bundle: %v", err)
	}
	if err := svc.Check(ctx, in.InsurerID, other); !errors.Is(err, ErrTampered) {
		t.Fatalf("Check of a copied bundle: %v", err)
	}
	third := id.New("ver")
	put(t, st, BundleKeyOf(in.InsurerID, third, m.Digest), bundle)
	digests[third] = m.Digest
	if _, err := svc.Get(ctx, in.InsurerID, third); !errors.Is(err, ErrTampered) {
		t.Fatalf("Get of a bundle copied under its digest: %v", err)
	}
	if err := svc.Check(ctx, in.InsurerID, third); !errors.Is(err, ErrTampered) {
		t.Fatalf("Check of a bundle copied under its digest: %v", err)
	}

	// Tampering with a stored answer is found by Check and Get.
	entries := untar(t, bundle)
	entries[3].body[0] ^= 1
	put(t, st, key, retar(t, entries))
	if err := svc.Check(ctx, in.InsurerID, in.VerificationID); !errors.Is(err, ErrTampered) || !errs.Is(err, errs.FailedPrecondition) {
		t.Fatalf("Check after tampering: %v", err)
	}
	if _, err := svc.Get(ctx, in.InsurerID, in.VerificationID); !errors.Is(err, ErrTampered) {
		t.Fatalf("Get after tampering: %v", err)
	}
}

func TestRoundTripFS(t *testing.T) {
	t.Parallel()
	st, root := newFSRoot(t)
	roundTrip(t, st)

	// The file-system store holds one file per bundle stored (the round
	// trip builds one, then copies it under two other verifications).
	files := storedFiles(t, root)
	if len(files) != 3 || !strings.HasSuffix(files[0], ".tar") || !strings.HasSuffix(files[1], ".tar") || !strings.HasSuffix(files[2], ".tar") {
		t.Fatalf("files written: %q", files)
	}
}

func TestRoundTripS3(t *testing.T) {
	t.Parallel()
	roundTrip(t, newS3(t))
}

// rebuildKeepsBoth builds one verification twice with different outcomes
// (as a retried run may): both bundles stay stored, each under its own
// digest, and the service reads the one whose digest is recorded.
func rebuildKeepsBoth(t *testing.T, st store) {
	ctx := context.Background()
	svc, signer, digests, in, m1 := built(t, st)
	k1 := BundleKeyOf(in.InsurerID, in.VerificationID, m1.Digest)
	b1 := readAll(t, st, k1)
	in2 := in
	in2.Checks = slices.Clone(in.Checks)
	in2.Reasons = slices.Clone(in.Reasons)
	in2.Score, in2.Band, in2.Decision = 70, "CRITICAL", "DECLINE"
	in2.SignedAt = in.SignedAt.Add(time.Minute)
	m2, err := svc.Build(ctx, in2)
	if err != nil {
		t.Fatalf("second Build: %v", err)
	}
	if m1.Digest == m2.Digest {
		t.Fatalf("two different runs gave one digest %s", m1.Digest)
	}
	k2 := BundleKeyOf(in.InsurerID, in.VerificationID, m2.Digest)

	// Both are stored, under their own keys, and the first was not
	// overwritten.
	if !bytes.Equal(readAll(t, st, k1), b1) {
		t.Fatal("the second Build changed the first bundle")
	}
	for _, want := range []Manifest{m1, m2} {
		key := BundleKeyOf(in.InsurerID, in.VerificationID, want.Digest)
		vm, err := VerifyBundle(readAll(t, st, key), signer.PublicKey())
		if err != nil || vm.Digest != want.Digest || vm.Decision != want.Decision || !vm.SignedAt.Equal(want.SignedAt) {
			t.Fatalf("bundle at %s: %+v %v", key, vm, err)
		}
	}
	if exists(t, st, BundleKey(in.InsurerID, in.VerificationID)) {
		t.Fatal("Build wrote the legacy key")
	}

	// Until a digest is recorded (the outcome did not commit), neither is
	// the verification's.
	if _, err := svc.Get(ctx, in.InsurerID, in.VerificationID); !errs.Is(err, errs.NotFound) {
		t.Fatalf("Get with no digest recorded: %v", err)
	}

	// The recorded digest picks the bundle, whichever was built last.
	for _, want := range []Manifest{m1, m2, m1} {
		digests[in.VerificationID] = want.Digest
		got, err := svc.Get(ctx, in.InsurerID, in.VerificationID)
		if err != nil {
			t.Fatalf("Get with %s's digest recorded: %v", want.Decision, err)
		}
		if got.Digest != want.Digest || got.Decision != want.Decision || got.Score != want.Score || !got.SignedAt.Equal(want.SignedAt) {
			t.Fatalf("Get with %s's digest recorded gave %+v", want.Decision, got)
		}
		if err := svc.Check(ctx, in.InsurerID, in.VerificationID); err != nil {
			t.Fatalf("Check with %s's digest recorded: %v", want.Decision, err)
		}
		u, err := svc.SignedURL(ctx, in.InsurerID, in.VerificationID, time.Hour)
		if err != nil || !strings.Contains(u, BundleKeyOf(in.InsurerID, in.VerificationID, want.Digest)) {
			t.Fatalf("SignedURL with %s's digest recorded: %q %v", want.Decision, u, err)
		}
	}

	// Running the first again rewrites its own bytes and leaves the
	// second's alone.
	b2 := readAll(t, st, k2)
	if m, err := svc.Build(ctx, in); err != nil || m.Digest != m1.Digest {
		t.Fatalf("first Build again: %v %v", m.Digest, err)
	}
	if !bytes.Equal(readAll(t, st, k1), b1) || !bytes.Equal(readAll(t, st, k2), b2) {
		t.Fatal("building the first run again changed a stored bundle")
	}

	// Prune deletes what the record does not name: nothing while none is
	// recorded, then the first run's bundle once the second's is, and
	// never a bundle stored at the legacy key.
	legacy := BundleKey(in.InsurerID, in.VerificationID)
	if err := st.Put(ctx, legacy, bytes.NewReader(b1), int64(len(b1)), BundleContentType); err != nil {
		t.Fatal(err)
	}
	delete(digests, in.VerificationID)
	if n, err := svc.Prune(ctx, in.InsurerID, in.VerificationID); err != nil || n != 0 {
		t.Fatalf("Prune with no digest recorded: %d deleted, %v", n, err)
	}
	digests[in.VerificationID] = m2.Digest
	if n, err := svc.Prune(ctx, in.InsurerID, in.VerificationID); err != nil || n != 1 {
		t.Fatalf("Prune: %d deleted, %v; want 1", n, err)
	}
	if exists(t, st, k1) || !exists(t, st, k2) || !exists(t, st, legacy) {
		t.Fatalf("after Prune: first %v, recorded %v, legacy %v; want false, true, true", exists(t, st, k1), exists(t, st, k2), exists(t, st, legacy))
	}
	if err := svc.Check(ctx, in.InsurerID, in.VerificationID); err != nil {
		t.Fatalf("Check after Prune: %v", err)
	}
	if n, err := svc.Prune(ctx, in.InsurerID, in.VerificationID); err != nil || n != 0 {
		t.Fatalf("Prune again: %d deleted, %v", n, err)
	}
}

func TestRebuildKeepsBothBundlesFS(t *testing.T) {
	t.Parallel()
	rebuildKeepsBoth(t, newFS(t))
}

func TestRebuildKeepsBothBundlesS3(t *testing.T) {
	t.Parallel()
	rebuildKeepsBoth(t, newS3(t))
}

// readsLegacyBundleKey: a bundle stored at BundleKey, where bundles were
// stored before they were keyed by digest, is still found by Get, Check
// and SignedURL, with no digest recorded and with a recorded digest whose
// object is missing; a bundle under the recorded digest wins over it.
func readsLegacyBundleKey(t *testing.T, st store) {
	ctx := context.Background()
	svc, _, digests, in, m := built(t, st)
	// Move the bundle to the legacy key.
	key, legacy := BundleKeyOf(in.InsurerID, in.VerificationID, m.Digest), BundleKey(in.InsurerID, in.VerificationID)
	bundle := readAll(t, st, key)
	put(t, st, legacy, bundle)
	if err := st.Delete(ctx, key); err != nil {
		t.Fatal(err)
	}
	if exists(t, st, key) {
		t.Fatalf("%s is still stored after Delete", key)
	}

	for _, tc := range []struct {
		name   string
		digest string
	}{
		{"no digest recorded", ""},
		{"recorded digest's object missing", m.Digest},
	} {
		digests[in.VerificationID] = tc.digest
		got, err := svc.Get(ctx, in.InsurerID, in.VerificationID)
		if err != nil || got.Digest != m.Digest || got.Format != Format || got.Decision != m.Decision {
			t.Fatalf("Get of a legacy bundle, %s: %+v %v", tc.name, got, err)
		}
		if err := svc.Check(ctx, in.InsurerID, in.VerificationID); err != nil {
			t.Fatalf("Check of a legacy bundle, %s: %v", tc.name, err)
		}
		u, err := svc.SignedURL(ctx, in.InsurerID, in.VerificationID, time.Hour)
		if err != nil || !strings.Contains(u, legacy) {
			t.Fatalf("SignedURL of a legacy bundle, %s: %q %v", tc.name, u, err)
		}
		linksTo(t, svc, in, legacy)
	}

	// The legacy bundle read is verified like any other.
	entries := untar(t, bundle)
	entries[3].body[0] ^= 1
	put(t, st, legacy, retar(t, entries))
	if err := svc.Check(ctx, in.InsurerID, in.VerificationID); !errors.Is(err, ErrTampered) {
		t.Fatalf("Check of a tampered legacy bundle: %v", err)
	}
	if _, err := svc.Get(ctx, in.InsurerID, in.VerificationID); !errors.Is(err, ErrTampered) {
		t.Fatalf("Get of a tampered legacy bundle: %v", err)
	}
	put(t, st, legacy, bundle)

	// Once a bundle stored under its digest is recorded, it is the one read.
	in2 := in
	in2.Decision, in2.SignedAt = "DECLINE", in.SignedAt.Add(time.Minute)
	m2, err := svc.Build(ctx, in2)
	if err != nil {
		t.Fatalf("second Build: %v", err)
	}
	digests[in.VerificationID] = m2.Digest
	if got, err := svc.Get(ctx, in.InsurerID, in.VerificationID); err != nil || got.Digest != m2.Digest || got.Decision != "DECLINE" {
		t.Fatalf("Get with a recorded bundle beside a legacy one: %+v %v", got, err)
	}
	u, err := svc.SignedURL(ctx, in.InsurerID, in.VerificationID, time.Hour)
	if err != nil || !strings.Contains(u, BundleKeyOf(in.InsurerID, in.VerificationID, m2.Digest)) {
		t.Fatalf("SignedURL with a recorded bundle beside a legacy one: %q %v", u, err)
	}
}

func TestReadsLegacyBundleKeyFS(t *testing.T) {
	t.Parallel()
	readsLegacyBundleKey(t, newFS(t))
}

func TestReadsLegacyBundleKeyS3(t *testing.T) {
	t.Parallel()
	readsLegacyBundleKey(t, newS3(t))
}

// TestRecordedBundleMissing: when the recorded digest's object is missing
// and there is no legacy bundle, the verification has no bundle, even if
// another run's (unrecorded) bundle is stored.
func TestRecordedBundleMissing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := newFS(t)
	svc, _, digests, in, m1 := built(t, st)
	in2 := in
	in2.Decision, in2.SignedAt = "DECLINE", in.SignedAt.Add(time.Minute)
	m2, err := svc.Build(ctx, in2)
	if err != nil {
		t.Fatal(err)
	}
	// The recorded run's bundle is lost; the other run's stays.
	if err := st.Delete(ctx, BundleKeyOf(in.InsurerID, in.VerificationID, m2.Digest)); err != nil {
		t.Fatal(err)
	}
	if !exists(t, st, BundleKeyOf(in.InsurerID, in.VerificationID, m1.Digest)) {
		t.Fatal("the unrecorded run's bundle is gone")
	}
	digests[in.VerificationID] = m2.Digest
	if got, err := svc.Get(ctx, in.InsurerID, in.VerificationID); !errs.Is(err, errs.NotFound) {
		t.Fatalf("Get with the recorded bundle missing = %+v %v, want NotFound", got, err)
	}
	if err := svc.Check(ctx, in.InsurerID, in.VerificationID); !errs.Is(err, errs.NotFound) {
		t.Fatalf("Check with the recorded bundle missing = %v, want NotFound", err)
	}

	// Likewise for a verification never built whose digest is recorded.
	other := id.New("ver")
	digests[other] = m1.Digest
	if _, err := svc.Get(ctx, in.InsurerID, other); !errs.Is(err, errs.NotFound) {
		t.Fatalf("Get of a verification never built: %v", err)
	}
}

func TestBuildReadsLegacyEvidenceKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := newFS(t)
	signer, _ := GenerateSigner()
	digests := recorded{}
	svc := New(st, signer, digests, discard())
	in := fixture(t)
	// The answer of the third check was stored as a blob by the earlier
	// pipeline; the second has both, and Evidence wins.
	legacy := randomBytes(300)
	in.Checks[2].EvidenceKey = Folder(in.InsurerID, in.VerificationID) + "/" + in.Checks[2].ID + ".bin"
	put(t, st, in.Checks[2].EvidenceKey, legacy)
	in.Checks[1].EvidenceKey = Folder(in.InsurerID, in.VerificationID) + "/" + in.Checks[1].ID + ".bin"
	put(t, st, in.Checks[1].EvidenceKey, randomBytes(10))

	m, err := svc.Build(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	digests[in.VerificationID] = m.Digest
	if len(m.Items()) != 3 {
		t.Fatalf("items: %+v", m.Items())
	}
	bundle := readAll(t, st, BundleKeyOf(in.InsurerID, in.VerificationID, m.Digest))
	for _, c := range in.Checks {
		want := c.Evidence
		if want == nil {
			want = legacy
		}
		if !bytes.Equal(entryBody(t, bundle, EntryName(c.ID)), want) {
			t.Fatalf("entry of %s does not hold its answer", c.ID)
		}
		i := slices.IndexFunc(m.Checks, func(ci CheckItem) bool { return ci.CheckID == c.ID })
		if it := m.Checks[i].Evidence; it.Key != EntryName(c.ID) || it.SHA256 != digest(want) || it.Size != int64(len(want)) {
			t.Fatalf("item of %s: %+v", c.ID, it)
		}
	}
	if _, err := VerifyBundle(bundle, signer.PublicKey()); err != nil {
		t.Fatal(err)
	}
	if err := svc.Check(ctx, in.InsurerID, in.VerificationID); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyBundleDetectsTampering(t *testing.T) {
	t.Parallel()
	st := newFS(t)
	signer, _ := GenerateSigner()
	other, _ := GenerateSigner()
	in := fixture(t)
	m, err := New(st, signer, recorded{}, discard()).Build(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	bundle := readAll(t, st, BundleKeyOf(in.InsurerID, in.VerificationID, m.Digest))
	base := untar(t, bundle)
	if len(base) != 4 {
		t.Fatalf("entries: %d", len(base))
	}
	body, sig := base[0].body, base[1].body
	a0, a1 := m.Items()[0].Key, m.Items()[1].Key

	// edit runs f on a copy of the entries and archives the result.
	edit := func(f func([]tarEntry) []tarEntry) []byte {
		c := make([]tarEntry, len(base))
		for i, e := range base {
			c[i] = tarEntry{hdr: e.hdr, body: bytes.Clone(e.body)}
		}
		return retar(t, f(c))
	}
	at := func(es []tarEntry, name string) int {
		i := slices.IndexFunc(es, func(e tarEntry) bool { return e.hdr.Name == name })
		if i < 0 {
			t.Fatalf("no entry %s", name)
		}
		return i
	}
	setBody := func(name string, b []byte) func([]tarEntry) []tarEntry {
		return func(es []tarEntry) []tarEntry { es[at(es, name)].body = b; return es }
	}
	without := func(name string) func([]tarEntry) []tarEntry {
		return func(es []tarEntry) []tarEntry { return slices.Delete(es, at(es, name), at(es, name)+1) }
	}
	with := func(e tarEntry) func([]tarEntry) []tarEntry {
		return func(es []tarEntry) []tarEntry { return append(es, e) }
	}
	reg := func(name string, b []byte) tarEntry {
		return tarEntry{hdr: tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, ModTime: m.SignedAt}, body: b}
	}
	flip := func(b []byte, i int) []byte { c := bytes.Clone(b); c[i] ^= 1; return c }
	answer := func(name string) []byte { return base[at(base, name)].body }

	// resign forges a manifest signed with the right key, to reach the
	// checks behind the signature.
	resign := func(f func(*Manifest)) []byte {
		var mm Manifest
		if err := json.Unmarshal(body, &mm); err != nil {
			t.Fatal(err)
		}
		f(&mm)
		b, err := encode(mm)
		if err != nil {
			t.Fatal(err)
		}
		return edit(func(es []tarEntry) []tarEntry {
			es[0].body, es[1].body = b, signer.sign(b)
			return es
		})
	}

	// oversized claims an entry larger than MaxItemSize (the archive is
	// cut short: only its header matters).
	var oversized bytes.Buffer
	tw := tar.NewWriter(&oversized)
	for _, e := range base {
		if err := tw.WriteHeader(&e.hdr); err != nil {
			t.Fatal(err)
		}
		tw.Write(e.body)
	}
	tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: EntryName(id.New("chk")), Mode: 0o644, Size: MaxItemSize + 1})
	tw.Write(make([]byte, 4096))

	for _, tc := range []struct {
		name   string
		bundle []byte
		pub    []byte
		want   error
	}{
		{name: "intact", bundle: bundle},
		{name: "intact rearchived", bundle: edit(func(es []tarEntry) []tarEntry { return es })},
		{name: "answer byte flipped", bundle: edit(setBody(a0, flip(answer(a0), 10))), want: ErrTampered},
		{name: "answer truncated", bundle: edit(setBody(a1, answer(a1)[:len(answer(a1))-1])), want: ErrTampered},
		{name: "answer extended", bundle: edit(setBody(a1, append(bytes.Clone(answer(a1)), 0))), want: ErrTampered},
		{name: "answers swapped", bundle: edit(func(es []tarEntry) []tarEntry {
			i, j := at(es, a0), at(es, a1)
			es[i].body, es[j].body = es[j].body, es[i].body
			return es
		}), want: ErrTampered},
		{name: "answer removed", bundle: edit(without(a0)), want: ErrMissing},
		{name: "unlisted answer added", bundle: edit(with(reg(EntryName(in.Checks[2].ID), []byte("x")))), want: ErrTampered},
		{name: "unlisted answer of another check", bundle: edit(with(reg(EntryName(id.New("chk")), []byte("x")))), want: ErrTampered},
		{name: "unexpected file", bundle: edit(with(reg("notes.txt", []byte("x")))), want: ErrTampered},
		{name: "file outside checks", bundle: edit(with(reg("checks/sub/x.bin", []byte("x")))), want: ErrTampered},
		{name: "answer duplicated", bundle: edit(with(reg(a0, answer(a0)))), want: ErrTampered},
		{name: "answer duplicated with other bytes", bundle: edit(with(reg(a0, flip(answer(a0), 0)))), want: ErrTampered},
		{name: "manifest duplicated", bundle: edit(with(reg(ManifestName, body))), want: ErrTampered},
		{name: "manifest removed", bundle: edit(without(ManifestName)), want: ErrMissing},
		{name: "signature removed", bundle: edit(without(SignatureName)), want: ErrMissing},
		{name: "points changed in manifest", bundle: edit(setBody(ManifestName, bytes.Replace(body, []byte(`"points":40`), []byte(`"points":4`), 1))), want: ErrSignature},
		{name: "decision changed in manifest", bundle: edit(setBody(ManifestName, bytes.Replace(body, []byte(`"REVIEW"`), []byte(`"CLEAR"`), 1))), want: ErrSignature},
		{name: "whitespace added to manifest", bundle: edit(setBody(ManifestName, append(bytes.Clone(body), ' '))), want: ErrSignature},
		{name: "signature flipped", bundle: edit(setBody(SignatureName, flip(sig, 5))), want: ErrSignature},
		{name: "signature truncated", bundle: edit(setBody(SignatureName, sig[:63])), want: ErrSignature},
		{name: "signature by another key", bundle: edit(setBody(SignatureName, other.sign(body))), want: ErrSignature},
		{name: "other public key", bundle: bundle, pub: other.PublicKey(), want: ErrSignature},
		{name: "directory entry", bundle: edit(with(tarEntry{hdr: tar.Header{Typeflag: tar.TypeDir, Name: "checks/", Mode: 0o755}})), want: ErrTampered},
		{name: "answer replaced by a symlink", bundle: edit(func(es []tarEntry) []tarEntry {
			es[at(es, a0)] = tarEntry{hdr: tar.Header{Typeflag: tar.TypeSymlink, Name: a0, Linkname: a1}}
			return es
		}), want: ErrTampered},
		{name: "hard link", bundle: edit(with(tarEntry{hdr: tar.Header{Typeflag: tar.TypeLink, Name: "checks/x.bin", Linkname: a1}})), want: ErrTampered},
		{name: "oversized entry", bundle: oversized.Bytes(), want: ErrTampered},
		{name: "oversized bundle", bundle: append(bytes.Clone(bundle), make([]byte, MaxItemSize)...), want: ErrTampered},
		{name: "data after the archive", bundle: append(bytes.Clone(bundle), "trailer"...), want: ErrTampered},
		{name: "archive cut short", bundle: bundle[:len(bundle)-1500], want: ErrTampered},
		{name: "not an archive", bundle: []byte("{}"), want: ErrTampered},
		{name: "item key points at another entry", bundle: resign(func(mm *Manifest) { mm.Checks[0].Evidence.Key = mm.Checks[1].Evidence.Key }), want: ErrTampered},
		{name: "item key in the v1 folder", bundle: resign(func(mm *Manifest) {
			mm.Checks[0].Evidence.Key = Folder(in.InsurerID, in.VerificationID) + "/" + mm.Checks[0].CheckID + ".bin"
		}), want: ErrTampered},
		{name: "item key is the signature", bundle: resign(func(mm *Manifest) { mm.Checks[0].Evidence.Key = SignatureName }), want: ErrTampered},
		{name: "item of an unanswered check dropped", bundle: resign(func(mm *Manifest) { mm.Checks[0].Evidence = nil }), want: ErrTampered},
		{name: "check listed twice", bundle: resign(func(mm *Manifest) { mm.Checks = append(mm.Checks, mm.Checks[0]) }), want: ErrTampered},
		{name: "unknown format", bundle: resign(func(mm *Manifest) { mm.Format = "borderproof-evidence/v0" }), want: ErrTampered},
		{name: "v1 format in a bundle", bundle: resign(func(mm *Manifest) { mm.Format = FormatV1 }), want: ErrTampered},
		{name: "malformed digest", bundle: resign(func(mm *Manifest) { mm.Checks[0].Evidence.SHA256 = "zz" }), want: ErrTampered},
		{name: "other key id", bundle: resign(func(mm *Manifest) { mm.KeyID = other.KeyID() }), want: ErrSignature},
		{name: "unknown field", bundle: func() []byte {
			b := bytes.Replace(body, []byte(`{"format"`), []byte(`{"extra":1,"format"`), 1)
			return edit(func(es []tarEntry) []tarEntry { es[0].body, es[1].body = b, signer.sign(b); return es })
		}(), want: ErrTampered},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pub := signer.PublicKey()
			if tc.pub != nil {
				pub = tc.pub
			}
			got, err := VerifyBundle(tc.bundle, pub)
			if tc.want == nil {
				if err != nil || got.Digest != m.Digest || got.VerificationID != in.VerificationID {
					t.Fatalf("VerifyBundle: %v", err)
				}
				return
			}
			if !errors.Is(err, tc.want) || !errs.Is(err, errs.FailedPrecondition) {
				t.Fatalf("VerifyBundle = %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := VerifyBundle(bundle, signer.PublicKey()[:31]); !errs.Is(err, errs.Invalid) {
		t.Fatalf("short public key: %v", err)
	}
}

func TestBuildIsDeterministic(t *testing.T) {
	t.Parallel()
	st := newFS(t)
	signer, _ := GenerateSigner()
	svc := New(st, signer, recorded{}, discard())
	in := fixture(t)
	m1, err := svc.Build(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	key := BundleKeyOf(in.InsurerID, in.VerificationID, m1.Digest)
	b1 := readAll(t, st, key)
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
	if m1.Digest != m2.Digest || !bytes.Equal(b1, readAll(t, st, key)) {
		t.Fatal("the same bundle built twice differs")
	}
	if in.Checks[0].Type != "DOCUMENT_REGISTRY" {
		t.Fatal("Build reordered the caller's checks")
	}

	// The layout: manifest, signature, answers in check id order, all
	// plain files stamped with the signing time and no owner.
	want := []string{ManifestName, SignatureName}
	for _, it := range m1.Items() {
		want = append(want, it.Key)
	}
	var names []string
	for _, e := range untar(t, b1) {
		h := e.hdr
		names = append(names, h.Name)
		if h.Typeflag != tar.TypeReg || h.Mode != 0o644 || h.Uid != 0 || h.Gid != 0 || h.Uname != "" || h.Gname != "" ||
			!h.ModTime.Equal(in.SignedAt) || h.Format != tar.FormatUSTAR || h.Size != int64(len(e.body)) {
			t.Errorf("entry header: %+v", h)
		}
	}
	if !slices.Equal(names, want) || !slices.IsSorted(want[2:]) {
		t.Fatalf("entries %q, want %q", names, want)
	}
	if ct := BundleContentType; ct != "application/x-tar" {
		t.Fatal(ct)
	}
}

// TestBundleWithLongCheckID: an id too long for a USTAR name still gives a
// deterministic, verifiable bundle.
func TestBundleWithLongCheckID(t *testing.T) {
	t.Parallel()
	st := newFS(t)
	signer, _ := GenerateSigner()
	digests := recorded{}
	svc := New(st, signer, digests, discard())
	in := fixture(t)
	in.Checks[0].ID = "c" + strings.Repeat("x", 99)
	in.Reasons[0].CheckID = in.Checks[0].ID
	m1, err := svc.Build(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	digests[in.VerificationID] = m1.Digest
	b1 := readAll(t, st, BundleKeyOf(in.InsurerID, in.VerificationID, m1.Digest))
	m2, err := svc.Build(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	if m2.Digest != m1.Digest || !bytes.Equal(b1, readAll(t, st, BundleKeyOf(in.InsurerID, in.VerificationID, m2.Digest))) {
		t.Fatal("bundle differs")
	}
	if !bytes.Equal(entryBody(t, b1, EntryName(in.Checks[0].ID)), in.Checks[0].Evidence) {
		t.Fatal("long entry name lost")
	}
	if err := svc.Check(context.Background(), in.InsurerID, in.VerificationID); err != nil {
		t.Fatal(err)
	}
}

// TestBundleChecksWithStandardTools runs the commands of the package doc.
func TestBundleChecksWithStandardTools(t *testing.T) {
	t.Parallel()
	for _, tool := range []string{"tar", "openssl", "sha256sum"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed", tool)
		}
	}
	st := newFS(t)
	signer, _ := GenerateSigner()
	in := fixture(t)
	m, err := New(st, signer, recorded{}, discard()).Build(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	tarball := filepath.Join(dir, in.VerificationID+".tar")
	if err := os.WriteFile(tarball, readAll(t, st, BundleKeyOf(in.InsurerID, in.VerificationID, m.Digest)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "evidence.pub"), signer.PublicKeyPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(name string, args ...string) string {
		t.Helper()
		cmd := exec.Command(name, args...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %q: %v\n%s", name, args, err, out)
		}
		return string(out)
	}
	run("tar", "-xf", tarball)
	if out := run("openssl", "pkeyutl", "-verify", "-pubin", "-inkey", "evidence.pub", "-rawin",
		"-in", "manifest.json", "-sigfile", "manifest.sig"); !strings.Contains(out, "Verified Successfully") {
		t.Fatalf("openssl: %s", out)
	}
	sums := run("sh", "-c", "sha256sum checks/*.bin")
	for _, it := range m.Items() {
		if !strings.Contains(sums, it.SHA256+"  "+it.Key) {
			t.Fatalf("sha256sum: %s", sums)
		}
	}
}

func TestBuildRefuses(t *testing.T) {
	t.Parallel()
	st, root := newFSRoot(t)
	signer, _ := GenerateSigner()
	svc := New(st, signer, recorded{}, discard())
	base := fixture(t)
	for _, tc := range []struct {
		name string
		edit func(*BundleInput)
		kind errs.Kind
	}{
		{"no insurer", func(in *BundleInput) { in.InsurerID = "" }, errs.Invalid},
		{"path in id", func(in *BundleInput) { in.VerificationID = "../x" }, errs.Invalid},
		{"path in check id", func(in *BundleInput) { in.Checks[0].ID = "../x" }, errs.Invalid},
		{"key of another verification", func(in *BundleInput) {
			in.Checks[2].EvidenceKey = Folder(in.InsurerID, id.New("ver")) + "/a.bin"
		}, errs.Invalid},
		{"key is the manifest", func(in *BundleInput) { in.Checks[2].EvidenceKey = ManifestKey(in.InsurerID, in.VerificationID) }, errs.Invalid},
		{"check twice", func(in *BundleInput) { in.Checks[1].ID = in.Checks[0].ID }, errs.Invalid},
		{"missing legacy evidence", func(in *BundleInput) {
			in.Checks[2].EvidenceKey = Folder(in.InsurerID, in.VerificationID) + "/" + in.Checks[2].ID + ".bin"
		}, errs.FailedPrecondition},
		{"evidence too large", func(in *BundleInput) { in.Checks[2].Evidence = make([]byte, MaxItemSize+1) }, errs.FailedPrecondition},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := base
			in.Checks = slices.Clone(base.Checks)
			in.Reasons = slices.Clone(base.Reasons)
			tc.edit(&in)
			if _, err := svc.Build(context.Background(), in); !errs.Is(err, tc.kind) {
				t.Fatalf("Build = %v, want %v", err, tc.kind)
			}
			// No case stores anything, so any file is what a refused
			// Build wrote (under whatever key).
			if files := storedFiles(t, root); len(files) != 0 {
				t.Fatalf("a refused Build wrote %q", files)
			}
		})
	}
}

// writeV1 stores a bundle in the layout written before v2: the answers as
// blobs in the verification's folder, then manifest.json and manifest.sig
// beside them. It returns the manifest and its bytes and signature.
func writeV1(t *testing.T, st Blobs, signer *Signer, in BundleInput) (Manifest, []byte, []byte) {
	t.Helper()
	m, checks := in.manifest()
	m.Format, m.KeyID = FormatV1, signer.KeyID()
	for i, c := range checks {
		if len(c.Evidence) == 0 {
			continue
		}
		key := Folder(in.InsurerID, in.VerificationID) + "/" + c.ID + ".bin"
		put(t, st, key, c.Evidence)
		m.Checks[i].Evidence = &Item{Key: key, SHA256: digest(c.Evidence), Size: int64(len(c.Evidence))}
	}
	body, err := encode(m)
	if err != nil {
		t.Fatal(err)
	}
	sig := signer.sign(body)
	put(t, st, SignatureKey(in.InsurerID, in.VerificationID), sig)
	put(t, st, ManifestKey(in.InsurerID, in.VerificationID), body)
	m.Digest = digest(body)
	return m, body, sig
}

func TestReadsV1Bundles(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := newFS(t)
	signer, _ := GenerateSigner()
	digests := recorded{}
	svc := New(st, signer, digests, discard())
	in := fixture(t)
	m, body, sig := writeV1(t, st, signer, in)

	got, err := svc.Get(ctx, in.InsurerID, in.VerificationID)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if got.Format != FormatV1 || got.Digest != m.Digest || got.Decision != "REVIEW" || len(got.Items()) != 2 ||
		!strings.HasPrefix(got.Items()[0].Key, Folder(in.InsurerID, in.VerificationID)+"/") {
		t.Fatalf("Get: %+v", got)
	}
	if err := svc.Check(ctx, in.InsurerID, in.VerificationID); err != nil {
		t.Fatalf("Check: %v", err)
	}
	if err := Verify(body, sig, signer.PublicKey(), fetcher(st)); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	u, err := svc.SignedURL(ctx, in.InsurerID, in.VerificationID, time.Hour)
	if err != nil || !strings.Contains(u, ManifestKey(in.InsurerID, in.VerificationID)) {
		t.Fatalf("SignedURL: %q %v", u, err)
	}
	linksTo(t, svc, in, ManifestKey(in.InsurerID, in.VerificationID))
	u, err = svc.SignatureURL(ctx, in.InsurerID, in.VerificationID, time.Hour)
	if err != nil || !strings.Contains(u, SignatureKey(in.InsurerID, in.VerificationID)) {
		t.Fatalf("SignatureURL: %q %v", u, err)
	}
	// A v1 manifest is not accepted as a bundle's, nor a v2 one by Verify.
	if _, err := VerifyBundle(retar(t, []tarEntry{
		{hdr: tar.Header{Typeflag: tar.TypeReg, Name: ManifestName, Mode: 0o644}, body: body},
		{hdr: tar.Header{Typeflag: tar.TypeReg, Name: SignatureName, Mode: 0o644}, body: sig},
	}), signer.PublicKey()); !errors.Is(err, ErrTampered) {
		t.Fatalf("VerifyBundle of a v1 manifest: %v", err)
	}

	// A v1 manifest copied under another verification is refused.
	other := id.New("ver")
	put(t, st, ManifestKey(in.InsurerID, other), body)
	put(t, st, SignatureKey(in.InsurerID, other), sig)
	if err := svc.Check(ctx, in.InsurerID, other); !errors.Is(err, ErrTampered) {
		t.Fatalf("Check of a copied v1 manifest: %v", err)
	}
	if _, err := svc.Get(ctx, in.InsurerID, other); !errors.Is(err, ErrTampered) {
		t.Fatalf("Get of a copied v1 manifest: %v", err)
	}

	// Tampering with a v1 answer is still found by Check.
	item := m.Items()[1]
	put(t, st, item.Key, randomBytes(int(item.Size)))
	if err := svc.Check(ctx, in.InsurerID, in.VerificationID); !errors.Is(err, ErrTampered) || !errs.Is(err, errs.FailedPrecondition) {
		t.Fatalf("Check after tampering: %v", err)
	}
	// And so is a broken signature, by Get.
	put(t, st, SignatureKey(in.InsurerID, in.VerificationID), bytes.Repeat([]byte{1}, 64))
	if _, err := svc.Get(ctx, in.InsurerID, in.VerificationID); !errors.Is(err, ErrSignature) {
		t.Fatalf("Get with a bad signature: %v", err)
	}

	// Once a v2 bundle is built for the verification and its digest
	// recorded, it is the one read; until the digest is recorded, the v1
	// folder still is.
	m2, err := svc.Build(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Get(ctx, in.InsurerID, in.VerificationID); !errors.Is(err, ErrSignature) {
		t.Fatalf("Get after Build, before its digest is recorded: %v", err)
	}
	digests[in.VerificationID] = m2.Digest
	if got, err := svc.Get(ctx, in.InsurerID, in.VerificationID); err != nil || got.Format != Format || got.Digest != m2.Digest {
		t.Fatalf("Get after Build: %+v %v", got, err)
	}
	u, err = svc.SignedURL(ctx, in.InsurerID, in.VerificationID, time.Hour)
	if err != nil || !strings.Contains(u, BundleKeyOf(in.InsurerID, in.VerificationID, m2.Digest)) {
		t.Fatalf("SignedURL after Build: %q %v", u, err)
	}
}

// TestVerifyDetectsTampering covers Verify, the v1 layout's verifier.
func TestVerifyDetectsTampering(t *testing.T) {
	t.Parallel()
	st := newFS(t)
	signer, _ := GenerateSigner()
	other, _ := GenerateSigner()
	in := fixture(t)
	m, body, sig := writeV1(t, st, signer, in)
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
		{"item named as in a bundle", func(m *Manifest) { m.Checks[0].Evidence.Key = EntryName(m.Checks[0].CheckID) }},
		{"unknown format", func(m *Manifest) { m.Format = "borderproof-evidence/v0" }},
		{"v2 format", func(m *Manifest) { m.Format = Format }},
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

// TestManifestFieldsCarryNoPersonalData pins the manifest's field names: a
// new field must be added here on purpose, after checking it is not
// personal data.
func TestManifestFieldsCarryNoPersonalData(t *testing.T) {
	t.Parallel()
	st := newFS(t)
	signer, _ := GenerateSigner()
	in := fixture(t)
	in.HardRule, in.Provisional = "STOLEN_DOCUMENT", true
	m, err := New(st, signer, recorded{}, discard()).Build(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	bundle := readAll(t, st, BundleKeyOf(in.InsurerID, in.VerificationID, m.Digest))
	var doc map[string]any
	if err := json.Unmarshal(entryBody(t, bundle, ManifestName), &doc); err != nil {
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
	// Entry names are built from ids only.
	for _, e := range untar(t, bundle) {
		if e.hdr.Name != ManifestName && e.hdr.Name != SignatureName && !validEntryName(e.hdr.Name) {
			t.Errorf("entry %q", e.hdr.Name)
		}
	}
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

// The published key checks what the service signs, and names itself as
// the manifests do.
func TestPublicKeyHandler(t *testing.T) {
	st := newFS(t)
	signer, err := GenerateSigner()
	if err != nil {
		t.Fatal(err)
	}
	svc := New(st, signer, recorded{}, discard())
	in := fixture(t)
	m, err := svc.Build(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	svc.PublicKeyHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/evidence/public-key.pem", nil))
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/x-pem-file" || rec.Header().Get("X-Evidence-Key-Id") != m.KeyID {
		t.Fatalf("answer %d %v", rec.Code, rec.Header())
	}
	block, _ := pem.Decode(rec.Body.Bytes())
	if block == nil || block.Type != "PUBLIC KEY" {
		t.Fatalf("not a PEM public key: %q", rec.Body.String())
	}
	key, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	pub, ok := key.(ed25519.PublicKey)
	if !ok {
		t.Fatalf("key is %T", key)
	}
	if _, err := VerifyBundle(readAll(t, st, BundleKeyOf(in.InsurerID, in.VerificationID, m.Digest)), pub); err != nil {
		t.Fatalf("the published key does not check the bundle: %v", err)
	}
}
