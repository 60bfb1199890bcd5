package queue

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// livenessPrefix is the key prefix of the processes' heartbeats.
const livenessPrefix = "borderproof:alive:"

// beatsPrefix is the key prefix of the processes' beat counters, by
// process name (ProcessName).
const beatsPrefix = "borderproof:beats:"

// beatIDPrefix is the key prefix of each process's liveness id, by
// process name, written with every beat: a watcher that sees a process's
// beats stop (Stalls) learns by it whose holds to take over
// (Stalls.LivenessID).
const beatIDPrefix = "borderproof:beatid:"

// beatsTTL is how long a process's beat counter outlives its last beat:
// long enough for a watcher to see that it stopped, and gone long after
// asynq forgot the process.
const beatsTTL = 10 * time.Minute

// Heartbeat timing: a process renews its key every LivenessEvery; the key
// lapses LivenessTTL after the last renewal.
const (
	LivenessEvery = 2 * time.Second
	LivenessTTL   = 3 * LivenessEvery
)

// Liveness announces in Redis that this process is alive, under an id of
// its own, and tells whether other processes are: work a process holds
// without a task (a webhook's first attempt, webhook.Service.Hold) names
// it, so that once the process is gone another can take the work over
// without waiting for the work's lease to lapse.
//
// A process is taken for gone only when its key is missing twice, one
// renewal apart: a FLUSHALL or a restarted Redis drops every key, and the
// live processes put theirs back within LivenessEvery. A renewal that
// finds its own key gone is how a process learns that Redis lost its data,
// and with it every queued task (Lost).
type Liveness struct {
	rc      redis.UniversalClient
	log     *slog.Logger
	id      string
	proc    string // ProcessName of this process
	start   sync.Once
	started atomic.Bool
	once    sync.Once
	stop    chan struct{}
	done    chan struct{}
	lost    chan struct{}
	// announced: a heartbeat was stored; only the run goroutine (and the
	// first beat, before it starts) touches it.
	announced bool
	// prev is the liveness id the first beat found under this process's
	// name (Predecessor); written before Start returns, then only read.
	prev string
	// named: a beat wrote this process's id under its name; shared: another
	// live process was found writing there too. Only the run goroutine
	// (and the first beat, before it starts) touches them.
	named, shared bool
}

// NewLiveness builds the heartbeat of this process on rc, with a fresh id.
func NewLiveness(rc redis.UniversalClient, log *slog.Logger) *Liveness {
	b := make([]byte, 12)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return &Liveness{rc: rc, log: log, id: hex.EncodeToString(b), proc: ThisProcess(), stop: make(chan struct{}), done: make(chan struct{}),
		lost: make(chan struct{}, 1)}
}

// ProcessName names a process as asynq's server list does (its
// ServerInfo's Host and PID), so that a server's process can be told from
// its heartbeat.
func ProcessName(host string, pid int) string { return host + ":" + strconv.Itoa(pid) }

// ThisProcess is this process's ProcessName, with the host name asynq
// gives its servers.
func ThisProcess() string {
	host, err := os.Hostname()
	if err != nil {
		host = "unknown-host" // as asynq names it
	}
	return ProcessName(host, os.Getpid())
}

// Lost receives when a renewal found this process's key gone although it
// had been stored: Redis lost its data (a FLUSHALL, a restart without
// persistence, a failover to a replica that lacked it) or kept nothing
// while the process could not renew for LivenessTTL. Either way tasks
// queued before may be gone. Signals that find one pending are merged.
func (l *Liveness) Lost() <-chan struct{} { return l.lost }

// ID is this process's id.
func (l *Liveness) ID() string { return l.id }

// Predecessor returns, once Start returned, the liveness id of the process
// that last beat under this process's name and did not withdraw (Close):
// a process that died, as long as no two live processes share a name
// (renew tells when they do). So is a container restarted in place (same
// host name, same pid), whose holds nobody else would take over until the
// sweeps find them. "" when there was none, or Redis did not answer the
// first beat.
func (l *Liveness) Predecessor() string { return l.prev }

// Start announces the process now and keeps renewing it until Close. The
// first announcement is made before Start returns, when Redis answers.
// Starting again does nothing.
func (l *Liveness) Start(ctx context.Context) {
	l.start.Do(func() { l.run(ctx) })
}

