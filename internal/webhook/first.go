package webhook

import (
	"context"
	"sync"
	"time"

	"github.com/borderproof/borderproof/internal/outbox"
)

// maxFirstAttempts bounds the first attempts a process makes at once
// (Hold); beyond it deliveries go through the queue.
const maxFirstAttempts = 64

// firsts are the first attempts this process makes itself, right after
// the commit that wrote their deliveries, instead of queueing a task for
// each: a delivery task costs the queue three exchanges with Redis and the
// delivery a claim, where the writer already holds what the attempt needs.
// Such a delivery is written leased for one attempt (Hold), so that no
// task and no sweep takes it meanwhile; should this process die before
// recording the attempt, the sweeper queues it (Sweep): as soon as the
// process is known to be gone when the delivery names it (Config.Liveness),
// else once the lease lapses, as for a worker that dies mid-attempt.
type firsts struct {
	mu     sync.Mutex
	closed bool
	held   map[string]Endpoint // by delivery id, until Published or Unhold
	slots  chan struct{}
	wg     sync.WaitGroup
	ctx    context.Context // cancelled when Close gives up waiting
	cancel context.CancelFunc
}

func newFirsts() *firsts {
	ctx, cancel := context.WithCancel(context.Background())
	return &firsts{held: map[string]Endpoint{}, slots: make(chan struct{}, maxFirstAttempts), ctx: ctx, cancel: cancel}
}

// Hold takes the first attempt of deliveries ds, new for endpoints (as
// Fanout made them), to make in this process once they commit: each it can
// make now (the process is not closing, has room, and the endpoint's
// breaker is closed) comes back leased for one attempt, the others as they
// were. The writer writes them as returned and then calls Published, or
// Unhold when they did not commit.
func (s *Service) Hold(ds []Delivery, endpoints []Endpoint, now time.Time) []Delivery {
	if len(ds) == 0 {
		return ds
	}
	out := make([]Delivery, len(ds))
	copy(out, ds)
	f := s.firsts
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return out
	}
	for i, d := range out {
		var ep *Endpoint
		for j := range endpoints {
			if endpoints[j].ID == d.EndpointID {
				ep = &endpoints[j]
			}
		}
		if ep == nil {
			continue
		}
		if s.gates.get(ep.ID).held() > 0 { // its breaker is open
			continue
		}
		select {
		case f.slots <- struct{}{}:
		default:
			return out // full: the rest go through the queue
		}
		out[i].LeasedUntil = now.Add(s.cfg.Timeout + leaseMargin)
		if s.cfg.Liveness != nil {
			out[i].LeasedBy = s.cfg.Liveness.ID()
		}
		f.held[d.ID] = *ep
		f.wg.Add(1) // done when the attempt ends or the hold is given back
	}
	return out
}

// Unhold gives back what Hold took for deliveries that were not written.
func (s *Service) Unhold(ds []Delivery) {
	f := s.firsts
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, d := range ds {
		if _, ok := f.held[d.ID]; ok {
			delete(f.held, d.ID)
			<-f.slots
			f.wg.Done()
		}
	}
}

// take returns the endpoint of a held delivery and forgets the hold; the
// slot stays taken until the attempt ends.
func (f *firsts) take(id string) (Endpoint, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ep, ok := f.held[id]
	delete(f.held, id)
	return ep, ok
}

// first makes a held delivery's first attempt and records it; a delivery
// it cannot attempt (the endpoint busy, the breaker opened meanwhile, the
// process closing) is released and queued, as Deliver would have found it.
func (s *Service) first(ev outbox.Event, d Delivery, ep Endpoint) {
	f := s.firsts
	defer func() {
		<-f.slots
		f.wg.Done()
	}()
	ctx := f.ctx
	g := s.gates.get(ep.ID)
	if !g.acquire(ctx, g.slotWait(s.cfg.SlotWait)) {
		s.handOver(d, "webhook endpoint has too many deliveries in flight")
		return
	}
	defer g.release()
	now := s.now()
	out, err := s.attempt(ctx, ep, d, ev, now, g)
	if err != nil {
		s.handOver(d, err.Error())
		return
	}
	if err := s.record(ctx, ep, d, now, out); err != nil {
		// Unrecorded, it stays leased: the sweeper queues it once the
		// lease has lapsed.
		s.log.WarnContext(ctx, "record webhook attempt; the sweeper will retry", "delivery", d.ID, "err", err)
	}
}

// handOver gives a held delivery whose attempt was not made to the queue.
func (s *Service) handOver(d Delivery, why string) {
	ctx := context.WithoutCancel(s.firsts.ctx)
	if err := s.store.ReleaseWebhookDelivery(ctx, d.InsurerID, d.ID); err != nil {
		s.log.WarnContext(ctx, "release webhook delivery; the sweeper will queue it", "delivery", d.ID, "err", err)
		return
	}
	s.log.DebugContext(ctx, "webhook delivery queued", "delivery", d.ID, "why", why)
	if err := s.enqueue(ctx, d, 0); err != nil {
		s.log.WarnContext(ctx, "queue webhook delivery; the sweeper will", "delivery", d.ID, "err", err)
	}
}

// closeGrace is how long Close waits for cancelled first attempts to be
// handed over.
const closeGrace = 5 * time.Second

// Close stops taking first attempts and waits for those held or under way
// until ctx ends; then it cancels them (each released and queued) and
// waits a little more. Any left are the sweeper's once their lease lapses.
func (s *Service) Close(ctx context.Context) {
	f := s.firsts
	f.mu.Lock()
	f.closed = true
	f.mu.Unlock()
	done := make(chan struct{})
	go func() {
		f.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return
	case <-ctx.Done():
	}
	f.cancel()
	select {
	case <-done:
	case <-time.After(closeGrace):
	}
}
