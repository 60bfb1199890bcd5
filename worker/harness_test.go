package worker

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/borderproof/borderproof/internal/billing"
	"github.com/borderproof/borderproof/internal/blob"
	"github.com/borderproof/borderproof/internal/evidence"
	"github.com/borderproof/borderproof/internal/partner"
	"github.com/borderproof/borderproof/internal/partner/clients"
	"github.com/borderproof/borderproof/internal/partnersim"
	"github.com/borderproof/borderproof/internal/partnersim/simtest"
	"github.com/borderproof/borderproof/internal/pipeline"
	"github.com/borderproof/borderproof/internal/queue"
	"github.com/borderproof/borderproof/internal/store"
	"github.com/borderproof/borderproof/internal/store/storetest"
	"github.com/borderproof/borderproof/internal/tenant"
	"github.com/borderproof/borderproof/internal/testenv"
	"github.com/borderproof/borderproof/internal/vault"
	"github.com/borderproof/borderproof/internal/verification"
)

// redisDB is this package's own Redis database; tests flush it.
const redisDB = 6

// Environment of a worker child process (crash tests): the test binary runs
// itself with these set and serves tasks until it is killed.
const (
	childEnv         = "BORDERPROOF_PIPELINE_TEST_CHILD"
	childDSNEnv      = "BORDERPROOF_PIPELINE_TEST_DSN"
	childRedisEnv    = "BORDERPROOF_PIPELINE_TEST_REDIS"
	childDirEnv      = "BORDERPROOF_PIPELINE_TEST_DIR"
	childPartnersEnv = "BORDERPROOF_PIPELINE_TEST_PARTNERS"
	childConcEnv     = "BORDERPROOF_PIPELINE_TEST_CONCURRENCY"
	// childNameEnv, when set, is the process name the child's checks and
	// its liveness id go by, as if it ran in a container that is later
	// restarted in place: its successor then runs under the same name.
	childNameEnv = "BORDERPROOF_PIPELINE_TEST_NAME"
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		os.Exit(runChild())
	}
	os.Exit(m.Run())
}

// paths are what a parent and its child processes share.
type paths struct {
	DSN       string
	RedisAddr string
	Dir       string // vault key, blobs, TLS files
	Partners  string // partners config file
}

// stack is the pipeline assembled on real servers.
type stack struct {
	paths
	log      *slog.Logger
	store    *store.Store
	tenants  *tenant.Service
	vault    *vault.Vault
	verifs   *verification.Service
	blobs    *blob.FS
	evidence *evidence.Service
	bundler  *Bundler
	enq      *queue.Enqueuer
	redis    asynq.RedisClientOpt
	pipe     *pipeline.Pipeline
	requeue  *Requeue
	metrics  *SweepMetrics
	closers  []func()
}

func (s *stack) close() {
	for i := len(s.closers) - 1; i >= 0; i-- {
		s.closers[i]()
	}
}

func newStack(ctx context.Context, p paths, cfg pipeline.Config, log *slog.Logger) (*stack, error) {
	s := &stack{paths: p, log: log}
	st, err := store.Open(ctx, p.DSN, log)
	if err != nil {
		return nil, err
	}
	s.store = st
	s.closers = append(s.closers, func() { st.Close() })
	if _, err := st.Migrate(ctx); err != nil {
		s.close()
		return nil, err
	}
	s.tenants = tenant.NewService(st, func(string) string { return "EU" }, log)
	prov, err := vault.NewLocalFile(filepath.Join(p.Dir, "vault.key"), log)
	if err != nil {
		s.close()
		return nil, err
	}
	if s.vault, err = vault.New(vault.Config{}, prov, st, log); err != nil {
		s.close()
		return nil, err
	}
	s.closers = append(s.closers, s.vault.Close)
	if s.blobs, err = blob.NewFS(blob.FSConfig{Root: filepath.Join(p.Dir, "blobs"), BaseURL: "http://localhost:8080",
		SigningKey: []byte("0123456789abcdef0123456789abcdef")}, log); err != nil {
		s.close()
		return nil, err
	}
	// The signing key lives in Dir, shared by the test and its worker
	// processes.
	signer, err := evidence.LoadOrCreateKeyFile(filepath.Join(p.Dir, "evidence.pem"), log)
	if err != nil {
		s.close()
		return nil, err
	}
	s.evidence = evidence.New(s.blobs, signer, st, log)
	s.redis = asynq.RedisClientOpt{Addr: p.RedisAddr, DB: redisDB}
	s.enq = queue.NewEnqueuer(s.redis)
	s.closers = append(s.closers, func() { s.enq.Close() })
	s.verifs = verification.NewService(verification.Deps{Store: st, Audit: st, Sealer: s.vault, Queue: s.enq, Log: log})
	pc, err := partner.LoadConfig(p.Partners)
	if err != nil {
		s.close()
		return nil, err
	}
	creds := partnersim.DefaultCredentials().Env()
	deps := partner.Deps{Logger: log, LookupEnv: func(n string) (string, bool) { v, ok := creds[n]; return v, ok }}
	reg, err := partner.NewRegistry(pc, clients.Factories(), deps, nil)
	if err != nil {
		s.close()
		return nil, err
	}
	kb, err := partner.NewKeyBlinder(pc, deps)
	if err != nil {
		s.close()
		return nil, err
	}
	net := pipeline.Network{Router: reg, Blinder: kb}
	s.bundler = &Bundler{Store: st, Evidence: s.evidence, ListVersion: func(string) string { return "" }}
	cfg.Bundles = true // runs and score handlers build bundles
	s.pipe = pipeline.New(cfg, pipeline.Deps{Store: st, Opener: s.verifs, Sealer: s.vault,
		Queue: s.enq, Tenants: s.tenants, Live: net, Test: net, Bundler: s.bundler, Log: log})
	s.requeue = NewRequeue(s.redis, log)
	s.closers = append(s.closers, func() { s.requeue.Close() })
	s.metrics, _ = NewSweepMetrics(nil)
	return s, nil
}

