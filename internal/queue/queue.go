// Package queue is the asynq adapter: the Redis connection, an enqueuer that
// treats an existing task id as "already queued", and an in-process Redis
// for dev mode. Redis is a transport; the database is the source of truth.
package queue

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
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
type Enqueuer struct{ c *asynq.Client }

// NewEnqueuer connects an asynq client.
func NewEnqueuer(opt asynq.RedisConnOpt) *Enqueuer { return &Enqueuer{c: asynq.NewClient(opt)} }

// Close releases the connection.
func (e *Enqueuer) Close() error { return e.c.Close() }

// Enqueue queues a task whose id comes from a database row. A task with that
// id already present in any state means the work is already queued, which
// is success: enqueue after commit and the outbox sweeper may both try.
func (e *Enqueuer) Enqueue(ctx context.Context, typ string, payload []byte, taskID, queue string, processIn time.Duration) error {
	o := []asynq.Option{asynq.TaskID(taskID), asynq.Queue(queue)}
	if processIn > 0 {
		o = append(o, asynq.ProcessIn(processIn))
	}
	headers := map[string]string{}
	obs.InjectHeaders(ctx, headers) // the task's span continues the caller's trace
	_, err := e.c.EnqueueContext(ctx, asynq.NewTaskWithHeaders(typ, payload, headers), o...)
	if errors.Is(err, asynq.ErrTaskIDConflict) || errors.Is(err, asynq.ErrDuplicateTask) {
		return nil
	}
	return err
}
