// Package partnersim is the partner sandbox: a deterministic synthetic
// population with known ground truth, one HTTP service per partner protocol
// speaking that partner's wire format, auth and error dialect, fault
// injection, a movable clock, and an admin endpoint to steer it all.
//
// The borderproof partnersim and dev subcommands run it:
//
//	sim, err := partnersim.New(cfg, logger)
//	err = sim.Start(ctx)           // listens on loopback
//	reg, err := partner.NewRegistry(sim.PartnerConfig(), clients.Factories(), sim.Deps(), metrics)
//	defer sim.Close()
//
// or simply partnersim.Run(ctx, cfg, logger), which also writes the export.
// Flags the subcommand should map onto Config: --addr (Addr), --tls-addr
// (TLSAddr), --seed (Seed), --population (Population), --as-of (AsOf),
// --export FILE (ExportFile), --sdn DIR (SDNDir), --tls-dir DIR
// (TLSDir: write the CA bundle and client certificate there).
package partnersim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/borderproof/borderproof/internal/errs"
	"github.com/borderproof/borderproof/internal/partner"
	"github.com/borderproof/borderproof/internal/screening"
)

// Protocol names; also the fault-injection keys and URL prefixes.
const (
	VisaStatus      = "visastatus"
	StatusCase      = "statuscase"
	DocRegistry     = "docregistry"
	BorderMovements = "bordermovements"
	Watchlist       = "watchlist"
)

// Protocols lists the simulated protocols.
var Protocols = []string{VisaStatus, StatusCase, DocRegistry, BorderMovements, Watchlist}

// DefaultPopulation is the population size when Config.Population is 0.
const DefaultPopulation = 10_000

// Config configures the simulator. The zero value works: random loopback
// ports, seed 0, 10,000 people, sandbox credentials.
type Config struct {
	// Addr is the plain HTTP listener (all protocols but border
	// movements, plus /admin). Default "127.0.0.1:0".
	Addr string
	// TLSAddr is the mutual-TLS listener (border movements). Default
	// "127.0.0.1:0".
	TLSAddr string
	Seed    uint64
	// Population is the number of synthetic people: 0 for
	// DefaultPopulation, negative for none (magic values only).
	Population int
	AsOf       time.Time
	Mix        Mix
	// SDNDir loads a newer OFAC SDN list (sdn.csv, alt.csv, add.csv) for
	// the watchlist service instead of the embedded one.
	SDNDir string
	// ExportFile, when set, receives the population export (Run only).
	ExportFile string
	// TLSDir, when set, receives the CA bundle and client certificate
	// files (Start writes them).
	TLSDir string
	// Faults per protocol at start; the admin endpoint changes them.
	Faults map[string]Fault
	// TokenTTL is the OAuth access-token lifetime (default 1h, simulated
	// time).
	TokenTTL time.Duration
	// CaseInitialDelay is how long a new status case stays
	// INITIAL_PENDING (default 2s simulated time; negative: none).
	CaseInitialDelay time.Duration
	Credentials      Credentials
	// Unthrottled makes PartnerConfig lift the client-side rate limits and
	// in-flight caps of the dev config, for load harnesses that measure
	// BorderProof rather than the sandbox partners' quotas.
	Unthrottled bool
}

// Credentials are the sandbox secrets the simulated partners accept.
type Credentials struct {
	VisaClientID          string
	VisaClientSecret      string
	StatusCaseAPIKey      string
	RegistryKeyID         string
	RegistrySigningSecret string
	RegistryPrivacyKey    string
	WatchlistToken        string
}

// DefaultCredentials are the sandbox credentials (listed in MAGIC.md).
func DefaultCredentials() Credentials {
	return Credentials{
		VisaClientID:          "sandbox-visastatus",
		VisaClientSecret:      "sandbox-visastatus-secret",
		StatusCaseAPIKey:      "sandbox-statuscase-key",
		RegistryKeyID:         "sandbox-ncb",
		RegistrySigningSecret: "sandbox-docregistry-signing-secret",
		RegistryPrivacyKey:    "sandbox-docregistry-privacy-key",
		WatchlistToken:        "sandbox-watchlist-token",
	}
}

