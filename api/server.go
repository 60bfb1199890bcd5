// Package api is the HTTP server: routing, middleware (request id, recovery,
// access log and metrics, body limit, authentication, rate limit) and the
// /graphql, /healthz, /readyz and /metrics endpoints.
package api

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/borderproof/borderproof/graph"
	"github.com/borderproof/borderproof/internal/tenant"
)

// Config is the server's tunables.
type Config struct {
	Addr         string
	BodyLimit    int64
	ReadTimeout  time.Duration
	WriteTimeout time.Duration
	// TrustForwarded makes X-Request-Id from a proxy the request id.
	TrustForwarded bool
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{Addr: "127.0.0.1:8080", BodyLimit: 1 << 20, ReadTimeout: 15 * time.Second, WriteTimeout: 60 * time.Second}
}

// Check is one readiness probe (database, Redis).
type Check struct {
	Name string
	Ping func(ctx context.Context) error
}

// Deps are what the server serves.
type Deps struct {
	Tenants  *tenant.Service
	Executor *graph.Executor
	Limiter  Limiter
	Ready    []Check
	Registry *prometheus.Registry
	Log      *slog.Logger
	// Mounts adds handlers by path prefix (for example "/blobs/").
	Mounts map[string]http.Handler
}

// Server is the HTTP server.
type Server struct {
	cfg     Config
	d       Deps
	metrics *metrics
	handler http.Handler
}

// New builds the server.
func New(cfg Config, d Deps) *Server {
	s := &Server{cfg: cfg, d: d, metrics: newMetrics(d.Registry)}
	mux := http.NewServeMux()
	mux.Handle("/graphql", s.authenticate(s.rateLimit(http.HandlerFunc(s.graphql))))
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(d.Registry, promhttp.HandlerOpts{}))
	for prefix, h := range d.Mounts {
		mux.Handle(prefix, h)
	}
	// The request id comes first so that even a recovered panic answers
	// with it.
	s.handler = s.requestID(s.recoverer(s.observe(s.limitBody(mux))))
	return s
}

// Handler is the whole middleware chain and router.
func (s *Server) Handler() http.Handler { return s.handler }

// Serve listens on ln until ctx ends, then drains in-flight requests.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.handler,
		ReadTimeout:       s.cfg.ReadTimeout,
		ReadHeaderTimeout: 5 * time.Second,
		WriteTimeout:      s.cfg.WriteTimeout,
		IdleTimeout:       2 * time.Minute,
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
		ErrorLog:          slog.NewLogLogger(s.d.Log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 20*time.Second)
	defer cancel()
	err := srv.Shutdown(shutdown)
	if e := <-errc; !errors.Is(e, http.ErrServerClosed) && err == nil {
		err = e
	}
	return err
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	status := http.StatusOK
	out := map[string]string{}
	for _, c := range s.d.Ready {
		if err := c.Ping(ctx); err != nil {
			s.d.Log.WarnContext(ctx, "readiness check failed", "check", c.Name, "err", err)
			out[c.Name] = "unavailable"
			status = http.StatusServiceUnavailable
			continue
		}
		out[c.Name] = "ok"
	}
	writeJSON(w, status, out)
}
