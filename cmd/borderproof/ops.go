package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/borderproof/borderproof/internal/obs"
	"github.com/borderproof/borderproof/internal/queue"
)

// serveOps serves /healthz, /readyz and /metrics for a process that has no
// API (the worker), so probes and Prometheus treat every process alike.
func (a *app) serveOps(ctx context.Context, ln net.Listener) error {
	if a.redis != nil {
		qc := queue.NewCollector(a.redis)
		if err := a.reg.Register(qc); err == nil {
			a.closers = append(a.closers, func() { qc.Close() })
		}
	}
	_ = a.reg.Register(newBacklogCollector(a))
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}` + "\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		pctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		defer cancel()
		out, status := map[string]string{"database": "ok"}, http.StatusOK
		if err := a.store.Ping(pctx); err != nil {
			out["database"], status = "unavailable", http.StatusServiceUnavailable
		}
		if a.rc != nil {
			out["redis"] = "ok"
			if err := a.rc.Ping(pctx).Err(); err != nil {
				out["redis"], status = "unavailable", http.StatusServiceUnavailable
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(out)
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(a.reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	err := srv.Shutdown(sctx)
	if e := <-errc; err == nil && !errors.Is(e, http.ErrServerClosed) {
		err = e
	}
	return err
}

// startTracing turns on OpenTelemetry when OTEL_* variables ask for it; the
// returned function flushes spans on shutdown.
func startTracing(ctx context.Context, service string, a *app) error {
	shutdown, err := obs.SetupTracing(ctx, service)
	if err != nil {
		return fmt.Errorf("OTEL_EXPORTER_OTLP_ENDPOINT: %w", err)
	}
	a.closers = append(a.closers, func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = shutdown(sctx)
	})
	return nil
}
