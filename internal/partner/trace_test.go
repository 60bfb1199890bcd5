package partner_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/borderproof/borderproof/internal/obs"
	"github.com/borderproof/borderproof/internal/partner"
)

// TestExchangeCarriesTheTrace checks a partner call is a child span of its
// task and that the partner receives the trace context.
func TestExchangeCarriesTheTrace(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	prevTP, prevProp := otel.GetTracerProvider(), otel.GetTextMapPropagator()
	otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)))
	otel.SetTextMapPropagator(propagation.TraceContext{})
	defer func() { otel.SetTracerProvider(prevTP); otel.SetTextMapPropagator(prevProp) }()

	var got string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Get("traceparent")
		w.Write([]byte(`{}`))
	}))
	defer srv.Close()
	ctx, task := obs.Tracer().Start(context.Background(), "task check:run")
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/case/123", nil)
	if _, _, err := partner.Exchange(srv.Client(), req, "statuscase-sim", nil); err != nil {
		t.Fatal(err)
	}
	task.End()
	if got == "" || len(got) < 55 || got[3:35] != task.SpanContext().TraceID().String() {
		t.Fatalf("partner got traceparent %q, want trace %s", got, task.SpanContext().TraceID())
	}
	var found bool
	for _, s := range rec.Ended() {
		if s.Name() == "partner statuscase-sim GET" && s.Parent().SpanID() == task.SpanContext().SpanID() {
			found = true
		}
	}
	if !found {
		t.Fatal("no partner span under the task span")
	}
}
