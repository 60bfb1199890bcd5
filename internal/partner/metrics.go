package partner

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/borderproof/borderproof/internal/obs"
)

// Metrics are the resilience layer's Prometheus collectors. Labels carry the
// partner name, the operation and an outcome; never personal data.
type Metrics struct {
	duration *prometheus.HistogramVec
	calls    *prometheus.CounterVec
	retries  *prometheus.CounterVec
	breaker  *prometheus.GaugeVec
	inFlight *prometheus.GaugeVec
}

// NewMetrics registers the collectors with reg (a fresh registry in tests,
// prometheus.DefaultRegisterer in the binary). Registering twice with the same
// registerer reuses the collectors already there. A nil reg registers
// nothing.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "borderproof", Subsystem: "partner", Name: "call_duration_seconds",
			Help:    "Duration of partner calls through the resilience layer, retries included.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"partner", "op"}),
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "borderproof", Subsystem: "partner", Name: "calls_total",
			Help: "Partner calls by outcome (CLEAR, CONSIDER, ALERT, UNAVAILABLE, AWAITING, or the error kind).",
		}, []string{"partner", "op", "outcome"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "borderproof", Subsystem: "partner", Name: "retries_total",
			Help: "Partner call attempts after the first.",
		}, []string{"partner"}),
		breaker: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "borderproof", Subsystem: "partner", Name: "breaker_state",
			Help: "Circuit breaker state: 0 closed, 1 half-open, 2 open.",
		}, []string{"partner"}),
		inFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "borderproof", Subsystem: "partner", Name: "in_flight",
			Help: "Partner calls in flight.",
		}, []string{"partner"}),
	}
	if reg == nil {
		return m, nil
	}
	var err error
	m.duration = obs.Register(reg, m.duration, &err)
	m.calls = obs.Register(reg, m.calls, &err)
	m.retries = obs.Register(reg, m.retries, &err)
	m.breaker = obs.Register(reg, m.breaker, &err)
	m.inFlight = obs.Register(reg, m.inFlight, &err)
	return m, err
}
