package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/borderproof/borderproof/internal/pipeline"
	"github.com/borderproof/borderproof/internal/queue"
	"github.com/borderproof/borderproof/internal/verification"
	"github.com/borderproof/borderproof/internal/webhook"
)

// SweepEvery is how often the sweeper runs.
const SweepEvery = 15 * time.Second

// SweepPeriodic is the sweeper's schedule, on the low queue.
func SweepPeriodic() Periodic {
	return Periodic{Cron: fmt.Sprintf("@every %s", SweepEvery), Type: verification.TaskOutboxSweep, Queue: queue.Low}
}

// SweepMetrics counts the sweeper's recoveries.
type SweepMetrics struct {
	recovered *prometheus.CounterVec
}

// NewSweepMetrics registers borderproof_sweeper_recovered_total{kind} on reg
// (nil: unregistered).
func NewSweepMetrics(reg prometheus.Registerer) (*SweepMetrics, error) {
	m := &SweepMetrics{recovered: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "borderproof_sweeper_recovered_total",
		Help: "Tasks the sweeper queued again because the database had work whose task was missing or dead, by kind.",
	}, []string{"kind"})}
	if reg != nil {
		if err := reg.Register(m.recovered); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return nil, err
			}
			m.recovered = are.ExistingCollector.(*prometheus.CounterVec)
		}
	}
	for _, k := range []string{pipeline.SweepCheck, pipeline.SweepPoll, pipeline.SweepExpired, pipeline.SweepScore, pipeline.SweepBundle, pipeline.SweepEvent} {
		m.recovered.WithLabelValues(k)
	}
	return m, nil
}

// Recovered returns the counter of one kind (tests).
func (m *SweepMetrics) Recovered(kind string) prometheus.Counter {
	return m.recovered.WithLabelValues(kind)
}

// record counts and logs what a sweep recovered (m may be nil).
func (m *SweepMetrics) record(ctx context.Context, res pipeline.SweepResult, log *slog.Logger) {
	for kind, n := range res {
		if m != nil {
			m.recovered.WithLabelValues(kind).Add(float64(n))
		}
		log.InfoContext(ctx, "sweeper recovered tasks", "kind", kind, "count", n)
	}
}

// Sweep is the outbox:sweep handler.
func Sweep(p *pipeline.Pipeline, r pipeline.Requeuer, m *SweepMetrics, log *slog.Logger) Handler {
	return Handler{Type: verification.TaskOutboxSweep, Fn: func(ctx context.Context, _ []byte) error {
		res, err := p.Sweep(ctx, r)
		m.record(ctx, res, log)
		return err
	}}
}

// LossWindow is how long after learning that Redis lost its data a
// process sweeps for the tasks lost with it, and how old work must be for
// that sweep to queue it again: long enough for the runs in flight at the
// loss to have ended, unless a partner is slow.
const LossWindow = 3 * time.Second

// SweepAfterLoss sweeps LossWindow after each signal on lost
// (queue.Liveness.Lost) for the work whose tasks Redis lost
// (pipeline.Pipeline.SweepWithin), rather than leaving it to the
// periodic sweep once it is StaleAfter old. It returns when ctx ends.
func SweepAfterLoss(ctx context.Context, lost <-chan struct{}, p *pipeline.Pipeline, r pipeline.Requeuer, m *SweepMetrics, log *slog.Logger) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-lost:
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(LossWindow):
		}
		res, err := p.SweepWithin(ctx, r, LossWindow)
		m.record(ctx, res, log)
		if err != nil && ctx.Err() == nil {
			// The periodic sweep makes up for it.
			log.WarnContext(ctx, "sweep after Redis lost its data", "err", err)
		}
	}
}

// Requeue re-creates tasks for the sweeper. A task id stays taken while a
// task with it exists in any state, so: an archived (or retained completed)
// task is deleted and queued again; an active task that no live worker
// holds (its worker died and asynq has not yet noticed the expired lease)
// is queued again under a derived id, since an active task cannot be
// deleted; anything else is already on its way.
type Requeue struct {
	client *asynq.Client
	insp   *asynq.Inspector
	log    *slog.Logger

	mu      sync.Mutex
	held    map[string]bool
	heldAt  time.Time
	holdTTL time.Duration
	// dead are the asynq servers whose process is gone
	// (WatchWorkers): asynq lists them for up to 10 s more, but what they
	// hold is held by no one.
	dead map[string]bool
	// predecessors are the servers of the process this one succeeded
	// under its name (TakeOverPredecessor): gone for good, whatever the
	// watcher concludes meanwhile.
	predecessors map[string]bool
}