// Env names the environment variables the dev partners config reads the
// credentials from (see partners.dev.yaml).
func (c Credentials) Env() map[string]string {
	return map[string]string{
		"BORDERPROOF_PARTNER_VISASTATUS_CLIENT_ID":       c.VisaClientID,
		"BORDERPROOF_PARTNER_VISASTATUS_CLIENT_SECRET":   c.VisaClientSecret,
		"BORDERPROOF_PARTNER_STATUSCASE_API_KEY":         c.StatusCaseAPIKey,
		"BORDERPROOF_PARTNER_DOCREGISTRY_KEY_ID":         c.RegistryKeyID,
		"BORDERPROOF_PARTNER_DOCREGISTRY_SIGNING_SECRET": c.RegistrySigningSecret,
		"BORDERPROOF_PARTNER_DOCREGISTRY_PRIVACY_KEY":    c.RegistryPrivacyKey,
		"BORDERPROOF_PARTNER_WATCHLIST_TOKEN":            c.WatchlistToken,
	}
}

// Sim is a running (or ready) simulator.
type Sim struct {
	cfg    Config
	log    *slog.Logger
	clock  *Clock
	pop    *Population
	pki    *PKI
	faults map[string]*faultState
	list   *screening.List

	visa     *visaService
	cases    *caseService
	registry *registryService
	border   *borderService
	watch    *watchService

	mu      sync.Mutex
	httpSrv *http.Server
	tlsSrv  *http.Server
	httpURL string
	tlsURL  string
	started bool
}

// New builds the population, the list, the test CA and the services. It
// does not listen; call Start.
func New(cfg Config, logger *slog.Logger) (*Sim, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.TLSAddr == "" {
		cfg.TLSAddr = "127.0.0.1:0"
	}
	if cfg.Population == 0 {
		cfg.Population = DefaultPopulation
	}
	if cfg.TokenTTL == 0 {
		cfg.TokenTTL = time.Hour
	}
	if cfg.CaseInitialDelay == 0 {
		cfg.CaseInitialDelay = 2 * time.Second
	}
	if cfg.Credentials == (Credentials{}) {
		cfg.Credentials = DefaultCredentials()
	}
	for name := range cfg.Faults {
		if !isProtocol(name) {
			return nil, errs.E(errs.Invalid, "faults: unknown partner %q", name)
		}
	}
	s := &Sim{cfg: cfg, log: logger.With("component", "partnersim"), clock: NewClock(), faults: map[string]*faultState{}}
	ctx := context.Background()
	var err error
	if cfg.SDNDir != "" {
		s.list, err = screening.LoadDir(ctx, cfg.SDNDir)
	} else {
		s.list, err = screening.LoadDefault(ctx)
	}
	if err != nil {
		return nil, errs.Wrap(err, errs.Invalid, "cannot load the sanctions list")
	}
	var wl []WatchlistName
	if cfg.SDNDir != "" {
		wl, err = WatchlistNames(s.list, os.DirFS(cfg.SDNDir))
	} else {
		wl, err = WatchlistNames(s.list, screening.DefaultFS())
	}
	if err != nil {
		return nil, err
	}
	size := max(cfg.Population, 0)
	s.pop, err = NewPopulation(PopulationConfig{Seed: cfg.Seed, Size: size, AsOf: cfg.AsOf, Mix: cfg.Mix, Watchlist: wl})
	if err != nil {
		return nil, err
	}
	if s.pki, err = NewPKI(); err != nil {
		return nil, errs.Wrap(err, errs.Internal, "cannot make the test CA")
	}
	for i, name := range Protocols {
		s.faults[name] = newFaultState(cfg.Faults[name], cfg.Seed+uint64(i)+1)
	}
	s.visa = newVisaService(s)
	s.cases = newCaseService(s)
	s.registry = newRegistryService(s)
	s.border = newBorderService(s)
	s.watch = newWatchService(s)
	return s, nil
}

func isProtocol(name string) bool {
	for _, p := range Protocols {
		if p == name {
			return true
		}
	}
	return false
}

