package queue

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// livenessPrefix is the key prefix of the processes' heartbeats.
const livenessPrefix = "borderproof:alive:"

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
	start   sync.Once
	started atomic.Bool
	once    sync.Once
	stop    chan struct{}
	done    chan struct{}
	lost    chan struct{}
	// announced: a heartbeat was stored; only the run goroutine (and the
	// first beat, before it starts) touches it.
	announced bool
}

// NewLiveness builds the heartbeat of this process on rc, with a fresh id.
func NewLiveness(rc redis.UniversalClient, log *slog.Logger) *Liveness {
	b := make([]byte, 12)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return &Liveness{rc: rc, log: log, id: hex.EncodeToString(b), stop: make(chan struct{}), done: make(chan struct{}),
		lost: make(chan struct{}, 1)}
}

// Lost receives when a renewal found this process's key gone although it
// had been stored: Redis lost its data (a FLUSHALL, a restart without
// persistence, a failover to a replica that lacked it) or kept nothing
// while the process could not renew for LivenessTTL. Either way tasks
// queued before may be gone. Signals that find one pending are merged.
func (l *Liveness) Lost() <-chan struct{} { return l.lost }

// ID is this process's id.
func (l *Liveness) ID() string { return l.id }

// Start announces the process now and keeps renewing it until Close. The
// first announcement is made before Start returns, when Redis answers.
// Starting again does nothing.
func (l *Liveness) Start(ctx context.Context) {
	l.start.Do(func() { l.run(ctx) })
}

func (l *Liveness) run(ctx context.Context) {
	l.beat(ctx)
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
				l.beat(context.Background())
			}
		}
	}()
}

func (l *Liveness) beat(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, LivenessEvery)
	defer cancel()
	err := l.rc.SetArgs(ctx, livenessPrefix+l.id, "1", redis.SetArgs{TTL: LivenessTTL, Get: true}).Err()
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
		if err := l.rc.Del(ctx, livenessPrefix+l.id).Err(); err != nil {
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
