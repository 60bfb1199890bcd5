package graph

import (
	"context"
	"sync"

	"github.com/borderproof/borderproof/internal/verification"
)

// loaders hold per-request caches, so a field read twice in one request
// reaches storage (and the audit log) once.
type loaders struct {
	mu  sync.Mutex
	pii map[string]*piiResult
}

type piiResult struct {
	once sync.Once
	pii  *verification.PII
	err  error
}

type loadersKey struct{}

func withLoaders(ctx context.Context) context.Context {
	return context.WithValue(ctx, loadersKey{}, &loaders{pii: map[string]*piiResult{}})
}

// loadPII opens a verification's personal data once per request.
func loadPII(ctx context.Context, id string, open func() (*verification.PII, error)) (*verification.PII, error) {
	l, ok := ctx.Value(loadersKey{}).(*loaders)
	if !ok {
		return open()
	}
	l.mu.Lock()
	r, ok := l.pii[id]
	if !ok {
		r = &piiResult{}
		l.pii[id] = r
	}
	l.mu.Unlock()
	r.once.Do(func() { r.pii, r.err = open() })
	return r.pii, r.err
}