// Handler returns the plain-HTTP handler: every protocol but border
// movements under /<protocol>/, and /admin/.
func (s *Sim) Handler() http.Handler {
	mux := http.NewServeMux()
	s.mount(mux, VisaStatus, s.visa.routes(), s.visa.writeError)
	s.mount(mux, StatusCase, s.cases.routes(), s.cases.writeError)
	s.mount(mux, DocRegistry, s.registry.routes(), s.registry.writeError)
	s.mount(mux, Watchlist, s.watch.routes(), s.watch.writeError)
	mux.Handle("/admin/", s.adminHandler())
	return mux
}

// TLSHandler returns the mutual-TLS handler (border movements under /ees/).
func (s *Sim) TLSHandler() http.Handler {
	mux := http.NewServeMux()
	h := s.faults[BorderMovements].middleware(s.clock, s.border.writeError, s.border.routes())
	mux.Handle("/ees/", http.StripPrefix("/ees", h))
	return mux
}

func (s *Sim) mount(mux *http.ServeMux, name string, h http.Handler, we errorWriter) {
	prefix := "/" + name
	mux.Handle(prefix+"/", http.StripPrefix(prefix, s.faults[name].middleware(s.clock, we, h)))
}

// Start listens on the configured loopback addresses and serves until ctx
// ends or Close is called.
func (s *Sim) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return errs.E(errs.FailedPrecondition, "simulator already started")
	}
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return errs.Wrap(err, errs.Unavailable, "cannot listen on "+s.cfg.Addr)
	}
	tln, err := net.Listen("tcp", s.cfg.TLSAddr)
	if err != nil {
		ln.Close()
		return errs.Wrap(err, errs.Unavailable, "cannot listen on "+s.cfg.TLSAddr)
	}
	if s.cfg.TLSDir != "" {
		if _, err := s.pki.WriteClientFiles(s.cfg.TLSDir); err != nil {
			ln.Close()
			tln.Close()
			return err
		}
	}
	s.httpURL = "http://" + ln.Addr().String()
	s.tlsURL = "https://" + tln.Addr().String()
	errLog := slog.NewLogLogger(s.log.Handler(), slog.LevelDebug)
	s.httpSrv = &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second, ErrorLog: errLog}
	s.tlsSrv = &http.Server{Handler: s.TLSHandler(), TLSConfig: s.pki.ServerTLS(), ReadHeaderTimeout: 10 * time.Second, ErrorLog: errLog}
	// The goroutines keep their own servers: Close clears the fields, maybe
	// before they run.
	hs, ts := s.httpSrv, s.tlsSrv
	go s.serve(hs, func() error { return hs.Serve(ln) })
	go s.serve(ts, func() error { return ts.ServeTLS(tln, "", "") })
	s.started = true
	go func() {
		<-ctx.Done()
		_ = s.Close()
	}()
	s.log.Info("partner simulator listening", "http", s.httpURL, "mtls", s.tlsURL,
		"population", len(s.pop.People), "seed", s.cfg.Seed, "sanctionsList", s.list.Version())
	return nil
}

func (s *Sim) serve(srv *http.Server, run func() error) {
	if err := run(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		s.log.Error("partner simulator stopped", "err", err)
	}
}

// Close stops both listeners at once; requests in flight are cut.
func (s *Sim) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var err error
	if s.httpSrv != nil {
		err = errors.Join(s.httpSrv.Close(), s.tlsSrv.Close())
		s.httpSrv, s.tlsSrv = nil, nil
	}
	return err
}

// URLs are the simulator's base URLs.
type URLs struct {
	HTTP            string `json:"http"`
	TLS             string `json:"tls"`
	Admin           string `json:"admin"`
	VisaStatus      string `json:"visastatus"`
	StatusCase      string `json:"statuscase"`
	DocRegistry     string `json:"docregistry"`
	BorderMovements string `json:"bordermovements"`
	Watchlist       string `json:"watchlist"`
}

// URLs returns the base URL of each service; empty before Start.
func (s *Sim) URLs() URLs {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.httpURL == "" {
		return URLs{}
	}
	return URLs{
		HTTP: s.httpURL, TLS: s.tlsURL, Admin: s.httpURL + "/admin",
		VisaStatus: s.httpURL + "/" + VisaStatus, StatusCase: s.httpURL + "/" + StatusCase,
		DocRegistry: s.httpURL + "/" + DocRegistry, Watchlist: s.httpURL + "/" + Watchlist,
		BorderMovements: s.tlsURL + "/ees",
	}
}

