// Package queue is the asynq adapter: the Redis connection, an enqueuer that
// treats an existing task id as "already queued", and an in-process Redis
// for dev mode. Redis is a transport; the database is the source of truth.
package queue

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/borderproof/borderproof/internal/obs"
)

// Queue names with their weights in the worker.
const (
	Critical = "critical" // scoring, webhooks
	Default  = "default"  // checks
	Low      = "low"      // sweeps, purges, billing sync
)

// PollInterval is how long an asynq server waits before looking again when
// every queue it reads was empty (asynq sleeps between half and one and a
// half of it). asynq's default, one second, stops the whole server for that
// long each time a burst drains: a check finished just after it waits up to
// 1.5 s for its scoring task. An empty poll is one script call on Redis, so
// 50 ms costs a worker about twenty calls a second while idle.
const PollInterval = 50 * time.Millisecond

// Weights gives asynq's weighted priority.
var Weights = map[string]int{Critical: 6, Default: 3, Low: 1}

// Config is the Redis connection: a redis:// or rediss:// URL, or a list of
// cluster node addresses (with a password and TLS, as managed clusters
// such as ElastiCache require). In a cluster every key of one asynq queue
// carries the hash tag {queue}, so a queue lives in one slot and the three
// queues spread over the cluster.
type Config struct {
	URL             string
	ClusterNodes    []string
	ClusterPassword string
	ClusterTLS      bool
}

// ConnOpt builds asynq's connection option.
func (c Config) ConnOpt() (asynq.RedisConnOpt, error) {
	if len(c.ClusterNodes) > 0 {
		opt := asynq.RedisClusterClientOpt{Addrs: c.ClusterNodes, Password: c.ClusterPassword}
		if c.ClusterTLS {
			opt.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		return opt, nil
	}
	if c.URL == "" {
		return nil, errors.New("redis URL is empty")
	}
	u := c.URL
	if !strings.Contains(u, "://") {
		u = "redis://" + u
	}
	return asynq.ParseRedisURI(u)
}

// UniversalClient returns a go-redis client on the same server, for rate
// limits and health checks.
func (c Config) UniversalClient() (redis.UniversalClient, error) {
	opt, err := c.ConnOpt()
	if err != nil {
		return nil, err
	}
	rc, ok := opt.MakeRedisClient().(redis.UniversalClient)
	if !ok {
		return nil, fmt.Errorf("unexpected redis client type %T", opt.MakeRedisClient())
	}
	return rc, nil
}

// Embedded is an in-process Redis (dev mode and some tests).
type Embedded struct{ srv *miniredis.Miniredis }

// StartEmbedded starts an in-process Redis on a loopback port.
func StartEmbedded() (*Embedded, error) {
	srv := miniredis.NewMiniRedis()
	if err := srv.StartAddr("127.0.0.1:0"); err != nil {
		return nil, err
	}
	return &Embedded{srv: srv}, nil
}

// URL is the server's redis:// URL.
func (e *Embedded) URL() string { return "redis://" + e.srv.Addr() }

// Close stops the server.
func (e *Embedded) Close() { e.srv.Close() }

// Server exposes miniredis (tests use its clock and FlushAll).
func (e *Embedded) Server() *miniredis.Miniredis { return e.srv }

// Enqueuer puts tasks on queues.
//
// Every task is queued after the rows it stands for are committed, and
// the sweeper queues again whatever is missing once it is stale. An
// enqueue that fails (Redis down or restarting) is also kept here, up to
// PendingMax, and sent again every RetryEvery until it goes through or the
// enqueuer closes: the caller still gets the error, but work committed
// while Redis was away starts as soon as it is back, not once the sweeper
// finds it stale.
type Enqueuer struct {
	c *asynq.Client

	mu      sync.Mutex
	pending []pendingTask
	ids     map[string]bool // queue and task id of each in pending
	full    bool            // an enqueue was left to the sweeper since pending last drained
	start   sync.Once
	closed  bool
	stop    chan struct{}
	done    chan struct{}
	log     *slog.Logger
}

// pendingTask is an enqueue to send again.
type pendingTask struct {
	task  *asynq.Task
	id    string
	queue string
	at    time.Time // when it may run (its processIn from the first try)
}

// Retrying of failed enqueues.
const (
	RetryEvery = 500 * time.Millisecond
	PendingMax = 10000
)

// NewEnqueuer connects an asynq client.
func NewEnqueuer(opt asynq.RedisConnOpt) *Enqueuer {
	return &Enqueuer{c: asynq.NewClient(opt), ids: map[string]bool{}, stop: make(chan struct{}), done: make(chan struct{}),
		log: slog.New(slog.DiscardHandler)}
}

// WithLog sets the logger of the retries.
func (e *Enqueuer) WithLog(log *slog.Logger) *Enqueuer {
	e.log = log
	return e
}

// Close stops the retries (the sweeper queues what they held) and
// releases the connection.
func (e *Enqueuer) Close() error {
	e.mu.Lock()
	already := e.closed
	e.closed = true // keep starts nothing from now on
	e.mu.Unlock()
	if !already {
		e.start.Do(func() { close(e.done) }) // the retries never started
		close(e.stop)
		<-e.done
	}
	return e.c.Close()
}

// Pending is the number of failed enqueues waiting to be sent again.
func (e *Enqueuer) Pending() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.pending)
}

