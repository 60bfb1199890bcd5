package api_test

import (
	"bytes"
	"net/http"
	"testing"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/borderproof/borderproof/internal/store"
)

// TestRequestSpanJoinsCallerTrace sends a W3C traceparent and finds the
// server span in that trace, named by the operation (never by user data).
func TestRequestSpanJoinsCallerTrace(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	prevTP, prevProp := otel.GetTracerProvider(), otel.GetTextMapPropagator()
	otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)))
	otel.SetTextMapPropagator(propagation.TraceContext{})
	defer func() { otel.SetTracerProvider(prevTP); otel.SetTextMapPropagator(prevProp) }()

	s := newStack(t, store.SQLite, 1000, 1000)
	req, _ := http.NewRequest(http.MethodPost, s.srv.URL+"/graphql", bytes.NewReader(query(`{ viewer { id } }`)))
	req.Header.Set("Authorization", "Bearer "+s.full)
	req.Header.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	var found bool
	for _, sp := range rec.Ended() {
		if sp.SpanContext().TraceID().String() == "4bf92f3577b34da6a3ce929d0e0e4736" && sp.Name() == "query:viewer" {
			found = true
		}
	}
	if !found {
		t.Fatalf("no query:viewer span in the caller's trace; spans: %d", len(rec.Ended()))
	}
	if !bytes.Contains([]byte(s.logs.String()), []byte(`"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736"`)) {
		t.Fatal("the access log line lacks the trace id")
	}
}
