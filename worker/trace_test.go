package worker_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/borderproof/borderproof/internal/obs"
	"github.com/borderproof/borderproof/internal/queue"
	"github.com/borderproof/borderproof/internal/testenv"
	"github.com/borderproof/borderproof/worker"
)

// TestTraceContinuesIntoTheTask checks that a span started where a task is
// enqueued is the parent of the span the worker opens for it, through the
// task's headers in Redis.
func TestTraceContinuesIntoTheTask(t *testing.T) {
	opt := asynq.RedisClientOpt{Addr: testenv.Require(t, testenv.RedisAddrVar), DB: 9}
	insp := asynq.NewInspector(opt)
	defer insp.Close()
	for q := range queue.Weights {
		_, _ = insp.DeleteAllPendingTasks(q)
	}
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	prevTP, prevProp := otel.GetTracerProvider(), otel.GetTextMapPropagator()
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.TraceContext{})
	defer func() { otel.SetTracerProvider(prevTP); otel.SetTextMapPropagator(prevProp) }()

	ctx, parent := obs.Tracer().Start(context.Background(), "request")
	enq := queue.NewEnqueuer(opt)
	defer enq.Close()
	if err := enq.Enqueue(ctx, "test:trace", []byte(`{"v":1}`), "trace-task-"+time.Now().Format("150405.000000"), queue.Default, 0); err != nil {
		t.Fatal(err)
	}
	parent.End()

	got := make(chan trace.SpanContext, 1)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	runCtx, stop := context.WithCancel(context.Background())
	w := worker.New(runCtx, worker.Config{Concurrency: 1, ShutdownTimeout: time.Second}, opt, log,
		[]worker.Handler{{Type: "test:trace", Fn: func(ctx context.Context, _ []byte) error {
			got <- trace.SpanContextFromContext(ctx)
			return nil
		}}}, nil)
	done := make(chan error, 1)
	go func() { done <- w.Run(runCtx) }()
	select {
	case sc := <-got:
		if sc.TraceID() != parent.SpanContext().TraceID() {
			t.Fatalf("task trace %s, want %s", sc.TraceID(), parent.SpanContext().TraceID())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("task never ran")
	}
	stop()
	<-done
	var taskSpan sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		if s.Name() == "task test:trace" {
			taskSpan = s
		}
	}
	if taskSpan == nil || taskSpan.Parent().SpanID() != parent.SpanContext().SpanID() {
		t.Fatalf("task span missing or not a child of the request span: %+v", taskSpan)
	}
}
