package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/hibiken/asynq"

	"github.com/borderproof/borderproof/internal/billing"
	"github.com/borderproof/borderproof/internal/partnersim"
	"github.com/borderproof/borderproof/internal/queue"
)

// This file is the fault suite: named scenarios, each against a fresh
// cluster (cluster.go), each bounded in submissions and in time, compared
// with a fault-free baseline of the same run.

// Scenario is one fault of the suite.
type Scenario struct {
	Name string
	Doc  string
	// OwnPostgres runs the scenario on a PostgreSQL cluster of its own
	// (initdb in a temporary directory), which it may stop and start.
	OwnPostgres bool
	// Stripe puts stripe-mock behind a failing proxy and waits for every
	// usage row to be accepted by it.
	Stripe bool
	// RateFactor multiplies the submit rate and concurrency (0: 1).
	RateFactor float64
	// LatencyFactor multiplies the nominal partner latency for the whole
	// run (0: 1).
	LatencyFactor float64
	// InPlaceWorker runs the first worker as pid 1 of a PID namespace of
	// its own (ClusterConfig.InPlaceWorker).
	InPlaceWorker bool
	// ReceiverDelay is how long the webhook receiver takes to answer.
	ReceiverDelay time.Duration
	steps         func(f *faultEnv) []step
}

// faultEnv is what a scenario's steps act on.
type faultEnv struct {
	c     *Cluster
	recv  *Receiver
	pg    *Postgres
	proxy *StripeProxy
	// nominal is the partners' fault injection outside faults.
	nominal partnersim.Fault
	// hold is how long a fault lasts before it is cleared.
	hold time.Duration
}

// killWorker SIGKILLs one of the two workers halfway through and restarts
// it 3 s later.
func killWorker(f *faultEnv) []step { return killWorkerFor(f, 3*time.Second) }

// killWorkerFor SIGKILLs one of the two workers halfway through and
// restarts it down later.
func killWorkerFor(f *faultEnv, down time.Duration) []step {
	w := f.c.Workers[0]
	return []step{
		{At: 0.5, Name: "SIGKILL " + w.Name, Do: func(context.Context) error { return w.Kill() }},
		{At: 0.5, Wait: down, Name: "restart " + w.Name, Do: func(ctx context.Context) error { return f.c.Restart(ctx, w) }},
	}
}