// NewRequeue connects to Redis.
func NewRequeue(opt asynq.RedisConnOpt, log *slog.Logger) *Requeue {
	return &Requeue{client: asynq.NewClient(opt), insp: asynq.NewInspector(opt), log: log, holdTTL: 2 * time.Second}
}

// Close releases the connections.
func (r *Requeue) Close() error { return errors.Join(r.client.Close(), r.insp.Close()) }

// Requeue implements pipeline.Requeuer.
func (r *Requeue) Requeue(ctx context.Context, typ string, payload []byte, taskID, qname string) (bool, error) {
	enqueue := func(id string) error {
		_, err := r.client.EnqueueContext(ctx, asynq.NewTask(typ, payload), asynq.TaskID(id), asynq.Queue(qname))
		return err
	}
	err := enqueue(taskID)
	if err == nil {
		return true, nil
	}
	if !errors.Is(err, asynq.ErrTaskIDConflict) {
		return false, err
	}
	info, err := r.insp.GetTaskInfo(qname, taskID)
	if errors.Is(err, asynq.ErrTaskNotFound) || errors.Is(err, asynq.ErrQueueNotFound) {
		return false, nil // finished meanwhile; the next sweep looks again
	}
	if err != nil {
		return false, err
	}
	switch info.State {
	case asynq.TaskStateArchived, asynq.TaskStateCompleted:
		if err := r.insp.DeleteTask(qname, taskID); err != nil && !errors.Is(err, asynq.ErrTaskNotFound) {
			return false, err
		}
		if err := enqueue(taskID); err != nil {
			if errors.Is(err, asynq.ErrTaskIDConflict) {
				return false, nil
			}
			return false, err
		}
		return true, nil
	case asynq.TaskStateActive:
		held, err := r.heldByLiveWorker(taskID)
		if err != nil || held {
			return false, err
		}
		// Orphaned: the id of the replacement is derived from the time
		// bucket, so concurrent sweeps add one task at most per bucket.
		alt := fmt.Sprintf("%s:swept:%d", taskID, time.Now().Unix()/int64(SweepEvery/time.Second))
		if err := enqueue(alt); err != nil {
			if errors.Is(err, asynq.ErrTaskIDConflict) {
				return false, nil
			}
			return false, err
		}
		r.log.WarnContext(ctx, "requeued a task whose worker is gone", "type", typ, "task_id", taskID)
		return true, nil
	}
	return false, nil
}

// Queued implements pipeline.Requeuer: the task exists and will run, or
// runs on a live worker.
func (r *Requeue) Queued(ctx context.Context, taskID, qname string) (bool, error) {
	info, err := r.insp.GetTaskInfo(qname, taskID)
	if errors.Is(err, asynq.ErrTaskNotFound) || errors.Is(err, asynq.ErrQueueNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	switch info.State {
	case asynq.TaskStatePending, asynq.TaskStateScheduled, asynq.TaskStateRetry, asynq.TaskStateAggregating:
		return true, nil
	case asynq.TaskStateActive:
		return r.heldByLiveWorker(taskID)
	}
	return false, nil // archived or completed: it will not run again
}

// heldByLiveWorker reports whether any live asynq server is processing the
// task. Servers stop being listed up to 10 s after their last heartbeat;
// those known dead sooner (WatchWorkers) do not count.
func (r *Requeue) heldByLiveWorker(taskID string) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.held == nil || time.Since(r.heldAt) > r.holdTTL {
		servers, err := r.insp.Servers()
		if err != nil {
			return false, err
		}
		r.held = map[string]bool{}
		for _, s := range servers {
			if r.dead[s.ID] || r.predecessors[s.ID] {
				continue
			}
			for _, w := range s.ActiveWorkers {
				r.held[w.TaskID] = true
			}
		}
		r.heldAt = time.Now()
	}
	return r.held[taskID], nil
}

// markDead records the servers whose process is gone, in place of those
// recorded before: one that beats again (it was cut off from Redis for a
// while, not dead) counts as live again, and one asynq no longer lists is
// forgotten. It reports the servers newly dead.
func (r *Requeue) markDead(dead []deadServer) []deadServer {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := make(map[string]bool, len(dead))
	var fresh []deadServer
	for _, d := range dead {
		now[d.info.ID] = true
		if !r.dead[d.info.ID] {
			fresh = append(fresh, d)
		}
	}
	if len(fresh) > 0 || len(now) != len(r.dead) {
		r.held = nil // list afresh
	}
	r.dead = now
	return fresh
}

