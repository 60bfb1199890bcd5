package webhook

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/borderproof/borderproof/internal/breaker"
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

// TestGateBacksOff: an endpoint's breaker is held open for
// BreakerCooldown, then, after each failed trial attempt, twice as long up
// to BreakerMaxCooldown; a disabled breaker holds nothing.
func TestGateBacksOff(t *testing.T) {
	t.Parallel()
	const cooldown = 200 * time.Millisecond
	g := newGates(Config{MaxInFlight: 4, BreakerFailures: 1, BreakerCooldown: cooldown, BreakerMaxCooldown: 2 * cooldown}).get("ep")
	fail := func() (outcome, error) { return outcome{}, errAttemptFailed }
	for _, want := range []time.Duration{cooldown, 2 * cooldown, 2 * cooldown} {
		if _, err := g.cb.Execute(fail); !errors.Is(err, errAttemptFailed) {
			t.Fatalf("attempt turned away: %v", err)
		}
		if h := g.held(); h <= want/2 || h > want {
			t.Fatalf("held %s, want about %s", h, want)
		}
		_, err := g.cb.Execute(fail)
		var open *breaker.OpenError
		if !errors.As(err, &open) || open.Wait <= 0 || open.Wait > want {
			t.Fatalf("while open: %v", err)
		}
		time.Sleep(want + 10*time.Millisecond)
	}
	if _, err := g.cb.Execute(func() (outcome, error) { return outcome{}, nil }); err != nil || g.held() != 0 {
		t.Fatalf("successful trial: %v, held %s", err, g.held())
	}
	if g := newGates(Config{MaxInFlight: 4, BreakerFailures: -1}).get("ep2"); g.cb != nil || g.held() != 0 {
		t.Fatal("a disabled breaker holds")
	}
}
