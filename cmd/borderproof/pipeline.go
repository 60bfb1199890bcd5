package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/caarlos0/env/v11"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/borderproof/borderproof/internal/blob"
	"github.com/borderproof/borderproof/internal/partner"
	"github.com/borderproof/borderproof/internal/partner/clients"
	"github.com/borderproof/borderproof/internal/partnersim"
	"github.com/borderproof/borderproof/internal/pipeline"
)

// pipelineConfig is what the worker reads from the environment beyond
// Config: the partners, the sandbox, and where evidence goes.
type pipelineConfig struct {
	// PartnersConfig is the live partners file (YAML).
	PartnersConfig string `env:"BORDERPROOF_PARTNERS_CONFIG"`
	// PartnersimURL is a running simulator (borderproof partnersim) that
	// test-mode checks go to; its mutual-TLS listener and client files for
	// border movements are PartnersimTLSURL and PartnersimTLSDir.
	PartnersimURL    string `env:"BORDERPROOF_PARTNERSIM_URL"`
	PartnersimTLSURL string `env:"BORDERPROOF_PARTNERSIM_TLS_URL"`
	PartnersimTLSDir string `env:"BORDERPROOF_PARTNERSIM_TLS_DIR"`
	// Evidence storage: S3 when S3Bucket is set, else a directory.
	S3Bucket       string `env:"BORDERPROOF_S3_BUCKET"`
	S3Endpoint     string `env:"BORDERPROOF_S3_ENDPOINT"`
	S3PathStyle    bool   `env:"BORDERPROOF_S3_PATH_STYLE"`
	S3SSE          string `env:"BORDERPROOF_S3_SSE"`
	S3SSEKMSKeyID  string `env:"BORDERPROOF_S3_SSE_KMS_KEY_ID"`
	BlobDir        string `env:"BORDERPROOF_BLOB_DIR"`
	BlobBaseURL    string `env:"BORDERPROOF_BLOB_BASE_URL" envDefault:"http://localhost:8080"`
	BlobSigningKey string `env:"BORDERPROOF_BLOB_SIGNING_KEY"`
}

func loadPipelineConfig() (pipelineConfig, error) {
	var c pipelineConfig
	if err := env.Parse(&c); err != nil {
		return c, fmt.Errorf("configuration: %w", err)
	}
	if c.S3Bucket == "" && c.BlobDir == "" {
		return c, fmt.Errorf("configuration: BORDERPROOF_S3_BUCKET or BORDERPROOF_BLOB_DIR is required (evidence storage)")
	}
	if c.S3Bucket == "" && len(c.BlobSigningKey) < blob.MinSigningKeyLen {
		return c, fmt.Errorf("configuration: BORDERPROOF_BLOB_SIGNING_KEY must have at least %d characters with BORDERPROOF_BLOB_DIR", blob.MinSigningKeyLen)
	}
	if c.PartnersimURL != "" {
		if u, err := url.Parse(c.PartnersimURL); err != nil || u.Scheme != "http" || u.Host == "" {
			return c, fmt.Errorf("configuration: BORDERPROOF_PARTNERSIM_URL must be an http URL")
		}
	}
	return c, nil
}

// workerOpts carries what dev mode builds in process.
type workerOpts struct {
	// Sim, when set, serves both modes' checks (dev).
	Sim *partnersim.Sim
	// Registry receives the worker's metrics; a new one when nil.
	Registry prometheus.Registerer
}

// network builds a partner network from a config.
func network(cfg partner.Config, deps partner.Deps, m *partner.Metrics) (pipeline.Network, error) {
	reg, err := partner.NewRegistry(cfg, clients.Factories(), deps, m)
	if err != nil {
		return pipeline.Network{}, err
	}
	kb, err := partner.NewKeyBlinder(cfg, deps)
	if err != nil {
		return pipeline.Network{}, err
	}
	return pipeline.Network{Router: reg, Blinder: kb}, nil
}

