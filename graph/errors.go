package graph

import (
	"context"
	"log/slog"

	"github.com/graphql-go/graphql/gqlerrors"

	"github.com/borderproof/borderproof/internal/errs"
	"github.com/borderproof/borderproof/internal/obs"
)

// Codes reach clients in extensions.code. This table is the one place kinds
// become codes.
var codes = map[errs.Kind]string{
	errs.Internal:           "INTERNAL",
	errs.Invalid:            "INVALID_INPUT",
	errs.NotFound:           "NOT_FOUND",
	errs.Conflict:           "CONFLICT",
	errs.FailedPrecondition: "CONFLICT",
	errs.Unauthenticated:    "UNAUTHENTICATED",
	errs.Forbidden:          "FORBIDDEN",
	errs.RateLimited:        "RATE_LIMITED",
	errs.BudgetExceeded:     "BUDGET_EXCEEDED",
	errs.Unavailable:        "UNAVAILABLE",
}

// Code returns the client code of err.
func Code(err error) string { return codes[errs.KindOf(err)] }

// Error is what resolvers return: graphql-go finds extensions by asserting
// the resolver's error to gqlerrors.ExtendedError directly, so the error
// must be this type itself, not wrapped.
type Error struct {
	Message string
	Ext     map[string]any
}

func (e *Error) Error() string              { return e.Message }
func (e *Error) Extensions() map[string]any { return e.Ext }

var _ gqlerrors.ExtendedError = (*Error)(nil)

// ToGraphQL maps a domain error to the client error. Classified errors keep
// their safe message; anything else becomes INTERNAL "internal error" and
// its detail goes to the log only.
func ToGraphQL(ctx context.Context, log *slog.Logger, err error) *Error {
	ext := map[string]any{"requestId": obs.RequestID(ctx)}
	e, ok := errs.As(err)
	if !ok || e.Kind == errs.Internal {
		log.ErrorContext(ctx, "internal error", "err", err)
		ext["code"] = "INTERNAL"
		return &Error{Message: "internal error", Ext: ext}
	}
	ext["code"] = codes[e.Kind]
	if len(e.Fields) > 0 {
		fields := make([]map[string]any, len(e.Fields))
		for i, f := range e.Fields {
			fields[i] = map[string]any{"path": f.Path, "message": f.Message}
		}
		ext["fields"] = fields
	}
	if e.RetryAfterSeconds > 0 {
		ext["retryAfterSeconds"] = e.RetryAfterSeconds
	}
	if e.Err != nil && e.Kind == errs.Unavailable {
		log.WarnContext(ctx, "unavailable", "err", e.Err)
	}
	msg := e.Msg
	if msg == "" {
		msg = e.Kind.String()
	}
	return &Error{Message: msg, Ext: ext}
}
