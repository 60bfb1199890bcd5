package queue

import (
	"context"
	"encoding/json"
	"log/slog"
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
}

// NewEventBridge builds the bridge on a Redis client.
func NewEventBridge(rc redis.UniversalClient, log *slog.Logger) *EventBridge {
	return &EventBridge{rc: rc, log: log}
}

// Broadcast publishes ev; a failure is logged, never returned.
func (b *EventBridge) Broadcast(ev outbox.Event) {
	msg, err := json.Marshal(ev)
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := b.rc.Publish(ctx, EventChannel, msg).Err(); err != nil {
		b.log.Warn("publish event to subscribers", "event_id", ev.ID, "err", err)
	}
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
