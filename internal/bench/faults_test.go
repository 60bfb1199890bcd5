package bench

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/borderproof/borderproof/internal/testenv"
)

func TestScenariosAreNamedOnceWithTheBaselineFirst(t *testing.T) {
	names := ScenarioNames()
	if names[0] != "baseline" {
		t.Fatalf("first scenario %q, want baseline", names[0])
	}
	seen := map[string]bool{}
	for _, s := range Scenarios() {
		if seen[s.Name] {
			t.Errorf("scenario %q twice", s.Name)
		}
		seen[s.Name] = true
		if s.Doc == "" {
			t.Errorf("scenario %q has no description", s.Name)
		}
	}
	for _, want := range []string{"worker-kill", "redis-flushall", "redis-restart", "postgres-restart", "partner-outage",
		"partner-slow", "webhook-down", "stripe-500", "burst"} {
		if !seen[want] {
			t.Errorf("scenario %q missing", want)
		}
	}
}

func TestRunFaultsRefusesAnUnknownScenario(t *testing.T) {
	_, err := RunFaults(context.Background(), FaultsConfig{Scenarios: []string{"meteor"}}, nil, nil)
	if err == nil || !strings.Contains(err.Error(), "meteor") {
		t.Fatalf("err %v, want an unknown scenario error", err)
	}
}

func TestScenarioLineArithmetic(t *testing.T) {
	t0 := time.Now()
	settled := runResult{
		Tally:    Tally{Submitted: 100, Completed: 100, WebhooksExpected: 100, WebhooksUnique: 100, WebhooksDuplicates: 4, FailedChecks: 7},
		Submit:   SubmitResult{Refused: map[string]int{"UNAVAILABLE": 1, "INTERNAL": 2}},
		Duration: 20 * time.Second, ClearedAt: t0, SettledAt: t0.Add(12500 * time.Millisecond),
	}
	l := scenarioLine("x", settled, nil)
	if l.Refused != 3 || l.RecoverS != 12.5 || l.ThroughputPerS != 5 || l.CompletionRate != 1 || l.WebhookDuplicates != 4 || l.FailedChecks != 7 {
		t.Errorf("line %+v", l)
	}
	if l.UnsyncedUsage != nil || l.StripeResent != nil {
		t.Error("a scenario without Stripe reports Stripe figures")
	}
	b, _ := json.Marshal(l)
	if strings.Contains(string(b), "unsynced_usage") {
		t.Errorf("JSON %s carries unsynced_usage", b)
	}

	early := settled
	early.SettledAt = t0.Add(-time.Second) // settled before the fault's end was noted
	if got := scenarioLine("x", early, nil).RecoverS; got != 0 {
		t.Errorf("recover %v, want 0", got)
	}
	never := settled
	never.SettledAt = time.Time{}
	never.Tally.Completed, never.Tally.Lost = 90, 10
	l = scenarioLine("x", never, &stripeCounts{accepted: 5, resent: 2, refused: 7})
	if l.RecoverS != -1 || l.CompletionRate != 0.9 || l.Lost != 10 {
		t.Errorf("unsettled line %+v", l)
	}
	if l.UnsyncedUsage == nil || l.StripeResent == nil || *l.StripeResent != 2 || *l.StripeAccepted != 5 || *l.StripeRefused != 7 {
		t.Errorf("stripe figures %v %v %v %v", l.UnsyncedUsage, l.StripeAccepted, l.StripeResent, l.StripeRefused)
	}
	failed := settled
	failed.Err = errors.New("redis start: boom")
	if got := scenarioLine("x", failed, nil).Error; got != "redis start: boom" {
		t.Errorf("error %q", got)
	}
}