// simNetwork is the dev partners config pointed at a simulator running
// elsewhere, with the sandbox credentials unless the environment sets
// others.
func simNetwork(c pipelineConfig, deps partner.Deps, m *partner.Metrics) (pipeline.Network, error) {
	cfg, err := partner.DevConfig()
	if err != nil {
		return pipeline.Network{}, err
	}
	base := strings.TrimRight(c.PartnersimURL, "/")
	var tlsCfg *partner.TLSConfig
	if c.PartnersimTLSDir != "" {
		tlsCfg = partnersim.ReadClientFiles(c.PartnersimTLSDir)
	}
	for i := range cfg.Partners {
		p := &cfg.Partners[i]
		if p.Protocol == partnersim.BorderMovements {
			if c.PartnersimTLSURL != "" {
				p.BaseURL = strings.TrimRight(c.PartnersimTLSURL, "/") + "/ees"
			}
			if tlsCfg != nil {
				p.TLS = tlsCfg
			}
			continue
		}
		p.BaseURL = base + "/" + p.Protocol
	}
	creds := partnersim.DefaultCredentials().Env()
	deps.LookupEnv = func(name string) (string, bool) {
		if v, ok := os.LookupEnv(name); ok && v != "" {
			return v, true
		}
		v, ok := creds[name]
		return v, ok
	}
	return network(cfg, deps, m)
}

// pipelineDeps assembles the partner networks.
func (a *app) pipelineDeps(o workerOpts, reg prometheus.Registerer) (live, test pipeline.Network, err error) {
	pm, err := partner.NewMetrics(reg)
	if err != nil {
		return live, test, err
	}
	logger := a.log.With("component", "partner")
	if o.Sim != nil {
		n, err := network(o.Sim.PartnerConfig(), o.Sim.Deps(logger), pm)
		if err != nil {
			return live, test, err
		}
		return n, n, nil
	}
	c, err := loadPipelineConfig()
	if err != nil {
		return live, test, err
	}
	deps := partner.Deps{Logger: logger}
	if c.PartnersConfig != "" {
		pc, err := partner.LoadConfig(c.PartnersConfig)
		if err != nil {
			return live, test, fmt.Errorf("BORDERPROOF_PARTNERS_CONFIG: %w", err)
		}
		if live, err = network(pc, deps, pm); err != nil {
			return live, test, fmt.Errorf("BORDERPROOF_PARTNERS_CONFIG: %w", err)
		}
	} else {
		a.log.Warn("BORDERPROOF_PARTNERS_CONFIG is not set: live partner checks will fail with NO_PARTNER")
	}
	if c.PartnersimURL != "" {
		if test, err = simNetwork(c, deps, pm); err != nil {
			return live, test, fmt.Errorf("BORDERPROOF_PARTNERSIM_URL: %w", err)
		}
	} else {
		a.log.Warn("BORDERPROOF_PARTNERSIM_URL is not set: sandbox partner checks will fail with NO_PARTNER")
	}
	return live, test, nil
}

// blobsFromEnv is S3 when a bucket is configured, else a directory.
func blobsFromEnv(ctx context.Context, c pipelineConfig, log *slog.Logger) (blob.Store, error) {
	if c.S3Bucket != "" {
		awsCfg, err := awsconfig.LoadDefaultConfig(ctx)
		if err != nil {
			return nil, fmt.Errorf("aws configuration: %w", err)
		}
		return blob.NewS3(awsCfg, blob.S3Config{Bucket: c.S3Bucket, Endpoint: c.S3Endpoint, UsePathStyle: c.S3PathStyle,
			SSE: c.S3SSE, SSEKMSKeyID: c.S3SSEKMSKeyID}, log)
	}
	if len(c.BlobSigningKey) < blob.MinSigningKeyLen {
		return nil, fmt.Errorf("configuration: BORDERPROOF_BLOB_SIGNING_KEY must have at least %d characters with BORDERPROOF_BLOB_DIR", blob.MinSigningKeyLen)
	}
	return blob.NewFS(blob.FSConfig{Root: c.BlobDir, BaseURL: c.BlobBaseURL, SigningKey: []byte(c.BlobSigningKey)}, log)
}

// devBlobs is the file-system store under the dev data directory, with a
// signing key kept beside it; links point at the dev server.
func devBlobs(dir, baseURL string, log *slog.Logger) (*blob.FS, error) {
	if dir == "" {
		return nil, errors.New("dev blob directory is not set")
	}
	keyFile := dir + ".key"
	key, err := os.ReadFile(keyFile)
	if errors.Is(err, os.ErrNotExist) {
		key = []byte(rand.Text() + rand.Text())
		err = os.WriteFile(keyFile, key, 0o600)
	}
	if err != nil {
		return nil, fmt.Errorf("blob signing key: %w", err)
	}
	if baseURL == "" {
		baseURL = "http://localhost:8080"
	}
	return blob.NewFS(blob.FSConfig{Root: dir, BaseURL: baseURL, SigningKey: key, NoSync: true}, log)
}
