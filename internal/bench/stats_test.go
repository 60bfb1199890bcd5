package bench

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"
)

func ms(xs ...int) []time.Duration {
	out := make([]time.Duration, len(xs))
	for i, x := range xs {
		out[i] = time.Duration(x) * time.Millisecond
	}
	return out
}

func seq(n int) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = time.Duration(i+1) * time.Millisecond
	}
	return out
}

func TestPercentile(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		in   []time.Duration
		p    float64
		want time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one value p50", ms(7), 50, 7 * time.Millisecond},
		{"one value p99", ms(7), 99, 7 * time.Millisecond},
		{"1..100 p50", seq(100), 50, 50 * time.Millisecond},
		{"1..100 p99", seq(100), 99, 99 * time.Millisecond},
		{"1..100 p100", seq(100), 100, 100 * time.Millisecond},
		{"1..10 p99 is the max", seq(10), 99, 10 * time.Millisecond},
		{"1..10 p50", seq(10), 50, 5 * time.Millisecond},
		{"1..1000 p99", seq(1000), 99, 990 * time.Millisecond},
		{"two values p50 is the lower", ms(1, 9), 50, 1 * time.Millisecond},
		{"two values p51 is the upper", ms(1, 9), 51, 9 * time.Millisecond},
		{"tiny p gives the min", seq(10), 0.001, 1 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Percentile(tc.in, tc.p); got != tc.want {
				t.Fatalf("Percentile(%v) = %v, want %v", tc.p, got, tc.want)
			}
		})
	}
}

func TestSummarize(t *testing.T) {
	t.Parallel()
	var l Latencies
	for _, d := range ms(30, 10, 20, 40) { // unsorted on purpose
		l.Add(d)
	}
	s := l.Summary()
	if s.Count != 4 || s.Mean != 25*time.Millisecond || s.P50 != 20*time.Millisecond || s.P99 != 40*time.Millisecond || s.Max != 40*time.Millisecond {
		t.Fatalf("%+v", s)
	}
	if (Summarize(nil) != Summary{}) {
		t.Fatal("empty summary")
	}
}

func TestRoundAndRatio(t *testing.T) {
	t.Parallel()
	if Round(math.NaN(), 2) != 0 || Round(math.Inf(1), 2) != 0 || Round(1.23456, 2) != 1.23 || Round(2.5, 0) != 3 {
		t.Fatal("Round")
	}
	if Ratio(1, 0) != 0 || Ratio(3, 4) != 0.75 {
		t.Fatal("Ratio")
	}
	if Ms(1500*time.Microsecond) != 1.5 {
		t.Fatal("Ms")
	}
}

func TestConfusion(t *testing.T) {
	t.Parallel()
	c := NewConfusion([]string{"CLEAN", "STOLEN_DOCUMENT", "OVERSTAY", "SLOW_CASE", "NO_VISA"}, "SLOW_CASE")
	add := func(label, decision string, n int) {
		for range n {
			c.Add(label, decision)
		}
	}
	add("CLEAN", "CLEAR", 8)
	add("CLEAN", "REVIEW", 1)
	add("CLEAN", "", 1)
	add("STOLEN_DOCUMENT", "DECLINE", 3)
	add("STOLEN_DOCUMENT", "CLEAR", 1)
	add("OVERSTAY", "REVIEW", 1)
	add("OVERSTAY", "CLEAR", 2)
	add("SLOW_CASE", "CLEAR", 2)
	add("WATCHLIST_HIT", "PROVISIONAL?", 1) // unknown label and decision

	if c.N() != 20 || c.Undecided() != 2 || c.Total("CLEAN") != 10 {
		t.Fatalf("N=%d undecided=%d", c.N(), c.Undecided())
	}
	if r, ok := c.Recall("STOLEN_DOCUMENT"); !ok || r != 0.75 {
		t.Fatalf("recall = %v %v", r, ok)
	}
	if _, ok := c.Recall("NO_VISA"); ok {
		t.Fatal("recall of an absent label")
	}
	if c.CleanClearRate() != 0.8 {
		t.Fatalf("clean clear rate %v", c.CleanClearRate())
	}
	var buf bytes.Buffer
	if err := WriteJSONLine(&buf, c.Result()); err != nil {
		t.Fatal(err)
	}
	want := `{"n":20,"recall_by_label":{"OVERSTAY":0.3333,"STOLEN_DOCUMENT":0.75,"WATCHLIST_HIT":0},"clean_clear_rate":0.8,"undecided":2}` + "\n"
	if buf.String() != want {
		t.Fatalf("JSON line\n got %s\nwant %s", buf.String(), want)
	}
	if strings.Count(buf.String(), "\n") != 1 {
		t.Fatal("not one line")
	}

	buf.Reset()
	if err := c.WriteTable(&buf); err != nil {
		t.Fatal(err)
	}
	table := buf.String()
	for _, want := range []string{"STOLEN_DOCUMENT", "75.0%", "33.3%", "CLEAN decided CLEAR: 80.0% of 10; undecided: 2"} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
	if strings.Contains(table, "NO_VISA") {
		t.Error("table lists a label nobody has")
	}
	for _, line := range strings.Split(table, "\n") {
		if f := strings.Fields(line); len(f) == 7 && (f[0] == "SLOW_CASE" || f[0] == "CLEAN") && f[6] != "-" {
			t.Errorf("%s has a recall: %q", f[0], line)
		}
	}
}

