package queue_test

import (
	"context"
	"testing"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/borderproof/borderproof/internal/queue"
	"github.com/borderproof/borderproof/internal/testenv"
)

func TestEnqueueIsIdempotentAndMetricsSeeIt(t *testing.T) {
	opt := asynq.RedisClientOpt{Addr: testenv.Require(t, testenv.RedisAddrVar), DB: 8}
	insp := asynq.NewInspector(opt)
	defer insp.Close()
	for q := range queue.Weights {
		_, _ = insp.DeleteAllPendingTasks(q)
	}
	e := queue.NewEnqueuer(opt)
	defer e.Close()
	ctx := context.Background()
	for range 3 {
		if err := e.Enqueue(ctx, "test:noop", []byte(`{"v":1}`), "task-1", queue.Default, 0); err != nil {
			t.Fatalf("enqueue: %v", err)
		}
	}
	if err := e.Enqueue(ctx, "test:noop", nil, "task-2", queue.Default, 0); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	c := queue.NewCollector(opt)
	defer c.Close()
	reg.MustRegister(c)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	pending := -1.0
	for _, f := range families {
		if f.GetName() != "borderproof_queue_size" {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["queue"] == queue.Default && labels["state"] == "pending" {
				pending = m.GetGauge().GetValue()
			}
		}
	}
	if pending != 2 {
		t.Fatalf("pending in default = %v, want 2 (three enqueues of one id, one of another)", pending)
	}
	_, _ = insp.DeleteAllPendingTasks(queue.Default)
}

func TestClusterConfig(t *testing.T) {
	opt, err := queue.Config{ClusterNodes: []string{"10.0.0.1:6379", "10.0.0.2:6379"}, ClusterPassword: "token", ClusterTLS: true}.ConnOpt()
	if err != nil {
		t.Fatal(err)
	}
	c, ok := opt.(asynq.RedisClusterClientOpt)
	if !ok || len(c.Addrs) != 2 || c.Password != "token" || c.TLSConfig == nil {
		t.Fatalf("cluster option: %+v", opt)
	}
	if _, err := (queue.Config{}).ConnOpt(); err == nil {
		t.Fatal("an empty configuration was accepted")
	}
}
