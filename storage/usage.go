package storage

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Usage counts API calls per key in Redis (Salsa Engage's metrics). The
// counters are operational telemetry, not records: they live beside the
// rate limiter and would restart from zero if Redis lost its data.
type Usage struct{ rdb redis.UniversalClient }

// NewUsage returns Usage over rdb.
func NewUsage(rdb redis.UniversalClient) *Usage { return &Usage{rdb: rdb} }

// KeyUsage is one key's counters.
type KeyUsage struct {
	TotalCalls     int64
	TotalFailures  int64
	LastCall       *time.Time
	LastFailure    *time.Time
	ResourceCounts map[string]int64
}

// UsageKey is the Redis hash of keyID's counters. The braces make it share
// a Redis Cluster hash slot with the key's other state (its call rate), so
// one script can update both.
func UsageKey(keyID int64) string { return "turnout:usage:{" + strconv.FormatInt(keyID, 10) + "}" }

const resourcePrefix = "r:"

// Record counts one call of resource by keyID at time at.
func (u *Usage) Record(ctx context.Context, keyID int64, resource string, failed bool, at time.Time) error {
	k := UsageKey(keyID)
	ts := at.UTC().Format(time.RFC3339Nano)
	_, err := u.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HIncrBy(ctx, k, "total", 1)
		p.HSet(ctx, k, "last", ts)
		if resource != "" {
			p.HIncrBy(ctx, k, resourcePrefix+resource, 1)
		}
		if failed {
			p.HIncrBy(ctx, k, "failures", 1)
			p.HSet(ctx, k, "lastFailure", ts)
		}
		return nil
	})
	return err
}

// RecordFailure counts a call of keyID, already counted, as failed.
func (u *Usage) RecordFailure(ctx context.Context, keyID int64, at time.Time) error {
	k := UsageKey(keyID)
	_, err := u.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HIncrBy(ctx, k, "failures", 1)
		p.HSet(ctx, k, "lastFailure", at.UTC().Format(time.RFC3339Nano))
		return nil
	})
	return err
}

// Get returns keyID's counters (zero for a key never seen).
func (u *Usage) Get(ctx context.Context, keyID int64) (*KeyUsage, error) {
	m, err := u.rdb.HGetAll(ctx, UsageKey(keyID)).Result()
	if err != nil {
		return nil, err
	}
	out := &KeyUsage{ResourceCounts: map[string]int64{}}
	for f, v := range m {
		n, _ := strconv.ParseInt(v, 10, 64)
		switch {
		case f == "total":
			out.TotalCalls = n
		case f == "failures":
			out.TotalFailures = n
		case f == "last":
			out.LastCall = parseTime(v)
		case f == "lastFailure":
			out.LastFailure = parseTime(v)
		case strings.HasPrefix(f, resourcePrefix):
			out.ResourceCounts[f[len(resourcePrefix):]] = n
		}
	}
	return out, nil
}

func parseTime(s string) *time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return nil
	}
	return &t
}
