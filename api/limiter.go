package api

import (
	"context"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
)

// Limiter decides whether a key may make one more request.
type Limiter interface {
	Allow(ctx context.Context, key string) (ok bool, retryAfter time.Duration, err error)
}

// RedisLimiter is a per-key token bucket (GCRA) in Redis, so every api
// replica shares one budget per key.
type RedisLimiter struct {
	l     *redis_rate.Limiter
	limit redis_rate.Limit
}

// NewRedisLimiter allows perSecond requests per key with bursts of burst.
func NewRedisLimiter(rc redis.UniversalClient, perSecond, burst int) *RedisLimiter {
	return &RedisLimiter{
		l:     redis_rate.NewLimiter(rc),
		limit: redis_rate.Limit{Rate: perSecond, Burst: burst, Period: time.Second},
	}
}

// Allow takes one token from the key's bucket.
func (l *RedisLimiter) Allow(ctx context.Context, key string) (bool, time.Duration, error) {
	res, err := l.l.Allow(ctx, "bp:rl:"+key, l.limit)
	if err != nil {
		return false, 0, err
	}
	return res.Allowed > 0, res.RetryAfter, nil
}

func rateLimited(ctx context.Context, secs int) requestErrors {
	return errorBody(ctx, "RATE_LIMITED", "rate limit exceeded for this API key; retry after the Retry-After interval",
		map[string]any{"retryAfterSeconds": secs})
}