func TestScenarioPass(t *testing.T) {
	good := func() ScenarioLine {
		return ScenarioLine{Submitted: 100, Completed: 100, CompletionRate: 1, RecoverS: 3}
	}
	unsynced := 3
	zero := 0
	cases := []struct {
		name     string
		edit     func(*ScenarioLine)
		baseline float64
		want     bool
		wantVs   float64
	}{
		{"clean", func(*ScenarioLine) {}, 1, true, 1},
		{"webhook duplicates are allowed", func(l *ScenarioLine) { l.WebhookDuplicates = 9 }, 1, true, 1},
		{"lost", func(l *ScenarioLine) { l.Lost = 1 }, 1, false, 1},
		{"duplicated usage", func(l *ScenarioLine) { l.DuplicatedUsage = 1 }, 1, false, 1},
		{"missing usage", func(l *ScenarioLine) { l.MissingUsage = 1 }, 1, false, 1},
		{"duplicate event", func(l *ScenarioLine) { l.DuplicateEvents = 1 }, 1, false, 1},
		{"missing event", func(l *ScenarioLine) { l.MissingEvents = 1 }, 1, false, 1},
		{"undelivered webhook", func(l *ScenarioLine) { l.WebhooksUndelivered = 1 }, 1, false, 1},
		{"never settled", func(l *ScenarioLine) { l.RecoverS = -1 }, 1, false, 1},
		{"unsynced usage", func(l *ScenarioLine) { l.UnsyncedUsage = &unsynced }, 1, false, 1},
		{"synced usage", func(l *ScenarioLine) { l.UnsyncedUsage = &zero }, 1, true, 1},
		{"an error", func(l *ScenarioLine) { l.Error = "x" }, 1, false, 1},
		{"nothing submitted", func(l *ScenarioLine) { l.Submitted, l.Completed = 0, 0 }, 1, false, 1},
		{"0.95 of the baseline", func(l *ScenarioLine) { l.CompletionRate = 0.95 }, 1, true, 0.95},
		{"below 0.95 of the baseline", func(l *ScenarioLine) { l.CompletionRate = 0.94 }, 1, false, 0.94},
		{"against a weak baseline", func(l *ScenarioLine) { l.CompletionRate = 0.9 }, 0.9, true, 1},
		{"no baseline", func(*ScenarioLine) {}, 0, false, 0},
	}
	for _, c := range cases {
		l := good()
		c.edit(&l)
		l.finish(c.baseline, 0.95)
		if l.Pass != c.want || l.VsBaseline != c.wantVs {
			t.Errorf("%s: pass %v vs %v, want %v vs %v", c.name, l.Pass, l.VsBaseline, c.want, c.wantVs)
		}
	}
}

func TestSummarizeFaults(t *testing.T) {
	lines := []ScenarioLine{
		{Scenario: "baseline", Pass: true, VsBaseline: 1, RecoverS: 4},
		{Scenario: "worker-kill", Pass: true, VsBaseline: 1, RecoverS: 35},
		{Scenario: "redis-kill", Lost: 2, MissingUsage: 1, DuplicatedUsage: 1, WebhooksUndelivered: 3, VsBaseline: 0.98, RecoverS: -1},
	}
	s := SummarizeFaults(lines, 95*time.Second)
	if s.Passed != 2 || !slices.Equal(s.Failed, []string{"redis-kill"}) || s.Lost != 2 || s.DuplicatedUsage != 2 ||
		s.WebhooksUndelivered != 3 || s.MinVsBaseline != 0.98 || s.MaxRecoverS != 35 || s.DurationS != 95 || !s.Summary {
		t.Errorf("summary %+v", s)
	}
	var sb strings.Builder
	if err := WriteFaultsTable(&sb, lines); err != nil {
		t.Fatal(err)
	}
	out := sb.String()
	if !strings.Contains(out, "never") || !strings.Contains(out, "NO") || strings.Count(out, "\n") != 4 {
		t.Errorf("table:\n%s", out)
	}
}

