package worker_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/borderproof/borderproof/internal/queue"
	"github.com/borderproof/borderproof/internal/store"
	"github.com/borderproof/borderproof/internal/testenv"
	"github.com/borderproof/borderproof/worker"
)

// TestAnUnreachableDatabaseIsAWait runs a task whose handler finds the
// database down (a real refused connection) on a worker with and without
// store.Classify: with it, the task waits store.UnreachableRetryAfter
// seconds and its failures are not counted; without it, asynq's backoff
// puts it 15 s or more away and counts a failure, which is how a short
// PostgreSQL restart used to hold work up for most of a minute.
func TestAnUnreachableDatabaseIsAWait(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	down := testenv.RefusedPostgres(t)
	opt := asynq.RedisClientOpt{Addr: testenv.Require(t, testenv.RedisAddrVar), DB: 9}
	insp := asynq.NewInspector(opt)
	defer insp.Close()

	for _, tc := range []struct {
		name     string
		classify func(error) error
		// the wait before the retry, and the failures counted
		minWait, maxWait time.Duration
		retried          int
	}{
		{"classified", store.Classify, 0, time.Duration(store.UnreachableRetryAfter+1) * time.Second, 0},
		{"unclassified", nil, 10 * time.Second, time.Hour, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for q := range queue.Weights {
				_, _ = insp.DeleteAllRetryTasks(q)
				_, _ = insp.DeleteAllPendingTasks(q)
			}
			ran := make(chan struct{}, 1)
			log := slog.New(slog.NewTextHandler(io.Discard, nil))
			runCtx, stop := context.WithCancel(ctx)
			w := worker.New(runCtx, worker.Config{Concurrency: 1, ShutdownTimeout: time.Second, Classify: tc.classify}, opt, log,
				[]worker.Handler{{Type: "test:unreachable", Fn: func(context.Context, []byte) error {
					select {
					case ran <- struct{}{}:
					default:
					}
					return down
				}}}, nil)
			done := make(chan error, 1)
			go func() { done <- w.Run(runCtx) }()
			defer func() { stop(); <-done }()

			enq := queue.NewEnqueuer(opt)
			defer enq.Close()
			id := "unreachable-" + tc.name + "-" + time.Now().Format("150405.000000")
			if err := enq.Enqueue(ctx, "test:unreachable", []byte(`{}`), id, queue.Default, 0); err != nil {
				t.Fatal(err)
			}
			select {
			case <-ran:
			case <-ctx.Done():
				t.Fatal("the task never ran")
			}
			var info *asynq.TaskInfo
			for info == nil || info.State != asynq.TaskStateRetry {
				if ctx.Err() != nil {
					t.Fatalf("the task never reached the retry set: %+v", info)
				}
				time.Sleep(20 * time.Millisecond)
				info, _ = insp.GetTaskInfo(queue.Default, id)
			}
			wait := time.Until(info.NextProcessAt)
			if wait < tc.minWait || wait > tc.maxWait {
				t.Errorf("retry in %s, want between %s and %s", wait.Round(time.Millisecond), tc.minWait, tc.maxWait)
			}
			if info.Retried != tc.retried {
				t.Errorf("failures counted %d, want %d", info.Retried, tc.retried)
			}
			if tc.classify != nil && !strings.Contains(info.LastErr, "unavailable") {
				t.Errorf("last error %q does not say unavailable", info.LastErr)
			}
			_ = insp.DeleteTask(queue.Default, id)
		})
	}
}
