// Package obs is logging, metrics and request correlation.
//
// Logs are JSON lines. Personal data must never reach them: wrap any value
// that might hold it in PII (or secrets in Secret) and it prints as
// "[redacted]"; attributes whose key names personal data (surname,
// date_of_birth, document_number, mrz, ...) are redacted whatever their type,
// as a second line of defence.
package obs

import (
	"context"
	"io"
	"log/slog"
	"strings"

	"go.opentelemetry.io/otel/trace"
)

// PII marks a value as personal data. It never prints.
type PII string

// LogValue implements slog.LogValuer.
func (PII) LogValue() slog.Value { return slog.StringValue("[redacted]") }

// String keeps fmt from printing the value.
func (PII) String() string { return "[redacted]" }

// Secret marks a credential. It never prints.
type Secret string

// LogValue implements slog.LogValuer.
func (Secret) LogValue() slog.Value { return slog.StringValue("[secret]") }

// String keeps fmt from printing the value.
func (Secret) String() string { return "[secret]" }

// redactedKeys are attribute keys that always hold personal data or
// secrets. Keys are compared in lower case with '-' folded to '_'.
var redactedKeys = map[string]bool{
	"name":        false, // "name" is too common (metric names, insurer names); not redacted by key
	"given_names": true, "givennames": true, "surname": true, "full_name": true,
	"date_of_birth": true, "dob": true, "dateofbirth": true, "birth_date": true,
	"document_number": true, "documentnumber": true, "passport_number": true, "mrz": true,
	"policyholder": true, "api_key": true, "authorization": true, "secret": true,
	"password": true, "token": true, "webhook_secret": true, "stripe_key": true,
}

func redact(_ []string, a slog.Attr) slog.Attr {
	k := strings.ReplaceAll(strings.ToLower(a.Key), "-", "_")
	if redactedKeys[k] {
		return slog.String(a.Key, "[redacted]")
	}
	return a
}

// NewLogger returns a JSON logger writing to w at level, with redaction and
// request correlation (request_id, insurer_id from the context).
func NewLogger(w io.Writer, level slog.Level) *slog.Logger {
	h := slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level, ReplaceAttr: redact})
	return slog.New(ctxHandler{h})
}

// ParseLevel maps debug|info|warn|error to a level.
func ParseLevel(s string) (slog.Level, bool) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, false
	}
	return l, true
}

type ctxKey int

const (
	requestIDKey ctxKey = iota
	insurerIDKey
)

// WithRequestID stores the request id for logs and error extensions.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey, id)
}

// RequestID returns the request id in ctx, or "".
func RequestID(ctx context.Context) string {
	s, _ := ctx.Value(requestIDKey).(string)
	return s
}

// WithInsurerID stores the tenant id for logs.
func WithInsurerID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, insurerIDKey, id)
}

type ctxHandler struct{ slog.Handler }

func (h ctxHandler) Handle(ctx context.Context, r slog.Record) error {
	if ctx != nil {
		if id, ok := ctx.Value(requestIDKey).(string); ok && id != "" {
			r.AddAttrs(slog.String("request_id", id))
		}
		if id, ok := ctx.Value(insurerIDKey).(string); ok && id != "" {
			r.AddAttrs(slog.String("insurer_id", id))
		}
		if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
			r.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
		}
	}
	return h.Handler.Handle(ctx, r)
}

func (h ctxHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return ctxHandler{h.Handler.WithAttrs(as)}
}
func (h ctxHandler) WithGroup(n string) slog.Handler { return ctxHandler{h.Handler.WithGroup(n)} }
