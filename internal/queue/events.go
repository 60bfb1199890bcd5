package queue

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/borderproof/borderproof/internal/outbox"
)

// EventChannel is the Redis pub/sub channel that carries published events
// from the worker that publishes them to every api process serving live
// subscriptions. Events carry ids and outcomes only.
const EventChannel = "borderproof:events"

// EventBridge publishes events to Redis and forwards them to a local sink,
// so a subscriber connected to any api replica sees events published by any
// worker. Delivery is best effort (live screens); webhooks stay the
// durable path.
type EventBridge struct {
	rc  redis.UniversalClient
	log *slog.Logger
	// pending holds encoded events for the publishing goroutine, which
	// starts with the first Broadcast.
	pending chan []byte
	start   sync.Once
	stop    chan struct{}
	stopped sync.Once
	done    chan struct{}
	dropped atomic.Int64
}

const (
	// bridgeQueue is how many events wait for Redis before Broadcast
	// drops them.
	bridgeQueue = 4096
	// bridgeBatch is the most events sent in one round trip.
	bridgeBatch = 256
	// bridgeTimeout bounds one round trip, and Close's last one.
	bridgeTimeout = 2 * time.Second
)

// NewEventBridge builds the bridge on a Redis client.
func NewEventBridge(rc redis.UniversalClient, log *slog.Logger) *EventBridge {
	return &EventBridge{rc: rc, log: log, pending: make(chan []byte, bridgeQueue), stop: make(chan struct{}), done: make(chan struct{})}
}

// Broadcast queues ev for publication and returns at once: a run that
// publishes its outcome does not wait for Redis, nor stall while Redis is
// away. The events queued while one round trip is under way go out
// together in the next. When Redis is away long enough to fill the queue,
// further events are dropped for live subscribers (and counted in the
// log); their webhooks are unaffected.
func (b *EventBridge) Broadcast(ev outbox.Event) {
	msg, err := json.Marshal(ev)
	if err != nil {
		return
	}
	b.start.Do(func() { go b.publish() })
	select {
	case b.pending <- msg:
	default:
		if n := b.dropped.Add(1); n%100 == 1 {
			b.log.Warn("live event queue full; events dropped for subscribers", "dropped", n)
		}
	}
}

// publish sends queued events in batches, one round trip each, until
// Close; then it sends what is left and returns.
func (b *EventBridge) publish() {
	defer close(b.done)
	for {
		var first []byte
		select {
		case first = <-b.pending:
		case <-b.stop:
			// What is queued goes out, unless Redis is away: then the
			// rest is dropped rather than holding the stop.
			for batch := b.batch(nil); len(batch) > 0 && b.send(batch); batch = b.batch(nil) {
			}
			return
		}
		b.send(b.batch([][]byte{first}))
	}
}

// batch adds to batch the events queued, up to bridgeBatch.
func (b *EventBridge) batch(batch [][]byte) [][]byte {
	for len(batch) < bridgeBatch {
		select {
		case m := <-b.pending:
			batch = append(batch, m)
		default:
			return batch
		}
	}
	return batch
}

// send publishes batch in one round trip and reports whether it went.
func (b *EventBridge) send(batch [][]byte) bool {
	ctx, cancel := context.WithTimeout(context.Background(), bridgeTimeout)
	defer cancel()
	_, err := b.rc.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, m := range batch {
			p.Publish(ctx, EventChannel, m)
		}
		return nil
	})
	if err != nil {
		b.log.Warn("publish events to subscribers", "events", len(batch), "err", err)
		return false
	}
	return true
}

// Close sends the events still queued and stops publishing; it is safe to
// call more than once.
func (b *EventBridge) Close() {
	b.start.Do(func() { close(b.done) }) // never started: nothing to send
	b.stopped.Do(func() { close(b.stop) })
	<-b.done
}

// Sink receives forwarded events (webhook.Hub).
type Sink interface {
	Broadcast(ev outbox.Event)
}

// Run forwards every event on the channel to sink until ctx ends,
// resubscribing after a lost connection.
func (b *EventBridge) Run(ctx context.Context, sink Sink) {
	for ctx.Err() == nil {
		sub := b.rc.Subscribe(ctx, EventChannel)
		if _, err := sub.Receive(ctx); err != nil {
			sub.Close()
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
			continue
		}
		ch := sub.Channel()
	loop:
		for {
			select {
			case <-ctx.Done():
				sub.Close()
				return
			case m, ok := <-ch:
				if !ok {
					break loop
				}
				var ev outbox.Event
				if json.Unmarshal([]byte(m.Payload), &ev) == nil {
					sink.Broadcast(ev)
				}
			}
		}
		sub.Close()
	}
}
