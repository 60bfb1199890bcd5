package worker

import (
	"context"

	"github.com/borderproof/borderproof/internal/errs"
	"github.com/borderproof/borderproof/internal/pipeline"
	"github.com/borderproof/borderproof/internal/verification"
)

// Run runs a new verification's checks (task id = verification id +
// ":run").
func Run(p *pipeline.Pipeline) Handler {
	return Handler{Type: verification.TaskRun, Fn: func(ctx context.Context, payload []byte) error {
		pl, err := verification.DecodeVerification(payload)
		if err != nil {
			return errs.Wrap(err, errs.Invalid, "bad verification payload")
		}
		return p.RunVerification(ctx, pl)
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
