package worker

import (
	"context"

	"github.com/borderproof/borderproof/internal/evidence"
	"github.com/borderproof/borderproof/internal/verification"
)

// VerificationLoader reads a verification across modes for the worker.
type VerificationLoader interface {
	PipelineVerification(ctx context.Context, insurerID, id string) (verification.Verification, error)
}

// WithEvidence wraps the score handler: once a verification's final
// outcome is written, its evidence bundle is built and signed. Building is
// deterministic for a given outcome, so a task that runs twice writes the
// same bytes. listVersion names the sanctions list the watchlist partner
// screened against (empty when unknown).
func WithEvidence(score Handler, st VerificationLoader, ev *evidence.Service, listVersion func(mode string) string) Handler {
	inner := score.Fn
	return Handler{Type: score.Type, Fn: func(ctx context.Context, payload []byte) error {
		if err := inner(ctx, payload); err != nil {
			return err
		}
		pl, err := verification.DecodeVerification(payload)
		if err != nil {
			return nil // the score handler already classified the payload
		}
		v, err := st.PipelineVerification(ctx, pl.InsurerID, pl.VerificationID)
		if err != nil {
			return err
		}
		if v.Status != verification.StatusCompleted || v.Outcome == nil || v.Outcome.Provisional {
			return nil
		}
		_, err = ev.Build(ctx, evidence.FromVerification(&v, listVersion(v.Mode)))
		return err
	}}
}
