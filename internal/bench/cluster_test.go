package bench

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/borderproof/borderproof/internal/partnersim"
	"github.com/borderproof/borderproof/internal/webhook"
)

// signed builds a webhook request for the receiver.
func signed(t *testing.T, secret, msgID, typ, verificationID string, at time.Time) *http.Request {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"type": typ, "timestamp": at, "data": map[string]any{"verificationId": verificationID}})
	h, err := webhook.Headers(msgID, at, body, secret)
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodPost, "/hooks", strings.NewReader(string(body)))
	for k, v := range h {
		req.Header[k] = v
	}
	return req
}

func TestReceiverVerifiesAndDeduplicates(t *testing.T) {
	secret := webhook.NewSecret()
	r := NewReceiver()
	r.SetSecret(secret)
	now := time.Now()
	send := func(req *http.Request) int {
		w := httptest.NewRecorder()
		r.ServeHTTP(w, req)
		return w.Code
	}
	steps := []struct {
		name string
		req  *http.Request
		want int
	}{
		{"first message", signed(t, secret, "whd_1", "verification.completed", "ver_1", now), http.StatusNoContent},
		{"retry of the first", signed(t, secret, "whd_1", "verification.completed", "ver_1", now.Add(time.Second)), http.StatusNoContent},
		{"second message", signed(t, secret, "whd_2", "verification.completed", "ver_2", now), http.StatusNoContent},
		{"same fact, another id", signed(t, secret, "whd_3", "verification.completed", "ver_2", now), http.StatusNoContent},
		{"wrong secret", signed(t, webhook.NewSecret(), "whd_4", "verification.completed", "ver_4", now), http.StatusUnauthorized},
		{"too old", signed(t, secret, "whd_5", "verification.completed", "ver_5", now.Add(-time.Hour)), http.StatusUnauthorized},
		{"third retry of the first", signed(t, secret, "whd_1", "verification.completed", "ver_1", now), http.StatusNoContent},
	}
	for _, s := range steps {
		if got := send(s.req); got != s.want {
			t.Errorf("%s: status %d, want %d", s.name, got, s.want)
		}
	}
	tampered := signed(t, secret, "whd_6", "verification.completed", "ver_6", now)
	tampered.Body = io.NopCloser(strings.NewReader(`{"type":"verification.completed","data":{"verificationId":"ver_other"}}`))
	if got := send(tampered); got != http.StatusUnauthorized {
		t.Errorf("tampered body: status %d, want 401", got)
	}
	want := ReceiverStats{Unique: 3, Duplicates: 2, Rejected: 3, SplitSubjects: 1}
	if got := r.Stats(); got != want {
		t.Errorf("stats %+v, want %+v", got, want)
	}
}

func TestReceiverDownAndUpOnTheSameAddress(t *testing.T) {
	secret := webhook.NewSecret()
	r := NewReceiver()
	r.SetSecret(secret)
	if err := r.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Stop() })
	url := r.URL()
	post := func(id string) error {
		req := signed(t, secret, id, "verification.completed", "ver_"+id, time.Now())
		out, err := http.NewRequest(http.MethodPost, url, req.Body)
		if err != nil {
			t.Fatal(err)
		}
		out.Header = req.Header
		resp, err := http.DefaultClient.Do(out)
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil
	}
	if err := post("a"); err != nil {
		t.Fatalf("receiver up: %v", err)
	}
	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := post("b"); err == nil {
		t.Fatal("a stopped receiver accepted a connection")
	}
	if err := r.Start(""); err != nil {
		t.Fatal(err)
	}
	if r.URL() != url {
		t.Fatalf("restarted on %s, want %s", r.URL(), url)
	}
	if err := post("c"); err != nil {
		t.Fatalf("receiver back up: %v", err)
	}
	if got := r.Stats().Unique; got != 2 {
		t.Fatalf("unique %d, want 2", got)
	}
}

func TestRetriable(t *testing.T) {
	for code, want := range map[string]bool{
		"UNAVAILABLE": true, "INTERNAL": true, "RATE_LIMITED": true, "TRANSPORT": true, "TIMEOUT": true,
		"HTTP_502": true, "HTTP_503": true, "HTTP_429": true,
		"INVALID_INPUT": false, "CONFLICT": false, "UNAUTHENTICATED": false, "FORBIDDEN": false,
		"BUDGET_EXCEEDED": false, "HTTP_400": false, "EMPTY": false,
	} {
		if got := retriable(code); got != want {
			t.Errorf("retriable(%s) = %v, want %v", code, got, want)
		}
	}
}