// Scenarios lists the suite in the order it runs; the first is the
// baseline.
func Scenarios() []Scenario {
	return []Scenario{
		{Name: "baseline", Doc: "no fault"},
		{Name: "worker-kill", Doc: "SIGKILL one of two workers halfway through, restart it 3 s later", steps: killWorker},
		{Name: "worker-kill-busy", Doc: "as worker-kill, with every simulated partner 15x slower, so that the kill orphans runs in flight",
			LatencyFactor: 15, steps: killWorker},
		{Name: "worker-restart-in-place", Doc: "as worker-kill-busy, the worker running as a container does (pid 1 of its own PID namespace) " +
			"and restarted 1 s later under the same process name; the webhook receiver answers in 250 ms, so that the kill " +
			"catches first attempts in flight", LatencyFactor: 15, InPlaceWorker: true, ReceiverDelay: 250 * time.Millisecond,
			steps: func(f *faultEnv) []step { return killWorkerFor(f, time.Second) }},
		{Name: "redis-flushall", Doc: "FLUSHALL halfway through: every queued task is gone", steps: func(f *faultEnv) []step {
			return []step{{At: 0.5, Name: "redis FLUSHALL", Do: f.c.Redis.FlushAll}}
		}},
		{Name: "redis-restart", Doc: "Redis SHUTDOWN halfway through (append-only file flushed), started again 2 s later", steps: func(f *faultEnv) []step {
			return []step{
				{At: 0.5, Name: "redis SHUTDOWN", Do: f.c.Redis.Shutdown},
				{At: 0.5, Wait: 2 * time.Second, Name: "redis start", Do: f.c.Redis.Start},
			}
		}},
		{Name: "redis-kill", Doc: "Redis SIGKILL halfway through (up to a second of writes lost), started again 2 s later", steps: func(f *faultEnv) []step {
			return []step{
				{At: 0.5, Name: "redis SIGKILL", Do: func(context.Context) error { return f.c.Redis.Kill() }},
				{At: 0.5, Wait: 2 * time.Second, Name: "redis start", Do: f.c.Redis.Start},
			}
		}},
		{Name: "postgres-restart", Doc: "PostgreSQL (a cluster of the scenario's own) stopped halfway through, started 3 s later", OwnPostgres: true, steps: func(f *faultEnv) []step {
			return []step{
				{At: 0.5, Name: "postgres stop (fast)", Do: f.pg.Stop},
				{At: 0.5, Wait: 3 * time.Second, Name: "postgres start", Do: f.pg.Start},
			}
		}},
		{Name: "partner-outage", Doc: "every simulated partner answers 503 for 10 s from 30% of the submissions", steps: func(f *faultEnv) []step {
			out := f.nominal
			out.ErrorRate, out.ErrorStatus = 1, http.StatusServiceUnavailable
			return []step{
				{At: 0.3, Name: "partners 503", Do: func(ctx context.Context) error { return f.c.SetPartnerFault(ctx, out) }},
				{At: 0.3, Wait: f.hold, Name: "partners back", Do: func(ctx context.Context) error { return f.c.SetPartnerFault(ctx, f.nominal) }},
			}
		}},
		{Name: "partner-slow", Doc: "every simulated partner 10x slower for the whole run", LatencyFactor: 10},
		{Name: "webhook-down", Doc: "the webhook receiver refuses connections for 3 s from 30% of the submissions", steps: func(f *faultEnv) []step {
			return []step{
				{At: 0.3, Name: "receiver down", Do: func(context.Context) error { return f.recv.Stop() }},
				{At: 0.3, Wait: 3 * time.Second, Name: "receiver up", Do: func(context.Context) error { return f.recv.Start("") }},
			}
		}},
		{Name: "stripe-500", Doc: "Stripe answers 500 for 10 s while billing sync runs (every 2 s), then recovers", Stripe: true, steps: func(f *faultEnv) []step {
			return []step{
				{At: 0, Name: "stripe 500", Do: func(context.Context) error { f.proxy.SetFailing(true); return nil }},
				{At: 0, Wait: f.hold, Name: "stripe back", Do: func(context.Context) error { f.proxy.SetFailing(false); return nil }},
			}
		}},
		{Name: "burst", Doc: "submissions at 10x the normal rate and concurrency", RateFactor: 10},
	}
}

// ScenarioNames lists the scenarios' names.
func ScenarioNames() []string {
	var out []string
	for _, s := range Scenarios() {
		out = append(out, s.Name)
	}
	return out
}

// FaultsConfig configures the suite.
type FaultsConfig struct {
	// Cluster gives the binary, redis-server, the PostgreSQL server for
	// the scenarios that do not run their own, the log level and Keep.
	Cluster ClusterConfig
	// Scenarios names the scenarios to run (empty: all); the baseline
	// always runs first.
	Scenarios []string
	// Verifications per scenario (default 100).
	Verifications int
	// Rate is the normal submit rate per second (default 25) and
	// Concurrency the normal submissions in flight (default 8).
	Rate        float64
	Concurrency int
	// PartnerLatency is the nominal latency of every simulated partner
	// (default 20ms), so that "10x slower" means something.
	PartnerLatency time.Duration
	// Hold is how long the partner outage and the Stripe failure last
	// (default 10 s).
	Hold time.Duration
	// Timeout bounds each scenario's wait, after the last submission and
	// the end of its fault, for everything to settle (default 150 s).
	Timeout time.Duration
	// StripeMock is the stripe-mock executable; PostgresBin the directory
	// of initdb and pg_ctl (default: the newest /usr/lib/postgresql/*/bin,
	// else PATH).
	StripeMock  string
	PostgresBin string
	// MinVsBaseline is the completion rate a scenario must reach, as a
	// share of the baseline's (default 0.95).
	MinVsBaseline float64
	// RunID names the schemas (lower-case letters, digits, '_').
	RunID string
}

