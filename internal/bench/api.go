package bench

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/borderproof/borderproof/internal/partnersim"
)

// APIConfig configures the API harness.
type APIConfig struct {
	Concurrency int
	// Duration is the total measured time, split into Phases phases that
	// alternate viewer and submitVerification (viewer first).
	Duration time.Duration
	Phases   int
	// Population is how many distinct people submissions cycle through.
	Population int
	Seed       uint64
	// RunID prefixes idempotency keys; every submission gets a fresh key.
	RunID string
}

func (c *APIConfig) defaults() {
	if c.Concurrency <= 0 {
		c.Concurrency = 16
	}
	if c.Duration <= 0 {
		c.Duration = 10 * time.Second
	}
	if c.Phases < 2 {
		c.Phases = 10
	}
	c.Phases += c.Phases % 2
	if c.Population <= 0 {
		c.Population = 500
	}
}

// OpResult is what one operation did over all its phases.
type OpResult struct {
	Op          string
	Requests    int
	OK          int
	Errors      int
	RateLimited int
	ErrorCodes  map[string]int
	Elapsed     time.Duration // summed phase time
	Latency     Summary       // successful requests only
}

// PerSec is successful requests per second of the operation's phases.
func (o OpResult) PerSec() float64 { return Ratio(float64(o.OK), o.Elapsed.Seconds()) }

// APIResult compares submitVerification with viewer.
type APIResult struct {
	Concurrency int
	Duration    time.Duration
	Viewer      OpResult
	Submit      OpResult
}

// APILine is the JSON line of the API harness.
type APILine struct {
	Concurrency     int     `json:"concurrency"`
	DurationS       float64 `json:"duration_s"`
	ViewerPerSec    float64 `json:"viewer_per_sec"`
	SubmitPerSec    float64 `json:"submit_per_sec"`
	ViewerP50Ms     float64 `json:"viewer_p50_ms"`
	ViewerP99Ms     float64 `json:"viewer_p99_ms"`
	SubmitP50Ms     float64 `json:"submit_p50_ms"`
	SubmitP99Ms     float64 `json:"submit_p99_ms"`
	ThroughputRatio float64 `json:"submit_to_viewer_throughput"`
	P50Ratio        float64 `json:"submit_to_viewer_p50"`
	P99Ratio        float64 `json:"submit_to_viewer_p99"`
	Errors          int     `json:"errors"`
	RateLimited     int     `json:"rate_limited"`
	SubmitsAccepted int     `json:"submits_accepted"`
	ViewerRequests  int     `json:"viewer_requests"`
	SubmitRequests  int     `json:"submit_requests"`
}

// Line is the result's JSON line; ratios are submit ÷ viewer.
func (r APIResult) Line() APILine {
	v, s := r.Viewer, r.Submit
	return APILine{
		Concurrency: r.Concurrency, DurationS: Round(r.Duration.Seconds(), 2),
		ViewerPerSec: Round(v.PerSec(), 1), SubmitPerSec: Round(s.PerSec(), 1),
		ViewerP50Ms: Ms(v.Latency.P50), ViewerP99Ms: Ms(v.Latency.P99), SubmitP50Ms: Ms(s.Latency.P50), SubmitP99Ms: Ms(s.Latency.P99),
		ThroughputRatio: Round(Ratio(s.PerSec(), v.PerSec()), 3),
		P50Ratio:        Round(Ratio(float64(s.Latency.P50), float64(v.Latency.P50)), 2),
		P99Ratio:        Round(Ratio(float64(s.Latency.P99), float64(v.Latency.P99)), 2),
		Errors:          v.Errors + s.Errors, RateLimited: v.RateLimited + s.RateLimited,
		SubmitsAccepted: s.OK, ViewerRequests: v.Requests, SubmitRequests: s.Requests,
	}
}

// WriteTable prints one row per operation.
func (r APIResult) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "operation\trequests\tok\terrors\trate-limited\tok/s\tmean ms\tp50 ms\tp99 ms\tmax ms\t\n")
	for _, o := range []OpResult{r.Viewer, r.Submit} {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%.1f\t%.2f\t%.2f\t%.2f\t%.2f\t\n", o.Op, o.Requests, o.OK, o.Errors, o.RateLimited,
			o.PerSec(), Ms(o.Latency.Mean), Ms(o.Latency.P50), Ms(o.Latency.P99), Ms(o.Latency.Max))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, o := range []OpResult{r.Viewer, r.Submit} {
		if len(o.ErrorCodes) > 0 {
			fmt.Fprintf(w, "%s errors by code: %v\n", o.Op, o.ErrorCodes)
		}
	}
	return nil
}

// RunAPI measures submitVerification against viewer on one server in
// alternating phases of equal length and concurrency. Each phase starts no
// request after its end and waits for the ones in flight; rate-limited
// answers count apart from errors and neither enters the latencies.
func RunAPI(ctx context.Context, c *Client, cfg APIConfig, progress io.Writer) (APIResult, error) {
	cfg.defaults()
	people, err := People(partnersim.PopulationConfig{Seed: cfg.Seed, Size: cfg.Population}, "")
	if err != nil {
		return APIResult{}, err
	}
	// Fail fast on a wrong URL or key.
	if err := c.Viewer(ctx); err != nil && !RateLimited(err) {
		return APIResult{}, fmt.Errorf("viewer: %w", err)
	}
	var seq atomic.Int64
	submit := func(ctx context.Context) error {
		n := seq.Add(1)
		p := people[int(n)%len(people)]
		_, err := c.Submit(ctx, WithKey(p.Input, cfg.RunID+"-"+strconv.FormatInt(n, 10)))
		return err
	}
	ops := []struct {
		res *OpResult
		fn  func(context.Context) error
		lat *Latencies
	}{
		{&OpResult{Op: "viewer", ErrorCodes: map[string]int{}}, c.Viewer, &Latencies{}},
		{&OpResult{Op: "submitVerification", ErrorCodes: map[string]int{}}, submit, &Latencies{}},
	}
	phase := cfg.Duration / time.Duration(cfg.Phases)
	bar := NewProgress(progress, "phases", cfg.Phases)
	for i := 0; i < cfg.Phases && ctx.Err() == nil; i++ {
		op := ops[i%2]
		start := time.Now()
		end := start.Add(phase)
		var mu sync.Mutex
		var wg sync.WaitGroup
		for range cfg.Concurrency {
			wg.Go(func() {
				for time.Now().Before(end) && ctx.Err() == nil {
					t0 := time.Now()
					err := op.fn(ctx)
					d := time.Since(t0)
					mu.Lock()
					op.res.Requests++
					switch {
					case err == nil:
						op.res.OK++
						op.lat.Add(d)
					case RateLimited(err):
						op.res.RateLimited++
					default:
						op.res.Errors++
						op.res.ErrorCodes[ErrorCode(err)]++
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		op.res.Elapsed += time.Since(start)
		bar.Add(1)
	}
	bar.Done()
	if err := ctx.Err(); err != nil {
		return APIResult{}, err
	}
	for _, op := range ops {
		op.res.Latency = op.lat.Summary()
	}
	return APIResult{Concurrency: cfg.Concurrency, Duration: cfg.Duration, Viewer: *ops[0].res, Submit: *ops[1].res}, nil
}
