package queue_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
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

// TestStallsTellsStoppedProcesses checks, on a real Redis, that a process
// whose beats stop is taken for dead once the watcher's own counter moved
// StallBeats times meanwhile, with the time its counter last moved; that
// one still beating, one that withdrew its heartbeat, one never seen and
// one whose counter Redis lost are not; that nobody is while the watcher's
// own beats stop too (Redis away); and that a stalled process that beats
// again is alive.
func TestStallsTellsStoppedProcesses(t *testing.T) {
	rc := redis.NewClient(&redis.Options{Addr: testenv.Require(t, testenv.RedisAddrVar)})
	defer rc.Close()
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	suffix := strconv.FormatInt(time.Now().UnixNano(), 36)
	name := func(n string) string { return "test-" + n + "-" + suffix + ":1" }

	self := queue.NewLivenessOf(rc, log, name("self"))
	beating := queue.NewLivenessOf(rc, log, name("beating"))
	stopped := queue.NewLivenessOf(rc, log, name("stopped"))
	withdrawn := queue.NewLivenessOf(rc, log, name("withdrawn"))
	flushed := queue.NewLivenessOf(rc, log, name("flushed"))
	for _, l := range []*queue.Liveness{self, beating, stopped, withdrawn, flushed} {
		queue.Beat(ctx, l)
		defer l.Close()
	}
	procs := []string{name("self"), name("beating"), name("stopped"), name("withdrawn"), name("flushed"), name("never")}

	clock := time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)
	s := queue.NewStalls(rc, name("self"))
	s.SetClock(func() time.Time { return clock })
	observe := func() map[string]time.Time {
		t.Helper()
		got, err := s.Observe(ctx, procs)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	start := clock
	if got := observe(); len(got) != 0 {
		t.Fatalf("stalled at first sight: %v", got)
	}
	withdrawn.Close()
	if err := rc.Del(ctx, "borderproof:beats:"+name("flushed")).Err(); err != nil {
		t.Fatal(err)
	}
	// Nobody beats for a long while, the watcher included: nobody is
	// stalled.
	clock = clock.Add(time.Minute)
	if got := observe(); len(got) != 0 {
		t.Fatalf("stalled while the watcher did not beat either: %v", got)
	}
	// One beat of the watcher's is not enough.
	for range queue.StallBeats - 1 {
		queue.Beat(ctx, self)
		queue.Beat(ctx, beating)
	}
	if got := observe(); len(got) != 0 {
		t.Fatalf("stalled before %d beats: %v", queue.StallBeats, got)
	}
	queue.Beat(ctx, self)
	queue.Beat(ctx, beating)
	got := observe()
	if len(got) != 1 || !got[name("stopped")].Equal(start) {
		t.Fatalf("stalled %v, want only %s, last moved at %s", got, name("stopped"), start)
	}
	// Its liveness id names whose holds to take over; a withdrawn process
	// and one never seen have none.
	for proc, want := range map[string]string{name("stopped"): stopped.ID(), name("withdrawn"): "", name("never"): ""} {
		if id, err := s.LivenessID(ctx, proc); err != nil || id != want {
			t.Fatalf("liveness id of %s: %q %v, want %q", proc, id, err, want)
		}
	}
	// It beats again: alive, and judged afresh from now on.
	queue.Beat(ctx, stopped)
	queue.Beat(ctx, self)
	if got := observe(); len(got) != 0 {
		t.Fatalf("stalled after beating again: %v", got)
	}
}