func (l *Liveness) run(ctx context.Context) {
	if prev, err := l.beat(ctx); err == nil {
		l.named = true
		if prev != l.id {
			l.prev = prev
		}
	}
	l.started.Store(true)
	go func() {
		defer close(l.done)
		t := time.NewTicker(LivenessEvery)
		defer t.Stop()
		for {
			select {
			case <-l.stop:
				return
			case <-t.C:
				l.renew(context.Background())
			}
		}
	}()
}

// renew beats once more and tells, once, when another live process beats
// under this process's name: after this process wrote its id there, only
// a process of the same name writes another one.
func (l *Liveness) renew(ctx context.Context) {
	other, err := l.beat(ctx)
	if err != nil {
		return
	}
	if l.named && other != "" && other != l.id && !l.shared {
		l.shared = true
		l.log.ErrorContext(ctx, "another live process beats under this process's name (host name and pid): "+
			"give every process a host name of its own (no host network mode), or a death of one is taken for the other's",
			"process", l.proc)
	}
	l.named = true
}

// beat renews the heartbeat once and returns the liveness id that beat
// under this process's name before it ("" when none did), or the error of
// that part of the round trip.
func (l *Liveness) beat(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, LivenessEvery)
	defer cancel()
	// One round trip: the heartbeat, and the process's beat counter
	// (Stalls) with its liveness id, which outlive it.
	var set, named *redis.StatusCmd
	_, _ = l.rc.Pipelined(ctx, func(p redis.Pipeliner) error {
		set = p.SetArgs(ctx, livenessPrefix+l.id, "1", redis.SetArgs{TTL: LivenessTTL, Get: true})
		p.Incr(ctx, beatsPrefix+l.proc)
		p.PExpire(ctx, beatsPrefix+l.proc, beatsTTL)
		named = p.SetArgs(ctx, beatIDPrefix+l.proc, l.id, redis.SetArgs{TTL: beatsTTL, Get: true})
		return nil
	})
	l.noteBeat(ctx, set.Err())
	prev, err := named.Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	return prev, err
}

// noteBeat logs what the heartbeat's renewal told, and signals Lost when
// it found its key gone.
func (l *Liveness) noteBeat(ctx context.Context, err error) {
	switch {
	case errors.Is(err, redis.Nil): // stored now; there was none before
		if l.announced {
			l.log.WarnContext(ctx, "redis lost this process's heartbeat: its data was flushed, or lost in a restart or a failover")
			select {
			case l.lost <- struct{}{}:
			default:
			}
		}
		l.announced = true
	case err != nil:
		l.log.WarnContext(ctx, "liveness heartbeat", "err", err)
	default:
		l.announced = true
	}
}

// Close stops the heartbeat and withdraws the announcement: call it once
// the process holds nothing any more. A Liveness never started only
// withdraws.
func (l *Liveness) Close() {
	l.once.Do(func() {
		l.start.Do(func() {}) // a later Start does nothing
		close(l.stop)
		if l.started.Load() {
			<-l.done
		}
		ctx, cancel := context.WithTimeout(context.Background(), LivenessEvery)
		defer cancel()
		// Two commands, not one DEL: a Redis cluster keeps the keys in
		// different slots.
		if _, err := l.rc.Pipelined(ctx, func(p redis.Pipeliner) error {
			p.Del(ctx, livenessPrefix+l.id)
			p.Del(ctx, beatsPrefix+l.proc)
			p.Del(ctx, beatIDPrefix+l.proc)
			return nil
		}); err != nil {
			l.log.WarnContext(ctx, "liveness withdrawal", "err", err)
		}
	})
}

// Gone returns those of ids whose process is gone: missing now and again
// one renewal later. An error means it could not tell; the caller then
// takes nothing over.
func (l *Liveness) Gone(ctx context.Context, ids []string) ([]string, error) {
	missing, err := l.missing(ctx, ids)
	if err != nil || len(missing) == 0 {
		return nil, err
	}
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(LivenessEvery + LivenessEvery/2):
	}
	return l.missing(ctx, missing)
}

// missing returns those of ids without a key, in one round trip (a
// pipeline, which a Redis cluster splits by slot where MGET would fail).
func (l *Liveness) missing(ctx context.Context, ids []string) ([]string, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	pipe := l.rc.Pipeline()
	cmds := make([]*redis.IntCmd, len(ids))
	for i, id := range ids {
		cmds[i] = pipe.Exists(ctx, livenessPrefix+id)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, err
	}
	var out []string
	for i, c := range cmds {
		if c.Val() == 0 {
			out = append(out, ids[i])
		}
	}
	return out, nil
}

