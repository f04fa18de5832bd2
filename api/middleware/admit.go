package middleware

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/redis/go-redis/v9"

	"github.com/turnoutdev/turnout/internal/fault"
	"github.com/turnoutdev/turnout/storage"
)

// A request with a key is admitted in one Redis round trip, just before its
// handler runs: the client address's failed-login budget, the key epoch
// (which says whether a cached key may be trusted), the key's call rate and
// its usage counters travel in one pipeline. Only a failed call costs a
// second trip, to count the failure.

// gcra is the generic cell rate algorithm over one key holding the
// theoretical arrival time in microseconds: a key may make limit calls at
// once and then one every period/limit. It returns {allowed, remaining,
// retry after in microseconds}. A cost of 0 only looks.
const gcra = `
local function gcra(key, limit, period, cost)
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
  local interval = period / limit
  local tat = now
  local stored = redis.call('GET', key)
  if stored then tat = math.max(tonumber(stored), now) end
  local newTat = tat + interval * cost
  local excess = newTat - now - period
  if cost > 0 and excess > 0 then
    return {0, 0, math.ceil(excess)}
  end
  if cost > 0 then
    redis.call('SET', key, string.format('%.0f', newTat), 'PX', math.ceil((newTat - now) / 1000) + 1)
  end
  local remaining = math.floor((period - (newTat - now)) / interval)
  local retry = 0
  if remaining < 1 then retry = math.ceil(newTat - now - period + interval) end
  return {1, remaining, retry}
end
`

// rateScript spends (or, with cost 0, looks at) one GCRA budget.
var rateScript = redis.NewScript(gcra + `
return gcra(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]))
`)

// admitScript spends one call of a key's budget and counts it in the key's
// usage hash; a refused call counts as a failure, and not as a use of the
// route's resource. KEYS: rate, usage.
// ARGV: limit, period (µs), resource, timestamp.
var admitScript = redis.NewScript(gcra + `
local r = gcra(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), 1)
redis.call('HINCRBY', KEYS[2], 'total', 1)
redis.call('HSET', KEYS[2], 'last', ARGV[4])
if r[1] == 0 then
  redis.call('HINCRBY', KEYS[2], 'failures', 1)
  redis.call('HSET', KEYS[2], 'lastFailure', ARGV[4])
elseif ARGV[3] ~= '' then
  redis.call('HINCRBY', KEYS[2], 'r:' .. ARGV[3], 1)
end
return r
`)

var minute = int64(time.Minute / time.Microsecond)

// rateKey is a key's call-rate state; it shares a hash slot with the
// key's usage counters so one script can update both on a Redis Cluster.
func rateKey(keyID int64) string { return "turnout:rate:{" + strconv.FormatInt(keyID, 10) + "}" }

// verification is a cached key still to be confirmed by the epoch, and
// the failed-login check still to be made, in the admission round trip.
type verification struct {
	rdb    redis.UniversalClient
	guard  *authGuard
	cache  *KeyCache
	cred   Credential
	scope  string
	cached bool // the key came from the cache, not the database
}

// admission is a key's call still to be spent and counted.
type admission struct {
	l        *Limiter
	done     bool
	failures bool // the admission already counted this call as failed
}

const (
	verifyKey = "turnout.verify"
	admitKey  = "turnout.admit"
)

// Settle runs the pending admission of a request (see admit) right before
// h. Every route of a Group is settled this way; a route registered
// elsewhere that authenticates must be wrapped in it.
func Settle(h echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if err := settle(c); err != nil {
			return err
		}
		return h(c)
	}
}

// settle makes the request's one admission round trip, if one is pending.
func settle(c echo.Context) error {
	v, _ := c.Get(verifyKey).(*verification)
	a, _ := c.Get(admitKey).(*admission)
	if a != nil && a.done {
		a = nil
	}
	if v == nil && a == nil {
		return nil
	}
	c.Set(verifyKey, nil)
	ctx := c.Request().Context()
	rdb := v.redis(a)
	pipe := rdb.Pipeline()
	var guardCmd, admitCmd *redis.Cmd
	var epochCmd *redis.StringCmd
	if v != nil && v.guard != nil {
		guardCmd = rateScript.EvalSha(ctx, pipe, []string{v.guard.key(c)}, v.guard.perMinute, minute, 0)
	}
	if v != nil && v.cache != nil {
		epochCmd = pipe.Get(ctx, storage.KeyEpochKey)
	}
	k := Key(c)
	if a != nil {
		a.done = true
		admitCmd = admitScript.EvalSha(ctx, pipe, []string{rateKey(k.ID), storage.UsageKey(k.ID)},
			k.RateLimit, minute, resourceOf(c), a.l.now().UTC().Format(time.RFC3339Nano))
	}
	if _, err := pipe.Exec(ctx); err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
		// A Redis that has not seen the scripts yet (a restart, a new
		// Cluster node): send them whole once.
		pipe = rdb.Pipeline()
		if guardCmd != nil {
			guardCmd = rateScript.Eval(ctx, pipe, []string{v.guard.key(c)}, v.guard.perMinute, minute, 0)
		}
		if epochCmd != nil {
			epochCmd = pipe.Get(ctx, storage.KeyEpochKey)
		}
		if admitCmd != nil {
			admitCmd = admitScript.Eval(ctx, pipe, []string{rateKey(k.ID), storage.UsageKey(k.ID)},
				k.RateLimit, minute, resourceOf(c), a.l.now().UTC().Format(time.RFC3339Nano))
		}
		_, _ = pipe.Exec(ctx)
	}
	if v != nil {
		if err := v.settle(c, guardCmd, epochCmd); err != nil {
			return err
		}
	}
	if a != nil {
		return a.settle(c, Key(c), admitCmd)
	}
	return nil
}