func (c *FaultsConfig) defaults() {
	if c.Verifications <= 0 {
		c.Verifications = 100
	}
	if c.Rate <= 0 {
		c.Rate = 25
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 8
	}
	if c.PartnerLatency <= 0 {
		c.PartnerLatency = 20 * time.Millisecond
	}
	if c.Hold <= 0 {
		c.Hold = 10 * time.Second
	}
	if c.Timeout <= 0 {
		c.Timeout = 150 * time.Second
	}
	if c.StripeMock == "" {
		c.StripeMock = "stripe-mock"
	}
	if c.MinVsBaseline <= 0 {
		c.MinVsBaseline = 0.95
	}
	if c.RunID == "" {
		c.RunID = "faults" + strconv.FormatInt(time.Now().UnixMilli(), 36)
	}
}

// ScenarioLine is the JSON line of one scenario.
type ScenarioLine struct {
	Scenario  string `json:"scenario"`
	Submitted int    `json:"submitted"`
	// Refused people were never acknowledged, even after retries.
	Refused   int `json:"refused"`
	Completed int `json:"completed"`
	Lost      int `json:"lost"`
	// DuplicatedUsage are usage rows that should not exist; MissingUsage
	// billable checks without one.
	DuplicatedUsage int `json:"duplicated_usage"`
	MissingUsage    int `json:"missing_usage"`
	// DuplicateEvents are final-outcome events beyond one per
	// verification; MissingEvents final verifications without one.
	DuplicateEvents     int `json:"duplicate_events"`
	MissingEvents       int `json:"missing_events"`
	WebhooksUndelivered int `json:"webhooks_undelivered"`
	WebhookDuplicates   int `json:"webhook_duplicates"`
	// UnsyncedUsage, for the Stripe scenario, is usage Stripe has not
	// accepted; StripeAccepted the distinct meter events it accepted,
	// StripeResent those accepted more than once (its identifier
	// deduplicates them) and StripeRefused the requests failed with 500.
	UnsyncedUsage  *int `json:"unsynced_usage,omitempty"`
	StripeAccepted *int `json:"stripe_accepted,omitempty"`
	StripeResent   *int `json:"stripe_resent,omitempty"`
	StripeRefused  *int `json:"stripe_refused,omitempty"`
	FailedChecks   int  `json:"failed_checks"`
	// RecoverS runs from the end of the fault (and of the submissions) to
	// the moment everything settled; -1 when it did not within the bound.
	RecoverS float64 `json:"recover_s"`
	// DurationS runs from the first submission until settled (or the
	// bound).
	DurationS float64 `json:"duration_s"`
	// ThroughputPerS is completed verifications per second of DurationS.
	ThroughputPerS float64 `json:"throughput_per_s"`
	// CompletionRate is completed ÷ submitted at the end; VsBaseline is
	// that rate over the baseline's.
	CompletionRate float64  `json:"completion_rate"`
	VsBaseline     float64  `json:"vs_baseline"`
	Pass           bool     `json:"pass"`
	Faults         []string `json:"faults,omitempty"`
	Error          string   `json:"error,omitempty"`
}

// scenarioLine turns a run into a line (VsBaseline and Pass are filled by
// finish).
func scenarioLine(name string, r runResult, stripe *stripeCounts) ScenarioLine {
	t := r.Tally
	l := ScenarioLine{
		Scenario: name, Submitted: t.Submitted, Completed: t.Completed, Lost: t.Lost,
		DuplicatedUsage: t.DuplicateUsageRows, MissingUsage: t.MissingUsageRows, DuplicateEvents: t.DuplicateEvents, MissingEvents: t.MissingEvents,
		WebhooksUndelivered: t.WebhooksUndelivered(), WebhookDuplicates: t.WebhooksDuplicates, FailedChecks: t.FailedChecks,
		RecoverS: -1, DurationS: Round(r.Duration.Seconds(), 2),
		ThroughputPerS: Round(Ratio(float64(t.Completed), r.Duration.Seconds()), 2),
		CompletionRate: Round(Ratio(float64(t.Completed), float64(t.Submitted)), 3),
		Faults:         r.Events,
	}
	for _, n := range r.Submit.Refused {
		l.Refused += n
	}
	if stripe != nil {
		u, sc := t.UnsyncedUsage, *stripe
		l.UnsyncedUsage, l.StripeAccepted, l.StripeResent, l.StripeRefused = &u, &sc.accepted, &sc.resent, &sc.refused
	}
	if !r.SettledAt.IsZero() {
		l.RecoverS = Round(max(r.SettledAt.Sub(r.ClearedAt), 0).Seconds(), 2)
	}
	if r.Err != nil {
		l.Error = r.Err.Error()
	}
	return l
}

