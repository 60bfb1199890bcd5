package partner

import (
	"bytes"
	_ "embed"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"regexp"
	"slices"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/borderproof/borderproof/internal/errs"
)

//go:embed partners.dev.yaml
var devConfig []byte

// DevConfig returns the embedded partners config that points at the partner
// simulator on its default addresses (partnersim --addr 127.0.0.1:8181, TLS
// on 127.0.0.1:8182). The simulator's own PartnerConfig method returns the
// same config with the addresses it actually listens on.
func DevConfig() (Config, error) { return ParseConfig(bytes.NewReader(devConfig)) }

// Config is the partners config file.
type Config struct {
	Partners []PartnerConfig `yaml:"partners" json:"partners"`
}

// PartnerConfig describes one partner. Secrets never appear here:
// Credentials maps a role ("clientId", "clientSecret", "apiKey", ...) to the
// name of the environment variable that holds it.
type PartnerConfig struct {
	Name     string `yaml:"name" json:"name"`
	Protocol string `yaml:"protocol" json:"protocol"`
	// Jurisdiction is ISO 3166-1 alpha-3 or "EU".
	Jurisdiction string `yaml:"jurisdiction" json:"jurisdiction"`
	// Checks lists the check types this partner serves.
	Checks []CheckType `yaml:"checks" json:"checks"`
	// Coverage lists the coverage countries this partner is chosen for;
	// empty means any (a fallback).
	Coverage    []string          `yaml:"coverage,omitempty" json:"coverage,omitempty"`
	BaseURL     string            `yaml:"baseURL" json:"baseURL"`
	Credentials map[string]string `yaml:"credentials,omitempty" json:"credentials,omitempty"`
	TLS         *TLSConfig        `yaml:"tls,omitempty" json:"tls,omitempty"`
	// Options are protocol-specific, non-secret settings.
	Options map[string]string `yaml:"options,omitempty" json:"options,omitempty"`

	// Timeout bounds one attempt.
	Timeout time.Duration `yaml:"timeout" json:"timeout"`
	// Attempts is the most tries of one call (1 = no retry).
	Attempts    int           `yaml:"attempts" json:"attempts"`
	BackoffBase time.Duration `yaml:"backoffBase" json:"backoffBase"`
	BackoffMax  time.Duration `yaml:"backoffMax" json:"backoffMax"`
	// MaxRetryAfter caps how long one call waits on a partner's
	// Retry-After before giving up with RateLimited.
	MaxRetryAfter time.Duration `yaml:"maxRetryAfter" json:"maxRetryAfter"`
	RateLimit     RateLimit     `yaml:"rateLimit" json:"rateLimit"`
	MaxInFlight   int           `yaml:"maxInFlight" json:"maxInFlight"`
	Breaker       BreakerConfig `yaml:"breaker" json:"breaker"`

	// Price is what the insurer pays per billable call; Cost is what the
	// partner charges us. Minor units.
	Price Money `yaml:"price" json:"price"`
	Cost  Money `yaml:"cost" json:"cost"`
}

// TLSConfig names PEM files for mutual TLS. The in-memory PEM fields, when
// set, take precedence (the simulator uses them); they are never read from
// or written to the config file.
type TLSConfig struct {
	CAFile   string `yaml:"caFile" json:"caFile"`
	CertFile string `yaml:"certFile" json:"certFile"`
	KeyFile  string `yaml:"keyFile" json:"keyFile"`

	CAPEM   []byte `yaml:"-" json:"-"`
	CertPEM []byte `yaml:"-" json:"-"`
	KeyPEM  []byte `yaml:"-" json:"-"`
}

// RateLimit is the client-side limit on calls to one partner.
type RateLimit struct {
	PerSecond float64 `yaml:"perSecond" json:"perSecond"`
	Burst     int     `yaml:"burst" json:"burst"`
	// MaxWait is the longest a call waits for a token before it gives up
	// with RateLimited; the worker retries the task later.
	MaxWait time.Duration `yaml:"maxWait" json:"maxWait"`
}

