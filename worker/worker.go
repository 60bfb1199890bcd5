// Package worker is the asynq server: one handler per task type, the retry
// policy derived from error kinds, and the periodic scheduler. Handlers are
// thin: decode the payload (ids only), call a domain service, classify.
package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"

	otelcodes "go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/borderproof/borderproof/internal/errs"
	"github.com/borderproof/borderproof/internal/obs"
	"github.com/borderproof/borderproof/internal/queue"
)

// Config is the worker's tunables.
type Config struct {
	Concurrency     int
	ShutdownTimeout time.Duration
	// Metrics receives borderproof_task_total and
	// borderproof_task_duration_seconds; nil keeps them unregistered.
	Metrics prometheus.Registerer
	// Classify, when set, sees every handler error first and may give it
	// a kind (store.Classify makes an unreachable database Unavailable,
	// so its tasks wait seconds, not asynq's backoff, and do not count as
	// failures).
	Classify func(error) error
}

// Periodic is a task the scheduler enqueues on a cron spec.
type Periodic struct {
	Cron  string
	Type  string
	Queue string
}

// Handler is one task type's handler.
type Handler struct {
	Type string
	Fn   func(ctx context.Context, payload []byte) error
}

// Worker runs task handlers and the scheduler.
type Worker struct {
	srv      *asynq.Server
	mux      *asynq.ServeMux
	sched    *asynq.Scheduler
	log      *slog.Logger
	periodic []Periodic
}

// New builds a worker on the Redis connection.
func New(ctx context.Context, cfg Config, opt asynq.RedisConnOpt, log *slog.Logger, handlers []Handler, periodic []Periodic) *Worker {
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 20
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = 25 * time.Second
	}
	srv := asynq.NewServer(opt, asynq.Config{
		Concurrency:       cfg.Concurrency,
		Queues:            queue.Weights,
		BaseContext:       func() context.Context { return context.WithoutCancel(ctx) },
		ShutdownTimeout:   cfg.ShutdownTimeout,
		IsFailure:         IsFailure,
		RetryDelayFunc:    RetryDelay,
		TaskCheckInterval: queue.PollInterval,
		// Scheduled polls and retries become ready within a second.
		DelayedTaskCheckInterval: time.Second,
		ErrorHandler:             LogTaskError(log),
		Logger:                   asynqLogger{log},
		LogLevel:                 asynq.WarnLevel,
	})
	tasks := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "borderproof_task_total",
		Help: "Tasks handled by type and outcome (success, failure, retry_later, skipped).",
	}, []string{"type", "outcome"})
	took := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "borderproof_task_duration_seconds",
		Help:    "Task handling time by type.",
		Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 15},
	}, []string{"type"})
	if cfg.Metrics != nil {
		for _, c := range []prometheus.Collector{tasks, took} {
			if err := cfg.Metrics.Register(c); err != nil {
				log.Warn("task metrics not registered", "err", err)
			}
		}
	}
	mux := asynq.NewServeMux()
	for _, h := range handlers {
		fn, typ := h.Fn, h.Type
		mux.HandleFunc(h.Type, func(ctx context.Context, t *asynq.Task) error {
			ctx = obs.ExtractHeaders(ctx, t.Headers())
			ctx, span := obs.Tracer().Start(ctx, "task "+typ, trace.WithSpanKind(trace.SpanKindConsumer))
			defer span.End()
			start := time.Now()
			err := fn(ctx, t.Payload())
			if cfg.Classify != nil {
				err = cfg.Classify(err)
			}
			err = classify(err)
			took.WithLabelValues(typ).Observe(time.Since(start).Seconds())
			tasks.WithLabelValues(typ, outcome(err)).Inc()
			if err != nil {
				span.SetStatus(otelcodes.Error, errs.KindOf(err).String())
			}
			return err
		})
	}
	sched := asynq.NewScheduler(opt, &asynq.SchedulerOpts{
		Logger: asynqLogger{log}, LogLevel: asynq.WarnLevel,
	})
	return &Worker{srv: srv, mux: mux, sched: sched, log: log, periodic: periodic}
}

