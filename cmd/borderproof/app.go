package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"time"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/borderproof/borderproof/api"
	"github.com/borderproof/borderproof/graph"
	"github.com/borderproof/borderproof/internal/billing"
	"github.com/borderproof/borderproof/internal/blob"
	"github.com/borderproof/borderproof/internal/console"
	"github.com/borderproof/borderproof/internal/country"
	"github.com/borderproof/borderproof/internal/evidence"
	"github.com/borderproof/borderproof/internal/obs"
	"github.com/borderproof/borderproof/internal/pipeline"
	"github.com/borderproof/borderproof/internal/queue"
	"github.com/borderproof/borderproof/internal/store"
	"github.com/borderproof/borderproof/internal/tenant"
	"github.com/borderproof/borderproof/internal/user"
	"github.com/borderproof/borderproof/internal/vault"
	"github.com/borderproof/borderproof/internal/verification"
	"github.com/borderproof/borderproof/internal/webhook"
	"github.com/borderproof/borderproof/worker"
)

// app is the assembled system shared by dev, api and worker.
type app struct {
	log     *slog.Logger
	store   *store.Store
	tenants *tenant.Service
	redis   asynq.RedisConnOpt
	rc      redis.UniversalClient
	vault   *vault.Vault
	queue   *queue.Enqueuer
	verifs  *verification.Service
	// reg is the process's one metrics registry (api and worker share it
	// in dev; each production process serves its own on /metrics).
	reg *prometheus.Registry
	// devDir and baseURL are set by dev mode before services are built.
	devDir, baseURL string
	// benchDir, set by the in-process benches before services are built,
	// gives them what dev mode has: file-system blobs, an evidence signing
	// key (both under it) and webhooks to loopback receivers.
	benchDir string
	// benchBlobDir, when set, holds the benches' file-system blobs instead
	// of benchDir/blobs.
	benchBlobDir string

	servicesBuilt bool
	blobs         blob.Store
	blobHandler   http.Handler
	billing       *billing.Service
	evidence      *evidence.Service
	users         *user.Service
	webhooks      *webhook.Service
	hub           *webhook.Hub
	bridge        *queue.EventBridge
	heartbeat     *queue.Liveness
	console       *console.Console
	closers       []func()
}

func newLogger(level string) *slog.Logger {
	l, _ := obs.ParseLevel(level)
	return obs.NewLogger(os.Stderr, l)
}

// openApp connects the store (migrating when asked) and Redis.
func openApp(ctx context.Context, cfg Config, log *slog.Logger, migrate bool) (*app, error) {
	st, err := store.Open(ctx, cfg.DatabaseURL, log)
	if err != nil {
		return nil, err
	}
	a := &app{log: log, store: st, reg: obs.NewRegistry(), closers: []func(){func() { st.Close() }}}
	if migrate {
		if _, err := st.Migrate(ctx); err != nil {
			a.close()
			return nil, err
		}
	}
	a.tenants = tenant.NewService(st, country.Region, log)
	if cfg.RedisURL != "" || len(cfg.RedisClusterNodes) > 0 {
		qc := queue.Config{URL: cfg.RedisURL, ClusterNodes: cfg.RedisClusterNodes, ClusterPassword: cfg.RedisPassword, ClusterTLS: cfg.RedisTLS}
		if a.redis, err = qc.ConnOpt(); err != nil {
			a.close()
			return nil, fmt.Errorf("configuration: BORDERPROOF_REDIS_URL: %w", err)
		}
		if a.rc, err = qc.UniversalClient(); err != nil {
			a.close()
			return nil, err
		}
		a.closers = append(a.closers, func() { a.rc.Close() })
		a.queue = queue.NewEnqueuer(a.redis).WithLog(a.log.With("component", "queue"))
		a.closers = append(a.closers, func() { a.queue.Close() })
	}
	if cfg.VaultProvider != "" && (cfg.VaultKeyFile != "" || cfg.KMSKeyID != "") {
		if err := a.openVault(ctx, cfg); err != nil {
			a.close()
			return nil, err
		}
		a.verifs = verification.NewService(verification.Deps{
			Store: st, Audit: st, Sealer: a.vault, Queue: a.queue, Log: log,
		})
	}
	return a, nil
}

