package queue_test

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/borderproof/borderproof/internal/queue"
	"github.com/borderproof/borderproof/internal/testenv"
)

// TestLivenessTellsGoneProcesses checks, on a real Redis, that a process
// that closed its heartbeat and one never seen are gone, and that a live
// one is not, even when its key vanished as in a FLUSHALL: it is back
// within a renewal, before Gone asks the second time, and that renewal
// tells its process that Redis lost its data.
func TestLivenessTellsGoneProcesses(t *testing.T) {
	rc := redis.NewClient(&redis.Options{Addr: testenv.Require(t, testenv.RedisAddrVar)})
	defer rc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))

	live := queue.NewLiveness(rc, log)
	live.Start(ctx)
	defer live.Close()
	flushed := queue.NewLiveness(rc, log)
	flushed.Start(ctx)
	defer flushed.Close()
	closed := queue.NewLiveness(rc, log)
	closed.Start(ctx)
	closed.Close()
	closed.Start(ctx)                   // a closed heartbeat stays closed
	never := queue.NewLiveness(rc, log) // never started
	defer never.Close()                 // withdraws only
	if live.ID() == flushed.ID() || live.ID() == "" {
		t.Fatalf("ids not distinct: %q %q", live.ID(), flushed.ID())
	}

	// The flushed process's key disappears, as every key does in a FLUSHALL.
	if err := rc.Del(ctx, "borderproof:alive:"+flushed.ID()).Err(); err != nil {
		t.Fatal(err)
	}
	gone, err := live.Gone(ctx, []string{live.ID(), flushed.ID(), closed.ID(), never.ID()})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(gone)
	want := []string{closed.ID(), never.ID()}
	slices.Sort(want)
	if !slices.Equal(gone, want) {
		t.Fatalf("gone %v, want the closed and the never started %v", gone, want)
	}
	if got, _ := rc.TTL(ctx, "borderproof:alive:"+live.ID()).Result(); got <= 0 || got > queue.LivenessTTL {
		t.Fatalf("heartbeat TTL %s, want in (0, %s]", got, queue.LivenessTTL)
	}
	// The renewal that put the flushed process's key back told it that
	// Redis had lost it; the live process was told nothing.
	select {
	case <-flushed.Lost():
	default:
		t.Fatal("the process whose key vanished was not told")
	}
	select {
	case <-live.Lost():
		t.Fatal("a process whose key stayed was told Redis lost it")
	default:
	}
}
