package worker

import (
	"context"

	"github.com/borderproof/borderproof/internal/errs"
	"github.com/borderproof/borderproof/internal/pipeline"
	"github.com/borderproof/borderproof/internal/verification"
)

// Run runs a new verification's checks (task id = verification id +
// ":run") and, when they are all answered, scores it in the same task with
// score (the verification:score handler, which takes the same payload); a
// score that fails here is queued as its own task.
func Run(p *pipeline.Pipeline, score Handler) Handler {
	return Handler{Type: verification.TaskRun, Fn: func(ctx context.Context, payload []byte) error {
		pl, err := verification.DecodeVerification(payload)
		if err != nil {
			return errs.Wrap(err, errs.Invalid, "bad verification payload")
		}
		final, err := p.RunVerification(ctx, pl)
		if err != nil || !final {
			return err
		}
		if err := score.Fn(ctx, payload); err != nil {
			p.QueueScore(context.WithoutCancel(ctx), pl.InsurerID, pl.VerificationID)
		}
		return nil
	}}
}

// CheckRun runs one check (task id = check id).
func CheckRun(p *pipeline.Pipeline) Handler {
	return Handler{Type: verification.TaskCheckRun, Fn: func(ctx context.Context, payload []byte) error {
		pl, err := verification.DecodeCheck(payload)
		if err != nil {
			return errs.Wrap(err, errs.Invalid, "bad check payload")
		}
		return p.RunCheck(ctx, pl)
	}}
}

// CheckPoll polls a partner case (task id = check id, "poll", attempt).
func CheckPoll(p *pipeline.Pipeline) Handler {
	return Handler{Type: verification.TaskCheckPoll, Fn: func(ctx context.Context, payload []byte) error {
		pl, err := verification.DecodeCheck(payload)
		if err != nil {
			return errs.Wrap(err, errs.Invalid, "bad check payload")
		}
		return p.PollCheck(ctx, pl)
	}}
}