// markPredecessors records the asynq servers listed under the process name
// proc that started before since as gone: the process this one succeeded
// under its name, whose tasks no one holds any more.
func (r *Requeue) markPredecessors(proc string, since time.Time) error {
	servers, err := r.insp.Servers()
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range servers {
		if queue.ProcessName(s.Host, s.PID) == proc && s.Started.Before(since) {
			if r.predecessors == nil {
				r.predecessors = map[string]bool{}
			}
			r.predecessors[s.ID] = true
			r.held = nil // list afresh
		}
	}
	return nil
}

// ListedWithin is how old a task must be for the asynq server running it
// to list it: a server writes what it runs every 5 s (asynq's heartbeat),
// so a task younger than that may be in no list although a live server
// runs it. The sweep after a worker's death leaves such young work alone.
const ListedWithin = 6 * time.Second

// WatchEvery is how often WatchWorkers looks at the servers' beats.
const WatchEvery = queue.LivenessEvery / 2

// WatchWorkers finds the asynq servers whose process died and sweeps for
// their work. A server counts as dead once its process's beat counter
// stayed put while this process's moved twice (queue.Stalls): 4-5 s after
// the death, where asynq forgets a server up to 10 s after its last
// heartbeat and the periodic sweep wants work StaleAfter old; or at once
// when a newer server is listed under its process name (deadServers). From then on
// its tasks count as held by no one (heldByLiveWorker). The checks the
// process started and left PENDING carry its name (pipeline.Config.Process)
// and are queued again at once (SweepStartedBy); for the rest (a run that
// had not started its checks yet, a score), once the death is ListedWithin
// old, the watcher sweeps with ListedWithin as the window: what the dead
// process ran is that old, and a live server's runs that old are in its
// list. Of the live workers watching, the first to claim a death
// (queue.Stalls.Claim) does all that. It returns when ctx ends.
//
// hooks, when not nil, takes over the webhook attempts a dead process
// leased (named by the process's liveness id) as soon as its beats are
// seen to stop, and sweeps for its deliveries with the pipeline's sweep.
func WatchWorkers(ctx context.Context, stalls *queue.Stalls, p *pipeline.Pipeline, r *Requeue, hooks DeadWebhooks, m *SweepMetrics, log *slog.Logger) {
	t := time.NewTicker(WatchEvery)
	defer t.Stop()
	var due time.Time // of the sweep for the deaths seen; zero: none
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		servers, err := r.insp.Servers()
		if err != nil {
			continue // Redis away: the heartbeats tell nothing either
		}
		procs := make([]string, 0, len(servers))
		for _, s := range servers {
			procs = append(procs, queue.ProcessName(s.Host, s.PID))
		}
		stalled, err := stalls.Observe(ctx, procs)
		if err != nil {
			continue
		}
		for _, d := range r.markDead(deadServers(servers, stalled)) {
			if !stalls.Claim(ctx, d.info.ID) {
				continue // another watcher takes its work over
			}
			if at := d.since.Add(ListedWithin); at.After(due) {
				due = at
			}
			log.WarnContext(ctx, "a worker process died: its work is swept for", "host", d.info.Host, "pid", d.info.PID,
				"sign", d.sign, "active_tasks", len(d.info.ActiveWorkers), "sweep_in", time.Until(due).Round(time.Millisecond).String())
			takeOverNamed(ctx, d, stalls, p, r, hooks, m, log)
		}
		if due.IsZero() || time.Now().Before(due) {
			continue
		}
		due = time.Time{}
		res, err := p.SweepWithin(ctx, r, ListedWithin)
		m.record(ctx, res, log)
		if hooks != nil { // independent of the pipeline's sweep
			err = errors.Join(err, hooks.SweepOverdue(ctx, r, ListedWithin))
		}
		if err != nil && ctx.Err() == nil {
			log.WarnContext(ctx, "sweep after a worker died", "err", err) // the periodic sweeps make up for it
		}
	}
}

// DeadWebhooks is what the watcher asks of the webhook service
// (webhook.Service) when a worker dies: to take over the attempts the dead
// process leased (its first attempts, held outside asynq, and its tasks'
// attempts), by its liveness id; and, once the death is ListedWithin old,
// to queue again the due deliveries no lease covers whose task no live
// worker holds (tasks the dead worker ran before claiming their delivery).
type DeadWebhooks interface {
	TakeOverFrom(ctx context.Context, r webhook.Requeuer, holder string) error
	SweepOverdue(ctx context.Context, r webhook.Requeuer, within time.Duration) error
}