// TestPredecessorNamesTheProcessRestartedInPlace checks, on a real Redis,
// that a process started under the name of one that died without
// withdrawing (a container restarted in place) learns the dead one's
// liveness id, and that one started under a name never seen, or after a
// clean stop, learns none.
func TestPredecessorNamesTheProcessRestartedInPlace(t *testing.T) {
	rc := redis.NewClient(&redis.Options{Addr: testenv.Require(t, testenv.RedisAddrVar)})
	defer rc.Close()
	ctx := context.Background()
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	name := "test-restarted-" + strconv.FormatInt(time.Now().UnixNano(), 36) + ":1"

	first := queue.NewLivenessOf(rc, log, name)
	first.Start(ctx)
	if got := first.Predecessor(); got != "" {
		t.Fatalf("the first process under a new name has predecessor %q", got)
	}
	// It dies: its beats stop, nothing is withdrawn.
	queue.Halt(first)
	second := queue.NewLivenessOf(rc, log, name)
	second.Start(ctx)
	if got := second.Predecessor(); got != first.ID() {
		t.Fatalf("predecessor %q, want the dead process's id %q", got, first.ID())
	}
	// A clean stop withdraws the name: its successor has no predecessor.
	second.Close()
	third := queue.NewLivenessOf(rc, log, name)
	third.Start(ctx)
	defer third.Close()
	if got := third.Predecessor(); got != "" {
		t.Fatalf("after a clean stop the successor has predecessor %q", got)
	}
	// A dead predecessor is no live process sharing the name.
	if strings.Contains(logs.String(), sharedName) {
		t.Fatalf("a successor was told its name is shared:\n%s", logs.String())
	}
}

// sharedName is the start of the error a process logs when another live
// process beats under its name.
const sharedName = "another live process beats under this process's name"

// TestSharedNameIsTold checks, on a real Redis, that two live processes
// beating under one name (containers sharing the host's network and host
// name, each its pid 1) are each told so, once.
func TestSharedNameIsTold(t *testing.T) {
	rc := redis.NewClient(&redis.Options{Addr: testenv.Require(t, testenv.RedisAddrVar)})
	defer rc.Close()
	ctx := context.Background()
	name := "test-shared-" + strconv.FormatInt(time.Now().UnixNano(), 36) + ":1"
	var logA, logB bytes.Buffer
	a := queue.NewLivenessOf(rc, slog.New(slog.NewTextHandler(&logA, nil)), name)
	b := queue.NewLivenessOf(rc, slog.New(slog.NewTextHandler(&logB, nil)), name)
	defer a.Close()
	defer b.Close()
	queue.Beat(ctx, a)
	queue.Beat(ctx, a)
	if strings.Contains(logA.String(), sharedName) {
		t.Fatal("a process alone under its name was told it is shared")
	}
	queue.Beat(ctx, b) // its first: a's id is a predecessor's, as far as it can tell
	if strings.Contains(logB.String(), sharedName) {
		t.Fatal("told at the first beat, which cannot tell a live process from a dead one")
	}
	for range 3 {
		queue.Beat(ctx, a)
		queue.Beat(ctx, b)
	}
	for who, l := range map[string]*bytes.Buffer{"a": &logA, "b": &logB} {
		if n := strings.Count(l.String(), sharedName); n != 1 {
			t.Fatalf("process %s was told %d times, want once:\n%s", who, n, l.String())
		}
	}
}

// TestClaimOncePerDeath checks, on a real Redis, that of the watchers
// claiming a dead server's work only the first gets it, whichever process
// it runs in, that another server's death is claimed afresh, and that a
// watcher that cannot reach Redis takes the work over rather than leave it.
func TestClaimOncePerDeath(t *testing.T) {
	rc := redis.NewClient(&redis.Options{Addr: testenv.Require(t, testenv.RedisAddrVar)})
	defer rc.Close()
	ctx := context.Background()
	suffix := strconv.FormatInt(time.Now().UnixNano(), 36)
	a := queue.NewStalls(rc, "test-a-"+suffix+":1")
	b := queue.NewStalls(rc, "test-b-"+suffix+":1")
	server := "server-" + suffix
	if !a.Claim(ctx, server) {
		t.Fatal("the first claim was refused")
	}
	if b.Claim(ctx, server) || a.Claim(ctx, server) {
		t.Fatal("a death was claimed twice")
	}
	if !b.Claim(ctx, server+"-other") {
		t.Fatal("another server's death was refused")
	}
	if ttl := rc.TTL(ctx, "borderproof:deathclaim:"+server).Val(); ttl <= 0 || ttl > time.Minute {
		t.Fatalf("claim TTL %s, want in (0, 1m]", ttl)
	}
	away := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 100 * time.Millisecond})
	defer away.Close()
	if !queue.NewStalls(away, "test-c-"+suffix+":1").Claim(ctx, server) {
		t.Fatal("a watcher without Redis left the work")
	}
}
