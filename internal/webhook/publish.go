package webhook

import (
	"context"
	"slices"
	"time"

	"github.com/borderproof/borderproof/internal/outbox"
	"github.com/borderproof/borderproof/internal/tenant"
)

// Publish fans one outbox event out: one delivery per enabled endpoint of
// the event's insurer and mode that subscribes to its type, written with
// the event's publication, then each queued with its id as the task id;
// the first publication hands the event to the broadcaster. It is idempotent: deliveries are unique per
// (event, endpoint), so running it again creates none and only re-queues
// deliveries not yet attempted (a queued task makes that a no-op).
func (s *Service) Publish(ctx context.Context, eventID string) error {
	ev, err := s.store.EventToPublish(ctx, eventID)
	if err != nil {
		return err
	}
	return s.PublishEvent(ctx, ev)
}

// PublishEvent is Publish with the event in hand: the one its writer has
// just committed. Its time is taken as stored (UTC, microseconds), so that
// live subscribers see the same event either way.
func (s *Service) PublishEvent(ctx context.Context, ev outbox.Event) error {
	ev.CreatedAt = ev.CreatedAt.UTC().Truncate(time.Microsecond)
	mode := tenant.Mode(ev.Mode)
	endpoints, err := s.store.EnabledWebhookEndpoints(ctx, ev.InsurerID, mode)
	if err != nil {
		return err
	}
	now := s.now()
	ds := Fanout(ev, endpoints, now)
	// The deliveries and the event's publication commit together; should
	// a task fail to queue, the publish task runs again and queues the
	// deliveries not yet attempted, and the sweeper queues any it misses.
	pending, first, err := s.store.CreateWebhookDeliveries(ctx, ev.InsurerID, ev.ID, ds, now)
	if err != nil {
		return err
	}
	if first {
		s.bcast.Broadcast(ev)
	}
	for _, d := range pending {
		if err := s.enqueue(ctx, d, 0); err != nil {
			return err
		}
	}
	return nil
}

// Fanout is the deliveries of ev, new at now: one to each of endpoints
// that is enabled, in the event's mode and subscribed to its type.
func Fanout(ev outbox.Event, endpoints []Endpoint, now time.Time) []Delivery {
	var ds []Delivery
	for _, e := range endpoints {
		if e.Enabled && e.Mode == tenant.Mode(ev.Mode) && slices.Contains(e.Events, ev.Type) {
			ds = append(ds, newDelivery(ev, e, now))
		}
	}
	return ds
}

// Published follows an event whose writer wrote its deliveries ds
// (Fanout, then Hold) and its publication in the same transaction: the
// event goes to live subscribers, each delivery held is attempted by this
// process in the background, and each other one is queued. A delivery
// that fails to queue is the sweeper's (Sweep); the first such error is
// returned.
func (s *Service) Published(ctx context.Context, ev outbox.Event, ds []Delivery) error {
	ev.CreatedAt = ev.CreatedAt.UTC().Truncate(time.Microsecond)
	s.bcast.Broadcast(ev)
	var first error
	for _, d := range ds {
		if ep, ok := s.firsts.take(d.ID); ok {
			go s.first(ev, d, ep)
			continue
		}
		if err := s.enqueue(ctx, d, 0); err != nil && first == nil {
			first = err
		}
	}
	return first
}
