package main

import (
	"cmp"
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/caarlos0/env/v11"

	"github.com/borderproof/borderproof/internal/billing"
	billingstripe "github.com/borderproof/borderproof/internal/billing/stripe"
	"github.com/borderproof/borderproof/internal/blob"
	"github.com/borderproof/borderproof/internal/console"
	"github.com/borderproof/borderproof/internal/evidence"
	"github.com/borderproof/borderproof/internal/pipeline"
	"github.com/borderproof/borderproof/internal/queue"
	"github.com/borderproof/borderproof/internal/user"
	"github.com/borderproof/borderproof/internal/verification"
	"github.com/borderproof/borderproof/internal/webhook"
	"github.com/borderproof/borderproof/worker"
)

// serviceConfig is what the api and the worker read beyond Config for
// billing and evidence.
type serviceConfig struct {
	StripeAPIKey       string        `env:"BORDERPROOF_STRIPE_API_KEY"`
	StripeTestAPIKey   string        `env:"BORDERPROOF_STRIPE_TEST_API_KEY"`
	StripeAPIBase      string        `env:"BORDERPROOF_STRIPE_API_BASE"`
	OperatorInsurers   []string      `env:"BORDERPROOF_BILLING_OPERATOR_INSURERS" envSeparator:","`
	ExportLinkTTL      time.Duration `env:"BORDERPROOF_BILLING_EXPORT_LINK_TTL" envDefault:"15m"`
	EvidenceSigningKey string        `env:"BORDERPROOF_EVIDENCE_SIGNING_KEY"`
	WebhookAllowlist   []string      `env:"BORDERPROOF_WEBHOOK_ALLOWLIST" envSeparator:","`
}

// ensureServices builds, once, the services above the store: blobs,
// billing (and the budget guard on submissions), evidence, console users.
// In dev (a.devDir set) everything lives under the data directory.
func (a *app) ensureServices(ctx context.Context, cfg Config) error {
	if a.servicesBuilt {
		return nil
	}
	a.servicesBuilt = true
	var sc serviceConfig
	if err := env.Parse(&sc); err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	if err := a.openBlobs(ctx); err != nil {
		return err
	}
	stripes, err := billingstripe.NewStripes(billingstripe.ModesConfig{APIKey: sc.StripeAPIKey, TestAPIKey: sc.StripeTestAPIKey, APIBase: sc.StripeAPIBase}, a.log)
	if err != nil {
		return fmt.Errorf("BORDERPROOF_STRIPE_API_KEY: %w", err)
	}
	bm, err := billing.NewMetrics(a.reg)
	if err != nil {
		return err
	}
	bd := billing.Deps{Store: a.store, Stripe: stripes, Metrics: bm, Logger: a.log.With("component", "billing")}
	if a.blobs != nil {
		bd.Blobs = a.blobs
	}
	a.billing = billing.New(billing.Config{OperatorInsurers: sc.OperatorInsurers, ExportLinkTTL: sc.ExportLinkTTL}, bd)

	var signer *evidence.Signer
	switch {
	case a.devDir != "" || a.benchDir != "":
		signer, err = evidence.LoadOrCreateKeyFile(filepath.Join(cmp.Or(a.devDir, a.benchDir), "evidence.pem"), a.log)
	case sc.EvidenceSigningKey != "":
		signer, err = evidence.ParseSigningKey([]byte(sc.EvidenceSigningKey))
	default:
		a.log.Warn("BORDERPROOF_EVIDENCE_SIGNING_KEY is not set: evidence bundles are not built")
	}
	if err != nil {
		return fmt.Errorf("BORDERPROOF_EVIDENCE_SIGNING_KEY: %w", err)
	}
	if signer != nil && a.blobs != nil {
		a.evidence = evidence.New(a.blobs, signer, a.store, a.log.With("component", "evidence"))
	}

	if a.vault != nil {
		a.verifs = verification.NewService(verification.Deps{
			Store: a.store, Audit: a.store, Sealer: a.vault, Queue: a.queue, Budget: a.billing, Log: a.log,
		})
	}
	if a.vault != nil && a.queue != nil {
		allowed := sc.WebhookAllowlist
		if (a.devDir != "" || a.benchDir != "") && len(allowed) == 0 {
			allowed = []string{"127.0.0.0/8", "::1", "localhost"} // dev receivers run on this machine
		}
		allow, err := webhook.ParseAllowlist(allowed...)
		if err != nil {
			return fmt.Errorf("BORDERPROOF_WEBHOOK_ALLOWLIST: %w", err)
		}
		a.hub = webhook.NewHub(0)
		wm, err := webhook.NewMetrics(a.reg)
		if err != nil {
			return err
		}
		// Events reach live subscribers on every api replica through Redis.
		a.bridge = queue.NewEventBridge(a.rc, a.log)
		a.closers = append(a.closers, a.bridge.Close)
		// The deliveries this process holds for a first attempt name it,
		// so that should it die, another takes them over at once; and a
		// renewal that finds its key gone tells the worker that Redis lost
		// its tasks (worker.SweepAfterLoss). Its heartbeat stops after the
		// drain below (closers run backwards).
		live := queue.NewLiveness(a.rc, a.log)
		live.Start(ctx)
		a.closers = append(a.closers, live.Close)
		a.heartbeat = live
		a.webhooks, err = webhook.New(webhook.Config{Allow: allow, Metrics: wm, Liveness: live}, a.store, a.vault, worker.WebhookEnqueuer(a.queue), a.bridge, a.log.With("component", "webhooks"))
		if err != nil {
			return err
		}
		// Runs the queue and the database outlive: the first attempts this
		// process makes after the worker stops (webhook.Service.Hold).
		hooks := a.webhooks
		a.closers = append(a.closers, func() {
			ctx, cancel := context.WithTimeout(context.Background(), webhookDrain)
			defer cancel()
			hooks.Close(ctx)
		})
	}
	uc := user.Config{}
	if a.vault != nil {
		uc.Sealer = a.vault
	}
	a.users, err = user.New(uc, a.store, a.tenants, a.log.With("component", "users"))
	return err
}