// stripeCounts are the Stripe proxy's counts.
type stripeCounts struct{ accepted, resent, refused int }

// finish compares the line with the baseline's completion rate and
// decides whether the scenario passed: nothing lost, duplicated, missing
// or undelivered, settled within the bound, and completion at least
// minVs of the baseline's.
func (l *ScenarioLine) finish(baseline, minVs float64) {
	l.VsBaseline = Round(Ratio(l.CompletionRate, baseline), 3)
	l.Pass = l.Error == "" && l.Submitted > 0 && l.Lost == 0 && l.DuplicatedUsage == 0 && l.MissingUsage == 0 &&
		l.DuplicateEvents == 0 && l.MissingEvents == 0 && l.WebhooksUndelivered == 0 && l.RecoverS >= 0 && l.VsBaseline >= minVs &&
		(l.UnsyncedUsage == nil || *l.UnsyncedUsage == 0)
}

// FaultsSummary is the last JSON line of the suite.
type FaultsSummary struct {
	Summary             bool     `json:"summary"`
	Scenarios           int      `json:"scenarios"`
	Passed              int      `json:"passed"`
	Failed              []string `json:"failed"`
	Lost                int      `json:"lost"`
	DuplicatedUsage     int      `json:"duplicated_usage"`
	WebhooksUndelivered int      `json:"webhooks_undelivered"`
	MinVsBaseline       float64  `json:"min_vs_baseline"`
	MaxRecoverS         float64  `json:"max_recover_s"`
	DurationS           float64  `json:"duration_s"`
}

// SummarizeFaults adds the lines up.
func SummarizeFaults(lines []ScenarioLine, elapsed time.Duration) FaultsSummary {
	s := FaultsSummary{Summary: true, Scenarios: len(lines), Failed: []string{}, DurationS: Round(elapsed.Seconds(), 1)}
	for i, l := range lines {
		if l.Pass {
			s.Passed++
		} else {
			s.Failed = append(s.Failed, l.Scenario)
		}
		s.Lost += l.Lost
		s.DuplicatedUsage += l.DuplicatedUsage + l.MissingUsage
		s.WebhooksUndelivered += l.WebhooksUndelivered
		if i == 0 || l.VsBaseline < s.MinVsBaseline {
			s.MinVsBaseline = l.VsBaseline
		}
		if l.RecoverS > s.MaxRecoverS {
			s.MaxRecoverS = l.RecoverS
		}
	}
	return s
}

// WriteFaultsTable writes the lines as a table.
func WriteFaultsTable(w io.Writer, lines []ScenarioLine) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\tsubmitted\tcompleted\tlost\tdup usage\tmissing usage\twh undelivered\twh dup\trecover s\tverif/s\tcompletion\tvs baseline\tpass\t")
	for _, l := range lines {
		rec := "never"
		if l.RecoverS >= 0 {
			rec = strconv.FormatFloat(l.RecoverS, 'f', 1, 64)
		}
		pass := "yes"
		if !l.Pass {
			pass = "NO"
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%.1f\t%.3f\t%.3f\t%s\t\n", l.Scenario, l.Submitted, l.Completed, l.Lost,
			l.DuplicatedUsage, l.MissingUsage, l.WebhooksUndelivered, l.WebhookDuplicates, rec, l.ThroughputPerS, l.CompletionRate, l.VsBaseline, pass)
	}
	return tw.Flush()
}

