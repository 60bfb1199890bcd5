package bench

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"

	"github.com/borderproof/borderproof/internal/queue"
)

// RawConfig configures the raw asynq loop.
type RawConfig struct {
	Concurrency int
	Tasks       int
	Timeout     time.Duration
	// Queue is the queue of the no-op tasks; it must not be one the
	// service's workers read. It is deleted at the end.
	Queue string
}

// RawResult is the raw loop's throughput.
type RawResult struct {
	Tasks     int
	Processed int
	Elapsed   time.Duration
}

// Plus is two runs taken together: their tasks over their time.
func (r RawResult) Plus(o RawResult) RawResult {
	return RawResult{Tasks: r.Tasks + o.Tasks, Processed: r.Processed + o.Processed, Elapsed: r.Elapsed + o.Elapsed}
}

// PerSec is processed tasks per second.
func (r RawResult) PerSec() float64 { return Ratio(float64(r.Processed), r.Elapsed.Seconds()) }

// RunRawAsynq measures asynq itself on a Redis: an asynq server with a
// no-op handler at cfg.Concurrency, and as many goroutines enqueueing
// cfg.Tasks no-op tasks between them, timed from the first enqueue to the
// last task processed. It is the ceiling the pipeline is compared with.
func RunRawAsynq(ctx context.Context, opt asynq.RedisConnOpt, cfg RawConfig, log *slog.Logger) (RawResult, error) {
	if cfg.Concurrency <= 0 || cfg.Tasks <= 0 {
		return RawResult{}, fmt.Errorf("concurrency and tasks must be positive")
	}
	if cfg.Queue == "" {
		cfg.Queue = "bench-noop"
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 2 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()

	var processed atomic.Int64
	all := make(chan struct{})
	var once sync.Once
	mux := asynq.NewServeMux()
	mux.HandleFunc("bench:noop", func(context.Context, *asynq.Task) error {
		if processed.Add(1) == int64(cfg.Tasks) {
			once.Do(func() { close(all) })
		}
		return nil
	})
	srv := asynq.NewServer(opt, asynq.Config{
		Concurrency: cfg.Concurrency,
		Queues:      map[string]int{cfg.Queue: 1},
		// The service's workers poll an empty queue this often; so must
		// the baseline, or it measures asynq's idle sleep.
		TaskCheckInterval: queue.PollInterval,
		Logger:            quietAsynq{log},
		LogLevel:          asynq.ErrorLevel,
	})
	if err := srv.Start(mux); err != nil {
		return RawResult{}, fmt.Errorf("asynq server: %w", err)
	}
	defer srv.Shutdown()
	client := asynq.NewClient(opt)
	defer client.Close()
	insp := asynq.NewInspector(opt)
	defer func() {
		insp.DeleteQueue(cfg.Queue, true)
		insp.Close()
	}()

	start := time.Now()
	var next atomic.Int64
	var enqErr atomic.Value
	var wg sync.WaitGroup
	payload := []byte(`{"v":1}`)
	for range cfg.Concurrency {
		wg.Go(func() {
			for ctx.Err() == nil {
				n := next.Add(1)
				if n > int64(cfg.Tasks) {
					return
				}
				_, err := client.EnqueueContext(ctx, asynq.NewTask("bench:noop", payload), asynq.Queue(cfg.Queue),
					asynq.MaxRetry(0), asynq.TaskID("noop-"+strconv.FormatInt(n, 10)+"-"+strconv.FormatInt(start.UnixNano(), 36)))
				if err != nil {
					enqErr.CompareAndSwap(nil, err)
					cancel()
					return
				}
			}
		})
	}
	wg.Wait()
	select {
	case <-all:
	case <-ctx.Done():
	}
	res := RawResult{Tasks: cfg.Tasks, Processed: int(processed.Load()), Elapsed: time.Since(start)}
	if err, ok := enqErr.Load().(error); ok {
		return res, fmt.Errorf("enqueue: %w", err)
	}
	if res.Processed < cfg.Tasks {
		return res, fmt.Errorf("raw loop timed out after %d of %d tasks", res.Processed, cfg.Tasks)
	}
	return res, nil
}

// quietAsynq routes asynq's log to slog.
type quietAsynq struct{ l *slog.Logger }

func (q quietAsynq) Debug(args ...any) {}
func (q quietAsynq) Info(args ...any)  {}
func (q quietAsynq) Warn(args ...any)  { q.l.Warn(fmt.Sprint(args...)) }
func (q quietAsynq) Error(args ...any) { q.l.Error(fmt.Sprint(args...)) }
func (q quietAsynq) Fatal(args ...any) { q.l.Error(fmt.Sprint(args...)) }

// ProcessedTotal sums asynq's all-time processed counters (successes and
// failures) of the queues; the difference of two readings is the number of
// tasks that ran in between. A queue asynq has not seen yet counts 0.
func ProcessedTotal(insp *asynq.Inspector, queues []string) (int, error) {
	known, err := insp.Queues()
	if err != nil {
		return 0, err
	}
	n := 0
	for _, q := range queues {
		if !slices.Contains(known, q) {
			continue
		}
		info, err := insp.GetQueueInfo(q)
		if err != nil {
			return 0, err
		}
		n += info.ProcessedTotal
	}
	return n, nil
}

// Backlog is the number of tasks of the queues not yet done (pending,
// active, scheduled, retry, aggregating); archived and completed ones do
// not count.
func Backlog(insp *asynq.Inspector, queues []string) (int, error) {
	known, err := insp.Queues()
	if err != nil {
		return 0, err
	}
	n := 0
	for _, q := range queues {
		if !slices.Contains(known, q) {
			continue
		}
		info, err := insp.GetQueueInfo(q)
		if err != nil {
			return 0, err
		}
		n += info.Pending + info.Active + info.Scheduled + info.Retry + info.Aggregating
	}
	return n, nil
}
