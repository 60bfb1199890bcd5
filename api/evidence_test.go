package api_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/borderproof/borderproof/internal/evidence"
	"github.com/borderproof/borderproof/internal/store/storetest"
	"github.com/borderproof/borderproof/internal/tenant"
)

// A verification's evidence field names its bundle: the manifest's digest,
// when and by which key it was signed, and a signed link that downloads
// the one tar object, which verifies under the service's key.
func TestEvidenceLinkDownloadsTheBundle(t *testing.T) {
	for _, d := range storetest.Backends {
		t.Run(string(d), func(t *testing.T) {
			f := newFullStack(t, d, fullOptions{})
			ins, keys := f.insurer(t, "Alpha Assurance", tenant.Test, tenant.Test)
			key := keys[tenant.Test]
			data := f.must(t, key, `mutation($in: SubmitVerificationInput!) { submitVerification(input: $in) { verification { id } } }`,
				map[string]any{"in": alphaSubmission("evidence-1")})
			vid := path(data, "submitVerification", "verification", "id").(string)

			q := `query($id: ID!) { verification(id: $id) { evidence { url digest signedAt keyId } } }`
			if got := path(f.must(t, key, q, map[string]any{"id": vid}), "verification", "evidence"); got != nil {
				t.Fatalf("evidence before any bundle: %v", got)
			}
			v, err := f.store.PipelineVerification(context.Background(), ins.ID, vid)
			if err != nil {
				t.Fatal(err)
			}
			in := evidence.FromVerification(&v, "")
			in.SignedAt = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
			m, err := f.evidence.Build(context.Background(), in)
			if err != nil {
				t.Fatal(err)
			}
			if err := f.store.RecordEvidence(context.Background(), ins.ID, vid, m.Digest); err != nil {
				t.Fatal(err)
			}

			ev := path(f.must(t, key, q, map[string]any{"id": vid}), "verification", "evidence").(map[string]any)
			if ev["digest"] != m.Digest || ev["keyId"] != m.KeyID || ev["signedAt"] != "2026-11-27T12:00:00Z" {
				t.Fatalf("evidence %v, manifest %s %s", ev, m.Digest, m.KeyID)
			}
			link, err := url.Parse(ev["url"].(string))
			if err != nil || !strings.HasSuffix(link.Path, "/"+evidence.BundleKeyOf(ins.ID, vid, m.Digest)) {
				t.Fatalf("link %v %v", ev["url"], err)
			}
			// The link is the blob store's, served by this server.
			resp, err := http.Get(f.srv.URL + link.RequestURI())
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != evidence.BundleContentType {
				t.Fatalf("download: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
			}
			got, err := evidence.VerifyBundle(body, f.evidence.PublicKey())
			if err != nil || got.Digest != m.Digest || got.VerificationID != vid {
				t.Fatalf("downloaded bundle: %+v %v", got, err)
			}
			// The link is signed: without its signature it is refused.
			resp2, err := http.Get(f.srv.URL + link.Path)
			if err != nil {
				t.Fatal(err)
			}
			resp2.Body.Close()
			if resp2.StatusCode == 200 {
				t.Fatal("an unsigned link downloads the bundle")
			}
		})
	}
}