// takeOverNamed queues again, as soon as d's death is seen, the work that
// names d's process: the checks it started (by its process name) and,
// with hooks, the webhook attempts it leased (by its liveness id). A
// process restarted in place beats its successor's id under the name by
// now, so its leases are left to the successor (TakeOverPredecessor).
func takeOverNamed(ctx context.Context, d deadServer, stalls *queue.Stalls, p *pipeline.Pipeline, r *Requeue, hooks DeadWebhooks,
	m *SweepMetrics, log *slog.Logger) {
	proc := queue.ProcessName(d.info.Host, d.info.PID)
	holder := ""
	if hooks != nil && d.sign == signStopped {
		id, err := stalls.LivenessID(ctx, proc)
		if err != nil && ctx.Err() == nil {
			log.WarnContext(ctx, "reading a dead worker's liveness id", "err", err)
		}
		holder = id
	}
	takeOverFrom(ctx, proc, d.since, holder, p, r, hooks, m, log)
}

// TakeOverPredecessor queues again, as this process starts, the work left
// by the process that ran under its name (proc) before it and died
// without withdrawing (queue.Liveness.Predecessor, whose liveness id is
// prev): a container restarted in place, same host name and same pid.
// That is the checks it started before since (this process's start) and,
// with hooks, the webhook attempts it leased. Other processes' watchers see
// such a death only while asynq still lists the dead server, and nobody
// but its successor can tell its liveness id. Nothing to do without prev.
func TakeOverPredecessor(ctx context.Context, proc, prev string, since time.Time, p *pipeline.Pipeline, r *Requeue, hooks DeadWebhooks,
	m *SweepMetrics, log *slog.Logger) {
	if prev == "" {
		return
	}
	log.WarnContext(ctx, "this process's predecessor under its name died: its work is taken over", "process", proc)
	// asynq may list its server for 10 s more, holding its tasks.
	if err := r.markPredecessors(proc, since); err != nil && ctx.Err() == nil {
		log.WarnContext(ctx, "listing the predecessor's asynq server", "err", err)
	}
	takeOverFrom(ctx, proc, since, prev, p, r, hooks, m, log)
}

// takeOverFrom queues again the checks that the process named proc
// started before since and left PENDING and, with hooks and a holder, the
// webhook attempts leased under its liveness id (holder). Errors are logged:
// the sweeps that follow make up for them.
func takeOverFrom(ctx context.Context, proc string, since time.Time, holder string, p *pipeline.Pipeline, r *Requeue, hooks DeadWebhooks,
	m *SweepMetrics, log *slog.Logger) {
	res, err := p.SweepStartedBy(ctx, r, proc, since)
	m.record(ctx, res, log)
	if err != nil && ctx.Err() == nil {
		log.WarnContext(ctx, "sweep of a dead worker's checks", "err", err)
	}
	if hooks == nil || holder == "" {
		return
	}
	if err := hooks.TakeOverFrom(ctx, r, holder); err != nil && ctx.Err() == nil {
		log.WarnContext(ctx, "taking over a dead worker's webhook attempts", "err", err)
	}
}

// What told that a server's process is gone (deadServer.sign).
const (
	signStopped   = "beats stopped"
	signRestarted = "restarted in place"
)

// deadServer is a listed asynq server whose process is gone, and a time
// by which it was.
type deadServer struct {
	info  *asynq.ServerInfo
	since time.Time
	sign  string // what told: signStopped, signRestarted
}

// deadServers returns the servers whose process is gone: its beats
// stalled (stalled, by process name: it died at most a renewal after its
// counter last moved), or a newer server was started under its process
// name, which only a process that reused its pid can do (a container
// restarted in place, whose new process then beats under the same name,
// hiding the stall); it was gone by then. A process runs one server.
func deadServers(servers []*asynq.ServerInfo, stalled map[string]time.Time) []deadServer {
	newest := map[string]*asynq.ServerInfo{}
	for _, s := range servers {
		name := queue.ProcessName(s.Host, s.PID)
		if n := newest[name]; n == nil || s.Started.After(n.Started) {
			newest[name] = s
		}
	}
	var dead []deadServer
	for _, s := range servers {
		name := queue.ProcessName(s.Host, s.PID)
		switch moved, ok := stalled[name]; {
		case newest[name] != s:
			dead = append(dead, deadServer{info: s, since: newest[name].Started, sign: signRestarted})
		case ok:
			dead = append(dead, deadServer{info: s, since: moved.Add(queue.LivenessEvery), sign: signStopped})
		}
	}
	return dead
}
