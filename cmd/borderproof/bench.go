package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/borderproof/borderproof/internal/bench"
	"github.com/borderproof/borderproof/internal/partnersim"
	"github.com/borderproof/borderproof/internal/queue"
)

// benchCmd groups the load and quality harnesses.
func benchCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "bench",
		Short: "Load, pipeline and quality harnesses (loopback only)",
		Long: "Harnesses that measure a BorderProof system on this machine. Each prints its figures\n" +
			"and ends with one JSON line on stdout; progress goes to stderr. They only talk to\n" +
			"loopback addresses and every loop is bounded in count and time.",
	}
	root.AddCommand(benchQualityCmd(), benchAPICmd(), benchPipelineCmd())
	root.AddCommand(clusterCommands()...)
	return root
}

// target is the server a harness talks to: --url and --key, or dev.json.
type target struct {
	url, key, devJSON string
}

func (t *target) flags(cmd *cobra.Command) {
	cmd.Flags().StringVar(&t.url, "url", "", "GraphQL URL (loopback), with --key")
	cmd.Flags().StringVar(&t.key, "key", "", "API key (test mode for the sandbox)")
	cmd.Flags().StringVar(&t.devJSON, "dev-json", "./.borderproof/dev.json", "dev.json written by `borderproof dev` (when --url is not given)")
}

func (t *target) client(conns int) (*bench.Client, error) {
	if t.url == "" {
		b, err := os.ReadFile(t.devJSON)
		if err != nil {
			return nil, fmt.Errorf("--dev-json: %w (start `borderproof dev` or pass --url and --key)", err)
		}
		var info devInfo
		if err := json.Unmarshal(b, &info); err != nil {
			return nil, fmt.Errorf("--dev-json: %w", err)
		}
		t.url, t.key = info.GraphQLURL, info.APIKey
	}
	if t.key == "" {
		return nil, errors.New("--key is required with --url")
	}
	c, err := bench.NewClient(t.url, t.key, conns)
	if err != nil {
		return nil, fmt.Errorf("--url: %w", err)
	}
	return c, nil
}

func runID() string { return "bench" + strconv.FormatInt(time.Now().UnixMilli(), 36) }

func benchQualityCmd() *cobra.Command {
	var t target
	var st stackFlags
	var cfg bench.QualityConfig
	var asOf string
	cmd := &cobra.Command{
		Use:   "quality",
		Short: "Decisions against ground truth: submit a synthetic population, tabulate label × decision",
		Long: "Generates the simulator's population (same --seed and --population as the simulator's,\n" +
			"and the same --as-of day, by default today), submits every person, waits for decisions\n" +
			"and prints a confusion table, the recall of every fraud label (REVIEW or DECLINE counts as\n" +
			"caught) and the share of CLEAN people decided CLEAR. `borderproof dev` runs its simulator\n" +
			"with seed 0 and 1000 people; with --database the harness instead starts the api, worker\n" +
			"and simulator in this process on a fresh schema, with this --seed and --population.",
		RunE: func(cmd *cobra.Command, _ []string) error {
			if asOf != "" {
				d, err := time.Parse(time.DateOnly, asOf)
				if err != nil {
					return fmt.Errorf("--as-of must be a date (2026-11-27)")
				}
				cfg.AsOf = d
			}
			cfg.RunID = runID()
			if st.database != "" {
				if cfg.AsOf.IsZero() {
					cfg.AsOf = time.Now().UTC()
				}
				s, err := startStack(cmd.Context(), stackOptions{
					DatabaseURL: st.database, RedisURL: st.redis, Concurrency: st.workers, Name: cfg.RunID,
					Seed: cfg.Seed, Population: cfg.Population, AsOf: cfg.AsOf, Keep: st.keep, FlushRedis: st.flush,
					LogLevel: st.logLevel, Unthrottled: true, BlobDir: st.blobDir,
				})
				if err != nil {
					return err
				}
				defer s.close()
				t.url, t.key = s.url, s.key
			}
			c, err := t.client(cfg.Concurrency)
			if err != nil {
				return err
			}
			defer c.Close()
			c.RetryRateLimited = true
			run, err := bench.RunQuality(cmd.Context(), c, cfg, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "\n%d people, %d submitted in %s (run %s)\n", cfg.Population, run.Submitted, run.Elapsed.Round(time.Millisecond), cfg.RunID)
			if len(run.SubmitErrors) > 0 {
				fmt.Fprintf(out, "submissions refused, by code: %v\n", run.SubmitErrors)
			}
			if err := run.Confusion.WriteTable(out); err != nil {
				return err
			}
			return bench.WriteJSONLine(out, run.Confusion.Result())
		},
	}
	t.flags(cmd)
	cmd.Flags().IntVar(&cfg.Population, "population", 1000, "people to submit (the first N of the simulator's population)")
	cmd.Flags().Uint64Var(&cfg.Seed, "seed", 0, "population seed (the simulator's)")
	cmd.Flags().StringVar(&asOf, "as-of", "", "the population's day, YYYY-MM-DD (default: today, UTC, as the simulator)")
	cmd.Flags().IntVar(&cfg.Concurrency, "concurrency", 8, "submissions in flight")
	cmd.Flags().DurationVar(&cfg.Timeout, "timeout", 5*time.Minute, "bound on the whole run; verifications without a decision then count as undecided")
	cmd.Flags().DurationVar(&cfg.PollInterval, "poll", 500*time.Millisecond, "interval between status polls")
	cmd.Flags().StringVar(&cfg.SDNDir, "sdn", "", "the simulator's --sdn directory, if it was started with one")
	cmd.Flags().BoolVar(&cfg.DefaultChecks, "default-checks", false, "submit without each person's check list, so the insurer's default checks run")
	st.flags(cmd, false)
	return cmd
}