func TestStripeProxyFailsOnDemandAndCountsMeterEvents(t *testing.T) {
	var backendHits int
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		backendHits++
		body, _ := io.ReadAll(r.Body)
		if r.URL.Path == "/v1/billing/meter_events" {
			q, _ := url.ParseQuery(string(body))
			if q.Get("identifier") == "" {
				http.Error(w, `{"error":{"message":"identifier missing"}}`, http.StatusBadRequest)
				return
			}
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"object":"billing.meter_event"}`)
	}))
	t.Cleanup(backend.Close)
	p, err := NewStripeProxy(backend.URL)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	send := func(ident string) int {
		form := url.Values{"event_name": {"watchlist"}}
		if ident != "" {
			form.Set("identifier", ident)
		}
		resp, err := http.Post(p.URL()+"/v1/billing/meter_events", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := send("use_1"); got != http.StatusOK {
		t.Fatalf("passing: status %d", got)
	}
	p.SetFailing(true)
	if got := send("use_2"); got != http.StatusInternalServerError {
		t.Fatalf("failing: status %d", got)
	}
	p.SetFailing(false)
	for _, id := range []string{"use_2", "use_1", ""} {
		send(id)
	}
	distinct, resent, refused := p.Stats()
	if distinct != 2 || resent != 1 || refused != 1 {
		t.Fatalf("distinct %d resent %d refused %d, want 2 1 1", distinct, resent, refused)
	}
	if backendHits != 4 {
		t.Fatalf("backend saw %d requests, want 4 (the failed one never reached it)", backendHits)
	}
}

func TestStripeProxyRefusesARemoteTarget(t *testing.T) {
	if _, err := NewStripeProxy("https://api.stripe.com"); err == nil {
		t.Fatal("the proxy accepted a non-loopback target")
	}
}

// TestFaultsSmoke runs the baseline and the webhook-down scenario on real
// processes: it builds the binary and needs PostgreSQL and redis-server.
// It takes about a minute, so it only runs with BORDERPROOF_BENCH_SMOKE=1.
func TestFaultsSmoke(t *testing.T) {
	if os.Getenv("BORDERPROOF_BENCH_SMOKE") != "1" {
		t.Skip("set BORDERPROOF_BENCH_SMOKE=1 to run the multi-process smoke test")
	}
	pg := testenv.Require(t, testenv.PostgresURLVar)
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redis-server is not installed")
	}
	bin := filepath.Join(t.TempDir(), "borderproof")
	build := exec.Command("go", "build", "-o", bin, "github.com/borderproof/borderproof/cmd/borderproof")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cfg := FaultsConfig{
		Cluster:       ClusterConfig{Binary: bin, DatabaseURL: pg, WorkerConcurrency: 4},
		Scenarios:     []string{"webhook-down"},
		Verifications: 20,
		Rate:          10,
		Concurrency:   4,
		Timeout:       90 * time.Second,
		RunID:         "smoke" + strconv.FormatInt(time.Now().UnixMilli(), 36),
	}
	lines, err := RunFaults(ctx, cfg, testWriter{t}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != 2 || lines[0].Scenario != "baseline" || lines[1].Scenario != "webhook-down" {
		t.Fatalf("lines %+v", lines)
	}
	for _, l := range lines {
		if !l.Pass {
			t.Errorf("%s did not pass: %+v", l.Scenario, l)
		}
		if l.Submitted != 20 {
			t.Errorf("%s: submitted %d, want 20", l.Scenario, l.Submitted)
		}
	}
}

// testWriter sends the steps to the test log, a line at a time, without
// the progress bars.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	for _, line := range strings.Split(strings.ReplaceAll(string(b), "\r", "\n"), "\n") {
		line = strings.TrimSpace(line)
		if line != "" && !strings.HasPrefix(line, "submit ") && !strings.HasPrefix(line, "settle ") {
			w.t.Log(line)
		}
	}
	return len(b), nil
}

// A stripe-mock that cannot start is an error, not a panic in the cleanup
// of the error path.
func TestStartStripeWithoutBinary(t *testing.T) {
	proxy, stop, err := startStripe(t.Context(), filepath.Join(t.TempDir(), "no-stripe-mock"))
	if err == nil || proxy != nil || stop != nil {
		t.Fatalf("missing stripe-mock: proxy %v, stop set %v, err %v", proxy, stop != nil, err)
	}
}