// openVault builds the envelope encryption from the configured provider.
func (a *app) openVault(ctx context.Context, cfg Config) error {
	var provider vault.KeyProvider
	switch cfg.VaultProvider {
	case "kms":
		awsCfg, err := awsconfig.LoadDefaultConfig(ctx)
		if err != nil {
			return fmt.Errorf("aws configuration: %w", err)
		}
		k, err := vault.NewKMS(awsCfg, vault.KMSConfig{KeyID: cfg.KMSKeyID, Endpoint: cfg.KMSEndpoint})
		if err != nil {
			return fmt.Errorf("BORDERPROOF_KMS_KEY_ID: %w", err)
		}
		provider = k
	default:
		l, err := vault.NewLocalFile(cfg.VaultKeyFile, a.log)
		if err != nil {
			return fmt.Errorf("BORDERPROOF_VAULT_KEY_FILE: %w", err)
		}
		provider = l
	}
	v, err := vault.New(vault.Config{}, provider, a.store, a.log)
	if err != nil {
		return err
	}
	a.vault = v
	a.closers = append(a.closers, v.Close)
	return nil
}

func (a *app) close() {
	for i := len(a.closers) - 1; i >= 0; i-- {
		a.closers[i]()
	}
}

// apiServer assembles the HTTP server.
func (a *app) apiServer(ctx context.Context, cfg Config) (*api.Server, error) {
	if err := a.ensureServices(ctx, cfg); err != nil {
		return nil, err
	}
	reg := a.reg
	gd := graph.Deps{Tenants: a.tenants, Verifications: a.verifs, Log: a.log, Classify: store.Classify}
	if a.billing != nil {
		gd.Billing = a.billing
	}
	if a.evidence != nil {
		gd.Evidence = a.evidence
	}
	gd.Policies = pipeline.NewPolicies(a.store)
	if a.webhooks != nil {
		gd.Webhooks = a.webhooks
	}
	schema, err := graph.NewSchema(gd)
	if err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	ac := api.DefaultConfig()
	ac.Addr = cfg.ListenAddr
	ac.BodyLimit = cfg.BodyLimitBytes
	ac.TrustForwarded = cfg.TrustForwarded
	deps := api.Deps{
		Tenants:  a.tenants,
		Executor: graph.NewExecutor(schema, graph.DefaultLimits, a.log),
		Registry: reg,
		Log:      a.log,
		Ready:    []api.Check{{Name: "database", Ping: a.store.Ping}},
		Mounts:   map[string]http.Handler{},
	}
	if a.evidence != nil {
		deps.Mounts["GET /evidence/public-key.pem"] = a.evidence.PublicKeyHandler()
	}
	if a.rc != nil {
		deps.Limiter = api.NewRedisLimiter(a.rc, cfg.RateLimitPerSecond, cfg.RateLimitBurst)
		deps.Ready = append(deps.Ready, api.Check{Name: "redis", Ping: func(ctx context.Context) error {
			return a.rc.Ping(ctx).Err()
		}})
	}
	if a.blobHandler != nil {
		deps.Mounts[blob.MountPath] = a.blobHandler
	}
	con, err := a.consoleHandler(a.devDir != "")
	if err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	a.console = con
	deps.Mounts["/console/"] = con
	if a.hub != nil {
		// Subscriptions authenticate in connection_init and live long, so
		// they bypass the bearer middleware and the write timeout.
		go a.bridge.Run(ctx, a.hub)
		deps.Mounts["/graphql/ws"] = longLived(graph.NewSubscriptionHandler(graph.SubscriptionConfig{}, schema, a.tenants, a.hub, a.log))
	}
	return api.New(ac, deps), nil
}