func benchAPICmd() *cobra.Command {
	var t target
	var cfg bench.APIConfig
	var st stackFlags
	cmd := &cobra.Command{
		Use:   "api",
		Short: "Throughput and latency of submitVerification against viewer on one server",
		Long: "Runs alternating phases of viewer queries and submitVerification mutations at the same\n" +
			"concurrency against one server, and prints requests/s and p50/p99 of each with their ratios.\n" +
			"Targets a running server (--url/--key or --dev-json), or with --database and --redis starts\n" +
			"the api and worker in this process on a fresh schema (PostgreSQL) or file (SQLite) with\n" +
			"the rate limit lifted. Note that a server's per-key rate limit (dev: 50/s) caps both\n" +
			"operations; rate-limited answers are counted apart and kept out of the latencies.",
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			cfg.RunID = runID()
			var c *bench.Client
			var err error
			if st.database != "" {
				s, err := startStack(ctx, stackOptions{
					DatabaseURL: st.database, RedisURL: st.redis, Concurrency: st.workers, Name: cfg.RunID,
					Seed: cfg.Seed, Population: cfg.Population, Keep: st.keep, FlushRedis: st.flush, LogLevel: st.logLevel,
					BlobDir: st.blobDir,
				})
				if err != nil {
					return err
				}
				defer s.close()
				t.url, t.key = s.url, s.key
			}
			if c, err = t.client(cfg.Concurrency); err != nil {
				return err
			}
			defer c.Close()
			res, err := bench.RunAPI(ctx, c, cfg, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "\n%s, concurrency %d, %s in %d alternating phases\n", t.url, cfg.Concurrency, cfg.Duration, cfg.Phases)
			if err := res.WriteTable(out); err != nil {
				return err
			}
			return bench.WriteJSONLine(out, res.Line())
		},
	}
	t.flags(cmd)
	st.flags(cmd, false)
	cmd.Flags().IntVar(&cfg.Concurrency, "concurrency", 16, "requests in flight")
	cmd.Flags().DurationVar(&cfg.Duration, "duration", 10*time.Second, "total measured time")
	cmd.Flags().IntVar(&cfg.Phases, "phases", 10, "alternating phases (even)")
	cmd.Flags().IntVar(&cfg.Population, "population", 500, "distinct people the submissions cycle through")
	cmd.Flags().Uint64Var(&cfg.Seed, "seed", 0, "population seed")
	return cmd
}

