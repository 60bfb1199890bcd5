package queue_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/borderproof/borderproof/internal/outbox"
	"github.com/borderproof/borderproof/internal/queue"
	"github.com/borderproof/borderproof/internal/testenv"
)

type sink chan outbox.Event

func (s sink) Broadcast(ev outbox.Event) { s <- ev }

// TestEventBridgeCrossesProcesses publishes on one client and receives on
// another, as a worker and an api replica would.
func TestEventBridgeCrossesProcesses(t *testing.T) {
	addr := testenv.Require(t, testenv.RedisAddrVar)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	pub := redis.NewClient(&redis.Options{Addr: addr})
	sub := redis.NewClient(&redis.Options{Addr: addr})
	defer pub.Close()
	defer sub.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(sink, 4)
	go queue.NewEventBridge(sub, log).Run(ctx, got)
	time.Sleep(200 * time.Millisecond) // let the subscription start
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
