package blob

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/borderproof/borderproof/internal/errs"
)

var testSigningKey = []byte("0123456789abcdef0123456789abcdef")

func newTestFS(t *testing.T) (*FS, string) {
	t.Helper()
	root := filepath.Join(t.TempDir(), "blobs")
	f, err := NewFS(FSConfig{Root: root, BaseURL: "http://blobs.test/", SigningKey: testSigningKey}, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f, root
}

func TestFSContract(t *testing.T) {
	t.Parallel()
	f, _ := newTestFS(t)
	testStore(t, f)
}

func TestFSConfigValidate(t *testing.T) {
	t.Parallel()
	ok := FSConfig{Root: "/tmp/x", BaseURL: "https://api.example.com", SigningKey: testSigningKey}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mut := range map[string]func(*FSConfig){
		"no root":      func(c *FSConfig) { c.Root = "" },
		"relative url": func(c *FSConfig) { c.BaseURL = "/blobs" },
		"ftp url":      func(c *FSConfig) { c.BaseURL = "ftp://x" },
		"query in url": func(c *FSConfig) { c.BaseURL = "http://x/?a=b" },
		"short key":    func(c *FSConfig) { c.SigningKey = []byte("short") },
	} {
		c := ok
		mut(&c)
		if err := c.Validate(); errs.KindOf(err) != errs.Invalid {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestFSLayoutAndAtomicWrite(t *testing.T) {
	t.Parallel()
	f, root := newTestFS(t)
	ctx := context.Background()
	key := "evidence/ins_1/ver_1/chk_1.json"
	if err := f.Put(ctx, key, strings.NewReader(`{"ok":true}`), 11, "application/json"); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(root, "data", filepath.FromSlash(key)))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("blob file: %v, %v", st, err)
	}
	// A failed replacement leaves the previous blob whole and no temporary
	// file behind.
	if err := f.Put(ctx, key, io.MultiReader(strings.NewReader("partial"), iotestErrReader{}), 100, "application/json"); err == nil {
		t.Fatal("failing body stored")
	}
	rc, err := f.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if string(got) != `{"ok":true}` {
		t.Fatalf("previous blob damaged: %q", got)
	}
	entries, _ := os.ReadDir(filepath.Join(root, "data", "evidence", "ins_1", "ver_1"))
	if len(entries) != 1 {
		t.Fatalf("leftover files: %v", entries)
	}
	// A cancelled context stops the write.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := f.Put(cctx, key, strings.NewReader("x"), 1, ""); errs.KindOf(err) != errs.Unavailable {
		t.Fatalf("cancelled Put: %v", err)
	}
	// A key below an existing blob conflicts; reading through it is NotFound.
	if err := f.Put(ctx, key+"/child", strings.NewReader("x"), 1, ""); errs.KindOf(err) != errs.Conflict {
		t.Fatalf("blob below a blob: %v", err)
	}
	if _, err := f.Get(ctx, key+"/child"); errs.KindOf(err) != errs.NotFound {
		t.Fatalf("Get below a blob: %v", err)
	}
	// A prefix is not a blob.
	if ok, err := f.Exists(ctx, "evidence/ins_1"); err != nil || ok {
		t.Fatalf("prefix exists: %v, %v", ok, err)
	}
	if err := f.Delete(ctx, "evidence/ins_1"); err != nil {
		t.Fatalf("Delete of a prefix: %v", err)
	}
	if ok, _ := f.Exists(ctx, key); !ok {
		t.Fatal("Delete of a prefix removed a blob")
	}
}

type iotestErrReader struct{}

func (iotestErrReader) Read([]byte) (int, error) { return 0, fmt.Errorf("disk on fire") }

func TestFSTraversalRefused(t *testing.T) {
	t.Parallel()
	f, root := newTestFS(t)
	ctx := context.Background()
	outside := filepath.Join(filepath.Dir(root), "outside.txt")
	os.WriteFile(outside, []byte("secret"), 0o600)
	for _, key := range []string{"../outside.txt", "../../outside.txt", "data/../../outside.txt", "a/../../../outside.txt"} {
		if _, err := f.Get(ctx, key); errs.KindOf(err) != errs.Invalid {
			t.Errorf("Get(%q): %v", key, err)
		}
		if err := f.Put(ctx, key, strings.NewReader("pwned"), 5, ""); errs.KindOf(err) != errs.Invalid {
			t.Errorf("Put(%q): %v", key, err)
		}
	}
	// A symbolic link planted inside the root does not lead out of it.
	os.MkdirAll(filepath.Join(root, "data", "evil"), 0o700)
	if err := os.Symlink(outside, filepath.Join(root, "data", "evil", "link")); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Get(ctx, "evil/link"); err == nil {
		t.Error("followed a symbolic link out of the root")
	}
	if err := os.Symlink(filepath.Dir(root), filepath.Join(root, "data", "up")); err != nil {
		t.Fatal(err)
	}
	if err := f.Put(ctx, "up/outside.txt", strings.NewReader("pwned"), 5, ""); err == nil {
		t.Error("wrote through a symbolic link out of the root")
	}
	if b, _ := os.ReadFile(outside); string(b) != "secret" {
		t.Fatalf("file outside the root changed: %q", b)
	}
	// The handler refuses them too, even correctly signed.
	srv := httptest.NewServer(f.Handler())
	defer srv.Close()
	for _, p := range []string{"/blobs/../outside.txt", "/blobs/%2e%2e/outside.txt", "/blobs/a%2F..%2F..%2Foutside.txt"} {
		exp := strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10)
		key := strings.TrimPrefix(p, "/blobs/")
		if k, err := url.PathUnescape(key); err == nil {
			key = k
		}
		resp, err := http.Get(srv.URL + p + "?exp=" + exp + "&sig=" + f.sign(key, exp))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK || bytes.Contains(body, []byte("secret")) {
			t.Errorf("GET %s: %d %q", p, resp.StatusCode, body)
		}
	}
}

