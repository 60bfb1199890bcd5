package pipeline

import (
	"context"
	"strconv"
	"time"

	"github.com/borderproof/borderproof/internal/outbox"
	"github.com/borderproof/borderproof/internal/risk"
	"github.com/borderproof/borderproof/internal/verification"
)

// Requeuer puts a task back on its queue for the sweeper. It reports
// whether the task was missing (or dead) and is now queued again, as
// opposed to already present.
type Requeuer interface {
	Requeue(ctx context.Context, typ string, payload []byte, taskID, queue string) (recovered bool, err error)
	// Queued reports whether a task with the id waits on the queue (now,
	// scheduled or to be retried) or is held by a live worker.
	Queued(ctx context.Context, taskID, queue string) (bool, error)
}

// Sweep kinds, the label of the recovery counter.
const (
	SweepCheck   = "check"
	SweepPoll    = "poll"
	SweepExpired = "expired"
	SweepScore   = "score"
	SweepEvent   = "event"
	SweepBundle  = "bundle"
	// SweepDeadWorker counts checks queued again because the process that
	// started them died (SweepStartedBy).
	SweepDeadWorker = "dead_worker_check"
)

// SweepResult counts what one sweep recovered, by kind.
type SweepResult map[string]int

// Sweep finds work whose task was lost (task outbox:sweep): checks still
// PENDING that nobody touched for a while, cases past their poll time,
// checks past their verification's deadline (failed here with
// PARTNER_TIMEOUT), verifications with every check terminal but no
// outcome, completed verifications without their evidence bundle (when
// Config.Bundles), and events not published. The database is the source of truth;
// r re-creates whatever task is missing.
func (p *Pipeline) Sweep(ctx context.Context, r Requeuer) (SweepResult, error) {
	return p.sweep(ctx, r, p.cfg.StaleAfter, p.cfg.EventGrace)
}

// SweepWithin is Sweep for a caller that knows tasks were lost window ago
// or earlier: a Redis that lost its data (a FLUSHALL, a restart without
// persistence, a failover to a replica that lacked it) loses every task
// queued before, a worker that died the tasks it held. Work untouched for
// window is queued again now instead of after StaleAfter. A run still
// calling a partner after window (a slow live partner) gets a second run
// beside it, as one past StaleAfter does: its effects are guarded, its
// partner is asked twice.
func (p *Pipeline) SweepWithin(ctx context.Context, r Requeuer, window time.Duration) (SweepResult, error) {
	return p.sweep(ctx, r, window, window)
}

// sweep is Sweep with checks stale after staleAfter and scores, bundles and
// events missing after grace.
func (p *Pipeline) sweep(ctx context.Context, r Requeuer, staleAfter, grace time.Duration) (SweepResult, error) {
	now := p.now()
	res := SweepResult{}
	count := func(kind string, ok bool, err error) error {
		if err != nil {
			return err
		}
		if ok {
			res[kind]++
		}
		return nil
	}

	overdue, err := p.d.Store.OverdueChecks(ctx, now, p.cfg.SweepBatch)
	if err != nil {
		return res, err
	}
	for _, ref := range overdue {
		ok, err := p.expire(ctx, ref)
		if err := count(SweepExpired, ok, err); err != nil {
			return res, err
		}
	}

	stale, err := p.d.Store.StaleChecks(ctx, now.Add(-staleAfter), now, p.cfg.SweepBatch)
	if err != nil {
		return res, err
	}
	runs := map[string]bool{} // verification id → its run task is queued
	for _, ref := range stale {
		if ref.Status == risk.CheckAwaitingPartner {
			payload := verification.EncodeCheck(ref.InsurerID, ref.VerificationID, ref.CheckID)
			ok, err := r.Requeue(ctx, verification.TaskCheckPoll, payload, ref.CheckID+":poll:"+strconv.Itoa(ref.Attempts), verification.QueueDefault)
			if err := count(SweepPoll, ok, err); err != nil {
				return res, err
			}
			continue
		}
		ok, err := requeueCheck(ctx, r, ref, runs)
		if err := count(SweepCheck, ok, err); err != nil {
			return res, err
		}
	}

	unscored, err := p.d.Store.UnscoredVerifications(ctx, now.Add(-grace), p.cfg.SweepBatch)
	if err != nil {
		return res, err
	}
	for _, ref := range unscored {
		ok, err := r.Requeue(ctx, verification.TaskScore, verification.EncodeVerification(ref.InsurerID, ref.ID), ref.ID, verification.QueueCritical)
		if err := count(SweepScore, ok, err); err != nil {
			return res, err
		}
	}

	if p.cfg.Bundles {
		unbundled, err := p.d.Store.UnbundledVerifications(ctx, now.Add(-grace), p.cfg.SweepBatch)
		if err != nil {
			return res, err
		}
		for _, ref := range unbundled {
			ok, err := r.Requeue(ctx, verification.TaskScore, verification.EncodeVerification(ref.InsurerID, ref.ID), ref.ID, verification.QueueCritical)
			if err := count(SweepBundle, ok, err); err != nil {
				return res, err
			}
		}
	}

	events, err := p.d.Store.UnpublishedEvents(ctx, now.Add(-grace), p.cfg.SweepBatch)
	if err != nil {
		return res, err
	}
	for _, evID := range events {
		ok, err := r.Requeue(ctx, outbox.TaskPublish, outbox.EncodePublish(evID), evID, verification.QueueCritical)
		if err := count(SweepEvent, ok, err); err != nil {
			return res, err
		}
	}
	return res, nil
}