func TestRawResultPlus(t *testing.T) {
	t.Parallel()
	// 3000 tasks in 1 s, then 1000 in 1 s: 2000 tasks/s together, not the
	// mean of a fast and a slow reading weighted by anything else.
	got := RawResult{Tasks: 3000, Processed: 3000, Elapsed: time.Second}.Plus(RawResult{Tasks: 1000, Processed: 1000, Elapsed: time.Second})
	if got.Tasks != 4000 || got.Processed != 4000 || got.Elapsed != 2*time.Second || got.PerSec() != 2000 {
		t.Fatalf("%+v = %.0f/s", got, got.PerSec())
	}
}

func TestPipelineLine(t *testing.T) {
	t.Parallel()
	r := PipelineRun{
		Submitted: 110, Outcomes: 100, Elapsed: 10 * time.Second, Tasks: 700,
		Raw:       RawResult{Tasks: 2000, Processed: 2000, Elapsed: 2 * time.Second},
		Latencies: ms(100, 200, 300), UsageAnomalies: 1,
	}
	l := r.Line()
	// 10 verifications/s × 7 tasks each = 70 tasks/s of a 1000 tasks/s ceiling.
	if l.VerificationsPerSec != 10 || l.RawTasksPerSec != 1000 || l.TasksPerVerification != 7 || l.Efficiency != 0.07 ||
		l.CostInNoopTasks != 100 || l.Lost != 10 || l.DuplicateUsageRows != 1 || l.SubmitToOutcomeP50Ms != 200 || l.SubmitToOutcomeP99Ms != 300 {
		t.Fatalf("%+v", l)
	}
	var buf bytes.Buffer
	if err := WriteJSONLine(&buf, l); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"verifications_per_sec", "raw_tasks_per_sec", "tasks_per_verification", "efficiency",
		"submit_to_outcome_p50_ms", "submit_to_outcome_p99_ms", "cost_in_noop_tasks", "lost", "duplicate_usage_rows"} {
		if _, ok := m[k]; !ok {
			t.Errorf("JSON line lacks %s", k)
		}
	}
	if (PipelineRun{}).Line().Efficiency != 0 {
		t.Fatal("empty run")
	}
}

func TestAPILine(t *testing.T) {
	t.Parallel()
	r := APIResult{Concurrency: 4, Duration: 2 * time.Second,
		Viewer: OpResult{OK: 1000, Requests: 1000, Elapsed: time.Second, Latency: Summary{P50: 2 * time.Millisecond, P99: 10 * time.Millisecond}},
		Submit: OpResult{OK: 100, Requests: 103, Errors: 1, RateLimited: 2, Elapsed: time.Second, Latency: Summary{P50: 20 * time.Millisecond, P99: 50 * time.Millisecond}},
	}
	l := r.Line()
	if l.ViewerPerSec != 1000 || l.SubmitPerSec != 100 || l.ThroughputRatio != 0.1 || l.P50Ratio != 10 || l.P99Ratio != 5 ||
		l.Errors != 1 || l.RateLimited != 2 {
		t.Fatalf("%+v", l)
	}
}

func TestCheckLoopback(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		addr string
		ok   bool
	}{
		{"http://127.0.0.1:8080/graphql", true},
		{"http://localhost:8080/graphql", true},
		{"http://[::1]:8080/graphql", true},
		{"redis://127.0.0.1:6379/13", true},
		{"postgres://postgres@127.0.0.1:5432/test?sslmode=disable", true},
		{"postgres:///test?host=/var/run/postgresql", true},
		{"127.0.0.1:6379", true},
		{"./.borderproof/bench.db", true},
		{"sqlite:bench.db", true},
		{"file:/tmp/bench.db", true},
		{"http://10.0.0.5:8080/graphql", false},
		{"http://example.com/graphql", false},
		{"redis://redis.internal:6379", false},
		{"postgres://u@db.example.com:5432/x", false},
		{"postgres:///x?host=db.example.com", false},
		{"192.168.1.2:6379", false},
	} {
		if err := CheckLoopback(tc.addr); (err == nil) != tc.ok {
			t.Errorf("CheckLoopback(%q) = %v, want ok=%v", tc.addr, err, tc.ok)
		}
	}
}
