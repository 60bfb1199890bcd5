package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/borderproof/borderproof/graph"
	"github.com/borderproof/borderproof/internal/obs"
)

// graphql serves POST (queries and mutations) and GET (queries only).
func (s *Server) graphql(w http.ResponseWriter, r *http.Request) {
	var req graph.Request
	readOnly := false
	switch r.Method {
	case http.MethodPost:
		// The body is read as JSON whatever Content-Type says: clients such
		// as curl -d send form types by default, and the body decides.
		dec := json.NewDecoder(r.Body)
		dec.UseNumber()
		if err := dec.Decode(&req); err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				s.requestError(w, r, http.StatusRequestEntityTooLarge, "INVALID_INPUT", "request body exceeds the size limit")
				return
			}
			s.requestError(w, r, http.StatusBadRequest, "INVALID_INPUT", "request body is not a valid GraphQL JSON request")
			return
		}
		req.Variables = normaliseNumbers(req.Variables)
	case http.MethodGet:
		readOnly = true
		q := r.URL.Query()
		req.Query = q.Get("query")
		req.OperationName = q.Get("operationName")
		if v := q.Get("variables"); v != "" {
			if err := json.Unmarshal([]byte(v), &req.Variables); err != nil {
				s.requestError(w, r, http.StatusBadRequest, "INVALID_INPUT", "variables are not valid JSON")
				return
			}
		}
	default:
		w.Header().Set("Allow", "GET, POST")
		s.requestError(w, r, http.StatusMethodNotAllowed, "INVALID_INPUT", "use GET or POST")
		return
	}
	ctx := graph.WithMeta(r.Context(), graph.Meta{
		IdempotencyKey: strings.TrimSpace(r.Header.Get("Idempotency-Key")),
		Purpose:        strings.TrimSpace(r.Header.Get("X-Purpose")),
	})
	out := s.d.Executor.Execute(ctx, req, readOnly)
	setOperation(r, out.Operation)
	writeJSON(w, out.Status, out.Result)
}

// requestError answers a request that never reached execution, in the
// GraphQL response shape.
func (s *Server) requestError(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	writeJSON(w, status, errorBody(r.Context(), code, msg, nil))
}

// requestErrors is the body of a response that carries no data.
type requestErrors struct {
	Errors []requestErr `json:"errors"`
}

type requestErr struct {
	Message    string         `json:"message"`
	Extensions map[string]any `json:"extensions"`
}

func errorBody(ctx context.Context, code, msg string, ext map[string]any) requestErrors {
	e := map[string]any{"code": code, "requestId": obs.RequestID(ctx)}
	for k, v := range ext {
		e[k] = v
	}
	return requestErrors{Errors: []requestErr{{Message: msg, Extensions: e}}}
}

// normaliseNumbers turns json.Number into int or float64 as graphql-go's
// variable coercion expects.
func normaliseNumbers(v map[string]any) map[string]any {
	for k, x := range v {
		v[k] = normaliseValue(x)
	}
	return v
}

func normaliseValue(x any) any {
	switch t := x.(type) {
	case json.Number:
		if i, err := t.Int64(); err == nil {
			return int(i)
		}
		f, _ := t.Float64()
		return f
	case map[string]any:
		return normaliseNumbers(t)
	case []any:
		for i := range t {
			t[i] = normaliseValue(t[i])
		}
		return t
	}
	return x
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