// RunFaults runs the baseline and the chosen scenarios, one fresh cluster
// each, and calls emit with each scenario's line as soon as it is known
// (the baseline's first). It returns every line.
func RunFaults(ctx context.Context, cfg FaultsConfig, progress io.Writer, emit func(ScenarioLine) error) ([]ScenarioLine, error) {
	cfg.defaults()
	all := Scenarios()
	chosen := []Scenario{all[0]}
	for _, name := range cfg.Scenarios {
		i := slices.IndexFunc(all, func(s Scenario) bool { return s.Name == name })
		if i < 0 {
			return nil, fmt.Errorf("unknown scenario %q (known: %s)", name, strings.Join(ScenarioNames(), ", "))
		}
		if i > 0 && !slices.ContainsFunc(chosen, func(s Scenario) bool { return s.Name == name }) {
			chosen = append(chosen, all[i])
		}
	}
	if len(cfg.Scenarios) == 0 {
		chosen = all
	}
	var lines []ScenarioLine
	var baseline float64
	for i, sc := range chosen {
		if ctx.Err() != nil {
			return lines, ctx.Err()
		}
		if progress != nil {
			fmt.Fprintf(progress, "\n== %s (%d/%d): %s\n", sc.Name, i+1, len(chosen), sc.Doc)
		}
		l := runScenario(ctx, cfg, sc, progress)
		if i == 0 {
			baseline = l.CompletionRate
		}
		l.finish(baseline, cfg.MinVsBaseline)
		lines = append(lines, l)
		if emit != nil {
			if err := emit(l); err != nil {
				return lines, err
			}
		}
	}
	return lines, nil
}

// runScenario starts what the scenario needs, runs it, and stops it all.
func runScenario(ctx context.Context, cfg FaultsConfig, sc Scenario, progress io.Writer) ScenarioLine {
	fail := func(err error) ScenarioLine {
		return ScenarioLine{Scenario: sc.Name, RecoverS: -1, Error: err.Error()}
	}
	ccfg := cfg.Cluster
	ccfg.People = cfg.Verifications
	ccfg.Name = strings.ToLower(cfg.RunID + "_" + strings.ReplaceAll(sc.Name, "-", "_"))
	ccfg.Log = progress
	ccfg.Dir = ""
	f := &faultEnv{nominal: partnersim.Fault{Latency: partnersim.Duration(cfg.PartnerLatency)}, hold: cfg.Hold}
	if sc.InPlaceWorker {
		if err := CheckInPlace(ctx); err != nil {
			return fail(err)
		}
		ccfg.InPlaceWorker = true
	}
	if sc.OwnPostgres {
		pg, err := StartPostgres(ctx, cfg.PostgresBin, progress)
		if err != nil {
			return fail(fmt.Errorf("own postgres: %w", err))
		}
		defer pg.Close()
		f.pg = pg
		ccfg.DatabaseURL = pg.URL()
	}
	if sc.Stripe {
		proxy, stop, err := startStripe(ctx, cfg.StripeMock)
		if err != nil {
			return fail(fmt.Errorf("stripe-mock: %w", err))
		}
		defer stop()
		f.proxy = proxy
		ccfg.StripeAPIBase = proxy.URL()
	}
	c, err := StartCluster(ctx, ccfg)
	if err != nil {
		return fail(err)
	}
	defer c.Close()
	f.c = c
	if sc.LatencyFactor > 0 {
		f.nominal.Latency = partnersim.Duration(float64(cfg.PartnerLatency) * sc.LatencyFactor)
	}
	if err := c.SetPartnerFault(ctx, f.nominal); err != nil {
		return fail(err)
	}
	rf := max(sc.RateFactor, 1)
	env, err := newRunEnv(ctx, c, int(float64(cfg.Concurrency)*rf))
	if err != nil {
		return fail(err)
	}
	defer env.close()
	f.recv = env.recv
	env.recv.SetDelay(sc.ReceiverDelay)
	var steps []step
	if sc.steps != nil {
		steps = sc.steps(f)
	}
	spec := runSpec{
		People:    c.People,
		Submit:    SubmitConfig{Concurrency: int(float64(cfg.Concurrency) * rf), Rate: cfg.Rate * rf, RetryFor: time.Minute},
		Steps:     steps,
		Timeout:   cfg.Timeout,
		WatchSync: sc.Stripe,
		Progress:  progress,
	}
	if sc.Stripe {
		spec.During = func(ctx context.Context) { triggerSync(ctx, c.Redis.Addr(), 2*time.Second) }
	}
	res := env.run(ctx, spec)
	var counts *stripeCounts
	if f.proxy != nil {
		counts = &stripeCounts{}
		counts.accepted, counts.resent, counts.refused = f.proxy.Stats()
	}
	return scenarioLine(sc.Name, res, counts)
}

