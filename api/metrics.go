package api

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/borderproof/borderproof/internal/obs"

	"github.com/borderproof/borderproof/internal/tenant"
)

type metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

func newMetrics(r prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "borderproof_http_requests_total",
			Help: "HTTP requests by operation (GraphQL kind and root field, or route) and outcome (status code).",
		}, []string{"operation", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "borderproof_http_request_duration_seconds",
			Help:    "HTTP request latency by operation.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"operation"}),
	}
	r.MustRegister(m.requests, m.latency)
	return m
}

// reqInfo is filled by inner handlers for the access log and metrics.
type reqInfo struct {
	mu        sync.Mutex
	operation string
	principal *tenant.Principal
}

type infoKey struct{}

func setOperation(r *http.Request, op string) {
	if ri, ok := r.Context().Value(infoKey{}).(*reqInfo); ok {
		ri.mu.Lock()
		ri.operation = op
		ri.mu.Unlock()
	}
}

func setPrincipal(r *http.Request, p tenant.Principal) {
	if ri, ok := r.Context().Value(infoKey{}).(*reqInfo); ok {
		ri.mu.Lock()
		ri.principal = &p
		ri.mu.Unlock()
	}
}

type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += n
	return n, err
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// routes bounds the operation label for non-GraphQL paths.
var routes = map[string]bool{"/healthz": true, "/readyz": true, "/metrics": true}

// observe writes one access-log line and the request metrics.
func (s *Server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ri := &reqInfo{}
		sw := &statusWriter{ResponseWriter: w}
		ctx := otel.GetTextMapPropagator().Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		ctx, span := obs.Tracer().Start(ctx, r.Method+" "+r.URL.Path, trace.WithSpanKind(trace.SpanKindServer))
		defer span.End()
		next.ServeHTTP(sw, r.WithContext(context.WithValue(ctx, infoKey{}, ri)))
		ri.mu.Lock()
		op := ri.operation
		p := ri.principal
		ri.mu.Unlock()
		if op == "" {
			op = "other"
			if routes[r.URL.Path] {
				op = r.URL.Path
			} else if r.URL.Path == "/graphql" {
				op = "graphql:rejected"
			}
		}
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		d := time.Since(start)
		span.SetName(op)
		span.SetAttributes(attribute.String("graphql.operation", op), attribute.Int("http.response.status_code", sw.status))
		if sw.status >= 500 {
			span.SetStatus(codes.Error, http.StatusText(sw.status))
		}
		s.metrics.requests.WithLabelValues(op, strconv.Itoa(sw.status)).Inc()
		s.metrics.latency.WithLabelValues(op).Observe(d.Seconds())
		if r.URL.Path == "/healthz" || r.URL.Path == "/metrics" {
			return
		}
		attrs := []any{"method", r.Method, "path", r.URL.Path, "operation", op, "status", sw.status,
			"duration_ms", float64(d.Microseconds()) / 1000, "bytes", sw.bytes}
		if p != nil {
			attrs = append(attrs, "insurer_id", p.Insurer.ID, "key_id", p.Key.ID)
		}
		s.d.Log.InfoContext(ctx, "request", attrs...)
	})
}