// fakeAPI answers submitVerification: the first failFirst requests of
// each idempotency key with UNAVAILABLE, then an id derived from the key.
type fakeAPI struct {
	failFirst int
	mu        sync.Mutex
	seen      map[string]int
	hits      atomic.Int64
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.hits.Add(1)
	var req struct {
		Variables struct {
			Input map[string]any `json:"input"`
		} `json:"variables"`
	}
	json.NewDecoder(r.Body).Decode(&req)
	key, _ := req.Variables.Input["idempotencyKey"].(string)
	f.mu.Lock()
	f.seen[key]++
	n := f.seen[key]
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if key == "refuse" {
		io.WriteString(w, `{"errors":[{"message":"bad","extensions":{"code":"INVALID_INPUT"}}]}`)
		return
	}
	if n <= f.failFirst {
		io.WriteString(w, `{"errors":[{"message":"try later","extensions":{"code":"UNAVAILABLE"}}]}`)
		return
	}
	json.NewEncoder(w).Encode(map[string]any{"data": map[string]any{"submitVerification": map[string]any{
		"replayed": n > 1, "verification": map[string]any{"id": "ver_" + key, "status": "PENDING"}}}})
}

func TestSubmitAllRetriesWithTheSameKeyAndAlternates(t *testing.T) {
	a := &fakeAPI{failFirst: 2, seen: map[string]int{}}
	b := &fakeAPI{failFirst: 2, seen: map[string]int{}}
	sa, sb := httptest.NewServer(a), httptest.NewServer(b)
	t.Cleanup(sa.Close)
	t.Cleanup(sb.Close)
	ca, err := NewClient(sa.URL, "k", 4)
	if err != nil {
		t.Fatal(err)
	}
	cb, _ := NewClient(sb.URL, "k", 4)
	var people []Person
	for _, k := range []string{"p1", "p2", "p3", "p4", "refuse", "p1"} {
		people = append(people, Person{Input: map[string]any{"idempotencyKey": k}})
	}
	var acks atomic.Int64
	res := SubmitAll(context.Background(), []*Client{ca, cb}, people, SubmitConfig{Concurrency: 3, RetryFor: 10 * time.Second,
		OnAck: func(int) { acks.Add(1) }})
	if len(res.IDs) != 4 {
		t.Errorf("acknowledged %v, want the 4 distinct people", res.IDs)
	}
	if res.Refused["INVALID_INPUT"] != 1 || len(res.Refused) != 1 {
		t.Errorf("refused %v, want one INVALID_INPUT", res.Refused)
	}
	// p1, p3, refuse went to a; p2, p4, the second p1 to b. Each accepted
	// request failed twice first; the refusal was not retried.
	if a.hits.Load() == 0 || b.hits.Load() == 0 {
		t.Errorf("requests a=%d b=%d: both servers should be used", a.hits.Load(), b.hits.Load())
	}
	if res.Retries != 10 {
		t.Errorf("retries %d, want 10 (two per accepted request)", res.Retries)
	}
	if acks.Load() != 5 {
		t.Errorf("OnAck called %d times, want 5 (one per acknowledged request)", acks.Load())
	}
}

func TestSubmitAllGivesUpAfterRetryFor(t *testing.T) {
	a := &fakeAPI{failFirst: 1 << 30, seen: map[string]int{}}
	s := httptest.NewServer(a)
	t.Cleanup(s.Close)
	c, _ := NewClient(s.URL, "k", 1)
	res := SubmitAll(context.Background(), []*Client{c}, []Person{{Input: map[string]any{"idempotencyKey": "x"}}},
		SubmitConfig{Concurrency: 1, RetryFor: 500 * time.Millisecond})
	if len(res.IDs) != 0 || res.Refused["UNAVAILABLE"] != 1 {
		t.Fatalf("ids %v refused %v, want one UNAVAILABLE refusal", res.IDs, res.Refused)
	}
	if res.Retries < 1 {
		t.Fatalf("retries %d, want some", res.Retries)
	}
}

