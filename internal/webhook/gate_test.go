package webhook

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sony/gobreaker/v2"
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

// TestGateSaysWhenToTryAgain: an attempt the endpoint's open breaker turns
// away waits until the breaker half-opens, not a whole cooldown from the
// turn-away; one turned away while the half-open trial is under way, a
// second.
func TestGateSaysWhenToTryAgain(t *testing.T) {
	t.Parallel()
	const cooldown = 3 * time.Second
	g := newGates(Config{MaxInFlight: 4, BreakerFailures: 1, BreakerCooldown: cooldown}).get("ep")
	opened := time.Now()
	if _, err := g.cb.Execute(func() (outcome, error) { return outcome{}, errAttemptFailed }); !errors.Is(err, errAttemptFailed) {
		t.Fatal(err)
	}
	_, err := g.cb.Execute(func() (outcome, error) { return outcome{}, nil })
	if !errors.Is(err, gobreaker.ErrOpenState) {
		t.Fatalf("breaker not open: %v", err)
	}
	if got := g.untilTrial(err, cooldown); got > cooldown || got < cooldown-time.Second {
		t.Fatalf("right after opening: wait %s, want about %s", got, cooldown)
	}
	time.Sleep(1100 * time.Millisecond)
	if got, left := g.untilTrial(err, cooldown), time.Until(opened.Add(cooldown)); got > left+50*time.Millisecond || got < time.Second {
		t.Fatalf("%s before it half-opens: wait %s", left.Round(time.Millisecond), got)
	}
	time.Sleep(time.Until(opened.Add(cooldown + 100*time.Millisecond)))
	trial, release := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		_, err := g.cb.Execute(func() (outcome, error) { close(trial); <-release; return outcome{}, nil })
		done <- err
	}()
	<-trial
	_, err = g.cb.Execute(func() (outcome, error) { return outcome{}, nil })
	if !errors.Is(err, gobreaker.ErrTooManyRequests) {
		t.Fatalf("second call while the trial is under way: %v", err)
	}
	if got := g.untilTrial(err, cooldown); got != time.Second {
		t.Fatalf("while the trial is under way: wait %s, want 1s", got)
	}
	close(release)
	if err := <-done; err != nil || g.cb.State() != gobreaker.StateClosed {
		t.Fatalf("trial: %v, breaker %s", err, g.cb.State())
	}
}
