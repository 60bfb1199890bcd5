package queue_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/borderproof/borderproof/internal/outbox"
	"github.com/borderproof/borderproof/internal/queue"
	"github.com/borderproof/borderproof/internal/testenv"
)

type sink chan outbox.Event

func (s sink) Broadcast(ev outbox.Event) { s <- ev }

// subscribed starts a bridge forwarding the channel to a sink of the
// given buffer, as an api replica would, and returns another client to
// publish with, as a worker would.
func subscribed(t *testing.T, addr string, log *slog.Logger, buffer int) (*redis.Client, sink) {
	t.Helper()
	pub := redis.NewClient(&redis.Options{Addr: addr})
	sub := redis.NewClient(&redis.Options{Addr: addr})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() {
		cancel()
		pub.Close()
		sub.Close()
	})
	got := make(sink, buffer)
	go queue.NewEventBridge(sub, log).Run(ctx, got)
	time.Sleep(200 * time.Millisecond) // let the subscription start
	return pub, got
}

// TestEventBridgeCrossesProcesses publishes on one client and receives on
// another, as a worker and an api replica would.
func TestEventBridgeCrossesProcesses(t *testing.T) {
	addr := testenv.Require(t, testenv.RedisAddrVar)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	pub, got := subscribed(t, addr, log, 4)
	ev := outbox.Event{ID: "evt_1", InsurerID: "ins_1", Mode: "TEST", Type: outbox.VerificationCompleted,
		SubjectID: "ver_1", Payload: json.RawMessage(`{"decision":"CLEAR"}`), CreatedAt: time.Now().UTC()}
	queue.NewEventBridge(pub, log).Broadcast(ev)
	select {
	case e := <-got:
		if e.ID != ev.ID || e.InsurerID != "ins_1" || string(e.Payload) != `{"decision":"CLEAR"}` {
			t.Fatalf("forwarded %+v", e)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("event never crossed")
	}
}

// TestEventBridgePublishesInOrderWithoutWaiting: Broadcast returns without
// waiting for Redis, even when Redis does not answer, and the events it
// queued reach subscribers in order once it does.
func TestEventBridgePublishesInOrderWithoutWaiting(t *testing.T) {
	addr := testenv.Require(t, testenv.RedisAddrVar)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))

	// A server that accepts and never answers: each round trip to it
	// waits for its timeout.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	mute := redis.NewClient(&redis.Options{Addr: ln.Addr().String(), MaxRetries: -1})
	defer mute.Close()
	stuck := queue.NewEventBridge(mute, log)
	returned := make(chan struct{})
	go func() {
		for i := range 50 {
			stuck.Broadcast(outbox.Event{ID: fmt.Sprintf("evt_%d", i)})
		}
		close(returned)
	}()
	select {
	case <-returned:
	case <-time.After(time.Second): // one round trip alone waits 2 s
		t.Fatal("Broadcast waited for Redis")
	}

	pub, got := subscribed(t, addr, log, 1000)
	b := queue.NewEventBridge(pub, log)
	for i := range 1000 {
		b.Broadcast(outbox.Event{ID: fmt.Sprintf("evt_%04d", i)})
	}
	b.Close()
	for i := range 1000 {
		select {
		case e := <-got:
			if want := fmt.Sprintf("evt_%04d", i); e.ID != want {
				t.Fatalf("event %d: %s, want %s", i, e.ID, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%d of 1000 events crossed", i)
		}
	}
	b.Close() // twice is fine
}
