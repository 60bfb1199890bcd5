package queue

import (
	"context"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"
)

// NewLivenessOf is NewLiveness for a process of the given name, so that one
// test can play several processes.
func NewLivenessOf(rc redis.UniversalClient, log *slog.Logger, proc string) *Liveness {
	l := NewLiveness(rc, log)
	l.proc = proc
	return l
}

// Beat renews l once, as its ticker does.
func Beat(ctx context.Context, l *Liveness) { l.renew(ctx) }

// SetClock sets the watcher's clock.
func (s *Stalls) SetClock(now func() time.Time) { s.now = now }

// Halt stops l's beats without withdrawing anything, as a process killed
// by SIGKILL leaves them.
func Halt(l *Liveness) {
	l.once.Do(func() {
		close(l.stop)
		<-l.done
	})
}
