package worker

import (
	"bytes"
	"context"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	dto "github.com/prometheus/client_model/go"

	"github.com/borderproof/borderproof/internal/billing"
	"github.com/borderproof/borderproof/internal/partnersim"
	"github.com/borderproof/borderproof/internal/pipeline"
	"github.com/borderproof/borderproof/internal/queue"
	"github.com/borderproof/borderproof/internal/risk"
	"github.com/borderproof/borderproof/internal/verification"
	"github.com/borderproof/borderproof/internal/webhook"
)

// quickSweep makes the sweeper act on anything a couple of seconds old.
func quickSweep(o *fixtureOptions) {
	o.pipeline = pipeline.Config{StaleAfter: 2 * time.Second, EventGrace: time.Second}
}

// slowPartners adds latency to every simulated partner so a batch is
// still running when the test interferes.
func (f *fixture) slowPartners(latency time.Duration) {
	for _, p := range partnersim.Protocols {
		if err := f.sim.SetFault(p, partnersim.Fault{Latency: partnersim.Duration(latency)}); err != nil {
			f.t.Fatal(err)
		}
	}
}

func (f *fixture) submitBatch(n int) []string {
	ids := make([]string, n)
	for i := range n {
		ids[i] = f.submit(submission(i, "L898902C3")).ID
	}
	return ids
}

func (f *fixture) completedChecks() int {
	return f.count(`SELECT COUNT(*) FROM checks WHERE insurer_id = $1 AND status = 'COMPLETED'`, f.insurer.ID)
}

// runningChecks counts the checks whose partner is being asked: started
// (an attempt counted), not answered.
func (f *fixture) runningChecks() int {
	return f.count(`SELECT COUNT(*) FROM checks WHERE insurer_id = $1 AND status = 'PENDING' AND attempts > 0`, f.insurer.ID)
}

