package webhook

import (
	"sync"

	"github.com/borderproof/borderproof/internal/outbox"
	"github.com/borderproof/borderproof/internal/tenant"
)

// Hub hands published events to live subscribers in this process (the
// GraphQL subscriptions). It implements Broadcaster. It only reaches
// subscribers of the process that runs the publish task: with separate api
// and worker processes, a shared transport (Redis pub/sub) must carry
// events to it.
type Hub struct {
	buffer int
	mu     sync.Mutex
	subs   map[*hubSub]struct{}
}

// HubFilter selects the events a subscriber receives: one insurer and
// mode, and optionally one subject (a verification id).
type HubFilter struct {
	InsurerID string
	Mode      tenant.Mode
	SubjectID string
}

type hubSub struct {
	f  HubFilter
	ch chan outbox.Event
}

// NewHub returns a hub whose subscribers buffer up to buffer events
// (default 16); a subscriber that falls further behind misses events
// rather than slowing publishing.
func NewHub(buffer int) *Hub {
	if buffer <= 0 {
		buffer = 16
	}
	return &Hub{buffer: buffer, subs: map[*hubSub]struct{}{}}
}

// Subscribe returns the events matching f and a function that ends the
// subscription and closes the channel.
func (h *Hub) Subscribe(f HubFilter) (<-chan outbox.Event, func()) {
	s := &hubSub{f: f, ch: make(chan outbox.Event, h.buffer)}
	h.mu.Lock()
	h.subs[s] = struct{}{}
	h.mu.Unlock()
	var once sync.Once
	return s.ch, func() {
		once.Do(func() {
			h.mu.Lock()
			delete(h.subs, s)
			h.mu.Unlock()
			close(s.ch)
		})
	}
}

// Len reports how many subscriptions are open.
func (h *Hub) Len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}

// Broadcast implements Broadcaster; it never blocks.
func (h *Hub) Broadcast(ev outbox.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		if s.f.InsurerID != ev.InsurerID || string(s.f.Mode) != ev.Mode || (s.f.SubjectID != "" && s.f.SubjectID != ev.SubjectID) {
			continue
		}
		select {
		case s.ch <- ev:
		default: // a slow subscriber misses the event
		}
	}
}