// StallBeats is how many times the watching process's own beat counter
// must move while another's stays put for Stalls to take the other for
// dead: two renewals missed.
const StallBeats = 2

// Stalls watches the beat counters of processes (by ProcessName) and tells
// which stopped: a counter that stayed put while the watcher's own moved
// StallBeats times. Measured against its own beats, the watcher needs no
// clock agreement between hosts, and takes nobody for dead when nobody
// could beat (Redis away, or the watcher itself stalled). A process
// without a counter is never taken for dead: it is unknown (it runs
// without a heartbeat, withdrew it on a clean stop, or Redis lost its
// data), and the caller falls back on slower signs. A process that stops
// beating only because it alone cannot reach Redis is taken for dead too;
// what it holds is then done twice, which every task's effects allow.
type Stalls struct {
	rc   redis.UniversalClient
	self string
	now  func() time.Time
	seen map[string]beatSeen
}

type beatSeen struct {
	n     int64     // the process's counter
	self  int64     // the watcher's counter when n was first seen
	moved time.Time // when n was first seen, on the watcher's clock
}

// NewStalls watches on rc from the process named self (ThisProcess, whose
// Liveness must be running). Observe is not safe for concurrent use.
func NewStalls(rc redis.UniversalClient, self string) *Stalls {
	return &Stalls{rc: rc, self: self, now: time.Now, seen: map[string]beatSeen{}}
}

// LivenessID returns the liveness id (Liveness.ID) that the process named
// proc last beat with, "" when none is known. Asked about a process whose
// beats stopped, it names the process that died: a successor under the
// same name would have moved the counter.
func (s *Stalls) LivenessID(ctx context.Context, proc string) (string, error) {
	id, err := s.rc.Get(ctx, beatIDPrefix+proc).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	return id, err
}

// claimPrefix is the key prefix of the claims on dead servers' work
// (Stalls.Claim), by asynq server id.
const claimPrefix = "borderproof:deathclaim:"

// claimTTL is how long a claim on a dead server's work stands: the
// watchers see a death within a beat or two of each other, and asynq stops
// listing the server 10 s after its last heartbeat. A server taken for
// dead that beats again and dies later than that is claimed afresh.
const claimTTL = time.Minute

// Claim reports whether this watcher is the first to claim the work of
// the dead asynq server serverID: every live worker watches the others,
// and one of them taking the work over is enough. The claim outlives the
// server's listing. When Redis does not answer, it reports true: taking
// work over twice is harmless, leaving it is not.
func (s *Stalls) Claim(ctx context.Context, serverID string) bool {
	ok, err := s.rc.SetNX(ctx, claimPrefix+serverID, s.self, claimTTL).Result()
	return ok || err != nil
}

// Observe reads the counters of procs and the watcher's own (one round
// trip) and returns those stalled, each with the time its counter last
// moved as this watcher saw it: the process died after its last beat, at
// most a renewal after that time. Processes not in procs are forgotten.
func (s *Stalls) Observe(ctx context.Context, procs []string) (map[string]time.Time, error) {
	now := s.now()
	var own *redis.StringCmd
	cmds := make([]*redis.StringCmd, len(procs))
	if _, err := s.rc.Pipelined(ctx, func(p redis.Pipeliner) error {
		own = p.Get(ctx, beatsPrefix+s.self)
		for i, proc := range procs {
			cmds[i] = p.Get(ctx, beatsPrefix+proc)
		}
		return nil
	}); err != nil && !errors.Is(err, redis.Nil) {
		return nil, err
	}
	self, err := own.Int64()
	if err != nil {
		// Without its own beats the watcher cannot tell; it starts over
		// once they are back.
		clear(s.seen)
		return nil, nil
	}
	seen := make(map[string]beatSeen, len(procs))
	var stalled map[string]time.Time
	for i, proc := range procs {
		n, err := cmds[i].Int64()
		if err != nil || proc == s.self {
			continue // no counter: unknown
		}
		prev, ok := s.seen[proc]
		if !ok || prev.n != n || self < prev.self {
			seen[proc] = beatSeen{n: n, self: self, moved: now}
			continue
		}
		seen[proc] = prev
		if self-prev.self >= StallBeats {
			if stalled == nil {
				stalled = map[string]time.Time{}
			}
			stalled[proc] = prev.moved
		}
	}
	s.seen = seen
	return stalled, nil
}