// Enqueue queues a task whose id comes from a database row. A task with that
// id already present in any state means the work is already queued, which
// is success: enqueue after commit and the outbox sweeper may both try.
func (e *Enqueuer) Enqueue(ctx context.Context, typ string, payload []byte, taskID, queue string, processIn time.Duration) error {
	headers := map[string]string{}
	obs.InjectHeaders(ctx, headers) // the task's span continues the caller's trace
	t := asynq.NewTaskWithHeaders(typ, payload, headers)
	at := time.Now().Add(processIn)
	err := e.send(ctx, t, taskID, queue, at)
	if err != nil {
		e.keep(pendingTask{task: t, id: taskID, queue: queue, at: at})
	}
	return err
}

func (e *Enqueuer) send(ctx context.Context, t *asynq.Task, taskID, queue string, at time.Time) error {
	o := []asynq.Option{asynq.TaskID(taskID), asynq.Queue(queue)}
	if time.Until(at) > 0 {
		o = append(o, asynq.ProcessAt(at))
	}
	_, err := e.c.EnqueueContext(ctx, t, o...)
	if errors.Is(err, asynq.ErrTaskIDConflict) || errors.Is(err, asynq.ErrDuplicateTask) {
		return nil
	}
	return err
}

func (p pendingTask) key() string { return p.queue + "/" + p.id }

// keep adds a failed enqueue to those sent again, starting the retries.
func (e *Enqueuer) keep(p pendingTask) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed || e.ids[p.key()] {
		return
	}
	if len(e.pending) >= PendingMax {
		if !e.full {
			e.full = true
			e.log.Warn("too many failed enqueues to keep; the sweeper queues the rest", "kept", len(e.pending))
		}
		return
	}
	e.ids[p.key()] = true
	e.pending = append(e.pending, p)
	e.start.Do(func() { go e.retry() })
}

// retry sends the kept enqueues again, oldest first, every RetryEvery; a
// round stops at the first that fails (Redis is still away), which goes
// last, so that one that can never be sent holds up no other.
func (e *Enqueuer) retry() {
	defer close(e.done)
	t := time.NewTicker(RetryEvery)
	defer t.Stop()
	for {
		select {
		case <-e.stop:
			return
		case <-t.C:
		}
		sent := 0
		for {
			select {
			case <-e.stop: // Close does not wait for a long round
				return
			default:
			}
			e.mu.Lock()
			if len(e.pending) == 0 {
				e.mu.Unlock()
				break
			}
			p := e.pending[0]
			e.mu.Unlock()
			ctx, cancel := context.WithTimeout(context.Background(), RetryEvery)
			err := e.send(ctx, p.task, p.id, p.queue, p.at)
			cancel()
			e.mu.Lock()
			e.pending = e.pending[1:]
			if err != nil {
				e.pending = append(e.pending, p)
				e.mu.Unlock()
				break
			}
			delete(e.ids, p.key())
			if len(e.pending) == 0 {
				e.full = false
			}
			e.mu.Unlock()
			sent++
		}
		if sent > 0 {
			e.log.Info("queued tasks whose enqueue had failed", "count", sent)
		}
	}
}