// stackFlags are the flags of an in-process stack.
type stackFlags struct {
	database, redis, logLevel string
	blobDir                   string
	workers                   int
	keep, flush               bool
}

func (s *stackFlags) flags(cmd *cobra.Command, required bool) {
	what := "start the api and worker in process on this database: postgres://… (loopback; a fresh schema) or a SQLite path (a fresh file)"
	if required {
		what = "PostgreSQL URL (loopback); the run uses a fresh schema in it"
	}
	cmd.Flags().StringVar(&s.database, "database", "", what)
	cmd.Flags().StringVar(&s.redis, "redis", "redis://127.0.0.1:6379/13", "Redis URL (loopback) for the in-process stack; use a database index of its own")
	cmd.Flags().StringVar(&s.logLevel, "log-level", "warn", "log level of the in-process stack")
	cmd.Flags().BoolVar(&s.keep, "keep", false, "keep the fresh schema or file at the end")
	cmd.Flags().BoolVar(&s.flush, "flush-redis", false, "empty the Redis database first (needed when the service's queues hold tasks; keeps task counts exact)")
	cmd.Flags().StringVar(&s.blobDir, "blob-dir", "", "parent directory of the in-process stack's file-system blobs (default: "+memoryFS+" when writable, else the temporary directory)")
	if !required {
		cmd.Flags().IntVar(&s.workers, "workers", 10, "worker concurrency of the in-process stack")
	}
}

func benchPipelineCmd() *cobra.Command {
	var st stackFlags
	var n, conc, rawTasks, warmup int
	var seed uint64
	var timeout time.Duration
	var cpuProfile string
	var throttled bool
	cmd := &cobra.Command{
		Use:   "pipeline",
		Short: "End-to-end pipeline throughput against asynq's own ceiling, on PostgreSQL and Redis",
		Long: "In one run: (a) asynq alone, an enqueue loop and a server with a no-op handler at\n" +
			"--concurrency, for raw tasks/s, measured before and after (b) and taken together;\n" +
			"(b) the api and worker started in process on a fresh PostgreSQL schema, as dev mode\n" +
			"has them (each verification's evidence one signed bundle on the file system, by default\n" +
			"a memory one (--blob-dir), or on S3 when BORDERPROOF_S3_BUCKET and its companions are\n" +
			"set), with the partner simulator at zero latency and the sandbox partners' client-side\n" +
			"rate limits lifted (--throttled keeps them), and a webhook receiver on loopback that\n" +
			"verifies every signature; --verifications submitted over HTTP at --concurrency from a\n" +
			"CLEAN-heavy population, until every outcome and every verification.completed webhook\n" +
			"is in.\n" +
			"Ends with one JSON line: verifications/s, raw tasks/s, tasks per verification,\n" +
			"efficiency, submit-to-outcome p50/p99, cost in no-op tasks, lost verifications,\n" +
			"usage rows that should not exist, webhooks expected and received, and (on Linux)\n" +
			"the CPU time of (b) per verification: this process, the machine's postgres\n" +
			"processes and redis-server.",
		RunE: func(cmd *cobra.Command, _ []string) error {
			if n <= 0 || conc <= 0 {
				return errors.New("--verifications and --concurrency must be positive")
			}
			if warmup < 0 {
				return errors.New("--warmup must not be negative")
			}
			if st.database == "" {
				return errors.New("--database is required")
			}
			st.workers = conc
			return runPipelineBench(cmd, st, n, warmup, conc, rawTasks, seed, timeout, cpuProfile, throttled)
		},
	}
	st.flags(cmd, true)
	cmd.Flags().IntVar(&n, "verifications", 1000, "verifications to submit")
	cmd.Flags().IntVar(&conc, "concurrency", 16, "submissions in flight, worker concurrency and raw-loop concurrency")
	cmd.Flags().IntVar(&warmup, "warmup", 200, "verifications run to completion before the measured ones: a quarter of them (at least 50) fill the fresh schema, whose planner statistics are then gathered, the rest settle each connection's plans under them (0: none)")
	cmd.Flags().IntVar(&rawTasks, "raw-tasks", 0, "no-op tasks of the raw loop (default: 10 per verification, at least 5000)")
	cmd.Flags().Uint64Var(&seed, "seed", 1, "population seed")
	cmd.Flags().DurationVar(&timeout, "timeout", 10*time.Minute, "bound on waiting for outcomes")
	cmd.Flags().BoolVar(&throttled, "throttled", false, "keep the sandbox partners' client-side rate limits (dev config: 10 to 100 calls/s per partner), which then cap the run")
	cmd.Flags().StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the pipeline phase (b) to this file (go tool pprof)")
	return cmd
}