// serve rewrites a signed URL onto the test server and GETs it.
func serve(t *testing.T, srv *httptest.Server, signed string, method string, hdr http.Header) (*http.Response, []byte) {
	t.Helper()
	u, err := url.Parse(signed)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(method, srv.URL+u.RequestURI(), nil)
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, body
}

func TestFSSignedURL(t *testing.T) {
	t.Parallel()
	f, _ := newTestFS(t)
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	now := start
	var mu sync.Mutex
	f.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	setNow := func(t time.Time) { mu.Lock(); now = t; mu.Unlock() }

	ctx := context.Background()
	key := "exports/ins_1/usage-2026-02.csv"
	body := []byte("meter,quantity\nverification,42\n")
	if err := f.Put(ctx, key, bytes.NewReader(body), int64(len(body)), "text/csv; charset=utf-8"); err != nil {
		t.Fatal(err)
	}
	signed, err := f.SignedURL(ctx, key, 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(signed)
	if u.Scheme != "http" || u.Host != "blobs.test" || u.Path != "/blobs/"+key ||
		u.Query().Get("exp") != strconv.FormatInt(now.Add(10*time.Minute).Unix(), 10) || u.Query().Get("sig") == "" {
		t.Fatalf("signed URL %s", signed)
	}

	mux := http.NewServeMux()
	mux.Handle(MountPath, f.Handler())
	srv := httptest.NewServer(mux)
	defer srv.Close()

	resp, got := serve(t, srv, signed, http.MethodGet, nil)
	if resp.StatusCode != http.StatusOK || !bytes.Equal(got, body) {
		t.Fatalf("GET: %d %q", resp.StatusCode, got)
	}
	for k, want := range map[string]string{
		"Content-Type":           "text/csv; charset=utf-8",
		"Content-Disposition":    `attachment; filename=usage-2026-02.csv`,
		"Cache-Control":          "private, no-store",
		"X-Content-Type-Options": "nosniff",
	} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	resp, got = serve(t, srv, signed, http.MethodGet, http.Header{"Range": {"bytes=0-4"}})
	if resp.StatusCode != http.StatusPartialContent || string(got) != "meter" {
		t.Fatalf("range: %d %q", resp.StatusCode, got)
	}
	resp, got = serve(t, srv, signed, http.MethodHead, nil)
	if resp.StatusCode != http.StatusOK || len(got) != 0 || resp.ContentLength != int64(len(body)) {
		t.Fatalf("HEAD: %d %d", resp.StatusCode, resp.ContentLength)
	}
	if resp, _ := serve(t, srv, signed, http.MethodPost, nil); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("POST: %d", resp.StatusCode)
	}

	q := u.Query()
	tampered := func(mut func(path string, q url.Values) string) string {
		qq := url.Values{}
		for k, v := range q {
			qq[k] = append([]string(nil), v...)
		}
		p := mut(u.Path, qq)
		return "http://blobs.test" + p + "?" + qq.Encode()
	}
	sig := q.Get("sig")
	flipped := []byte(sig)
	if flipped[3] == 'A' {
		flipped[3] = 'B'
	} else {
		flipped[3] = 'A'
	}
	otherKey := "exports/ins_2/usage-2026-02.csv"
	f.Put(ctx, otherKey, strings.NewReader("other insurer"), 13, "text/csv")
	cases := []struct {
		name string
		url  string
		want int
	}{
		{"altered signature", tampered(func(p string, q url.Values) string { q.Set("sig", string(flipped)); return p }), http.StatusForbidden},
		{"no signature", tampered(func(p string, q url.Values) string { q.Del("sig"); return p }), http.StatusForbidden},
		{"later expiry", tampered(func(p string, q url.Values) string {
			q.Set("exp", strconv.FormatInt(now.Add(time.Hour).Unix(), 10))
			return p
		}), http.StatusForbidden},
		{"expiry with a leading zero", tampered(func(p string, q url.Values) string { q.Set("exp", "0"+q.Get("exp")); return p }), http.StatusForbidden},
		{"no expiry", tampered(func(p string, q url.Values) string { q.Del("exp"); return p }), http.StatusForbidden},
		{"other key", tampered(func(p string, q url.Values) string { return "/blobs/" + otherKey }), http.StatusForbidden},
		{"signature of another key", tampered(func(p string, q url.Values) string {
			q.Set("sig", f.sign(otherKey, q.Get("exp")))
			return p
		}), http.StatusForbidden},
	}
	for _, tc := range cases {
		resp, got := serve(t, srv, tc.url, http.MethodGet, nil)
		if resp.StatusCode != tc.want || bytes.Contains(got, body) || bytes.Contains(got, []byte("other insurer")) {
			t.Errorf("%s: %d %q", tc.name, resp.StatusCode, got)
		}
	}
	// Another signing key does not verify.
	f2, _ := newTestFS(t)
	f2.key = []byte("another signing key of 32 bytes!")
	if s2, _ := f2.SignedURL(ctx, key, time.Minute); s2 != "" {
		if resp, _ := serve(t, srv, s2, http.MethodGet, nil); resp.StatusCode != http.StatusForbidden {
			t.Errorf("foreign key: %d", resp.StatusCode)
		}
	}

	// Valid up to the expiry second, refused after.
	setNow(start.Add(10 * time.Minute))
	if resp, _ := serve(t, srv, signed, http.MethodGet, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("at expiry: %d", resp.StatusCode)
	}
	setNow(start.Add(10*time.Minute + time.Second))
	if resp, got := serve(t, srv, signed, http.MethodGet, nil); resp.StatusCode != http.StatusForbidden || !strings.Contains(string(got), "expired") {
		t.Fatalf("after expiry: %d %q", resp.StatusCode, got)
	}

	// A signed URL for a deleted blob answers 404.
	setNow(start)
	f.Delete(ctx, key)
	if resp, _ := serve(t, srv, signed, http.MethodGet, nil); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("deleted blob: %d", resp.StatusCode)
	}
}