// triggerSync queues billing:sync every interval until ctx ends, as an
// operator running the sync by hand would, so that a Stripe failure and
// its recovery fit in seconds rather than in the schedule's minutes.
func triggerSync(ctx context.Context, redisAddr string, every time.Duration) {
	cl := asynq.NewClient(asynq.RedisClientOpt{Addr: redisAddr})
	defer cl.Close()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
		_, _ = cl.EnqueueContext(ctx, asynq.NewTask(billing.TaskSync, nil), asynq.Queue(queue.Low),
			asynq.TaskID("bench-sync-"+strconv.Itoa(i)), asynq.MaxRetry(0), asynq.Retention(0))
	}
}

// Postgres is a PostgreSQL cluster of the harness's own, in a temporary
// directory, on a free loopback port, that a scenario may stop and start
// without touching the machine's shared server. Run as root, it runs the
// server as the postgres user.
type Postgres struct {
	Port   int
	dir    string
	data   string
	binDir string
	runAs  string
	log    io.Writer
}

// StartPostgres runs initdb and starts the server. binDir holds initdb and
// pg_ctl ("" finds them).
func StartPostgres(ctx context.Context, binDir string, log io.Writer) (*Postgres, error) {
	if binDir == "" {
		binDir = findPostgresBin()
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "borderproof-pg-")
	if err != nil {
		return nil, err
	}
	p := &Postgres{Port: port, dir: dir, data: filepath.Join(dir, "data"), binDir: binDir, log: log}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			os.RemoveAll(dir)
			return nil, errors.New("running as root needs a postgres user to run the server")
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		p.runAs = "postgres"
	}
	if log != nil {
		fmt.Fprintf(log, "postgres: initdb in %s, port %d\n", dir, port)
	}
	if err := p.exec(ctx, "initdb", "-D", p.data, "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C"); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := p.Start(ctx); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return p, nil
}

// findPostgresBin is the newest /usr/lib/postgresql/*/bin with pg_ctl, or
// "" (PATH).
func findPostgresBin() string {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	slices.SortFunc(dirs, func(a, b string) int {
		va, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(filepath.Dir(a))), 64)
		vb, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(filepath.Dir(b))), 64)
		return int(va*100) - int(vb*100)
	})
	if len(dirs) == 0 {
		return ""
	}
	return filepath.Dir(dirs[len(dirs)-1])
}

func (p *Postgres) exec(ctx context.Context, tool string, args ...string) error {
	bin := tool
	if p.binDir != "" {
		bin = filepath.Join(p.binDir, tool)
	}
	name, argv := bin, args
	if p.runAs != "" {
		name, argv = "runuser", append([]string{"-u", p.runAs, "--", bin}, args...)
	}
	cctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(cctx, name, argv...)
	cmd.Dir = p.dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(out.String())
		if len(msg) > 600 {
			msg = msg[len(msg)-600:]
		}
		return fmt.Errorf("%s: %w: %s", tool, err, msg)
	}
	return nil
}

// URL is the server's postgres database as the postgres user.
func (p *Postgres) URL() string {
	return "postgres://postgres@127.0.0.1:" + strconv.Itoa(p.Port) + "/postgres?sslmode=disable"
}

// Start starts the server and waits until it accepts connections.
func (p *Postgres) Start(ctx context.Context) error {
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=off", p.Port, p.dir)
	return p.exec(ctx, "pg_ctl", "-D", p.data, "-l", filepath.Join(p.dir, "postgres.log"), "-w", "-t", "60", "-o", opts, "start")
}

// Stop stops the server in fast mode: sessions are cut, the data is kept.
func (p *Postgres) Stop(ctx context.Context) error {
	return p.exec(ctx, "pg_ctl", "-D", p.data, "-m", "fast", "-w", "-t", "60", "stop")
}

// Close stops the server at once and removes its directory.
func (p *Postgres) Close() {
	_ = p.exec(context.Background(), "pg_ctl", "-D", p.data, "-m", "immediate", "-w", "stop")
	os.RemoveAll(p.dir)
}

