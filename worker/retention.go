package worker

import (
	"context"

	"github.com/borderproof/borderproof/internal/tenant"
	"github.com/borderproof/borderproof/internal/verification"
)

// RetentionPurge erases, for every insurer, verifications older than the
// insurer's retention period, in batches until none is left.
func RetentionPurge(tenants *tenant.Service, verifs *verification.Service) Handler {
	return Handler{Type: verification.TaskRetentionPurge, Fn: func(ctx context.Context, _ []byte) error {
		insurers, err := tenants.Insurers(ctx)
		if err != nil {
			return err
		}
		for _, ins := range insurers {
			for {
				n, err := verifs.PurgeExpired(ctx, ins, 200)
				if err != nil {
					return err
				}
				if n == 0 {
					break
				}
			}
		}
		return nil
	}}
}