func TestReadExportLeavesOutSlowCases(t *testing.T) {
	path := filepath.Join(t.TempDir(), "export.jsonl")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	enc := json.NewEncoder(f)
	for i, l := range []partnersim.Label{partnersim.LabelClean, partnersim.LabelSlowCase, partnersim.LabelStolenDocument, partnersim.LabelClean} {
		enc.Encode(partnersim.ExportRecord{IdempotencyKey: "sim-" + string(rune('a'+i)), Label: l, Checks: []string{"WATCHLIST"}})
	}
	f.Close()
	people, err := readExport(path, "run-", 3)
	if err != nil {
		t.Fatal(err)
	}
	var keys, labels []string
	for _, p := range people {
		keys = append(keys, p.Input["idempotencyKey"].(string))
		labels = append(labels, p.Label)
		if _, ok := p.Input["label"]; ok {
			t.Errorf("the submission of %s carries the label", p.Input["idempotencyKey"])
		}
	}
	if got := strings.Join(keys, ","); got != "run-sim-a,run-sim-c,run-sim-d" {
		t.Errorf("keys %s", got)
	}
	if got := strings.Join(labels, ","); got != "CLEAN,STOLEN_DOCUMENT,CLEAN" {
		t.Errorf("labels %s", got)
	}
	if _, err := readExport(path, "run-", 4); err == nil {
		t.Error("asking for more people than the export has without a slow case should fail")
	}
}

func TestTallySettled(t *testing.T) {
	cases := []struct {
		name      string
		t         Tally
		watchSync bool
		want      bool
	}{
		{"all in", Tally{Submitted: 3, Completed: 3, WebhooksExpected: 3, WebhooksUnique: 3}, false, true},
		{"one outcome missing", Tally{Submitted: 3, Completed: 2, Lost: 1, WebhooksExpected: 2, WebhooksUnique: 2}, false, false},
		{"a stray row without outcome", Tally{Submitted: 3, Completed: 3, Lost: 1, WebhooksExpected: 3, WebhooksUnique: 3}, false, false},
		{"an event missing", Tally{Submitted: 3, Completed: 3, MissingEvents: 1, WebhooksExpected: 2, WebhooksUnique: 2}, false, false},
		{"a webhook missing", Tally{Submitted: 3, Completed: 3, WebhooksExpected: 3, WebhooksUnique: 2}, false, false},
		{"duplicates do not hold it", Tally{Submitted: 3, Completed: 3, WebhooksExpected: 3, WebhooksUnique: 3, WebhooksDuplicates: 5}, false, true},
		{"unsynced ignored", Tally{Submitted: 1, Completed: 1, WebhooksExpected: 1, WebhooksUnique: 1, UnsyncedUsage: 4}, false, true},
		{"unsynced watched", Tally{Submitted: 1, Completed: 1, WebhooksExpected: 1, WebhooksUnique: 1, UnsyncedUsage: 4}, true, false},
		{"usage not priced yet", Tally{Submitted: 1, Completed: 1, WebhooksExpected: 1, WebhooksUnique: 1, UnpricedUsage: 2}, false, false},
	}
	for _, c := range cases {
		if got := c.t.settled(c.watchSync); got != c.want {
			t.Errorf("%s: settled = %v, want %v", c.name, got, c.want)
		}
	}
	if got := (Tally{WebhooksExpected: 2, WebhooksUnique: 5}).WebhooksUndelivered(); got != 0 {
		t.Errorf("undelivered %d with more received than expected, want 0", got)
	}
	if got := (Tally{WebhooksExpected: 7, WebhooksUnique: 5}).WebhooksUndelivered(); got != 2 {
		t.Errorf("undelivered %d, want 2", got)
	}
}

func TestClusterLine(t *testing.T) {
	run := ClusterRun{Tally: Tally{Submitted: 10, Completed: 9, Lost: 1, UsageRows: 30, BillableChecks: 31, DuplicateUsageRows: 1,
		MissingUsageRows: 2, WebhooksExpected: 9, WebhooksUnique: 8, WebhooksDuplicates: 3, UnpricedUsage: 4, RollupUnitsOff: 5},
		Duration: 1234567 * time.Microsecond}
	got := run.Line()
	want := ClusterLine{Verifications: 10, Completed: 9, Lost: 1, UsageRows: 30, BillableChecks: 31, DuplicateUsageRows: 3,
		UnpricedUsageRows: 4, RollupUnitsOff: 5, WebhooksExpected: 9, WebhooksReceivedUnique: 8, WebhooksDuplicates: 3, DurationS: 1.23}
	if got != want {
		t.Errorf("line %+v, want %+v", got, want)
	}
	var sb strings.Builder
	if err := WriteJSONLine(&sb, got); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"verifications", "completed", "lost", "usage_rows", "billable_checks", "duplicate_usage_rows",
		"unpriced_usage_rows", "rollup_units_off", "webhooks_expected", "webhooks_received_unique", "webhooks_duplicates", "duration_s"} {
		if !strings.Contains(sb.String(), `"`+k+`":`) {
			t.Errorf("the line lacks %s: %s", k, sb.String())
		}
	}
}
