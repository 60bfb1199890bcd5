package pipeline

import (
	"context"
	"time"

	"github.com/borderproof/borderproof/internal/outbox"
	"github.com/borderproof/borderproof/internal/risk"
	"github.com/borderproof/borderproof/internal/verification"
	"github.com/borderproof/borderproof/internal/webhook"
)

// Input builds the risk engine's input from a verification's checks. The
// product defaults to TRAVEL.
func Input(v verification.Verification) risk.Input {
	in := risk.Input{Product: product(v)}
	for _, c := range v.Checks {
		in.Checks = append(in.Checks, risk.Check{ID: c.ID, Type: c.Type, Status: c.Status})
		in.Signals = append(in.Signals, c.Signals...)
	}
	return in
}

// Policy returns the insurer's current risk policy, or the default
// (version 1) when it has stored none.
func (p *Pipeline) Policy(ctx context.Context, insurerID string) (risk.Policy, error) {
	pol, ok, err := p.d.Store.RiskPolicy(ctx, insurerID)
	if err != nil {
		return risk.Policy{}, err
	}
	if !ok {
		return risk.DefaultPolicy(), nil
	}
	return pol, nil
}

// Score scores a verification (task verification:score). With every check
// terminal it writes the final outcome, COMPLETED, with the
// verification.completed event (and verification.review_required for
// REVIEW); with checks still waiting on a partner and none pending it writes
// a provisional outcome with verification.provisional; otherwise, or when
// the verification is already terminal, it does nothing.
func (p *Pipeline) Score(ctx context.Context, pl verification.VerificationPayload) error {
	v, err := p.d.Store.PipelineVerification(ctx, pl.InsurerID, pl.VerificationID)
	if err != nil {
		return err
	}
	if v.Status.Terminal() {
		return nil
	}
	now := p.now()
	final := true
	for _, c := range v.Checks {
		switch {
		case c.Status.Terminal():
		case c.Status == risk.CheckPending:
			return nil // its own task will score when it ends
		default:
			final = false
		}
	}
	if !final && v.Outcome != nil && v.Outcome.Provisional && provisionalCurrent(v) {
		return nil
	}
	o, err := p.outcome(ctx, v, final, now)
	if err != nil {
		return err
	}
	applied, err := p.d.Store.SaveOutcome(ctx, o)
	if err != nil || !applied {
		return err
	}
	p.scored(ctx, o)
	return nil
}

// scored follows a committed outcome: its events are published and it is
// logged (codes and numbers only).
func (p *Pipeline) scored(ctx context.Context, o OutcomeUpdate) {
	if o.Published {
		for _, ev := range o.Events {
			var ds []webhook.Delivery
			for _, d := range o.Deliveries {
				if d.EventID == ev.ID {
					ds = append(ds, d)
				}
			}
			if err := p.d.Publisher.Published(ctx, ev, ds); err != nil {
				p.log.WarnContext(ctx, "queue deliveries; the sweeper will", "event_id", ev.ID, "err", err)
			}
		}
	} else {
		p.publish(ctx, o.Events)
	}
	p.log.InfoContext(ctx, "verification scored", "verification_id", o.VerificationID, "final", o.Status == verification.StatusCompleted,
		"decision", string(o.Outcome.Decision), "score", o.Outcome.Score, "policy_version", o.Outcome.PolicyVersion)
}

// outcome scores v under the insurer's current policy: the final outcome,
// COMPLETED, with verification.completed (and
// verification.review_required for REVIEW), or a provisional one with
// verification.provisional.
func (p *Pipeline) outcome(ctx context.Context, v verification.Verification, final bool, now time.Time) (OutcomeUpdate, error) {
	pol, err := p.Policy(ctx, v.InsurerID)
	if err != nil {
		return OutcomeUpdate{}, err
	}
	return p.outcomeWith(v, final, now, pol)
}

// policyOf is the policy a run read with its verification, as Policy
// returns it.
func policyOf(in *RunInputs) (risk.Policy, error) {
	switch {
	case in.PolicyErr != nil:
		return risk.Policy{}, in.PolicyErr
	case !in.PolicyStored:
		return risk.DefaultPolicy(), nil
	}
	return in.Policy, nil
}

// outcomeWith is outcome under pol.
func (p *Pipeline) outcomeWith(v verification.Verification, final bool, now time.Time, pol risk.Policy) (OutcomeUpdate, error) {
	out := risk.Score(Input(v), pol)
	o := OutcomeUpdate{InsurerID: v.InsurerID, VerificationID: v.ID, Outcome: out, At: now}
	data := func() map[string]any {
		codes := make([]string, len(out.Reasons))
		for i, r := range out.Reasons {
			codes[i] = string(r.Code)
		}
		return map[string]any{"decision": out.Decision, "score": out.Score, "band": out.Band,
			"reasonCodes": codes, "policyVersion": out.PolicyVersion, "provisional": out.Provisional}
	}
	if final {
		o.Status = verification.StatusCompleted
		d := data()
		d["status"] = o.Status
		o.Events = append(o.Events, event(v, outbox.VerificationCompleted, now, d))
		if out.Decision == risk.DecisionReview {
			d := data()
			d["status"] = o.Status
			o.Events = append(o.Events, event(v, outbox.VerificationReviewRequired, now.Add(time.Microsecond), d))
		}
	} else {
		o.Status = verification.StatusAwaitingPartner
		d := data()
		d["status"] = o.Status
		o.Events = append(o.Events, event(v, outbox.VerificationProvisional, now, d))
	}
	return o, nil
}

// provisionalCurrent reports whether the stored provisional outcome already
// reflects every answered check (its AWAITING_PARTNER reasons name exactly
// the checks still waiting), so a repeated task writes nothing.
func provisionalCurrent(v verification.Verification) bool {
	waiting := map[string]bool{}
	for _, c := range v.Checks {
		if !c.Status.Terminal() {
			waiting[c.ID] = true
		}
	}
	n := 0
	for _, r := range v.Outcome.Reasons {
		if r.Code == risk.SignalAwaitingPartner {
			if !waiting[r.CheckID] {
				return false
			}
			n++
		}
	}
	return n == len(waiting)
}