// startCPUProfile starts profiling into path; the returned func, safe to
// call more than once, stops it and closes the file. An empty path
// profiles nothing.
func startCPUProfile(path string) (func(), error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	return sync.OnceFunc(func() {
		pprof.StopCPUProfile()
		f.Close()
	}), nil
}

// serviceQueues are the queues the service's worker reads.
var serviceQueues = []string{queue.Critical, queue.Default, queue.Low}

func runPipelineBench(cmd *cobra.Command, st stackFlags, n, warmup, conc, rawTasks int, seed uint64, timeout time.Duration, cpuProfile string, throttled bool) error {
	ctx := cmd.Context()
	stderr := cmd.ErrOrStderr()
	log := newLogger(st.logLevel)
	if err := bench.CheckLoopback(st.redis); err != nil {
		return fmt.Errorf("--redis: %w", err)
	}
	opt, err := queue.Config{URL: st.redis}.ConnOpt()
	if err != nil {
		return fmt.Errorf("--redis: %w", err)
	}
	if rawTasks <= 0 {
		rawTasks = max(10*n, 5000)
	}
	id := runID()

	// (a) asynq alone.
	fmt.Fprintf(stderr, "raw asynq loop: %d no-op tasks at concurrency %d\n", rawTasks, conc)
	raw, err := bench.RunRawAsynq(ctx, opt, bench.RawConfig{Concurrency: conc, Tasks: rawTasks, Queue: "bench-noop-" + id, Timeout: 5 * time.Minute}, log)
	if err != nil {
		return fmt.Errorf("raw asynq loop: %w", err)
	}
	fmt.Fprintf(stderr, "raw asynq loop: %.0f tasks/s\n", raw.PerSec())

	// (b) the pipeline.
	asOf := time.Now().UTC()
	mix := bench.CleanHeavyMix()
	s, err := startStack(ctx, stackOptions{
		DatabaseURL: st.database, RedisURL: st.redis, Concurrency: conc, Name: id, Seed: seed, Population: warmup + n,
		Mix: mix, AsOf: asOf, Keep: st.keep, FlushRedis: st.flush, LogLevel: st.logLevel, Unthrottled: !throttled,
		BlobDir: st.blobDir,
	})
	if err != nil {
		return err
	}
	defer s.close()
	wl, err := bench.SimWatchlist(ctx, "")
	if err != nil {
		return err
	}
	people, err := bench.People(partnersim.PopulationConfig{Seed: seed, Size: warmup + n, Mix: mix, AsOf: asOf, Watchlist: wl}, id+"-")
	if err != nil {
		return err
	}
	c, err := bench.NewClient(s.url, s.key, conc)
	if err != nil {
		return err
	}
	defer c.Close()
	// Underwriters hear of outcomes through webhooks: a receiver on
	// loopback, verifying every signature, is part of the pipeline.
	recv := bench.NewReceiver()
	if err := recv.Start("127.0.0.1:0"); err != nil {
		return fmt.Errorf("webhook receiver: %w", err)
	}
	defer recv.Stop()
	secret, err := bench.CreateWebhookEndpoint(ctx, c, recv.URL())
	if err != nil {
		return fmt.Errorf("register the webhook endpoint: %w", err)
	}
	recv.SetSecret(secret)
	insp := asynq.NewInspector(opt)
	defer insp.Close()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	db := s.app.store.DB()
	// Warm-up, in two rounds: the first fills the fresh schema, whose
	// planner statistics are then gathered (a database in service has
	// them); the second runs under those statistics, since gathering them
	// drops the plans each pooled connection had prepared, and PostgreSQL
	// plans a prepared statement anew on each of its first five
	// executions on a connection. A service that has run for a while pays
	// neither.
	var outcomesBefore, eventsBefore, webhooksBefore int
	if warmup > 0 {
		first := min(warmup, max(warmup/4, 50))
		rounds := [][]bench.Person{people[:first], people[first:warmup]}
		for i, round := range rounds {
			if len(round) == 0 {
				continue
			}
			warm, _ := submitPeople(ctx, c, round, conc, bench.NewProgress(stderr, "warm-up", len(round)))
			if err := waitForOutcomes(ctx, db, outcomesBefore, len(warm), bench.NewProgress(nil, "", 0)); err != nil {
				return err
			}
			if err := waitForWebhooks(ctx, db, recv, 0, bench.NewProgress(nil, "", 0)); err != nil {
				return err
			}
			if i == 0 {
				if err := bench.Analyze(ctx, db, s.dialect); err != nil {
					return fmt.Errorf("analyze: %w", err)
				}
			}
			if outcomesBefore, err = bench.CountOutcomes(ctx, db); err != nil {
				return err
			}
		}
		people = people[warmup:]
		if eventsBefore, err = bench.CountWebhookEvents(ctx, db); err != nil {
			return err
		}
		webhooksBefore = recv.Stats().Unique
	}
	tasksBefore, err := bench.ProcessedTotal(insp, serviceQueues)
	if err != nil {
		return fmt.Errorf("asynq inspector: %w", err)
	}

	stopProfile, err := startCPUProfile(cpuProfile)
	if err != nil {
		return err
	}
	defer stopProfile()
	cpuBefore := bench.SampleCPU(bench.PostgresProcess, bench.RedisProcess)
	start := time.Now()
	submittedAt, refused := submitPeople(ctx, c, people, conc, bench.NewProgress(stderr, "submit", len(people)))
	if len(refused) > 0 {
		fmt.Fprintf(stderr, "submissions refused: %v\n", refused)
	}
	if err := waitForOutcomes(ctx, db, outcomesBefore, len(submittedAt), bench.NewProgress(stderr, "outcome", len(submittedAt))); err != nil {
		return err
	}
	expected, err := bench.CountWebhookEvents(ctx, db)
	if err != nil {
		return fmt.Errorf("count events: %w", err)
	}
	expected -= eventsBefore
	if err := waitForWebhooks(ctx, db, recv, webhooksBefore, bench.NewProgress(stderr, "webhook", expected)); err != nil {
		return err
	}
	// Let trailing tasks finish, for at most a few seconds, before
	// counting what ran.
	for i := 0; i < 50; i++ {
		if b, err := bench.Backlog(insp, serviceQueues); err == nil && b == 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	tasksAfter, err := bench.ProcessedTotal(insp, serviceQueues)
	if err != nil {
		return fmt.Errorf("asynq inspector: %w", err)
	}
	cpu := bench.SampleCPU(bench.PostgresProcess, bench.RedisProcess).Since(cpuBefore)
	stopProfile()

	// (a) again: the machine may have sped up or slowed down meanwhile;
	// the baseline is both readings together.
	fmt.Fprintf(stderr, "raw asynq loop again: %d no-op tasks at concurrency %d\n", rawTasks, conc)
	rawAfter, err := bench.RunRawAsynq(context.WithoutCancel(ctx), opt, bench.RawConfig{Concurrency: conc, Tasks: rawTasks,
		Queue: "bench-noop-after-" + id, Timeout: 5 * time.Minute}, log)
	if err != nil {
		return fmt.Errorf("raw asynq loop: %w", err)
	}
	fmt.Fprintf(stderr, "raw asynq loop: %.0f tasks/s before the pipeline, %.0f after\n", raw.PerSec(), rawAfter.PerSec())
	raw = raw.Plus(rawAfter)

	qctx, qcancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer qcancel()
	outcomes, err := bench.Outcomes(qctx, db)
	if err != nil {
		return fmt.Errorf("read outcomes: %w", err)
	}
	run := bench.PipelineRun{Submitted: len(submittedAt), Tasks: tasksAfter - tasksBefore, Raw: raw,
		WebhooksExpected: expected, WebhooksReceived: recv.Stats().Unique - webhooksBefore, CPU: cpu}
	var last time.Time
	for vid, t0 := range submittedAt {
		at, ok := outcomes[vid]
		if !ok {
			continue
		}
		run.Outcomes++
		run.Latencies = append(run.Latencies, at.Sub(t0))
		if at.After(last) {
			last = at
		}
	}
	if hook := recv.LastNew(); hook.After(last) {
		last = hook
	}
	if run.Outcomes > 0 {
		run.Elapsed = last.Sub(start)
	}
	if run.UsageAnomalies, err = bench.UsageAnomalies(qctx, db); err != nil {
		return fmt.Errorf("count usage rows: %w", err)
	}
	line := run.Line()
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "\n%d verifications at concurrency %d on %s\n", n, conc, s.dialect)
	fmt.Fprintf(out, "  raw asynq:        %d no-op tasks in %s = %.0f tasks/s (before and after the pipeline)\n", raw.Processed, raw.Elapsed.Round(time.Millisecond), raw.PerSec())
	fmt.Fprintf(out, "  pipeline:         %d outcomes in %s = %.1f verifications/s, %d tasks (%.2f per verification)\n",
		run.Outcomes, run.Elapsed.Round(time.Millisecond), line.VerificationsPerSec, run.Tasks, line.TasksPerVerification)
	fmt.Fprintf(out, "  submit→outcome:   p50 %.0f ms, p99 %.0f ms\n", line.SubmitToOutcomeP50Ms, line.SubmitToOutcomeP99Ms)
	fmt.Fprintf(out, "  webhooks:         %d of %d received, signatures verified\n", line.WebhooksReceived, line.WebhooksExpected)
	fmt.Fprintf(out, "  efficiency %.3f, one verification costs %.1f no-op tasks; lost %d; bad usage rows %d\n",
		line.Efficiency, line.CostInNoopTasks, line.Lost, line.DuplicateUsageRows)
	if c := line.CPUMsPerVerification; c != nil {
		fmt.Fprintf(out, "  CPU per verification: this process %.2f ms (api, worker, simulator, client, receiver), PostgreSQL %.2f ms, Redis %.2f ms\n",
			c.Service, c.Postgres, c.Redis)
	}
	return bench.WriteJSONLine(out, line)
}