// Run processes tasks until ctx ends, then shuts down gracefully: in-flight
// tasks get ShutdownTimeout to finish and are otherwise returned to the queue.
func (w *Worker) Run(ctx context.Context) error {
	for _, p := range w.periodic {
		// A periodic tick's id carries its type; asynq's scheduler adds the
		// tick time, so replicas never run the same tick twice.
		if _, err := w.sched.Register(p.Cron, asynq.NewTask(p.Type, nil), asynq.Queue(p.Queue), asynq.Unique(time.Minute)); err != nil {
			return fmt.Errorf("schedule %s: %w", p.Type, err)
		}
	}
	if err := w.srv.Start(w.mux); err != nil {
		return fmt.Errorf("start worker: %w", err)
	}
	if len(w.periodic) > 0 {
		if err := w.sched.Start(); err != nil {
			w.srv.Shutdown()
			return fmt.Errorf("start scheduler: %w", err)
		}
	}
	<-ctx.Done()
	if len(w.periodic) > 0 {
		w.sched.Shutdown()
	}
	w.srv.Shutdown()
	return nil
}

// outcome names a handler result for the task metrics.
func outcome(err error) string {
	switch {
	case err == nil:
		return "success"
	case IsSkipRetry(err):
		return "skipped"
	case !IsFailure(err):
		return "retry_later"
	}
	return "failure"
}

// LogTaskError logs a task that did not succeed. A failure is a warning;
// a postponement (a rate limit, an open breaker, a busy webhook endpoint:
// errors IsFailure does not count) is the system holding back as designed,
// logged at info (with the wait it asked for), so that a burst does not
// fill the log with warnings an operator has nothing to do about.
func LogTaskError(log *slog.Logger) asynq.ErrorHandler {
	return asynq.ErrorHandlerFunc(func(ctx context.Context, t *asynq.Task, err error) {
		kind := errs.KindOf(err).String()
		if IsFailure(err) {
			log.WarnContext(ctx, "task failed", "type", t.Type(), "kind", kind, "err", err)
			return
		}
		attrs := []any{"type", t.Type(), "kind", kind, "err", err}
		if e, ok := errs.As(err); ok && e.RetryAfterSeconds > 0 {
			attrs = append(attrs, "retry_after_seconds", e.RetryAfterSeconds)
		}
		log.InfoContext(ctx, "task postponed", attrs...)
	})
}

// IsFailure reports whether an error counts against the task: a rate limit
// or an open breaker is the partner's state, not the task's fault.
func IsFailure(err error) bool {
	switch errs.KindOf(err) {
	case errs.RateLimited, errs.Unavailable:
		return false
	}
	return true
}

// RetryDelay honours a Retry-After the error carries, else asynq's default
// exponential backoff. A task whose worker died (its lease expired) is run
// again at once: asynq only notices a dead worker a minute or more after
// the fact, and the work did not fail.
func RetryDelay(n int, err error, t *asynq.Task) time.Duration {
	if errors.Is(err, asynq.ErrLeaseExpired) {
		return time.Second
	}
	if e, ok := errs.As(err); ok && e.RetryAfterSeconds > 0 {
		return time.Duration(e.RetryAfterSeconds) * time.Second
	}
	return asynq.DefaultRetryDelayFunc(n, err, t)
}

// classify maps error kinds to asynq's retry decisions: invalid input and
// missing rows will never succeed, so they are not retried.
func classify(err error) error {
	if err == nil {
		return nil
	}
	switch errs.KindOf(err) {
	case errs.Invalid, errs.NotFound, errs.FailedPrecondition:
		return fmt.Errorf("%w: %w", err, asynq.SkipRetry)
	}
	return err
}

// IsSkipRetry reports whether a handler error stops retries.
func IsSkipRetry(err error) bool { return errors.Is(err, asynq.SkipRetry) }
