package api_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/borderproof/borderproof/internal/store"
)

// BenchmarkViewerVsPlainJSON measures one `viewer` request through the
// whole stack (middleware, key lookup in SQLite, Redis rate limit, GraphQL
// parse, validate and execute) against a plain net/http handler answering
// JSON, both over loopback HTTP in the same run. It reports the ratio.
func BenchmarkViewerVsPlainJSON(b *testing.B) {
	s := newStack(b, store.SQLite, 1_000_000, 1_000_000)
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req map[string]any
		_ = json.NewDecoder(r.Body).Decode(&req)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"data": map[string]any{"viewer": map[string]any{"id": "ins_1", "name": "Acme Mutual"}}})
	}))
	defer plain.Close()
	body := query(`{ viewer { id name } }`)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	call := func(url, key string) time.Duration {
		start := time.Now()
		req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key)
		res, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			b.Fatalf("status %d", res.StatusCode)
		}
		return time.Since(start)
	}
	// Interleave the two so that noise on a shared machine hits both alike.
	var plainT, fullT time.Duration
	for b.Loop() {
		plainT += call(plain.URL, "")
		fullT += call(s.srv.URL+"/graphql", s.full)
	}
	n := float64(b.N)
	b.ReportMetric(float64(plainT.Nanoseconds())/n, "plain-ns/req")
	b.ReportMetric(float64(fullT.Nanoseconds())/n, "viewer-ns/req")
	b.ReportMetric(float64(fullT)/float64(plainT), "viewer/plain")
}