// openBlobs picks the blob store: a directory under the dev data dir, S3
// or a directory from the environment, or none (exports and evidence off).
func (a *app) openBlobs(ctx context.Context) error {
	var c pipelineConfig
	if err := env.Parse(&c); err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	// Dev mode keeps blobs under its data directory; the benches too,
	// unless the environment names an S3 bucket (production's store).
	if a.devDir != "" || (a.benchDir != "" && c.S3Bucket == "") {
		root := filepath.Join(cmp.Or(a.devDir, a.benchDir), "blobs")
		if a.devDir == "" && a.benchBlobDir != "" {
			// Inside it: the signing key file goes beside the root.
			root = filepath.Join(a.benchBlobDir, "blobs")
		}
		fs, err := devBlobs(root, a.baseURL, a.log)
		if err != nil {
			return err
		}
		a.blobs, a.blobHandler = fs, fs.Handler()
		return nil
	}
	if c.S3Bucket == "" && c.BlobDir == "" {
		a.log.Warn("neither BORDERPROOF_S3_BUCKET nor BORDERPROOF_BLOB_DIR is set: exports and evidence links are off")
		return nil
	}
	b, err := blobsFromEnv(ctx, c, a.log)
	if err != nil {
		return err
	}
	a.blobs = b
	if fs, ok := b.(*blob.FS); ok {
		a.blobHandler = fs.Handler()
	}
	return nil
}

// consoleHandler builds the web console on the domain services.
func (a *app) consoleHandler(dev bool) (*console.Console, error) {
	d := console.Deps{Users: a.users, Tenants: a.tenants, Settings: a.store, Policies: pipeline.NewPolicies(a.store),
		Log: a.log.With("component", "console")}
	if a.verifs != nil {
		d.Verifications = a.verifs
	}
	if a.evidence != nil {
		d.Evidence = a.evidence
	}
	if a.billing != nil {
		d.Billing = a.billing
	}
	if a.webhooks != nil {
		d.Webhooks = a.webhooks
	}
	return console.New(console.Config{Dev: dev}, d)
}

// webhookDrain is how long a stopping process waits for its first webhook
// attempts under way: one attempt's timeout and the time to record it.
const webhookDrain = 20 * time.Second