// handlers are the pipeline's task handlers (the sweeper is driven by the
// tests themselves, at their own pace).
func (s *stack) handlers() []Handler {
	score := WithEvidence(Score(s.pipe), s.bundler)
	return []Handler{Run(s.pipe, score), CheckRun(s.pipe), CheckPoll(s.pipe), score, Sweep(s.pipe, s.requeue, s.metrics, s.log),
		{Type: "event:publish", Fn: func(context.Context, []byte) error { return nil }},
		{Type: billing.TaskRollUp, Fn: func(ctx context.Context, _ []byte) error {
			_, err := s.store.RollUpUsage(ctx, billing.RollUpBatch)
			return err
		}}}
}

// worker builds an asynq server with the pipeline's handlers.
func (s *stack) worker(ctx context.Context, concurrency int) *Worker {
	return New(ctx, Config{Concurrency: concurrency, ShutdownTimeout: 2 * time.Second}, s.redis, s.log, s.handlers(), nil)
}

// runChild is a worker process for the crash tests.
func runChild() int {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx := context.Background()
	name := queue.ThisProcess()
	if n := os.Getenv(childNameEnv); n != "" {
		name = n
	}
	s, err := newStack(ctx, paths{DSN: os.Getenv(childDSNEnv), RedisAddr: os.Getenv(childRedisEnv),
		Dir: os.Getenv(childDirEnv), Partners: os.Getenv(childPartnersEnv)}, pipeline.Config{Process: name}, log)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 2
	}
	defer s.close()
	conc, err := strconv.Atoi(os.Getenv(childConcEnv))
	if err != nil || conc <= 0 {
		conc = 20
	}
	// Its heartbeat, as the service's worker has: its beats stopping is
	// how the others learn that it died (WatchWorkers).
	rc := redis.NewClient(&redis.Options{Addr: s.RedisAddr, DB: redisDB})
	defer rc.Close()
	live := queue.NewLiveness(rc, log)
	live.Start(ctx)
	defer live.Close()
	if name != queue.ThisProcess() {
		// Its liveness id under that name, as its beats would write it.
		if err := rc.Set(ctx, beatIDKey(name), live.ID(), 10*time.Minute).Err(); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			return 2
		}
	}
	if err := s.worker(ctx, conc).Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	return 0
}

// beatIDKey is where a process's beats write its liveness id, by process
// name (queue.Liveness).
func beatIDKey(proc string) string { return "borderproof:beatid:" + proc }

// fixture is a stack for one test, with a simulator, an insurer and a
// sandbox principal.
type fixture struct {
	*stack
	t       *testing.T
	sim     *partnersim.Sim
	insurer tenant.Insurer
	ctx     context.Context // carries the principal
	rdb     *redis.Client
	// sweeper runs one sweep (default: the pipeline's Sweep directly).
	sweeper func() error
}

type fixtureOpt func(*fixtureOptions)

type fixtureOptions struct {
	pipeline pipeline.Config
	settings tenant.Settings
	partner  func(*partner.PartnerConfig)
}

