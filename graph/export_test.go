package graph

// Cached tells whether the executor keeps the document of query.
func (e *Executor) Cached(query string) bool {
	_, ok := e.docs.Peek(query)
	return ok
}
