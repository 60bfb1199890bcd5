package api

import (
	"context"
	"net/http"
	"regexp"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/borderproof/borderproof/internal/errs"
	"github.com/borderproof/borderproof/internal/id"
	"github.com/borderproof/borderproof/internal/obs"
	"github.com/borderproof/borderproof/internal/tenant"
)

var safeRequestID = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// requestID gives every request an id, echoed in X-Request-Id.
func (s *Server) requestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rid := ""
		if s.cfg.TrustForwarded {
			if v := r.Header.Get("X-Request-Id"); safeRequestID.MatchString(v) {
				rid = v
			}
		}
		if rid == "" {
			rid = id.New("req")
		}
		w.Header().Set("X-Request-Id", rid)
		next.ServeHTTP(w, r.WithContext(obs.WithRequestID(r.Context(), rid)))
	})
}

// recoverer turns a panic into a 500 in the GraphQL error shape.
func (s *Server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.d.Log.ErrorContext(r.Context(), "panic", "panic", p, "stack", string(debug.Stack()))
				s.requestError(w, r, http.StatusInternalServerError, "INTERNAL", "internal error")
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// limitBody caps request bodies; reading past the cap answers 413.
func (s *Server) limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > s.cfg.BodyLimit {
			s.requestError(w, r, http.StatusRequestEntityTooLarge, "INVALID_INPUT", "request body exceeds the size limit")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, s.cfg.BodyLimit)
		next.ServeHTTP(w, r)
	})
}

// authenticate resolves the bearer key to a principal.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Get("Authorization")
		key, ok := strings.CutPrefix(h, "Bearer ")
		if !ok || strings.TrimSpace(key) == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="borderproof"`)
			s.requestError(w, r, http.StatusUnauthorized, "UNAUTHENTICATED", "send an API key as Authorization: Bearer <key>")
			return
		}
		p, err := s.d.Tenants.Authenticate(r.Context(), strings.TrimSpace(key))
		if err != nil {
			if errs.Is(err, errs.Unauthenticated) {
				w.Header().Set("WWW-Authenticate", `Bearer realm="borderproof", error="invalid_token"`)
				s.requestError(w, r, http.StatusUnauthorized, "UNAUTHENTICATED", "invalid or revoked API key")
				return
			}
			s.d.Log.ErrorContext(r.Context(), "authenticate", "err", err)
			s.requestError(w, r, http.StatusServiceUnavailable, "UNAVAILABLE", "authentication is unavailable; retry shortly")
			return
		}
		ctx := tenant.WithPrincipal(r.Context(), p)
		ctx = obs.WithInsurerID(ctx, p.Insurer.ID)
		setPrincipal(r, p)
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// rateLimit applies the per-key limit shared by every api replica.
func (s *Server) rateLimit(next http.Handler) http.Handler {
	if s.d.Limiter == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := tenant.PrincipalFrom(r.Context())
		if err == nil {
			ctx, cancel := context.WithTimeout(r.Context(), 250*time.Millisecond)
			ok, retry, err := s.d.Limiter.Allow(ctx, p.Key.ID)
			cancel()
			if err != nil {
				// The limit protects the service; losing it for a moment is
				// better than refusing every request while Redis is away.
				s.d.Log.WarnContext(r.Context(), "rate limiter unavailable; allowing", "err", err)
			} else if !ok {
				secs := int(retry.Seconds() + 0.999)
				if secs < 1 {
					secs = 1
				}
				w.Header().Set("Retry-After", strconv.Itoa(secs))
				writeJSON(w, http.StatusTooManyRequests, rateLimited(r.Context(), secs))
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}
