package storage

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"
)

// KeyEpochKey is the Redis key whose value changes whenever an API key
// changes (revoked, limits changed, webhook secret rotated). API processes
// cache keys in memory and trust a cached key only while the epoch they
// read in the request's one Redis round trip is the one they cached it
// under, so a change reaches every replica at its next request.
const KeyEpochKey = "turnout:keys:epoch"

// BumpKeyEpoch announces that API keys changed: every API process drops
// its cached keys at its next request.
func BumpKeyEpoch(ctx context.Context, rdb redis.UniversalClient) error {
	return rdb.Incr(ctx, KeyEpochKey).Err()
}

// KeyCacheTTL is the longest an API process keeps a key in memory, the
// bound on a change that could not be announced over Redis.
const KeyCacheTTL = 30 * time.Second
