package graph

import "context"

// Cached tells whether the executor keeps the document of query.
func (e *Executor) Cached(query string) bool {
	_, ok := e.docs.Peek(query)
	return ok
}

// Fail converts err as a resolver's error is, with d's Classify.
func Fail(ctx context.Context, d Deps, err error) error { return (&builder{d: d}).fail(ctx, err) }