// worker assembles the task server: the pipeline (checks, polls, scoring,
// the sweeper) and the retention purge, on the critical, default and low
// queues.
func (a *app) worker(ctx context.Context, cfg Config, o workerOpts) (*worker.Worker, error) {
	if a.verifs == nil || a.redis == nil {
		return nil, fmt.Errorf("configuration: the worker needs the vault and Redis")
	}
	if err := a.ensureServices(ctx, cfg); err != nil {
		return nil, err
	}
	var reg prometheus.Registerer = a.reg
	if o.Registry != nil {
		reg = o.Registry
	}
	live, test, err := a.pipelineDeps(o, reg)
	if err != nil {
		return nil, err
	}
	deps := pipeline.Deps{
		Store: a.store, Opener: a.verifs, Sealer: a.vault, Queue: a.queue,
		Tenants: a.tenants, Live: live, Test: test, Log: a.log.With("component", "pipeline"),
	}
	if a.webhooks != nil {
		deps.Publisher = a.webhooks
	}
	bundler := a.bundler(o)
	if bundler != nil {
		deps.Bundler = bundler
	}
	pcfg := pipeline.Config{Bundles: bundler != nil}
	if a.heartbeat != nil {
		// Its checks carry the name its beats go by: a watcher that sees
		// it die sweeps them at once (worker.WatchWorkers).
		pcfg.Process = queue.ThisProcess()
	}
	p := pipeline.New(pcfg, deps)
	sm, err := worker.NewSweepMetrics(reg)
	if err != nil {
		return nil, err
	}
	rq := worker.NewRequeue(a.redis, a.log)
	a.closers = append(a.closers, func() { rq.Close() })
	if a.heartbeat != nil {
		// A Redis that lost its data is swept for at once, not once the
		// orphaned work is StaleAfter old; so is the work of a worker
		// process that died, once its beats stop (worker.WatchWorkers).
		// Stopped before rq closes (closers run backwards).
		lctx, stop := context.WithCancel(ctx)
		var wg sync.WaitGroup
		plog := a.log.With("component", "pipeline")
		wg.Go(func() { worker.SweepAfterLoss(lctx, a.heartbeat.Lost(), p, rq, sm, plog) })
		var hooks worker.DeadWebhooks // a dead worker's webhook attempts
		if a.webhooks != nil {
			hooks = a.webhooks
		}
		wg.Go(func() { worker.WatchWorkers(lctx, queue.NewStalls(a.rc, queue.ThisProcess()), p, rq, hooks, sm, plog) })
		// A container restarted in place runs under its dead predecessor's
		// name: the predecessor's work is this process's to take over.
		since := time.Now() // before this process starts any check
		wg.Go(func() {
			worker.TakeOverPredecessor(lctx, queue.ThisProcess(), a.heartbeat.Predecessor(), since, p, rq, hooks, sm, plog)
		})
		a.closers = append(a.closers, func() { stop(); wg.Wait() })
	}
	score := worker.Score(p)
	if bundler != nil {
		score = worker.WithEvidence(score, bundler)
	}
	handlers := []worker.Handler{
		worker.Run(p, score),
		worker.CheckRun(p),
		worker.CheckPoll(p),
		score,
		worker.Sweep(p, rq, sm, a.log),
		worker.RetentionPurge(a.tenants, a.verifs),
	}
	handlers = append(handlers, worker.BillingHandlers(a.billing, time.Now, a.log)...)
	if a.webhooks != nil {
		handlers = append(handlers, worker.WebhookHandlers(a.webhooks, rq)...)
	}
	periodic := []worker.Periodic{
		worker.SweepPeriodic(),
		{Cron: "17 3 * * *", Type: verification.TaskRetentionPurge, Queue: queue.Low},
	}
	periodic = append(periodic, worker.BillingPeriodic()...)
	if a.webhooks != nil {
		periodic = append(periodic, worker.WebhookPeriodic()...)
	}
	return worker.New(ctx, worker.Config{Concurrency: cfg.WorkerConcurrency, Metrics: reg, Classify: store.Classify}, a.redis, a.log, handlers, periodic), nil
}

// bundler builds the signed evidence bundles of completed verifications;
// nil when evidence is off (no signing key or no blob store).
func (a *app) bundler(o workerOpts) *worker.Bundler {
	if a.evidence == nil {
		return nil
	}
	return &worker.Bundler{Store: a.store, Evidence: a.evidence, ListVersion: func(string) string {
		if o.Sim != nil {
			return o.Sim.SanctionsListVersion()
		}
		return ""
	}}
}

// longLived clears the server's read and write deadlines for a connection
// that is upgraded and kept open (WebSocket subscriptions).
func longLived(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		_ = rc.SetReadDeadline(time.Time{})
		_ = rc.SetWriteDeadline(time.Time{})
		h.ServeHTTP(w, r)
	})
}
