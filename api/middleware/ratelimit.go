package middleware

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/labstack/echo/v4"
	"github.com/redis/go-redis/v9"

	"github.com/turnoutdev/turnout/internal/fault"
	"github.com/turnoutdev/turnout/storage"
)

// Limiter enforces each key's call rate (GCRA in Redis, so every API replica
// shares one budget per key) and counts usage for the metrics endpoint.
type Limiter struct {
	rdb   redis.UniversalClient
	rl    *redis_rate.Limiter
	usage *storage.Usage
	log   *slog.Logger
	now   func() time.Time
}

// NewLimiter returns a Limiter over rdb.
func NewLimiter(rdb redis.UniversalClient, log *slog.Logger) *Limiter {
	return &Limiter{rdb: rdb, rl: redis_rate.NewLimiter(rdb), usage: storage.NewUsage(rdb), log: log, now: time.Now}
}

// ErrCallRate is Salsa's message for a key over its call rate.
var ErrCallRate = fault.New(fault.RateLimited, "Call rate has been exceeded")

// Middleware must run after Authenticate. It rejects calls over the key's
// per-minute rate with 429 and records every call, and whether it failed,
// in the key's usage counters. On a Group's routes the call is spent and
// counted just before the handler, in the request's one Redis round trip
// (so the route's resource is known); elsewhere at once.
func (l *Limiter) Middleware() echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			k := Key(c)
			if k == nil {
				return next(c)
			}
			a := &admission{l: l}
			c.Set(admitKey, a)
			var err error
			if !settledByRoute(c) {
				err = settle(c)
			}
			if err == nil {
				err = next(c)
			}
			l.count(c, k, a, err != nil || c.Response().Status >= 400)
			return err
		}
	}
}

// count records what the admission could not: a failure, or the whole
// call when the admission never ran (Redis unavailable, or the request
// refused before its handler). Counting must not fail the call; it uses its
// own short deadline so a client that hung up is still counted.
func (l *Limiter) count(c echo.Context, k *storage.APIKey, a *admission, failed bool) {
	if a.done && (!failed || a.failures) {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Request().Context()), time.Second)
	defer cancel()
	var err error
	if a.done {
		err = l.usage.RecordFailure(ctx, k.ID, l.now())
	} else {
		err = l.usage.Record(ctx, k.ID, resourceOf(c), failed, l.now())
	}
	if err != nil {
		l.log.Warn("usage not recorded", "key_id", k.ID, "err", err)
	}
}

// Remaining is how many calls keyID can make right now before a 429
// (Salsa's currentRateLimit). It does not consume a call.
func (l *Limiter) Remaining(ctx context.Context, k *storage.APIKey) (int, error) {
	res, err := peekRate(ctx, l.rdb, rateKey(k.ID), k.RateLimit)
	if err != nil {
		return 0, err
	}
	return int(max(res.remaining, 0)), nil
}

// Usage returns keyID's usage counters.
func (l *Limiter) Usage(ctx context.Context, keyID int64) (*storage.KeyUsage, error) {
	return l.usage.Get(ctx, keyID)
}

// ErrBatchSize is the cause of the 429 that refuses a batch larger than the
// key's batch size: a request to change, unlike an exceeded call rate.
var ErrBatchSize = errors.New("batch larger than the key's batch size")

// CheckBatch rejects a bulk request of n items over the key's batch size
// with Salsa's 429.
func CheckBatch(c echo.Context, n int) error {
	if k := Key(c); k != nil && n > k.MaxBatchSize {
		return &fault.Error{Kind: fault.RateLimited, Err: ErrBatchSize,
			Message: fmt.Sprintf("Requested batch size exceeds the allowed size of: %d", k.MaxBatchSize)}
	}
	return nil
}

const resourceKey = "turnout.resource"

// Resource names the route's resource in usage counters (camelCase, as
// Salsa's supporterRead).
func Resource(name string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			c.Set(resourceKey, name)
			return next(c)
		}
	}
}

func resourceOf(c echo.Context) string {
	s, _ := c.Get(resourceKey).(string)
	return s
}

// ErrTooManyAuthFailures answers a client that keeps presenting bad
// credentials.
var ErrTooManyAuthFailures = fault.New(fault.RateLimited, "too many failed authentication attempts; retry in a minute")

const guardKey = "turnout.authguard"

// authGuard throttles guessing per client address; Authenticate consults
// it, so the refusal is rendered in the route's own surface shape.
type authGuard struct {
	l         *Limiter
	perMinute int
}

func (g *authGuard) key(c echo.Context) string { return "turnout:authfail:" + c.RealIP() }

func (g *authGuard) check(c echo.Context) error {
	res, err := peekRate(c.Request().Context(), g.l.rdb, g.key(c), g.perMinute)
	if err == nil && res.remaining <= 0 {
		c.Response().Header().Set("Retry-After", retryAfter(res.retry))
		return ErrTooManyAuthFailures
	}
	return nil
}

func (g *authGuard) failed(c echo.Context) {
	if _, err := spendRate(c.Request().Context(), g.l.rdb, g.key(c), g.perMinute); err != nil {
		g.l.log.Warn("auth failure not counted", "err", err)
	}
}

// GuardAuth throttles guessing: a client address that presented bad
// credentials perMinute times within a minute is refused (429) until its
// budget refills, whatever credential it sends. Use it on the whole server;
// Authenticate does the checking.
func (l *Limiter) GuardAuth(perMinute int) echo.MiddlewareFunc {
	g := &authGuard{l: l, perMinute: perMinute}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			c.Set(guardKey, g)
			return next(c)
		}
	}
}

// PerAddress limits calls per client address, for endpoints that take no
// key (Rocky's public registration endpoints): without it anyone could make
// the workers render PDFs without end.
func (l *Limiter) PerAddress(perMinute int) echo.MiddlewareFunc {
	return l.perAddress("addr:", redis_rate.PerMinute(perMinute))
}

// SignupsPerAddress limits keyless partner sign-ups per client address and
// hour: each one mints a partner and an API key, so its budget is much
// lower than that of the other public endpoints.
func (l *Limiter) SignupsPerAddress(perHour int) echo.MiddlewareFunc {
	return l.perAddress("signup:", redis_rate.PerHour(perHour))
}

func (l *Limiter) perAddress(prefix string, limit redis_rate.Limit) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			res, err := l.rl.Allow(c.Request().Context(), prefix+c.RealIP(), limit)
			if err != nil {
				l.log.Warn("rate limiter unavailable; allowing call", "err", err)
				return next(c)
			}
			if res.Allowed == 0 {
				c.Response().Header().Set("Retry-After", strconv.Itoa(int(res.RetryAfter.Seconds())+1))
				return ErrCallRate
			}
			return next(c)
		}
	}
}