// StripeProxy stands in front of stripe-mock: it forwards every request,
// or answers 500 while failing, and counts the meter events stripe-mock
// accepted by identifier.
type StripeProxy struct {
	rp      *httputil.ReverseProxy
	failing atomic.Bool
	srv     *http.Server
	url     string

	mu       sync.Mutex
	accepted map[string]int
	refused  int
}

// NewStripeProxy builds a proxy to target (loopback).
func NewStripeProxy(target string) (*StripeProxy, error) {
	if err := CheckLoopback(target); err != nil {
		return nil, err
	}
	u, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	p := &StripeProxy{accepted: map[string]int{}}
	p.rp = httputil.NewSingleHostReverseProxy(u)
	p.rp.Transport = &http.Transport{Proxy: nil}
	return p, nil
}

// Start listens on a free loopback port.
func (p *StripeProxy) Start() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	p.url = "http://" + ln.Addr().String()
	p.srv = &http.Server{Handler: p, ReadHeaderTimeout: 5 * time.Second}
	go p.srv.Serve(ln)
	return nil
}

// URL is the proxy's base URL.
func (p *StripeProxy) URL() string { return p.url }

// Close stops the proxy.
func (p *StripeProxy) Close() {
	if p.srv != nil {
		p.srv.Close()
	}
}

// SetFailing makes every request answer 500 (true) or pass (false).
func (p *StripeProxy) SetFailing(on bool) { p.failing.Store(on) }

// Stats returns the distinct meter events accepted, how many of them were
// accepted more than once in all, and the requests refused with 500.
func (p *StripeProxy) Stats() (distinct, resent, refused int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, n := range p.accepted {
		resent += n - 1
	}
	return len(p.accepted), resent, p.refused
}

// ServeHTTP forwards or fails one request.
func (p *StripeProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if p.failing.Load() {
		p.mu.Lock()
		p.refused++
		p.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		io.WriteString(w, `{"error":{"type":"api_error","message":"injected failure"}}`)
		return
	}
	ident := ""
	if r.Method == http.MethodPost && r.URL.Path == "/v1/billing/meter_events" {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, "cannot read body", http.StatusBadRequest)
			return
		}
		if q, err := url.ParseQuery(string(body)); err == nil {
			ident = q.Get("identifier")
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
	}
	sw := &statusWriter{ResponseWriter: w}
	p.rp.ServeHTTP(sw, r)
	if ident != "" && sw.status/100 == 2 {
		p.mu.Lock()
		p.accepted[ident]++
		p.mu.Unlock()
	}
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// startStripe starts stripe-mock on free loopback ports and a proxy in
// front of it; stop stops both.
func startStripe(ctx context.Context, bin string) (proxy *StripeProxy, stop func(), err error) {
	httpPort, err := freePort()
	if err != nil {
		return nil, nil, err
	}
	httpsPort, err := freePort()
	if err != nil {
		return nil, nil, err
	}
	dir, err := os.MkdirTemp("", "borderproof-stripe-")
	if err != nil {
		return nil, nil, err
	}
	base := "http://127.0.0.1:" + strconv.Itoa(httpPort)
	mock := newProc("stripe-mock", bin, []string{"-http-addr", "127.0.0.1:" + strconv.Itoa(httpPort),
		"-https-addr", "127.0.0.1:" + strconv.Itoa(httpsPort)}, childEnv(), dir)
	// The error returns below set the named results to nil before the
	// deferred cleanup runs: it must not go through them.
	var p *StripeProxy
	cleanup := func() {
		if p != nil {
			p.Close()
		}
		_ = mock.Kill()
		os.RemoveAll(dir)
	}
	defer func() {
		if err != nil {
			cleanup()
		}
	}()
	if err = mock.Start(); err != nil {
		return nil, nil, err
	}
	hc := newLoopbackHTTP()
	defer hc.CloseIdleConnections()
	ready := func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/customers", nil)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer sk_test_borderproofbench")
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("stripe-mock: %s", resp.Status)
		}
		return nil
	}
	if err = mock.waitReady(ctx, 30*time.Second, ready); err != nil {
		return nil, nil, err
	}
	if p, err = NewStripeProxy(base); err != nil {
		return nil, nil, err
	}
	if err = p.Start(); err != nil {
		return nil, nil, err
	}
	return p, cleanup, nil
}