// BreakerConfig configures the circuit breaker.
type BreakerConfig struct {
	// Failures is the number of consecutive failures that opens it.
	Failures uint32 `yaml:"failures" json:"failures"`
	// OpenFor is how long its first opening lasts before a trial call
	// (default 5 s); each trial that fails doubles the next opening, up
	// to MaxOpenFor (default 1 min, never less than OpenFor). A trial
	// that succeeds closes it.
	OpenFor    time.Duration `yaml:"openFor" json:"openFor"`
	MaxOpenFor time.Duration `yaml:"maxOpenFor" json:"maxOpenFor"`
	// HalfOpenRequests is how many trial calls pass while half-open.
	HalfOpenRequests uint32 `yaml:"halfOpenRequests" json:"halfOpenRequests"`
}

// Money is an amount in minor units of an ISO 4217 currency.
type Money struct {
	Amount   int64  `yaml:"amount" json:"amount"`
	Currency string `yaml:"currency" json:"currency"`
}

// ParseConfig reads a YAML (or JSON, which is YAML) partners config and
// fills defaults. Unknown keys are an error.
func ParseConfig(r io.Reader) (Config, error) {
	var c Config
	dec := yaml.NewDecoder(r)
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return Config{}, errs.Wrap(err, errs.Invalid, "partners config is not valid YAML")
	}
	c.applyDefaults()
	return c, c.Validate()
}

// LoadConfig reads the partners config file at path.
func LoadConfig(path string) (Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return Config{}, errs.Wrap(err, errs.Invalid, "cannot open partners config")
	}
	defer f.Close()
	return ParseConfig(f)
}

// Marshal renders the config as YAML.
func (c Config) Marshal() ([]byte, error) { return yaml.Marshal(c) }

func (c *Config) applyDefaults() {
	for i := range c.Partners {
		p := &c.Partners[i]
		if p.Timeout == 0 {
			p.Timeout = 10 * time.Second
		}
		if p.Attempts == 0 {
			p.Attempts = 3
		}
		if p.BackoffBase == 0 {
			p.BackoffBase = 200 * time.Millisecond
		}
		if p.BackoffMax == 0 {
			p.BackoffMax = 5 * time.Second
		}
		if p.MaxRetryAfter == 0 {
			p.MaxRetryAfter = 5 * time.Second
		}
		if p.RateLimit.PerSecond == 0 {
			p.RateLimit.PerSecond = 50
		}
		if p.RateLimit.Burst == 0 {
			p.RateLimit.Burst = max(1, int(p.RateLimit.PerSecond))
		}
		if p.RateLimit.MaxWait == 0 {
			p.RateLimit.MaxWait = 2 * time.Second
		}
		if p.MaxInFlight == 0 {
			p.MaxInFlight = 32
		}
		if p.Breaker.Failures == 0 {
			p.Breaker.Failures = 5
		}
		if p.Breaker.OpenFor == 0 {
			p.Breaker.OpenFor = 5 * time.Second
		}
		if p.Breaker.MaxOpenFor == 0 {
			p.Breaker.MaxOpenFor = max(time.Minute, p.Breaker.OpenFor)
		}
		if p.Breaker.HalfOpenRequests == 0 {
			p.Breaker.HalfOpenRequests = 1
		}
	}
}

var (
	nameRe     = regexp.MustCompile(`^[a-z][a-z0-9-]{1,40}$`)
	alpha3Re   = regexp.MustCompile(`^[A-Z]{3}$`)
	currencyRe = regexp.MustCompile(`^[A-Z]{3}$`)
	envRe      = regexp.MustCompile(`^[A-Z_][A-Z0-9_]*$`)
)

