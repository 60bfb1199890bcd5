package main

import (
	"fmt"
	"strings"

	"github.com/caarlos0/env/v11"

	"github.com/borderproof/borderproof/internal/obs"
)

// Config is every environment variable the production processes read. The
// README's configuration table lists the same variables.
type Config struct {
	DatabaseURL        string   `env:"BORDERPROOF_DATABASE_URL"`
	RedisURL           string   `env:"BORDERPROOF_REDIS_URL"`
	RedisClusterNodes  []string `env:"BORDERPROOF_REDIS_CLUSTER_NODES" envSeparator:","`
	RedisPassword      string   `env:"BORDERPROOF_REDIS_PASSWORD"`
	RedisTLS           bool     `env:"BORDERPROOF_REDIS_TLS"`
	ListenAddr         string   `env:"BORDERPROOF_LISTEN_ADDR" envDefault:"0.0.0.0:8080"`
	LogLevel           string   `env:"BORDERPROOF_LOG_LEVEL" envDefault:"info"`
	RateLimitPerSecond int      `env:"BORDERPROOF_RATE_LIMIT_PER_SECOND" envDefault:"50"`
	RateLimitBurst     int      `env:"BORDERPROOF_RATE_LIMIT_BURST" envDefault:"100"`
	BodyLimitBytes     int64    `env:"BORDERPROOF_BODY_LIMIT_BYTES" envDefault:"1048576"`
	WorkerConcurrency  int      `env:"BORDERPROOF_WORKER_CONCURRENCY" envDefault:"20"`
	TrustForwarded     bool     `env:"BORDERPROOF_TRUST_FORWARDED" envDefault:"false"`
	VaultProvider      string   `env:"BORDERPROOF_VAULT_PROVIDER" envDefault:"local"`
	VaultKeyFile       string   `env:"BORDERPROOF_VAULT_KEY_FILE"`
	KMSKeyID           string   `env:"BORDERPROOF_KMS_KEY_ID"`
	KMSEndpoint        string   `env:"BORDERPROOF_KMS_ENDPOINT"`
}

// loadConfig reads the environment. need lists what this process requires.
func loadConfig(need ...string) (Config, error) {
	var c Config
	if err := env.Parse(&c); err != nil {
		return c, fmt.Errorf("configuration: %w", err)
	}
	return c, c.Validate(need...)
}

// Validate names the first bad or missing variable.
func (c Config) Validate(need ...string) error {
	for _, n := range need {
		switch n {
		case "database":
			if c.DatabaseURL == "" {
				return fmt.Errorf("configuration: BORDERPROOF_DATABASE_URL is required (postgres://… or a SQLite file path)")
			}
		case "redis":
			if c.RedisURL == "" && len(c.RedisClusterNodes) == 0 {
				return fmt.Errorf("configuration: BORDERPROOF_REDIS_URL (or BORDERPROOF_REDIS_CLUSTER_NODES) is required")
			}
			if c.RedisURL != "" && !strings.HasPrefix(c.RedisURL, "redis://") && !strings.HasPrefix(c.RedisURL, "rediss://") {
				return fmt.Errorf("configuration: BORDERPROOF_REDIS_URL must start with redis:// or rediss://")
			}
		}
	}
	for _, n := range need {
		if n != "vault" {
			continue
		}
		switch c.VaultProvider {
		case "local":
			if c.VaultKeyFile == "" {
				return fmt.Errorf("configuration: BORDERPROOF_VAULT_KEY_FILE is required when BORDERPROOF_VAULT_PROVIDER=local")
			}
		case "kms":
			if c.KMSKeyID == "" {
				return fmt.Errorf("configuration: BORDERPROOF_KMS_KEY_ID is required when BORDERPROOF_VAULT_PROVIDER=kms")
			}
		default:
			return fmt.Errorf("configuration: BORDERPROOF_VAULT_PROVIDER must be local or kms")
		}
	}
	if _, ok := obs.ParseLevel(c.LogLevel); !ok {
		return fmt.Errorf("configuration: BORDERPROOF_LOG_LEVEL must be debug, info, warn or error")
	}
	if c.RateLimitPerSecond < 1 {
		return fmt.Errorf("configuration: BORDERPROOF_RATE_LIMIT_PER_SECOND must be at least 1")
	}
	if c.RateLimitBurst < 1 {
		return fmt.Errorf("configuration: BORDERPROOF_RATE_LIMIT_BURST must be at least 1")
	}
	if c.BodyLimitBytes < 1024 {
		return fmt.Errorf("configuration: BORDERPROOF_BODY_LIMIT_BYTES must be at least 1024")
	}
	if c.WorkerConcurrency < 1 {
		return fmt.Errorf("configuration: BORDERPROOF_WORKER_CONCURRENCY must be at least 1")
	}
	return nil
}
