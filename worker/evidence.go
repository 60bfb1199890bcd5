package worker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"

	"github.com/borderproof/borderproof/internal/errs"
	"github.com/borderproof/borderproof/internal/evidence"
	"github.com/borderproof/borderproof/internal/verification"
)

// VerificationLoader reads a verification across modes for the worker,
// and the sealed partner answers recorded with its checks.
type VerificationLoader interface {
	PipelineVerification(ctx context.Context, insurerID, id string) (verification.Verification, error)
	CheckEvidence(ctx context.Context, insurerID, verificationID string) (map[string][]byte, error)
	RecordEvidence(ctx context.Context, insurerID, verificationID, manifestSHA256 string) error
}

// WithEvidence wraps the score handler: once a verification's final
// outcome is written, its evidence bundle is built and signed, with the
// sealed partner answers the checks recorded, and recorded (the sweeper
// queues the score again of a completed verification without one, see
// pipeline.Config.Bundles). Building is
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
		answers, err := st.CheckEvidence(ctx, v.InsurerID, v.ID)
		if err != nil {
			return err
		}
		if err := answersMatch(&v, answers); err != nil {
			return err
		}
		in := evidence.FromVerification(&v, listVersion(v.Mode))
		for i := range in.Checks {
			in.Checks[i].Evidence = answers[in.Checks[i].ID]
		}
		m, err := ev.Build(ctx, in)
		if err != nil {
			return err
		}
		return st.RecordEvidence(ctx, v.InsurerID, v.ID, m.Digest)
	}}
}

// answersMatch holds each recorded answer to the digest recorded with it,
// so that a bundle never leaves out, or signs a changed copy of, an answer
// its check kept. An erased verification keeps no answers.
func answersMatch(v *verification.Verification, answers map[string][]byte) error {
	for _, c := range v.Checks {
		b, ok := answers[c.ID]
		switch {
		case c.EvidenceSHA256 == "" && ok:
			return errs.E(errs.Internal, "check %s holds an answer without its digest", c.ID)
		case c.EvidenceSHA256 == "" || !v.ErasedAt.IsZero():
		case !ok:
			return errs.E(errs.FailedPrecondition, "the answer of check %s is missing", c.ID)
		default:
			sum := sha256.Sum256(b)
			if hex.EncodeToString(sum[:]) != c.EvidenceSHA256 {
				return errs.E(errs.FailedPrecondition, "the answer of check %s does not match its digest", c.ID)
			}
		}
	}
	return nil
}
