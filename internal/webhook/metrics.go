package webhook

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are delivery attempt counts and latency. Labels carry outcomes
// only: never an endpoint URL or an insurer.
type Metrics struct {
	attempts *prometheus.CounterVec
	latency  prometheus.Histogram
}

// NewMetrics registers the delivery metrics on reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "borderproof_webhook_deliveries_total",
			Help: "Webhook delivery attempts by outcome: delivered, retrying, failed.",
		}, []string{"outcome"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "borderproof_webhook_attempt_duration_seconds",
			Help:    "Time receivers took to answer a delivery attempt.",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 15},
		}),
	}
	for _, c := range []prometheus.Collector{m.attempts, m.latency} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *Metrics) observe(status DeliveryStatus, latency time.Duration) {
	if m == nil {
		return
	}
	outcome := "retrying"
	switch status {
	case Succeeded:
		outcome = "delivered"
	case Failed:
		outcome = "failed"
	}
	m.attempts.WithLabelValues(outcome).Inc()
	if latency > 0 {
		m.latency.Observe(latency.Seconds())
	}
}
