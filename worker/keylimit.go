package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/turnoutdev/turnout/storage"
)

// KeyLimitOptions caps how many jobs of one API key run at once, across
// every worker sharing the Redis, for the kinds it names (file loads): one
// tenant's slow sources then cannot take every slot.
type KeyLimitOptions struct {
	// Kinds are the job kinds counted; empty turns the limit off.
	Kinds []string
	// Default applies to keys without a limit of their own.
	Default int
	// PerKey returns a key's own limit (0: Default).
	PerKey func(ctx context.Context, keyID int64) (int, error)
	// Lease is how long a slot stays taken without being renewed, so a
	// worker that dies does not hold its slots for ever (default 60s).
	Lease time.Duration
	// Recheck is how soon a job over its key's limit is tried again
	// (default 1s, plus up to as much again at random).
	Recheck time.Duration
}

// errKeyBusy is returned for a job whose key already runs its limit: the
// task goes back to the queue for Recheck without counting as a failed
// attempt, and the job's row is not touched.
type errKeyBusy struct {
	keyID int64
	limit int
}

func (e *errKeyBusy) Error() string {
	return fmt.Sprintf("key %d already runs its limit of %d jobs of this kind at once; the job waits for a slot", e.keyID, e.limit)
}

func isKeyBusy(err error) bool {
	var kb *errKeyBusy
	return errors.As(err, &kb)
}

// keySlots takes a slot (the job id, scored by its lease's expiry in
// Redis's clock) in the key's sorted set if the set, after dropping expired
// leases, holds fewer than the limit; a job that holds a slot renews it.
// Returns 1 when the job holds a slot.
var keySlots = redis.NewScript(`
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZSCORE', KEYS[1], ARGV[1]) or redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[3]) then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0`)

type keyLimiter struct {
	opts  KeyLimitOptions
	kinds map[string]bool
	rdb   redis.UniversalClient
	log   *slog.Logger

	mu     sync.Mutex
	limits map[int64]cachedLimit
}

type cachedLimit struct {
	n  int
	at time.Time
}

// limitCacheTTL is how long a key's own limit is trusted before it is read
// again: a change by an operator takes effect within it.
const limitCacheTTL = 10 * time.Second

func newKeyLimiter(o KeyLimitOptions, rdb redis.UniversalClient, log *slog.Logger) *keyLimiter {
	if len(o.Kinds) == 0 || o.Default <= 0 || rdb == nil {
		return nil
	}
	if o.Lease == 0 {
		o.Lease = time.Minute
	}
	if o.Recheck == 0 {
		o.Recheck = time.Second
	}
	l := &keyLimiter{opts: o, kinds: map[string]bool{}, rdb: rdb, log: log, limits: map[int64]cachedLimit{}}
	for _, k := range o.Kinds {
		l.kinds[k] = true
	}
	return l
}

// acquire takes a slot of the job's key. It returns a release function
// (nil when the job is not limited), or errKeyBusy.
func (l *keyLimiter) acquire(ctx context.Context, job *storage.Job) (func(), error) {
	if l == nil || !l.kinds[job.Kind] || job.KeyID == nil {
		return func() {}, nil
	}
	limit, err := l.limit(ctx, *job.KeyID)
	if err != nil {
		return nil, err
	}
	key := "turnout:keyslots:" + job.Kind + ":" + strconv.FormatInt(*job.KeyID, 10)
	member := strconv.FormatInt(job.ID, 10)
	lease := strconv.FormatInt(l.opts.Lease.Milliseconds(), 10)
	got, err := keySlots.Run(ctx, l.rdb, []string{key}, member, lease, limit).Int()
	if err != nil {
		return nil, fmt.Errorf("take a slot of key %d: %w", *job.KeyID, err)
	}
	if got != 1 {
		return nil, &errKeyBusy{keyID: *job.KeyID, limit: limit}
	}
	renewCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(l.opts.Lease / 3)
		defer tick.Stop()
		for {
			select {
			case <-renewCtx.Done():
				return
			case <-tick.C:
				if err := keySlots.Run(renewCtx, l.rdb, []string{key}, member, lease, limit).Err(); err != nil && renewCtx.Err() == nil {
					l.log.Warn("renew key slot", "job_id", job.ID, "err", err)
				}
			}
		}
	}()
	return func() {
		stop()
		<-done
		rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := l.rdb.ZRem(rctx, key, member).Err(); err != nil {
			// The lease runs out on its own.
			l.log.Warn("release key slot", "job_id", job.ID, "err", err)
		}
	}, nil
}

// limit returns the key's own limit or the default, cached briefly.
func (l *keyLimiter) limit(ctx context.Context, keyID int64) (int, error) {
	l.mu.Lock()
	c, ok := l.limits[keyID]
	l.mu.Unlock()
	if ok && time.Since(c.at) < limitCacheTTL {
		return c.n, nil
	}
	n := 0
	if l.opts.PerKey != nil {
		var err error
		if n, err = l.opts.PerKey(ctx, keyID); err != nil {
			return 0, err
		}
	}
	if n <= 0 {
		n = l.opts.Default
	}
	l.mu.Lock()
	l.limits[keyID] = cachedLimit{n: n, at: time.Now()}
	l.mu.Unlock()
	return n, nil
}
