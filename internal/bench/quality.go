package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/borderproof/borderproof/internal/partnersim"
	"github.com/borderproof/borderproof/internal/screening"
)

// Person is one synthetic policyholder ready to submit.
type Person struct {
	Label string
	// Input has the shape of SubmitVerificationInput.
	Input map[string]any
}

// SimWatchlist is the list of sanctioned names the simulator draws
// WATCHLIST_HIT people from: the embedded OFAC list, or the one in sdnDir
// when the simulator was started with --sdn. A population generated
// without it diverges from the simulator's after the first such person.
func SimWatchlist(ctx context.Context, sdnDir string) ([]partnersim.WatchlistName, error) {
	if sdnDir == "" {
		l, err := screening.LoadDefault(ctx)
		if err != nil {
			return nil, err
		}
		return partnersim.WatchlistNames(l, screening.DefaultFS())
	}
	l, err := screening.LoadDir(ctx, sdnDir)
	if err != nil {
		return nil, err
	}
	return partnersim.WatchlistNames(l, os.DirFS(sdnDir))
}

// People generates the population of cfg and turns each person into a
// submission whose idempotency key starts with keyPrefix. To reach people
// the simulator knows, cfg must match the simulator's: seed, as-of day, mix
// and watchlist (SimWatchlist); a smaller size gives its first people.
func People(cfg partnersim.PopulationConfig, keyPrefix string) ([]Person, error) {
	pop, err := partnersim.NewPopulation(cfg)
	if err != nil {
		return nil, err
	}
	out := make([]Person, 0, len(pop.People))
	for _, p := range pop.People {
		rec := p.Record()
		b, err := json.Marshal(rec)
		if err != nil {
			return nil, err
		}
		var in map[string]any
		if err := json.Unmarshal(b, &in); err != nil {
			return nil, err
		}
		delete(in, "label")
		in["idempotencyKey"] = keyPrefix + rec.IdempotencyKey
		out = append(out, Person{Label: string(rec.Label), Input: in})
	}
	return out, nil
}

// WithKey returns a copy of input under another idempotency key.
func WithKey(input map[string]any, key string) map[string]any {
	in := maps.Clone(input)
	in["idempotencyKey"] = key
	return in
}

// QualityConfig configures the quality harness.
type QualityConfig struct {
	Population  int
	Seed        uint64
	AsOf        time.Time // zero: today (UTC), as the simulator
	Concurrency int
	// Timeout bounds the whole run, submissions and waiting.
	Timeout      time.Duration
	PollInterval time.Duration
	// RunID prefixes idempotency keys, so that a rerun against the same
	// database submits afresh instead of replaying.
	RunID string
	// SDNDir is the simulator's --sdn directory, if it was given one.
	SDNDir string
	// DefaultChecks leaves out each person's list of checks, so that the
	// insurer's default (every check) runs instead.
	DefaultChecks bool
}

func (c *QualityConfig) defaults() {
	if c.Concurrency <= 0 {
		c.Concurrency = 8
	}
	if c.Timeout <= 0 {
		c.Timeout = 5 * time.Minute
	}
	if c.PollInterval <= 0 {
		c.PollInterval = 500 * time.Millisecond
	}
}

// QualityRun is what the quality harness observed.
type QualityRun struct {
	Confusion    *Confusion
	Submitted    int
	SubmitErrors map[string]int // by error code
	Elapsed      time.Duration
}

// Mutation and poll batch sizes.
const pollBatch = 50

// RunQuality submits every person of the population, waits for decisions
// until cfg.Timeout and tabulates label × decision. Submissions that fail
// count as undecided (and by code in SubmitErrors).
func RunQuality(ctx context.Context, c *Client, cfg QualityConfig, progress io.Writer) (*QualityRun, error) {
	cfg.defaults()
	if cfg.Population <= 0 {
		return nil, fmt.Errorf("population must be positive")
	}
	wl, err := SimWatchlist(ctx, cfg.SDNDir)
	if err != nil {
		return nil, err
	}
	people, err := People(partnersim.PopulationConfig{Seed: cfg.Seed, Size: cfg.Population, AsOf: cfg.AsOf, Watchlist: wl}, cfg.RunID+"-")
	if err != nil {
		return nil, err
	}
	if cfg.DefaultChecks {
		for _, p := range people {
			delete(p.Input, "checks")
		}
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	run := &QualityRun{SubmitErrors: map[string]int{}}
	ids := make([]string, len(people))

	bar := NewProgress(progress, "submit", len(people))
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(cfg.Concurrency)
	for i := range people {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error {
			s, err := c.Submit(gctx, people[i].Input)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				run.SubmitErrors[ErrorCode(err)]++
			} else {
				ids[i] = s.ID
				run.Submitted++
			}
			bar.Add(1)
			return nil
		})
	}
	g.Wait()
	bar.Done()

	decided := map[string]State{}
	var pending []string
	for _, id := range ids {
		if id != "" {
			pending = append(pending, id)
		}
	}
	bar = NewProgress(progress, "decide", len(pending))
	for len(pending) > 0 && ctx.Err() == nil {
		var still []string
		for chunk := range slices.Chunk(pending, pollBatch) {
			states, err := c.States(ctx, chunk)
			if err != nil {
				if ctx.Err() != nil {
					break
				}
				still = append(still, chunk...)
				continue
			}
			for _, id := range chunk {
				if s := states[id]; s.Terminal() {
					decided[id] = s
					bar.Add(1)
				} else {
					still = append(still, id)
				}
			}
		}
		pending = still
		if len(pending) > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(cfg.PollInterval):
			}
		}
	}
	bar.Done()

	labels := make([]string, 0, len(partnersim.Labels))
	for _, l := range partnersim.Labels {
		labels = append(labels, string(l))
	}
	run.Confusion = NewConfusion(labels, string(partnersim.LabelSlowCase))
	for i, p := range people {
		s := decided[ids[i]]
		d := ""
		if s.Terminal() && !s.Provisional {
			d = s.Decision
		}
		run.Confusion.Add(p.Label, d)
	}
	run.Elapsed = time.Since(start)
	return run, nil
}

// ErrorCode names a failed request: the GraphQL error code, TIMEOUT or
// TRANSPORT.
func ErrorCode(err error) string {
	var e *Error
	switch {
	case errors.As(err, &e):
		return e.Code
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return "TIMEOUT"
	}
	return "TRANSPORT"
}
