package worker

import (
	"context"

	"github.com/borderproof/borderproof/internal/errs"
	"github.com/borderproof/borderproof/internal/pipeline"
	"github.com/borderproof/borderproof/internal/verification"
)

// Score scores a verification (task id = verification id for the final
// score, with ":provisional:<n>" for a provisional one).
func Score(p *pipeline.Pipeline) Handler {
	return Handler{Type: verification.TaskScore, Fn: func(ctx context.Context, payload []byte) error {
		pl, err := verification.DecodeVerification(payload)
		if err != nil {
			return errs.Wrap(err, errs.Invalid, "bad verification payload")
		}
		return p.Score(ctx, pl)
	}}
}