// PartnerConfig returns the embedded dev partners config pointed at this
// simulator's addresses, with the client certificate in memory. Call after
// Start.
func (s *Sim) PartnerConfig() partner.Config {
	cfg, err := partner.DevConfig()
	if err != nil {
		panic(fmt.Sprintf("partnersim: embedded dev config: %v", err)) // fixed at build time, tested
	}
	u := s.URLs()
	for i := range cfg.Partners {
		p := &cfg.Partners[i]
		switch p.Protocol {
		case VisaStatus:
			p.BaseURL = u.VisaStatus
		case StatusCase:
			p.BaseURL = u.StatusCase
		case DocRegistry:
			p.BaseURL = u.DocRegistry
		case BorderMovements:
			p.BaseURL = u.BorderMovements
			p.TLS = s.pki.ClientConfig()
		case Watchlist:
			p.BaseURL = u.Watchlist
		}
		if s.cfg.Unthrottled {
			p.RateLimit = partner.RateLimit{PerSecond: 1e6, Burst: 1_000_000, MaxWait: p.RateLimit.MaxWait}
			p.MaxInFlight = 1 << 16
		}
	}
	return cfg
}

// LookupEnv resolves the sandbox credentials by the environment variable
// names the dev config uses, falling back to the real environment.
func (s *Sim) LookupEnv(name string) (string, bool) {
	if v, ok := s.cfg.Credentials.Env()[name]; ok && v != "" {
		return v, true
	}
	return os.LookupEnv(name)
}

// Deps returns client dependencies that read the sandbox credentials.
func (s *Sim) Deps(logger *slog.Logger) partner.Deps {
	return partner.Deps{LookupEnv: s.LookupEnv, Logger: logger}
}

// Clock returns the simulated clock.
func (s *Sim) Clock() *Clock { return s.clock }

// Population returns the synthetic population.
func (s *Sim) Population() *Population { return s.pop }

// PKI returns the test CA and client certificate.
func (s *Sim) PKI() *PKI { return s.pki }

// Credentials returns the credentials the services accept.
func (s *Sim) Credentials() Credentials { return s.cfg.Credentials }

// SanctionsListVersion returns the watchlist service's list version.
func (s *Sim) SanctionsListVersion() string { return s.list.Version() }

// SetFault replaces the fault injection of one protocol.
func (s *Sim) SetFault(name string, f Fault) error {
	fs, ok := s.faults[name]
	if !ok {
		return errs.E(errs.NotFound, "unknown partner %q", name)
	}
	fs.set(f)
	return nil
}

// Fault returns the fault injection of one protocol.
func (s *Sim) Fault(name string) (Fault, bool) {
	fs, ok := s.faults[name]
	if !ok {
		return Fault{}, false
	}
	return fs.get(), true
}

// Run builds and starts a simulator, writes the export if asked, and
// serves until ctx ends.
func Run(ctx context.Context, cfg Config, logger *slog.Logger) error {
	s, err := New(cfg, logger)
	if err != nil {
		return err
	}
	if cfg.ExportFile != "" {
		if err := writeExportFile(cfg.ExportFile, s.pop); err != nil {
			return err
		}
	}
	if err := s.Start(ctx); err != nil {
		return err
	}
	<-ctx.Done()
	return s.Close()
}

func writeExportFile(path string, pop *Population) error {
	f, err := os.Create(path)
	if err != nil {
		return errs.Wrap(err, errs.Invalid, "cannot create export file")
	}
	if err := WriteExport(f, pop); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// bearer returns the token of an "Authorization: <scheme> <token>" header.
func bearer(r *http.Request, scheme string) string {
	h := r.Header.Get("Authorization")
	if len(h) > len(scheme)+1 && strings.EqualFold(h[:len(scheme)], scheme) && h[len(scheme)] == ' ' {
		return strings.TrimSpace(h[len(scheme)+1:])
	}
	return ""
}
