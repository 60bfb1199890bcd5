package main

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// backlogCollector reports webhook deliveries waiting, read from the
// database at scrape time so every worker reports the same truth.
type backlogCollector struct {
	a       *app
	pending *prometheus.Desc
	overdue *prometheus.Desc
}

func newBacklogCollector(a *app) *backlogCollector {
	return &backlogCollector{a: a,
		pending: prometheus.NewDesc("borderproof_webhook_backlog", "Webhook deliveries not yet delivered or failed (PENDING).", nil, nil),
		overdue: prometheus.NewDesc("borderproof_webhook_overdue", "PENDING deliveries whose next attempt is already due.", nil, nil),
	}
}

func (c *backlogCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.pending; ch <- c.overdue }

func (c *backlogCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	pending, overdue, err := c.a.store.WebhookBacklog(ctx, time.Now())
	if err != nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(pending))
	ch <- prometheus.MustNewConstMetric(c.overdue, prometheus.GaugeValue, float64(overdue))
}