// submitPeople submits every person's verification over HTTP, conc at a
// time, and returns when each was sent (by verification id) and the
// refusals by error code.
func submitPeople(ctx context.Context, c *bench.Client, people []bench.Person, conc int, bar *bench.Progress) (map[string]time.Time, map[string]int) {
	var mu sync.Mutex
	submittedAt := map[string]time.Time{}
	refused := map[string]int{}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(conc)
	for _, p := range people {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error {
			t0 := time.Now()
			sub, err := c.Submit(gctx, p.Input)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				refused[bench.ErrorCode(err)]++
			} else {
				submittedAt[sub.ID] = t0
			}
			bar.Add(1)
			return nil
		})
	}
	g.Wait()
	bar.Done()
	return submittedAt, refused
}

// pollEvery is how often the harness counts outcomes and webhooks while it
// waits. Each count reads a table the run is filling, on the database the
// run measures (5 ms of PostgreSQL's CPU at a few thousand verifications),
// and the figures take their times from the rows, not from when the
// harness noticed.
const pollEvery = 500 * time.Millisecond

// waitForOutcomes polls until the database holds base+n outcomes; bar
// counts those past base.
func waitForOutcomes(ctx context.Context, db *sql.DB, base, n int, bar *bench.Progress) error {
	defer bar.Done()
	for {
		if k, err := bench.CountOutcomes(ctx, db); err == nil {
			bar.Set(k - base)
			if k >= base+n {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return nil // out of time: the count tells what is lost
		case <-time.After(pollEvery):
		}
	}
}

// waitForWebhooks polls until the receiver has verified a message for
// every event the database holds; bar counts those past base.
func waitForWebhooks(ctx context.Context, db *sql.DB, recv *bench.Receiver, base int, bar *bench.Progress) error {
	defer bar.Done()
	for {
		want, err := bench.CountWebhookEvents(ctx, db)
		if err != nil {
			return fmt.Errorf("count events: %w", err)
		}
		got := recv.Stats().Unique
		bar.Set(got - base)
		if got >= want {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil // out of time: the count tells what is missing
		case <-time.After(pollEvery):
		}
	}
}

// stackOptions configures an in-process api + worker + simulator.
type stackOptions struct {
	DatabaseURL, RedisURL string
	Concurrency           int
	Name                  string
	Seed                  uint64
	Population            int
	Mix                   partnersim.Mix
	AsOf                  time.Time
	Keep, FlushRedis      bool
	LogLevel              string
	// Unthrottled lifts the client-side rate limits of the sandbox
	// partners, so that the run measures BorderProof, not their quotas.
	Unthrottled bool
	// BlobDir is the parent of the run's file-system blobs; empty means
	// the default of benchBlobDir.
	BlobDir string
}

// memoryFS is where Linux mounts a memory file system for everyone.
const memoryFS = "/dev/shm"

// benchBlobDir makes the directory of a bench's file-system blobs under
// parent, or by default on a memory file system when the machine has a
// writable one, else in the temporary directory. Production keeps
// evidence on S3, a network call, not a file created on a local disk; on
// these machines' ext4 creating a file costs 0.6-1.2 ms of kernel CPU
// (40 µs on tmpfs), which would be measured as the pipeline's.
func benchBlobDir(parent string) (string, error) {
	const pattern = "borderproof-bench-blobs-"
	if parent != "" {
		return os.MkdirTemp(parent, pattern)
	}
	if dir, err := os.MkdirTemp(memoryFS, pattern); err == nil {
		return dir, nil
	}
	return os.MkdirTemp("", pattern)
}

// stack is an in-process system on real servers, as `borderproof dev`
// assembles it but on the given database and Redis, with the rate limit
// lifted and a fresh schema.
type stack struct {
	url, key string
	dialect  string
	app      *app
	close    func()
}

func startStack(ctx context.Context, o stackOptions) (s *stack, err error) {
	if err := bench.CheckLoopback(o.RedisURL); err != nil {
		return nil, fmt.Errorf("--redis: %w", err)
	}
	if err := bench.CheckLoopback(o.DatabaseURL); err != nil {
		return nil, fmt.Errorf("--database: %w", err)
	}
	log := newLogger(o.LogLevel)
	var closers []func()
	cleanup := func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	defer func() {
		if err != nil {
			cleanup()
		}
	}()
	if err := checkQueuesEmpty(o.RedisURL, o.FlushRedis); err != nil {
		return nil, err
	}
	if !o.Keep {
		// Tasks left behind address rows of the dropped schema.
		closers = append(closers, func() { dropQueues(o.RedisURL) })
	}
	dir, err := os.MkdirTemp("", "borderproof-bench-")
	if err != nil {
		return nil, err
	}
	closers = append(closers, func() { os.RemoveAll(dir) })
	blobDir, err := benchBlobDir(o.BlobDir)
	if err != nil {
		return nil, fmt.Errorf("blob directory: %w", err)
	}
	closers = append(closers, func() { os.RemoveAll(blobDir) })
	dbURL, drop, err := bench.FreshDatabase(ctx, o.DatabaseURL, strings.ToLower(o.Name), dir)
	if err != nil {
		return nil, fmt.Errorf("--database: %w", err)
	}
	if !o.Keep {
		closers = append(closers, func() {
			dctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := drop(dctx); err != nil {
				log.Warn("bench: could not drop the fresh database", "err", err)
			}
		})
	} else {
		fmt.Fprintf(os.Stderr, "keeping database %s\n", dbURL)
	}
	cfg := Config{
		DatabaseURL: dbURL, RedisURL: o.RedisURL, ListenAddr: "127.0.0.1:0", LogLevel: o.LogLevel,
		RateLimitPerSecond: 1_000_000, RateLimitBurst: 1_000_000, BodyLimitBytes: 1 << 20,
		WorkerConcurrency: max(o.Concurrency, 1), VaultProvider: "local", VaultKeyFile: filepath.Join(dir, "vault.key"),
	}
	a, err := openApp(ctx, cfg, log, true)
	if err != nil {
		return nil, err
	}
	closers = append(closers, a.close)
	sim, err := partnersim.New(partnersim.Config{Seed: o.Seed, Population: max(o.Population, 1), Mix: o.Mix, AsOf: o.AsOf,
		CaseInitialDelay: -1, Unthrottled: o.Unthrottled}, log)
	if err != nil {
		return nil, fmt.Errorf("partner simulator: %w", err)
	}
	if err := sim.Start(ctx); err != nil {
		return nil, fmt.Errorf("partner simulator: %w", err)
	}
	closers = append(closers, func() { sim.Close() })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	// What dev mode has: blobs and the evidence key under the run's
	// directory, webhooks to loopback receivers.
	a.benchDir, a.benchBlobDir, a.baseURL = dir, blobDir, "http://"+ln.Addr().String()
	url := a.baseURL + "/graphql"
	info, err := ensureDevTenant(ctx, a, filepath.Join(dir, "dev.json"), url)
	if err != nil {
		ln.Close()
		return nil, err
	}
	srv, err := a.apiServer(ctx, cfg)
	if err != nil {
		ln.Close()
		return nil, err
	}
	w, err := a.worker(ctx, cfg, workerOpts{Sim: sim})
	if err != nil {
		ln.Close()
		return nil, err
	}
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := srv.Serve(runCtx, ln); err != nil && !errors.Is(err, context.Canceled) {
			log.Error("bench: api stopped", "err", err)
		}
	})
	wg.Go(func() {
		if err := w.Run(runCtx); err != nil && !errors.Is(err, context.Canceled) {
			log.Error("bench: worker stopped", "err", err)
		}
	})
	closers = append(closers, func() { stop(); wg.Wait() })
	return &stack{url: url, key: info.APIKey, dialect: string(a.store.Dialect()), app: a, close: cleanup}, nil
}

