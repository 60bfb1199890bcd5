package tenant

import (
	"context"

	"github.com/borderproof/borderproof/internal/errs"
)

type principalKey struct{}

// WithPrincipal stores the authenticated caller in ctx.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the authenticated caller, or Unauthenticated.
func PrincipalFrom(ctx context.Context) (Principal, error) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	if !ok {
		return Principal{}, errs.E(errs.Unauthenticated, "authentication required")
	}
	return p, nil
}

// Authorize returns the caller when it carries scope.
func Authorize(ctx context.Context, scope Scope) (Principal, error) {
	p, err := PrincipalFrom(ctx)
	if err != nil {
		return p, err
	}
	return p, RequireScope(p, scope)
}