func (v *verification) redis(a *admission) redis.UniversalClient {
	if a != nil {
		return a.l.rdb
	}
	return v.rdb
}

// settle applies the failed-login check and confirms a cached key.
func (v *verification) settle(c echo.Context, guardCmd *redis.Cmd, epochCmd *redis.StringCmd) error {
	if guardCmd != nil {
		if res, err := gcraResult(guardCmd); err == nil && res.remaining <= 0 {
			c.Response().Header().Set("Retry-After", retryAfter(res.retry))
			return ErrTooManyAuthFailures
		} else if err != nil {
			v.guard.l.log.Warn("failed-login check unavailable; allowing call", "err", err)
		}
	}
	if v.cache == nil {
		return nil
	}
	epoch, err := epochCmd.Result()
	if err == redis.Nil {
		epoch, err = "", nil
	}
	if v.cache.current(epoch, err == nil) || !v.cached {
		return nil
	}
	// The epoch moved (or could not be read): the cached key may have
	// changed; look it up again.
	k, err := v.cache.KeyBySecret(c.Request().Context(), v.cred.Secret)
	if err == nil {
		err = accept(k, v.scope, v.cred)
	}
	if err != nil {
		if v.guard != nil && fault.Is(err, fault.Unauthorized) {
			v.guard.failed(c)
		}
		return err
	}
	c.Set(keyKey, k)
	return nil
}

// settle enforces the key's call rate from the admission's answer.
func (a *admission) settle(c echo.Context, k *storage.APIKey, cmd *redis.Cmd) error {
	res, err := gcraResult(cmd)
	if err != nil {
		// Fail open: an unreachable Redis must not take every surface down
		// with it; the enqueue path reports Redis trouble on its own.
		a.l.log.Warn("rate limiter unavailable; allowing call", "key_id", k.ID, "err", err)
		a.done = false // count the call after the handler, as best we can
		return nil
	}
	h := c.Response().Header()
	h.Set("X-RateLimit-Limit", strconv.Itoa(k.RateLimit))
	h.Set("X-RateLimit-Remaining", strconv.FormatInt(max(res.remaining, 0), 10))
	if !res.allowed {
		a.failures = true
		h.Set("Retry-After", retryAfter(res.retry))
		return ErrCallRate
	}
	return nil
}

type gcraAnswer struct {
	allowed          bool
	remaining, retry int64
}

func gcraResult(cmd *redis.Cmd) (gcraAnswer, error) {
	vals, err := cmd.Int64Slice()
	if err != nil {
		return gcraAnswer{}, err
	}
	if len(vals) != 3 {
		return gcraAnswer{}, redis.Nil
	}
	return gcraAnswer{allowed: vals[0] == 1, remaining: vals[1], retry: vals[2]}, nil
}

// retryAfter is a Retry-After value in whole seconds, rounded up.
func retryAfter(micros int64) string {
	return strconv.FormatInt(micros/1_000_000+1, 10)
}

// groupRoutes are the routes (method and path template) registered through
// a Group, whose handlers settle the admission themselves.
var groupRoutes sync.Map

func settledByRoute(c echo.Context) bool {
	_, ok := groupRoutes.Load(c.Request().Method + " " + c.Path())
	return ok
}

// peekRate reads a budget without spending it.
func peekRate(ctx context.Context, rdb redis.Scripter, key string, perMinute int) (gcraAnswer, error) {
	return gcraResult(rateScript.Run(ctx, rdb, []string{key}, perMinute, minute, 0))
}

// spendRate spends one call of a budget.
func spendRate(ctx context.Context, rdb redis.Scripter, key string, perMinute int) (gcraAnswer, error) {
	return gcraResult(rateScript.Run(ctx, rdb, []string{key}, perMinute, minute, 1))
}

// Counted reports whether this request's call is already in its key's
// usage counters, and under which resource: a reader of the counters that
// reports them as they were before the call takes it out.
func Counted(c echo.Context) (resource string, ok bool) {
	a, _ := c.Get(admitKey).(*admission)
	if a == nil || !a.done {
		return "", false
	}
	return resourceOf(c), true
}