// requeueCheck queues a PENDING check's check:run again unless its
// verification's run is on its way (runs caches that answer by
// verification): a check:run beside the run would call the partner twice.
func requeueCheck(ctx context.Context, r Requeuer, ref CheckRef, runs map[string]bool) (bool, error) {
	queued, seen := runs[ref.VerificationID]
	if !seen {
		var err error
		if queued, err = r.Queued(ctx, verification.RunTaskID(ref.VerificationID), verification.QueueDefault); err != nil {
			return false, err
		}
		runs[ref.VerificationID] = queued
	}
	if queued {
		return false, nil
	}
	payload := verification.EncodeCheck(ref.InsurerID, ref.VerificationID, ref.CheckID)
	return r.Requeue(ctx, verification.TaskCheckRun, payload, ref.CheckID, verification.QueueDefault)
}

// SweepStartedBy queues again the checks that the process named proc
// started before it died (at the latest at before) and left PENDING, and
// the unstarted checks of their verifications that its run would have
// ended (the machine-readable zone's), without waiting for them to look
// stale: a worker that watches the others' beats calls it as soon as it
// sees proc die. Those whose verification's run is still queued or held
// by a live worker are left alone, as Sweep leaves them. A check another
// process started since is no longer proc's, and one that proc's
// successor under the same name (a container restarted in place) started
// is later than before.
func (p *Pipeline) SweepStartedBy(ctx context.Context, r Requeuer, proc string, before time.Time) (SweepResult, error) {
	res := SweepResult{}
	if proc == "" {
		return res, nil
	}
	refs, err := p.d.Store.ChecksStartedBy(ctx, proc, before, p.cfg.SweepBatch)
	if err != nil {
		return res, err
	}
	runs := map[string]bool{}
	for _, ref := range refs {
		ok, err := requeueCheck(ctx, r, ref, runs)
		if err != nil {
			return res, err
		}
		if ok {
			res[SweepDeadWorker]++
		}
	}
	return res, nil
}

// expire fails an unanswered check whose verification's deadline passed
// and queues scoring.
func (p *Pipeline) expire(ctx context.Context, ref CheckRef) (bool, error) {
	v, c, err := p.load(ctx, verification.CheckPayload{InsurerID: ref.InsurerID, VerificationID: ref.VerificationID, CheckID: ref.CheckID})
	if err != nil {
		return false, err
	}
	if c.Status.Terminal() || v.Status.Terminal() {
		return false, nil
	}
	u := p.timedOut(v, c, p.now())
	applied, err := p.d.Store.UpdateCheck(ctx, *u)
	if err != nil {
		return false, err
	}
	p.afterCheck(ctx, v.InsurerID, v.ID)
	return applied, nil
}