// checkQueuesEmpty refuses to start on a Redis database whose service
// queues hold tasks (they would be run, and counted, by the bench worker)
// unless flush is set, which empties that database.
func checkQueuesEmpty(redisURL string, flush bool) error {
	qc := queue.Config{URL: redisURL}
	opt, err := qc.ConnOpt()
	if err != nil {
		return fmt.Errorf("--redis: %w", err)
	}
	insp := asynq.NewInspector(opt)
	defer insp.Close()
	backlog, err := bench.Backlog(insp, serviceQueues)
	if err != nil {
		return fmt.Errorf("--redis: %w", err)
	}
	if backlog > 0 && !flush {
		return fmt.Errorf("--redis: the service queues hold %d task(s); use another database index or --flush-redis", backlog)
	}
	if !flush {
		return nil
	}
	// Flush even without a backlog: a deleted queue leaves its processed
	// counter behind, and the next run would count the earlier runs'
	// tasks as its own (the queue is unknown when the run starts, known
	// with the old total when it ends).
	rc, err := qc.UniversalClient()
	if err != nil {
		return err
	}
	defer rc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return rc.FlushDB(ctx).Err()
}

// dropQueues deletes the service queues and every task in them.
func dropQueues(redisURL string) {
	opt, err := queue.Config{URL: redisURL}.ConnOpt()
	if err != nil {
		return
	}
	insp := asynq.NewInspector(opt)
	defer insp.Close()
	known, err := insp.Queues()
	if err != nil {
		return
	}
	for _, q := range serviceQueues {
		if slices.Contains(known, q) {
			insp.DeleteQueue(q, true)
		}
	}
}