// Validate reports every problem, naming the partner and key.
func (c Config) Validate() error {
	var f errs.Fields
	seen := map[string]bool{}
	for i, p := range c.Partners {
		at := fmt.Sprintf("partners[%d]", i)
		if !nameRe.MatchString(p.Name) {
			f.Add(at+".name", "must be lower case letters, digits and dashes")
		} else if seen[p.Name] {
			f.Add(at+".name", "duplicate partner name")
		}
		seen[p.Name] = true
		if p.Protocol == "" {
			f.Add(at+".protocol", "required")
		}
		if p.Jurisdiction != "EU" && !alpha3Re.MatchString(p.Jurisdiction) {
			f.Add(at+".jurisdiction", "must be ISO 3166-1 alpha-3 or EU")
		}
		if len(p.Checks) == 0 {
			f.Add(at+".checks", "list at least one check type")
		}
		for j, ct := range p.Checks {
			if !slices.Contains([]CheckType{CheckDocumentRegistry, CheckImmigrationStatus, CheckBorderMovements, CheckWatchlist}, ct) {
				f.Add(fmt.Sprintf("%s.checks[%d]", at, j), "unknown partner check type")
			}
		}
		for j, cc := range p.Coverage {
			if !alpha3Re.MatchString(cc) {
				f.Add(fmt.Sprintf("%s.coverage[%d]", at, j), "must be ISO 3166-1 alpha-3")
			}
		}
		if p.BaseURL == "" {
			f.Add(at+".baseURL", "required")
		}
		for role, env := range p.Credentials {
			if !envRe.MatchString(env) {
				f.Add(at+".credentials."+role, "must name an environment variable, not hold a secret")
			}
		}
		if p.Timeout < 0 || p.Attempts < 1 || p.Attempts > 10 {
			f.Add(at+".attempts", "must be between 1 and 10")
		}
		if p.RateLimit.PerSecond < 0 || p.RateLimit.Burst < 1 {
			f.Add(at+".rateLimit", "perSecond must be positive and burst at least 1")
		}
		if p.MaxInFlight < 1 {
			f.Add(at+".maxInFlight", "must be at least 1")
		}
		if p.Breaker.OpenFor < 0 || p.Breaker.MaxOpenFor < p.Breaker.OpenFor {
			f.Add(at+".breaker.maxOpenFor", "must be at least openFor")
		}
		for _, m := range []struct {
			k string
			v Money
		}{{"price", p.Price}, {"cost", p.Cost}} {
			if m.v.Amount < 0 {
				f.Add(at+"."+m.k+".amount", "must not be negative")
			}
			if m.v.Amount > 0 && !currencyRe.MatchString(m.v.Currency) {
				f.Add(at+"."+m.k+".currency", "must be an ISO 4217 code")
			}
		}
	}
	return f.Err()
}

// Partner returns the config of the named partner.
func (c Config) Partner(name string) (PartnerConfig, bool) {
	for _, p := range c.Partners {
		if p.Name == name {
			return p, true
		}
	}
	return PartnerConfig{}, false
}

// Deps are what a protocol client needs from its host.
type Deps struct {
	// LookupEnv reads a secret by the environment variable name the config
	// gives; os.LookupEnv when nil.
	LookupEnv func(name string) (string, bool)
	// Transport is the base HTTP transport; http.DefaultTransport's clone
	// when nil. Clients add auth and TLS on top.
	Transport http.RoundTripper
	Logger    *slog.Logger
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

func (d Deps) withDefaults() Deps {
	if d.LookupEnv == nil {
		d.LookupEnv = os.LookupEnv
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	return d
}

// WithDefaults fills nil dependencies.
func (d Deps) WithDefaults() Deps { return d.withDefaults() }

// Secret reads the credential with the given role through the environment
// variable the config names for it.
func (p PartnerConfig) Secret(d Deps, role string) (string, error) {
	d = d.withDefaults()
	env, ok := p.Credentials[role]
	if !ok {
		return "", errs.E(errs.Invalid, "partner %s: credentials.%s is not configured", p.Name, role)
	}
	v, ok := d.LookupEnv(env)
	if !ok || v == "" {
		return "", errs.E(errs.Invalid, "partner %s: environment variable %s is not set", p.Name, env)
	}
	return v, nil
}