func newFixture(t *testing.T, opts ...fixtureOpt) *fixture {
	t.Helper()
	var o fixtureOptions
	for _, f := range opts {
		f(&o)
	}
	addr := testenv.Require(t, testenv.RedisAddrVar)
	dsn := storetest.PostgresSchema(t)
	dir := t.TempDir()
	sim := simtest.Start(t)

	// The partners config the stack (and its child processes) read.
	tlsCfg, err := sim.PKI().WriteClientFiles(filepath.Join(dir, "tls"))
	if err != nil {
		t.Fatal(err)
	}
	var pc partner.Config
	for _, proto := range partnersim.Protocols {
		c := simtest.PartnerConfig(t, sim, proto)
		if c.TLS != nil {
			c.TLS = tlsCfg
		}
		c.Breaker = partner.BreakerConfig{Failures: 3, OpenFor: time.Second, MaxOpenFor: 4 * time.Second, HalfOpenRequests: 1}
		if o.partner != nil {
			o.partner(&c)
		}
		pc.Partners = append(pc.Partners, c)
	}
	raw, err := pc.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	partners := filepath.Join(dir, "partners.yaml")
	if err := os.WriteFile(partners, raw, 0o600); err != nil {
		t.Fatal(err)
	}

	rdb := redis.NewClient(&redis.Options{Addr: addr, DB: redisDB})
	t.Cleanup(func() { rdb.Close() })
	if err := rdb.FlushDB(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() && os.Getenv("BORDERPROOF_TEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	st, err := newStack(context.Background(), paths{DSN: dsn, RedisAddr: addr, Dir: dir, Partners: partners}, o.pipeline, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.close)

	ctx := context.Background()
	ins, err := st.tenants.CreateInsurer(ctx, tenant.CreateInsurerInput{Name: "Test Mutual", Country: "FRA", Region: "EU", Mode: tenant.Live})
	if err != nil {
		t.Fatal(err)
	}
	if o.settings.TestDeadlineSeconds != 0 || len(o.settings.DefaultChecks) > 0 {
		if err := st.store.UpdateInsurerSettings(ctx, ins.ID, ins.RetentionDays, o.settings); err != nil {
			t.Fatal(err)
		}
		ins.Settings = o.settings
	}
	key, plain, err := st.tenants.CreateKey(ctx, tenant.CreateKeyInput{InsurerID: ins.ID, Name: "test", Mode: tenant.Test, Scopes: tenant.AllScopes})
	if err != nil {
		t.Fatal(err)
	}
	_ = key
	p, err := st.tenants.Authenticate(ctx, plain)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{stack: st, t: t, sim: sim, insurer: ins, ctx: tenant.WithPrincipal(ctx, p), rdb: rdb}
}

// submission is a valid submission for a sandbox document number.
func submission(n int, docNumber string) verification.SubmitInput {
	return verification.SubmitInput{
		ExternalReference: "policy-" + strconv.Itoa(n),
		Policyholder: verification.Policyholder{GivenNames: "Anna Maria", Surname: "Eriksson", DateOfBirth: "1974-08-12",
			Nationality: "SWE", Sex: "F", ResidenceCountry: "SWE"},
		Documents: []verification.Document{{Type: "PASSPORT", Number: docNumber, IssuingCountry: "SWE", ExpiryDate: "2030-04-15"}},
		Policy:    &verification.PolicyInput{Product: "TRAVEL", CoverageCountry: "FRA", StartDate: "2026-12-01", EndDate: "2027-11-30"},
		Consent: verification.ConsentInput{Reference: "consent-" + strconv.Itoa(n), ObtainedAt: time.Now().Add(-time.Hour).UTC(),
			LawfulBasis: "CONSENT", Purposes: []string{"UNDERWRITING"}},
	}
}

func (f *fixture) submit(in verification.SubmitInput) verification.Verification {
	f.t.Helper()
	res, err := f.verifs.Submit(f.ctx, in)
	if err != nil {
		f.t.Fatalf("submit: %v", err)
	}
	return res.Verification
}

func (f *fixture) get(id string) verification.Verification {
	f.t.Helper()
	v, err := f.store.PipelineVerification(context.Background(), f.insurer.ID, id)
	if err != nil {
		f.t.Fatal(err)
	}
	return v
}

// sweepOnce runs one sweep (f.sweeper, else the pipeline's Sweep).
func (f *fixture) sweepOnce() {
	f.t.Helper()
	sweep := f.sweeper
	if sweep == nil {
		sweep = func() error { _, err := f.pipe.Sweep(context.Background(), f.requeue); return err }
	}
	if err := sweep(); err != nil {
		f.t.Fatalf("sweep: %v", err)
	}
}

// waitBundles waits until every verification's evidence bundle is
// recorded (it is written after the outcome), sweeping every second, and
// fails after timeout.
func (f *fixture) waitBundles(ids []string, timeout time.Duration) {
	f.t.Helper()
	deadline := time.Now().Add(timeout)
	lastSweep := time.Now()
	for {
		missing := f.count(`SELECT COUNT(*) FROM verifications WHERE insurer_id = $1 AND id = ANY($2) AND evidence_sha256 IS NULL`,
			f.insurer.ID, ids)
		if missing == 0 {
			return
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("%d of %d evidence bundles missing after %s", missing, len(ids), timeout)
		}
		if time.Since(lastSweep) >= time.Second {
			f.sweepOnce()
			lastSweep = time.Now()
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitAll waits until every verification is COMPLETED, sweeping every
// sweepEvery when set, and fails after timeout.
func (f *fixture) waitAll(ids []string, timeout, sweepEvery time.Duration) {
	f.t.Helper()
	deadline := time.Now().Add(timeout)
	lastSweep := time.Now()
	for {
		done := 0
		for _, id := range ids {
			if f.get(id).Status == verification.StatusCompleted {
				done++
			}
		}
		if done == len(ids) {
			return
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("%d of %d verifications completed within %s", done, len(ids), timeout)
		}
		if sweepEvery > 0 && time.Since(lastSweep) >= sweepEvery {
			f.sweepOnce()
			lastSweep = time.Now()
		}
		time.Sleep(100 * time.Millisecond)
	}
}
