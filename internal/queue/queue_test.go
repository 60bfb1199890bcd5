package queue_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

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
	c := queue.NewCollector(opt)
	defer c.Close()
	pending, ok := gather(t, c)[`borderproof_queue_size{queue="default",state="pending"}`]
	if !ok {
		pending = -1
	}
	if pending != 2 {
		t.Fatalf("pending in default = %v, want 2 (three enqueues of one id, one of another)", pending)
	}
	_, _ = insp.DeleteAllPendingTasks(queue.Default)
}

// A queue that never held a task does not exist in Redis: it is reported
// empty, and the inspector is up; a Redis that refuses connections puts it
// down.
func TestCollectorReportsQueuesBeforeTheyExist(t *testing.T) {
	addr := testenv.Require(t, testenv.RedisAddrVar)
	rc := redis.NewClient(&redis.Options{Addr: addr, DB: 8})
	defer rc.Close()
	if err := rc.FlushDB(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	opt := asynq.RedisClientOpt{Addr: addr, DB: 8}
	c := queue.NewCollector(opt)
	defer c.Close()
	got := gather(t, c)
	if got["borderproof_queue_inspector_up"] != 1 {
		t.Errorf("inspector up = %v on an empty Redis, want 1", got["borderproof_queue_inspector_up"])
	}
	for q := range queue.Weights {
		for _, name := range []string{`borderproof_queue_size{queue="` + q + `",state="pending"}`, `borderproof_queue_latency_seconds{queue="` + q + `"}`} {
			if v, ok := got[name]; !ok || v != 0 {
				t.Errorf("%s = %v (reported %v), want 0", name, v, ok)
			}
		}
	}

	e := queue.NewEnqueuer(opt)
	defer e.Close()
	if err := e.Enqueue(context.Background(), "test:noop", nil, "task-1", queue.Low, 0); err != nil {
		t.Fatal(err)
	}
	got = gather(t, c)
	if got[`borderproof_queue_size{queue="low",state="pending"}`] != 1 || got["borderproof_queue_inspector_up"] != 1 {
		t.Errorf("after one enqueue to low: %v", got)
	}
	_ = rc.FlushDB(context.Background())

	down := queue.NewCollector(asynq.RedisClientOpt{Addr: "127.0.0.1:1", DialTimeout: time.Second})
	defer down.Close()
	got = gather(t, down)
	if v, ok := got["borderproof_queue_inspector_up"]; !ok || v != 0 || len(got) != 1 {
		t.Errorf("refused Redis: %v, want only inspector_up 0", got)
	}
}

// gather collects c's metrics by name and labels.
func gather(t *testing.T, c prometheus.Collector) map[string]float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			name := f.GetName()
			if ls := m.GetLabel(); len(ls) > 0 {
				var parts []string
				for _, l := range ls {
					parts = append(parts, l.GetName()+`="`+l.GetValue()+`"`)
				}
				name += "{" + strings.Join(parts, ",") + "}"
			}
			out[name] = m.GetGauge().GetValue()
		}
	}
	return out
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
