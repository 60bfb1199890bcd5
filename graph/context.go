package graph

import "context"

// Meta is what the HTTP layer learns from headers and passes to resolvers.
type Meta struct {
	// IdempotencyKey from the Idempotency-Key header; the input field wins.
	IdempotencyKey string
	// Purpose from the X-Purpose header, recorded in audit entries when
	// personal data is read.
	Purpose string
}

type metaKey struct{}

// WithMeta stores request metadata for resolvers.
func WithMeta(ctx context.Context, m Meta) context.Context {
	return context.WithValue(ctx, metaKey{}, m)
}

// MetaFrom returns the request metadata (zero when absent).
func MetaFrom(ctx context.Context) Meta {
	m, _ := ctx.Value(metaKey{}).(Meta)
	return m
}