// waitRunningChecks waits until a run is calling its partners.
func (f *fixture) waitRunningChecks(timeout time.Duration) {
	f.t.Helper()
	deadline := time.Now().Add(timeout)
	for f.runningChecks() == 0 {
		if time.Now().After(deadline) {
			f.t.Fatalf("no check running within %s", timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (f *fixture) waitCompletedChecks(n int, timeout time.Duration) {
	f.t.Helper()
	deadline := time.Now().Add(timeout)
	for f.completedChecks() < n {
		if time.Now().After(deadline) {
			f.t.Fatalf("fewer than %d checks completed within %s", n, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// assertExactlyOnce checks the ledger and the evidence: every answered
// partner check has exactly one usage row and its sealed answer, each
// verification one signed evidence bundle holding exactly those answers,
// and nothing else was billed or stored.
func (f *fixture) assertExactlyOnce(ids []string) {
	f.t.Helper()
	f.waitBundles(ids, 30*time.Second)
	billable, withEvidence := 0, 0
	for _, id := range ids {
		v := f.get(id)
		if v.Status != verification.StatusCompleted || v.Outcome == nil {
			f.t.Fatalf("%s: %s", id, v.Status)
		}
		for _, c := range v.Checks {
			if c.Type == risk.CheckDocumentMRZ {
				continue
			}
			if c.Status != risk.CheckCompleted {
				f.t.Fatalf("%s %s: %s %s", id, c.Type, c.Status, c.Reason)
			}
			billable++
			if n := f.count(`SELECT COUNT(*) FROM usage_events WHERE check_id = $1`, c.ID); n != 1 {
				f.t.Fatalf("check %s has %d usage rows", c.ID, n)
			}
			if c.EvidenceSHA256 == "" {
				f.t.Fatalf("check %s has no evidence", c.ID)
			}
			withEvidence++
		}
		f.assertBundle(v)
	}
	if n := f.count(`SELECT COUNT(*) FROM usage_events WHERE insurer_id = $1`, f.insurer.ID); n != billable {
		f.t.Fatalf("usage rows = %d, billable checks = %d", n, billable)
	}
	// Pricing: a roll-up task lost with the worker or with Redis is what
	// the scheduler's periodic roll-up (not running here) makes up for.
	for {
		n, err := f.store.RollUpUsage(context.Background(), billing.RollUpBatch)
		if err != nil {
			f.t.Fatal(err)
		}
		if n == 0 {
			break
		}
	}
	// Each unit counted once in the running totals, whatever crashed.
	if n := f.count(`SELECT COALESCE(SUM(quantity), 0) FROM usage_monthly WHERE insurer_id = $1`, f.insurer.ID); n != billable {
		f.t.Fatalf("monthly rollup counts %d units, billable checks = %d", n, billable)
	}
	if n := f.count(`SELECT COALESCE(SUM(quantity), 0) FROM usage_daily WHERE insurer_id = $1`, f.insurer.ID); n != billable {
		f.t.Fatalf("daily rollup counts %d units, billable checks = %d", n, billable)
	}
	// Objects on disk; a write cut by the crash leaves a temporary file
	// that is not an object.
	var files []string
	root := filepath.Join(f.Dir, "blobs", "data")
	_ = filepath.WalkDir(filepath.Join(root, "evidence"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !strings.HasPrefix(d.Name(), ".tmp-") {
			rel, _ := filepath.Rel(root, p)
			files = append(files, rel)
		}
		return nil
	})
	if len(files) != len(ids) {
		f.t.Fatalf("evidence objects = %d, verifications = %d: %v", len(files), len(ids), files)
	}
	if withEvidence != billable {
		f.t.Fatalf("checks with evidence = %d, billable checks = %d", withEvidence, billable)
	}
}

// assertBundle checks a completed verification's evidence bundle: it
// verifies, and it holds the answer of every check that kept one, by the
// digest recorded with the check, and nothing else.
func (f *fixture) assertBundle(v verification.Verification) {
	f.t.Helper()
	ctx := context.Background()
	if err := f.evidence.Check(ctx, v.InsurerID, v.ID); err != nil {
		f.t.Fatalf("bundle of %s: %v", v.ID, err)
	}
	m, err := f.evidence.Get(ctx, v.InsurerID, v.ID)
	if err != nil {
		f.t.Fatal(err)
	}
	want := map[string]string{}
	for _, c := range v.Checks {
		if c.EvidenceSHA256 != "" {
			want[c.ID] = c.EvidenceSHA256
		}
	}
	got := map[string]string{}
	for _, c := range m.Checks {
		if c.Evidence != nil {
			got[c.CheckID] = c.Evidence.SHA256
		}
	}
	if !maps.Equal(got, want) {
		f.t.Fatalf("bundle of %s holds %v, checks recorded %v", v.ID, got, want)
	}
}

// child is a worker process running this test binary.
type child struct {
	cmd *exec.Cmd
	out *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startChild starts a worker process running concurrency tasks at once.
func (f *fixture) startChild(concurrency int) *child {
	f.t.Helper()
	return f.startChildNamed(concurrency, "")
}

// startChildNamed starts a worker process whose checks and liveness id go
// by the process name name (childNameEnv); its own when name is "".
func (f *fixture) startChildNamed(concurrency int, name string) *child {
	f.t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=1", childDSNEnv+"="+f.DSN, childRedisEnv+"="+f.RedisAddr,
		childDirEnv+"="+f.Dir, childPartnersEnv+"="+f.Partners, childConcEnv+"="+strconv.Itoa(concurrency), childNameEnv+"="+name)
	c := &child{cmd: cmd, out: &syncBuffer{}}
	cmd.Stdout, cmd.Stderr = c.out, c.out
	if err := cmd.Start(); err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
		if f.t.Failed() {
			f.t.Logf("worker %d output:\n%s", cmd.Process.Pid, c.out.String())
		}
	})
	return c
}

func (c *child) kill(t *testing.T) {
	t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = c.cmd.Wait()
}

// TestWorkerKilledMidBatch: a worker process dies (SIGKILL) with tasks in
// flight; another comes up, the sweeper finds the orphaned work, and every
// verification completes with each billable check billed once and one
// evidence object each.
func TestWorkerKilledMidBatch(t *testing.T) {
	f := newFixture(t, quickSweep)
	f.slowPartners(300 * time.Millisecond)
	ids := f.submitBatch(12) // 60 checks, 48 of them partner calls
	// Four verifications at a time, each calling its partners side by
	// side: the kill comes with about a third of the batch done.
	first := f.startChild(4)
	f.waitCompletedChecks(10, 30*time.Second)
	first.kill(t)
	killed := time.Now()
	if done := f.completedChecks(); done >= len(ids)*5 {
		t.Fatalf("the batch finished before the kill (%d checks)", done)
	}
	f.startChild(20)
	f.waitAll(ids, 45*time.Second, time.Second)
	t.Logf("all %d verifications completed %.1fs after the kill", len(ids), time.Since(killed).Seconds())
	f.assertExactlyOnce(ids)
}

// TestWorkerDeathSweptAtOnce: a worker process dies (SIGKILL) with tasks in
// flight, and the processes watching the workers' beats sweep for its work
// once they stop (WatchWorkers), without the work having to be StaleAfter
// (10 s) old and with no periodic sweep: asynq alone would run the dead
// worker's tasks again only once their 30 s lease lapsed. The checks the
// dead worker had started carry its name and are queued again as soon as
// its death is seen (SweepStartedBy). Of the two watchers, one takes the
// work over: the first to claim the death.
func TestWorkerDeathSweptAtOnce(t *testing.T) {
	f := newFixture(t)
	f.slowPartners(500 * time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	// The watching process beats too: the others' beats are measured
	// against its own.
	live := queue.NewLiveness(f.rdb, f.log)
	live.Start(ctx)
	defer live.Close()
	// Two watchers, as two live workers run them, each with its own view
	// of the dead (Requeue), its own counters and its own takeovers.
	type watcher struct {
		held    *heldWork
		metrics *SweepMetrics
	}
	var watchers []watcher
	var wg sync.WaitGroup
	for i := range 2 {
		w := watcher{held: &heldWork{}}
		w.metrics, _ = NewSweepMetrics(nil)
		r := f.requeue
		if i > 0 {
			r = NewRequeue(f.redis, f.log)
			defer r.Close()
		}
		stalls := queue.NewStalls(f.rdb, queue.ThisProcess())
		wg.Go(func() { WatchWorkers(ctx, stalls, f.pipe, r, w.held, w.metrics, f.log) })
		watchers = append(watchers, w)
	}
	defer func() { cancel(); wg.Wait() }()
	// 40 verifications four at a time: 5 s of calls, so that the child is
	// still calling partners when a test slowed down by a loaded machine
	// kills it.
	ids := f.submitBatch(40)
	first := f.startChild(4)
	f.waitCompletedChecks(10, 30*time.Second)
	host, _ := os.Hostname()
	childID, err := queue.NewStalls(f.rdb, queue.ThisProcess()).LivenessID(context.Background(), queue.ProcessName(host, first.cmd.Process.Pid))
	if err != nil || childID == "" {
		t.Fatalf("the child's liveness id: %q %v", childID, err)
	}
	// Killed while it calls partners (500 ms): its runs are orphaned.
	f.waitRunningChecks(10 * time.Second)
	first.kill(t)
	killed := time.Now()
	if n := f.runningChecks(); n == 0 {
		t.Fatal("the kill orphaned no run")
	}
	w := f.worker(ctx, 20)
	go w.Run(ctx)
	f.waitAll(ids, 25*time.Second, 0)
	took := -1
	for i, w := range watchers {
		byName := counterValue(t, w.metrics, pipeline.SweepDeadWorker)
		holders := w.held.holders()
		if byName == 0 && len(holders) == 0 {
			continue
		}
		if took >= 0 {
			t.Fatal("both watchers took the dead worker's work over")
		}
		took = i
		if byName == 0 {
			t.Fatal("no check the dead worker started was queued again by its name")
		}
		if len(holders) != 1 || holders[0] != childID {
			t.Fatalf("held work taken over from %v, want [%s], the dead worker's liveness id", holders, childID)
		}
	}
	if took < 0 {
		t.Fatal("no watcher took the dead worker's work over")
	}
	m := watchers[took].metrics
	t.Logf("%d verifications completed %.1f s after the kill; %.0f checks queued again by the dead worker's name, %.0f by the sweep",
		len(ids), time.Since(killed).Seconds(), counterValue(t, m, pipeline.SweepDeadWorker), counterValue(t, m, pipeline.SweepCheck))
	f.assertExactlyOnce(ids)
}

// TestWorkerRestartedInPlace: a worker process dies (SIGKILL) mid-batch and
// its successor starts under the same process name, as a container
// restarted in place does (same host name, same pid). Nobody else can tell
// the dead process's liveness id by then, so the successor takes over, as
// it starts, the webhook attempts held under it and the checks the dead
// process started (TakeOverPredecessor), although asynq still lists the
// dead server with the runs it held.
func TestWorkerRestartedInPlace(t *testing.T) {
	f := newFixture(t, quickSweep)
	f.slowPartners(500 * time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	name := queue.ThisProcess() // the successor's, this test's process
	if err := f.rdb.Del(ctx, beatIDKey(name)).Err(); err != nil {
		t.Fatal(err)
	}
	ids := f.submitBatch(20)
	first := f.startChildNamed(4, name)
	f.waitCompletedChecks(10, 30*time.Second)
	deadID, err := f.rdb.Get(ctx, beatIDKey(name)).Result()
	if err != nil {
		t.Fatalf("the child's liveness id under the shared name: %v", err)
	}
	f.waitRunningChecks(10 * time.Second)
	first.kill(t)
	if n := f.runningChecks(); n == 0 {
		t.Fatal("the kill orphaned no run")
	}
	if !f.serverListed(first.cmd.Process.Pid) {
		t.Fatal("asynq no longer lists the killed worker") // it would 10 s after its last heartbeat
	}

	since := time.Now()
	live := queue.NewLiveness(f.rdb, f.log)
	live.Start(ctx)
	defer live.Close()
	if got := live.Predecessor(); got != deadID {
		t.Fatalf("predecessor %q, want the dead process's liveness id %q", got, deadID)
	}
	held := &heldWork{}
	TakeOverPredecessor(ctx, name, live.Predecessor(), since, f.pipe, f.requeue, held, f.metrics, f.log)
	if got := held.holders(); len(got) != 1 || got[0] != deadID {
		t.Fatalf("held work taken over from %v, want [%s]", got, deadID)
	}
	requeued := counterValue(t, f.metrics, pipeline.SweepDeadWorker)
	if requeued == 0 {
		t.Fatal("no check the dead process started was queued again by its name")
	}
	w := f.worker(ctx, 20)
	go w.Run(ctx)
	f.waitAll(ids, 45*time.Second, time.Second)
	t.Logf("%.0f checks queued again at the successor's start, %.0f by the sweep", requeued, counterValue(t, f.metrics, pipeline.SweepCheck))
	f.assertExactlyOnce(ids)
}

// serverListed reports whether asynq lists a server of this host's
// process pid.
func (f *fixture) serverListed(pid int) bool {
	f.t.Helper()
	insp := asynq.NewInspector(f.redis)
	defer insp.Close()
	servers, err := insp.Servers()
	if err != nil {
		f.t.Fatal(err)
	}
	for _, s := range servers {
		if s.PID == pid {
			return true
		}
	}
	return false
}

// heldWork records whose webhook attempts WatchWorkers takes over.
type heldWork struct {
	mu   sync.Mutex
	from []string
}

func (h *heldWork) TakeOverFrom(_ context.Context, _ webhook.Requeuer, holder string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.from = append(h.from, holder)
	return nil
}

func (h *heldWork) SweepOverdue(context.Context, webhook.Requeuer, time.Duration) error { return nil }

func (h *heldWork) holders() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.from)
}

// TestRedisFlushedMidBatch: Redis loses every task mid-batch; the sweeper
// restores each one from the database and all complete.
func TestRedisFlushedMidBatch(t *testing.T) {
	f := newFixture(t, quickSweep)
	f.slowPartners(200 * time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Three verifications at a time: most of the batch is still queued
	// when Redis loses it.
	w := f.worker(ctx, 3)
	go w.Run(ctx)
	ids := f.submitBatch(12)
	f.waitCompletedChecks(10, 30*time.Second)
	// Only this package's database: other packages share the server.
	if err := f.rdb.FlushDB(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	if done := f.completedChecks(); done >= len(ids)*5 {
		t.Fatalf("the batch finished before the flush (%d checks)", done)
	}
	// Sweep through the handler, as the periodic task does.
	f.sweeper = func() error { return process(t, w, verification.TaskOutboxSweep, nil) }
	f.waitAll(ids, 45*time.Second, time.Second)
	if got := counterValue(t, f.metrics, pipeline.SweepCheck); got == 0 {
		t.Fatal("the sweeper recovered no check")
	}
	f.assertExactlyOnce(ids)
}

// TestRedisLossSweptAtOnce: Redis loses every task mid-batch and the
// process learns it from its heartbeat (queue.Liveness.Lost). The sweep
// after the loss restores every lost task LossWindow later, without the
// work having to be StaleAfter (10 s here) old first; no periodic sweep
// runs, so without it nothing would complete.
func TestRedisLossSweptAtOnce(t *testing.T) {
	f := newFixture(t)
	f.slowPartners(200 * time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	w := f.worker(ctx, 3)
	go w.Run(ctx)
	lost := make(chan struct{}, 1)
	swept := make(chan struct{})
	go func() {
		defer close(swept)
		SweepAfterLoss(ctx, lost, f.pipe, f.requeue, f.metrics, f.log)
	}()
	defer func() { cancel(); <-swept }()
	ids := f.submitBatch(12)
	f.waitCompletedChecks(10, 30*time.Second)
	// Only this package's database: other packages share the server.
	if err := f.rdb.FlushDB(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	flushed := time.Now()
	if done := f.completedChecks(); done >= len(ids)*5 {
		t.Fatalf("the batch finished before the flush (%d checks)", done)
	}
	lost <- struct{}{}
	f.waitAll(ids, 30*time.Second, 0)
	if got := counterValue(t, f.metrics, pipeline.SweepCheck); got == 0 {
		t.Fatal("the sweep after the loss recovered no check")
	}
	t.Logf("%d verifications completed %.1f s after the flush", len(ids), time.Since(flushed).Seconds())
	f.assertExactlyOnce(ids)
}

// TestPartnerOutage: two partners fail every call for a few seconds; the
// checks wait and retry (the breaker opens and half-opens) and complete
// with real answers once the partners are back. Nothing is CLEAR for lack
// of an answer, and nothing fails before the deadline.
func TestPartnerOutage(t *testing.T) {
	f := newFixture(t, quickSweep)
	for _, p := range []string{partnersim.DocRegistry, partnersim.Watchlist} {
		if err := f.sim.SetFault(p, partnersim.Fault{ErrorRate: 1}); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := f.worker(ctx, 10)
	go w.Run(ctx)
	ids := f.submitBatch(4)
	time.Sleep(3 * time.Second)
	for _, id := range ids {
		v := f.get(id)
		if v.Status == verification.StatusCompleted {
			t.Fatalf("%s completed during the outage: %+v", id, v.Outcome)
		}
		for _, c := range v.Checks {
			if (c.Type == risk.CheckDocumentRegistry || c.Type == risk.CheckWatchlist) && c.Status != risk.CheckPending {
				t.Fatalf("%s during the outage: %s %s", c.Type, c.Status, c.Reason)
			}
		}
	}
	for _, p := range []string{partnersim.DocRegistry, partnersim.Watchlist} {
		_ = f.sim.SetFault(p, partnersim.Fault{})
	}
	f.waitAll(ids, 40*time.Second, time.Second)
	retried := 0
	for _, id := range ids {
		for _, c := range f.get(id).Checks {
			if c.Type == risk.CheckDocumentRegistry && c.Attempts > 1 {
				retried++
			}
		}
	}
	if retried == 0 {
		t.Fatal("no registry check was retried")
	}
	f.assertExactlyOnce(ids)
}

func counterValue(t *testing.T, m *SweepMetrics, kind string) float64 {
	t.Helper()
	var out dto.Metric
	if err := m.Recovered(kind).Write(&out); err != nil {
		t.Fatal(err)
	}
	return out.GetCounter().GetValue()
}

// TestLeaseRecoveryTime measures how long asynq alone (no sweeper) takes to
// run again a task whose worker was killed. It takes minutes, so it runs
// only with BORDERPROOF_MEASURE_LEASE=1.
func TestLeaseRecoveryTime(t *testing.T) {
	if os.Getenv("BORDERPROOF_MEASURE_LEASE") != "1" {
		t.Skip("set BORDERPROOF_MEASURE_LEASE=1 to measure asynq's lease recovery")
	}
	f := newFixture(t)
	f.slowPartners(time.Second) // under the partners' 2s timeout
	ids := f.submitBatch(2)
	first := f.startChild(20)
	time.Sleep(500 * time.Millisecond) // the partner calls are in flight
	first.kill(t)
	killed := time.Now()
	f.startChild(20)
	f.waitAll(ids, 5*time.Minute, 0)
	t.Logf("asynq recovered the killed worker's tasks %.1fs after the kill", time.Since(killed).Seconds())
	f.assertExactlyOnce(ids)
}

// TestMarkDeadFollowsTheBeats: a server counts as dead while its process's
// beats are stalled and live again once they move (a process cut off from
// Redis for a while, not dead); the sweep is due once per death.
func TestMarkDeadFollowsTheBeats(t *testing.T) {
	r := &Requeue{}
	a, b := deadServer{info: &asynq.ServerInfo{ID: "a"}}, deadServer{info: &asynq.ServerInfo{ID: "b"}}
	ids := func(ds []deadServer) []string {
		var out []string
		for _, d := range ds {
			out = append(out, d.info.ID)
		}
		return out
	}
	for i, step := range []struct {
		dead, fresh []deadServer
		changed     bool
	}{
		{[]deadServer{a}, []deadServer{a}, true},
		{[]deadServer{a, b}, []deadServer{b}, true},
		{[]deadServer{a, b}, nil, false},
		{[]deadServer{b}, nil, true}, // a beats again
		{[]deadServer{a, b}, []deadServer{a}, true},
	} {
		r.held = map[string]bool{"task": true}
		if got := ids(r.markDead(step.dead)); !slices.Equal(got, ids(step.fresh)) {
			t.Fatalf("step %d: newly dead %v, want %v", i, got, ids(step.fresh))
		}
		if len(r.dead) != len(step.dead) {
			t.Fatalf("step %d: dead %v, want %v", i, r.dead, ids(step.dead))
		}
		// Who holds what is listed afresh when the dead change.
		if dropped := r.held == nil; dropped != step.changed {
			t.Fatalf("step %d: held list dropped %v, want %v", i, dropped, step.changed)
		}
	}
}

// TestDeadServers: a server is dead when its process's beats stalled, or
// when a newer server is listed under its process name (its container
// restarted in place and the new process took its pid, and beats under
// its name); each with the time by which it was gone.
func TestDeadServers(t *testing.T) {
	t0 := time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)
	old := &asynq.ServerInfo{ID: "old", Host: "pod-a", PID: 1, Started: t0}
	successor := &asynq.ServerInfo{ID: "new", Host: "pod-a", PID: 1, Started: t0.Add(5 * time.Second)}
	stalledOne := &asynq.ServerInfo{ID: "stalled", Host: "pod-b", PID: 1, Started: t0}
	live := &asynq.ServerInfo{ID: "live", Host: "pod-c", PID: 1, Started: t0}
	moved := t0.Add(20 * time.Second)
	got := deadServers([]*asynq.ServerInfo{successor, live, old, stalledOne}, map[string]time.Time{"pod-b:1": moved})
	want := map[string]time.Time{"old": successor.Started, "stalled": moved.Add(queue.LivenessEvery)}
	if len(got) != len(want) {
		t.Fatalf("dead %d servers, want %d: %+v", len(got), len(want), got)
	}
	for _, d := range got {
		if since, ok := want[d.info.ID]; !ok || !d.since.Equal(since) {
			t.Fatalf("dead %s since %s; want %v", d.info.ID, d.since, want)
		}
	}
}

// TestPredecessorsTasksAreHeldByNoOne checks, on a real Redis, that the
// tasks an asynq server of this process's name lists as running count as
// held until the server is marked as this process's predecessor
// (markPredecessors, as TakeOverPredecessor does), and then as held by no
// one, so that they are queued again at once; a server started after the
// successor is not its predecessor.
func TestPredecessorsTasksAreHeldByNoOne(t *testing.T) {
	ws := newWebhookStack(t) // a Redis database of its own
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	release := make(chan struct{})
	w := New(ctx, Config{Concurrency: 1, ShutdownTimeout: time.Second}, ws.opt, ws.log,
		[]Handler{{Type: "test:block", Fn: func(context.Context, []byte) error { <-release; return nil }}}, nil)
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	defer func() { close(release); cancel(); <-done }()
	if err := ws.q.Enqueue(ctx, "test:block", nil, "blocked-1", queue.Default, 0); err != nil {
		t.Fatal(err)
	}
	r := NewRequeue(ws.opt, ws.log)
	defer r.Close()
	r.holdTTL = 0 // list afresh at every question
	// asynq writes what a server runs every 5 s.
	deadline := time.Now().Add(15 * time.Second)
	for {
		held, err := r.heldByLiveWorker("blocked-1")
		if err != nil {
			t.Fatal(err)
		}
		if held {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("asynq never listed the running task")
		}
		time.Sleep(200 * time.Millisecond)
	}
	// A successor started before the server: not its predecessor.
	if err := r.markPredecessors(queue.ThisProcess(), time.Now().Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	if held, _ := r.heldByLiveWorker("blocked-1"); !held {
		t.Fatal("a server started after the successor was taken for its predecessor")
	}
	if err := r.markPredecessors(queue.ThisProcess(), time.Now()); err != nil {
		t.Fatal(err)
	}
	if held, _ := r.heldByLiveWorker("blocked-1"); held {
		t.Fatal("the predecessor's running task still counts as held")
	}
}
