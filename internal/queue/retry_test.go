package queue_test

import (
	"context"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/borderproof/borderproof/internal/queue"
	"github.com/borderproof/borderproof/internal/testenv"
)

// TestFailedEnqueueSentWhenRedisIsBack: while Redis is away (a proxy in
// front of the real one drops every connection) an enqueue fails and is
// kept; once Redis answers again it is queued without anyone asking, once.
func TestFailedEnqueueSentWhenRedisIsBack(t *testing.T) {
	addr := testenv.Require(t, testenv.RedisAddrVar)
	ctx := context.Background()
	rc := redis.NewClient(&redis.Options{Addr: addr, DB: 8})
	defer rc.Close()
	if err := rc.FlushDB(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	px := newProxy(t, addr)
	e := queue.NewEnqueuer(asynq.RedisClientOpt{Addr: px.addr(), DB: 8, DialTimeout: time.Second})
	defer e.Close()

	if err := e.Enqueue(ctx, "test:noop", []byte(`{"v":1}`), "kept-1", queue.Default, 0); err == nil {
		t.Fatal("an enqueue through a Redis that drops every connection succeeded")
	}
	_ = e.Enqueue(ctx, "test:noop", []byte(`{"v":1}`), "kept-1", queue.Default, 0) // the same task again
	if err := e.Enqueue(ctx, "test:noop", nil, "kept-2", queue.Low, time.Hour); err == nil {
		t.Fatal("an enqueue through a Redis that drops every connection succeeded")
	}
	if n := e.Pending(); n != 2 {
		t.Fatalf("pending = %d, want 2 (one per task id)", n)
	}
	time.Sleep(2 * queue.RetryEvery) // still away: they stay
	if n := e.Pending(); n != 2 {
		t.Fatalf("pending while Redis is away = %d, want 2", n)
	}

	px.up.Store(true)
	deadline := time.Now().Add(10 * time.Second)
	for e.Pending() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d enqueues still pending 10 s after Redis came back", e.Pending())
		}
		time.Sleep(50 * time.Millisecond)
	}
	insp := asynq.NewInspector(asynq.RedisClientOpt{Addr: addr, DB: 8})
	defer insp.Close()
	first, err := insp.GetTaskInfo(queue.Default, "kept-1")
	if err != nil || first.State != asynq.TaskStatePending || string(first.Payload) != `{"v":1}` {
		t.Fatalf("kept-1: %+v, %v", first, err)
	}
	// The delay counts from the first try, not from the retry.
	second, err := insp.GetTaskInfo(queue.Low, "kept-2")
	if err != nil || second.State != asynq.TaskStateScheduled || time.Until(second.NextProcessAt) > time.Hour-time.Second {
		t.Fatalf("kept-2: %+v, %v", second, err)
	}
	if n, _ := insp.GetQueueInfo(queue.Default); n.Size != 1 {
		t.Fatalf("default holds %d tasks, want 1", n.Size)
	}
	_ = rc.FlushDB(ctx)
}

// proxy forwards connections to target while up, and drops them otherwise.
type proxy struct {
	ln     net.Listener
	target string
	up     atomic.Bool
}

func newProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if !p.up.Load() {
				c.Close()
				continue
			}
			go p.forward(c)
		}
	}()
	return p
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

func (p *proxy) forward(c net.Conn) {
	defer c.Close()
	s, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	defer s.Close()
	go func() { _, _ = io.Copy(s, c); s.Close() }()
	_, _ = io.Copy(c, s)
}
