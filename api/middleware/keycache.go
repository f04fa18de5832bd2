package middleware

import (
	"context"
	"crypto/sha256"
	"sync"
	"time"

	"github.com/turnoutdev/turnout/storage"
)

// KeyCache remembers the live keys secrets resolved to, so a request with a
// key seen recently costs no database round trip. A cached key is trusted
// only together with the key epoch (storage.KeyEpochKey) read in the same
// Redis round trip as the rate limit: when the epoch differs from the one
// the cache holds, every entry is dropped and the key is looked up again,
// so a revoked key stops working at the next request on every replica.
// Unknown secrets are never cached, so guessing cannot fill it; entries
// also expire after storage.KeyCacheTTL.
type KeyCache struct {
	keys Keys
	ttl  time.Duration
	max  int
	now  func() time.Time

	mu      sync.Mutex
	entries map[[sha256.Size]byte]cachedKey
	epoch   string
	known   bool   // epoch has been read from Redis
	gen     uint64 // bumped on every flush; a lookup older than it is not cached
}

type cachedKey struct {
	key     storage.APIKey
	expires time.Time
}

// NewKeyCache caches the keys keys resolves, at most max of them.
func NewKeyCache(keys Keys, max int) *KeyCache {
	return &KeyCache{keys: keys, ttl: storage.KeyCacheTTL, max: max, now: time.Now,
		entries: map[[sha256.Size]byte]cachedKey{}}
}

// KeyBySecret looks the secret up in the store and caches a live key. A
// flush that happens while the lookup runs (the epoch moved) keeps its
// result out of the cache, since it may predate the change.
func (kc *KeyCache) KeyBySecret(ctx context.Context, secret string) (*storage.APIKey, error) {
	kc.mu.Lock()
	gen := kc.gen
	kc.mu.Unlock()
	k, err := kc.keys.KeyBySecret(ctx, secret)
	if err != nil {
		return nil, err
	}
	kc.mu.Lock()
	defer kc.mu.Unlock()
	if kc.gen == gen {
		if len(kc.entries) >= kc.max {
			for h := range kc.entries { // drop an arbitrary entry
				delete(kc.entries, h)
				break
			}
		}
		kc.entries[sha256.Sum256([]byte(secret))] = cachedKey{key: *k, expires: kc.now().Add(kc.ttl)}
	}
	return k, nil
}

// cached returns a copy of the key cached for secret, or nil. The caller
// must confirm the epoch (current) before acting on it.
func (kc *KeyCache) cached(secret string) *storage.APIKey {
	h := sha256.Sum256([]byte(secret))
	kc.mu.Lock()
	defer kc.mu.Unlock()
	e, ok := kc.entries[h]
	if !ok {
		return nil
	}
	if kc.now().After(e.expires) {
		delete(kc.entries, h)
		return nil
	}
	k := e.key
	return &k
}

// current reports whether the cache was filled under epoch (ok: it could
// be read). Otherwise it drops every entry and adopts the epoch, so the
// caller looks its key up afresh.
func (kc *KeyCache) current(epoch string, ok bool) bool {
	kc.mu.Lock()
	defer kc.mu.Unlock()
	if ok && kc.known && epoch == kc.epoch {
		return true
	}
	clear(kc.entries)
	kc.gen++
	kc.epoch, kc.known = epoch, ok
	return false
}
