package webhook

import (
	"context"
	"testing"
	"time"
)

// A burst to a fast endpoint waits for a slot (here 10 ms) instead of
// being postponed by a second; a slow endpoint's attempt still gives up
// after SlotWait, and an endpoint not heard from yet waits the least.
func TestGateSlotWait(t *testing.T) {
	ctx := context.Background()
	const limit = 250 * time.Millisecond
	g := newGates(Config{MaxInFlight: 1}).get("we_fast")
	g.observe(time.Millisecond)
	if w := g.slotWait(limit); w != minSlotWait {
		t.Fatalf("fast endpoint waits %s, want %s", w, minSlotWait)
	}
	if !g.acquire(ctx, g.slotWait(limit)) {
		t.Fatal("the free slot was refused")
	}
	go func() {
		time.Sleep(10 * time.Millisecond)
		g.release()
	}()
	if !g.acquire(ctx, g.slotWait(limit)) {
		t.Fatal("a burst to a fast endpoint was postponed instead of waiting 10 ms for a slot")
	}
	g.release()

	slow := newGates(Config{MaxInFlight: 1}).get("we_slow")
	slow.observe(2 * time.Second)
	if w := slow.slotWait(limit); w != limit {
		t.Fatalf("slow endpoint waits %s, want %s", w, limit)
	}
	if !slow.acquire(ctx, 0) {
		t.Fatal("the free slot was refused")
	}
	start := time.Now()
	if slow.acquire(ctx, slow.slotWait(limit)) {
		t.Fatal("got a slot nobody released")
	}
	if d := time.Since(start); d < limit {
		t.Fatalf("gave up after %s, before %s", d, limit)
	}

	if w := newGates(Config{MaxInFlight: 1}).get("we_new").slotWait(limit); w != minSlotWait {
		t.Fatalf("new endpoint waits %s, want %s", w, minSlotWait)
	}
	if w := g.slotWait(10 * time.Millisecond); w != 10*time.Millisecond {
		t.Fatalf("a SlotWait below the floor: waits %s", w)
	}
}