func TestFSConcurrentPuts(t *testing.T) {
	t.Parallel()
	f, _ := newTestFS(t)
	ctx := context.Background()
	key := "evidence/ins_1/ver_1/chk_1.bin"
	bodies := make([][]byte, 8)
	for i := range bodies {
		bodies[i] = bytes.Repeat([]byte{byte('a' + i)}, 64<<10)
	}
	var wg sync.WaitGroup
	for i := range bodies {
		wg.Go(func() {
			if err := f.Put(ctx, key, bytes.NewReader(bodies[i]), int64(len(bodies[i])), ""); err != nil {
				t.Error(err)
			}
		})
		wg.Go(func() {
			rc, err := f.Get(ctx, key)
			if errs.KindOf(err) == errs.NotFound {
				return
			}
			if err != nil {
				t.Error(err)
				return
			}
			got, _ := io.ReadAll(rc)
			rc.Close()
			if len(got) != 64<<10 || bytes.Count(got, got[:1]) != len(got) {
				t.Errorf("read a torn blob of %d bytes", len(got))
			}
		})
	}
	wg.Wait()
}

func TestFSNoSyncStillStores(t *testing.T) {
	fs, err := NewFS(FSConfig{Root: t.TempDir(), BaseURL: "http://localhost", SigningKey: []byte("0123456789abcdef0123456789abcdef"), NoSync: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	ctx := context.Background()
	if err := fs.Put(ctx, "evidence/a/b.bin", strings.NewReader("sealed"), 6, "application/octet-stream"); err != nil {
		t.Fatal(err)
	}
	rc, err := fs.Get(ctx, "evidence/a/b.bin")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, _ := io.ReadAll(rc)
	if string(b) != "sealed" {
		t.Fatalf("read %q", b)
	}
}

// A blob rewritten with the default content type loses the type it had,
// and a directory removed behind the store's back is made again.
func TestFSContentTypeReplacedAndDirsRecreated(t *testing.T) {
	t.Parallel()
	f, root := newTestFS(t)
	ctx := context.Background()
	key := "evidence/ins_1/ver_1/chk_1.bin"
	mux := http.NewServeMux()
	mux.Handle(MountPath, f.Handler())
	srv := httptest.NewServer(mux)
	defer srv.Close()
	contentType := func() string {
		t.Helper()
		signed, err := f.SignedURL(ctx, key, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		resp, _ := serve(t, srv, signed, http.MethodGet, nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET: %d", resp.StatusCode)
		}
		return resp.Header.Get("Content-Type")
	}
	if err := f.Put(ctx, key, strings.NewReader("{}"), 2, "application/json"); err != nil {
		t.Fatal(err)
	}
	if got := contentType(); got != "application/json" {
		t.Fatalf("typed blob served as %q", got)
	}
	if err := f.Put(ctx, key, strings.NewReader("raw"), 3, ""); err != nil {
		t.Fatal(err)
	}
	if got := contentType(); got != "application/octet-stream" {
		t.Fatalf("rewritten blob served as %q, want the default", got)
	}
	if _, err := os.Stat(filepath.Join(root, "meta", filepath.FromSlash(key))); !os.IsNotExist(err) {
		t.Fatalf("a default-typed blob keeps a meta file: %v", err)
	}

	// A key's extension implies its type: a manifest needs no meta file
	// unless it is stored as something else.
	manifest := "evidence/ins_1/ver_1/manifest.json"
	served := func(k string) string {
		t.Helper()
		signed, err := f.SignedURL(ctx, k, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		resp, _ := serve(t, srv, signed, http.MethodGet, nil)
		return resp.Header.Get("Content-Type")
	}
	metaExists := func(k string) bool {
		_, err := os.Stat(filepath.Join(root, "meta", filepath.FromSlash(k)))
		return err == nil
	}
	if err := f.Put(ctx, manifest, strings.NewReader("{}"), 2, "application/json"); err != nil {
		t.Fatal(err)
	}
	if got := served(manifest); got != "application/json" || metaExists(manifest) {
		t.Fatalf("implied type: served %q, meta file %v", got, metaExists(manifest))
	}
	if err := f.Put(ctx, manifest, strings.NewReader("{}"), 2, "text/plain"); err != nil {
		t.Fatal(err)
	}
	if got := served(manifest); got != "text/plain" || !metaExists(manifest) {
		t.Fatalf("another type: served %q, meta file %v", got, metaExists(manifest))
	}
	if err := f.Put(ctx, manifest, strings.NewReader("{}"), 2, "application/json"); err != nil {
		t.Fatal(err)
	}
	if got := served(manifest); got != "application/json" || metaExists(manifest) {
		t.Fatalf("back to the implied type: served %q, meta file %v", got, metaExists(manifest))
	}
	// An evidence bundle is one file.
	bundle := "evidence/ins_1/ver_1.tar"
	if err := f.Put(ctx, bundle, strings.NewReader("tar"), 3, "application/x-tar"); err != nil {
		t.Fatal(err)
	}
	if got := served(bundle); got != "application/x-tar" || metaExists(bundle) {
		t.Fatalf("bundle: served %q, meta file %v", got, metaExists(bundle))
	}

	if err := os.RemoveAll(filepath.Join(root, "data", "evidence")); err != nil {
		t.Fatal(err)
	}
	if err := f.Put(ctx, key, strings.NewReader("again"), 5, ""); err != nil {
		t.Fatalf("Put after the directory was removed: %v", err)
	}
	rc, err := f.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if b, _ := io.ReadAll(rc); string(b) != "again" {
		t.Fatalf("read %q", b)
	}
}
