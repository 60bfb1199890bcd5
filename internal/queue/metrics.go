package queue

import (
	"slices"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
)

// Collector reports queue sizes by state and queue latency from asynq's
// inspector at scrape time, so every worker replica reports the same
// shared numbers without keeping state.
type Collector struct {
	insp    *asynq.Inspector
	size    *prometheus.Desc
	latency *prometheus.Desc
	up      *prometheus.Desc
}

// NewCollector builds the collector on the Redis connection.
func NewCollector(opt asynq.RedisConnOpt) *Collector {
	return &Collector{
		insp:    asynq.NewInspector(opt),
		size:    prometheus.NewDesc("borderproof_queue_size", "Tasks per queue and state.", []string{"queue", "state"}, nil),
		latency: prometheus.NewDesc("borderproof_queue_latency_seconds", "Age of the oldest pending task per queue.", []string{"queue"}, nil),
		up:      prometheus.NewDesc("borderproof_queue_inspector_up", "1 when the queue inspector could read Redis.", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.size
	ch <- c.latency
	ch <- c.up
}

// Collect implements prometheus.Collector. A queue that never held a task
// does not exist in Redis yet (and asynq's inspector answers it with an
// error of its own, not ErrQueueNotFound): it is reported empty, so every
// queue has its series from the first scrape and the inspector's up gauge
// falls only when Redis could not be read.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	existing, err := c.insp.Queues()
	if err != nil {
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 0)
		return
	}
	up := 1.0
	for q := range Weights {
		var info asynq.QueueInfo
		if slices.Contains(existing, q) {
			got, qerr := c.insp.GetQueueInfo(q)
			if qerr != nil {
				up = 0
				continue
			}
			info = *got
		}
		for state, n := range map[string]int{
			"pending": info.Pending, "active": info.Active, "scheduled": info.Scheduled,
			"retry": info.Retry, "archived": info.Archived, "completed": info.Completed, "aggregating": info.Aggregating,
		} {
			ch <- prometheus.MustNewConstMetric(c.size, prometheus.GaugeValue, float64(n), q, state)
		}
		ch <- prometheus.MustNewConstMetric(c.latency, prometheus.GaugeValue, info.Latency.Seconds(), q)
	}
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, up)
}

// Close releases the inspector's connection.
func (c *Collector) Close() error { return c.insp.Close() }
