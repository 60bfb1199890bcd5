package worker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"slices"

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

// Bundler builds a completed verification's evidence bundle, signed, from
// the sealed partner answers its checks recorded, and records it on the
// verification (the sweeper queues the score again of a completed
// verification without one, see pipeline.Config.Bundles). Building is
// deterministic for a given outcome, so building twice writes the same
// bytes. ListVersion names the sanctions list the watchlist partner
// screened against (empty when unknown).
type Bundler struct {
	Store       VerificationLoader
	Evidence    *evidence.Service
	ListVersion func(mode string) string
}

// Bundle builds and records v's bundle. answers are sealed answers by
// check id that the caller holds; the others recorded are read.
func (b *Bundler) Bundle(ctx context.Context, v verification.Verification, answers map[string][]byte) error {
	d, err := b.Build(ctx, v, answers)
	if err != nil || d == "" {
		return err
	}
	return b.Store.RecordEvidence(ctx, v.InsurerID, v.ID, d)
}

// Prune deletes v's bundles other than the one its record names: those of
// runs that died before their outcome committed, or lost the race to
// complete.
func (b *Bundler) Prune(ctx context.Context, v verification.Verification) error {
	_, err := b.Evidence.Prune(ctx, v.InsurerID, v.ID)
	return err
}

// Build writes v's bundle, under its digest, and returns the digest ("" for
// a verification that has no final outcome), for the caller to record.
func (b *Bundler) Build(ctx context.Context, v verification.Verification, answers map[string][]byte) (string, error) {
	if v.Status != verification.StatusCompleted || v.Outcome == nil || v.Outcome.Provisional {
		return "", nil
	}
	for _, c := range v.Checks {
		if _, ok := answers[c.ID]; c.EvidenceSHA256 != "" && !ok {
			stored, err := b.Store.CheckEvidence(ctx, v.InsurerID, v.ID)
			if err != nil {
				return "", err
			}
			merged := make(map[string][]byte, len(stored)+len(answers))
			maps.Copy(merged, stored)
			maps.Copy(merged, answers) // in hand: the ones this run is recording
			answers = merged
			break
		}
	}
	if err := answersMatch(&v, answers); err != nil {
		return "", err
	}
	in := evidence.FromVerification(&v, b.ListVersion(v.Mode))
	for i := range in.Checks {
		in.Checks[i].Evidence = answers[in.Checks[i].ID]
	}
	m, err := b.Evidence.Build(ctx, in)
	if err != nil {
		return "", err
	}
	return m.Digest, nil
}

// WithEvidence wraps the score handler: once a verification's final
// outcome is written, b bundles its evidence.
func WithEvidence(score Handler, b *Bundler) Handler {
	inner := score.Fn
	return Handler{Type: score.Type, Fn: func(ctx context.Context, payload []byte) error {
		if err := inner(ctx, payload); err != nil {
			return err
		}
		pl, err := verification.DecodeVerification(payload)
		if err != nil {
			return nil // the score handler already classified the payload
		}
		v, err := b.Store.PipelineVerification(ctx, pl.InsurerID, pl.VerificationID)
		if err != nil {
			return err
		}
		if err := b.Bundle(ctx, v, nil); err != nil {
			return err
		}
		// A check asked more than once: a run before may have bundled an
		// outcome that never committed.
		if slices.ContainsFunc(v.Checks, func(c verification.Check) bool { return c.Attempts > 1 }) {
			return b.Prune(ctx, v)
		}
		return nil
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
