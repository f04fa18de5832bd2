package api_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/turnoutdev/turnout/api"
	"github.com/turnoutdev/turnout/api/middleware"
	"github.com/turnoutdev/turnout/internal/testkit/apitest"
	"github.com/turnoutdev/turnout/internal/testkit/testenv"
	"github.com/turnoutdev/turnout/jobs"
	"github.com/turnoutdev/turnout/storage"
)

// countingKeys counts the credential lookups that reach the database.
type countingKeys struct {
	store   *storage.Store
	lookups atomic.Int64
}

func (k *countingKeys) KeyBySecret(ctx context.Context, secret string) (*storage.APIKey, error) {
	k.lookups.Add(1)
	return k.store.KeyBySecret(ctx, secret)
}

// roundTrips counts the commands and pipelines a Redis client sends.
type roundTrips struct{ n atomic.Int64 }

func (r *roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }
func (r *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { r.n.Add(1); return next(ctx, cmd) }
}
func (r *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error { r.n.Add(1); return next(ctx, cmds) }
}

// replica is one API process: its own key cache, the shared databases.
func replica(t *testing.T, keys middleware.Keys, rdb redis.UniversalClient) *apitest.Client {
	t.Helper()
	env := testenv.Get(t)
	client := asynq.NewClient(env.AsynqConn)
	t.Cleanup(func() { client.Close() })
	h := api.New(api.Deps{Store: env.Store, Keys: middleware.NewKeyCache(keys, 100), Redis: rdb, AsynqConn: env.AsynqConn,
		Enqueuer: jobs.NewEnqueuer(env.Store, client, quiet), Registry: prometheus.NewRegistry(), Log: quiet})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &apitest.Client{T: t, BaseURL: srv.URL}
}

// A key in use is served from memory: after the first calls, a request
// with it makes no database lookup and one Redis round trip for the
// failed-login check, the key epoch, the call rate and the usage counters.
func TestCachedKeyCostsOneRedisRoundTripAndNoLookup(t *testing.T) {
	env := testenv.Get(t)
	keys := &countingKeys{store: env.Store}
	trips := &roundTrips{}
	rdb := env.Topology.NewClient()
	t.Cleanup(func() { rdb.Close() })
	c := replica(t, keys, rdb)
	rdb.AddHook(trips)
	k := createKey(t, storage.NewKey{Scopes: []string{"admin"}})
	_, b := c.Do(apitest.NewRequest(t, http.MethodPost, "/service/jobs", "", "X-API-Key", k.Secret))
	id := strconv.FormatInt(int64(decode(t, b)["job"].(map[string]any)["id"].(float64)), 10)
	get(t, c, "/service/jobs/"+id, "X-API-Key", k.Secret)

	lookups, before := keys.lookups.Load(), trips.n.Load()
	for i := 0; i < 5; i++ {
		if resp, _ := get(t, c, "/service/jobs/"+id, "X-API-Key", k.Secret); resp.StatusCode != http.StatusOK {
			t.Fatalf("GET own job: %d", resp.StatusCode)
		}
	}
	if n := keys.lookups.Load() - lookups; n != 0 {
		t.Errorf("5 calls with a cached key made %d database lookups, want 0", n)
	}
	if n := trips.n.Load() - before; n != 5 {
		t.Errorf("5 calls made %d Redis round trips, want 5 (one each)", n)
	}
}

// Revoking a key through Turnout stops it at the next request on every API
// process, though each had it cached.
func TestRevokedKeyStopsAtOnceOnEveryReplica(t *testing.T) {
	env := testenv.Get(t)
	a, b := replica(t, env.Store, env.Redis), replica(t, env.Store, env.Redis)
	k := createKey(t, storage.NewKey{Scopes: []string{"admin"}})
	for i := 0; i < 3; i++ {
		for _, c := range []*apitest.Client{a, b} {
			if resp, _ := get(t, c, "/service/jobs", "X-API-Key", k.Secret); resp.StatusCode != http.StatusOK {
				t.Fatalf("before revocation: %d", resp.StatusCode)
			}
		}
	}
	revoke(t, k.ID)
	for name, c := range map[string]*apitest.Client{"replica a": a, "replica b": b} {
		if resp, _ := get(t, c, "/service/jobs", "X-API-Key", k.Secret); resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s, first call after revocation: %d, want 403", name, resp.StatusCode)
		}
	}
	// Limits change the same way.
	k2 := createKey(t, storage.NewKey{Scopes: []string{"metrics"}, RateLimit: 50})
	for i := 0; i < 3; i++ {
		metrics(t, a, k2.Secret)
	}
	limit := 7
	if err := env.Store.SetKeyLimits(context.Background(), k2.ID, &limit, nil); err != nil {
		t.Fatal(err)
	}
	if err := storage.BumpKeyEpoch(context.Background(), env.Redis); err != nil {
		t.Fatal(err)
	}
	if _, p := metrics(t, a, k2.Secret); p["rateLimit"] != 7.0 {
		t.Errorf("rateLimit after the change: %v, want 7", p["rateLimit"])
	}
}

// Without Redis the epoch cannot be read, so no cached key is trusted: a
// key revoked while Redis is down (the announcement lost) is refused.
func TestCachedKeyIsNotTrustedWhenRedisIsDown(t *testing.T) {
	env := testenv.Get(t)
	// A Redis that can be stopped: a proxy to the real one.
	opt, err := redis.ParseURL(env.RedisURL)
	if err != nil {
		t.Skip("the test Redis is not a single server:", err)
	}
	upstream := opt.Addr
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", upstream)
			if err != nil {
				conn.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, conn, up)
			mu.Unlock()
			go func() { _, _ = io.Copy(conn, up) }()
			go func() { _, _ = io.Copy(up, conn) }()
		}
	}()
	stopRedis := func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	}
	t.Cleanup(stopRedis)
	opt.Addr, opt.MaxRetries = ln.Addr().String(), -1
	rdb := redis.NewClient(opt)
	t.Cleanup(func() { rdb.Close() })
	c := replica(t, env.Store, rdb)
	k := createKey(t, storage.NewKey{Scopes: []string{"admin"}})
	for i := 0; i < 3; i++ {
		if resp, _ := get(t, c, "/service/jobs", "X-API-Key", k.Secret); resp.StatusCode != http.StatusOK {
			t.Fatalf("before: %d", resp.StatusCode)
		}
	}
	stopRedis()
	if err := env.Store.RevokeKey(context.Background(), k.ID); err != nil {
		t.Fatal(err)
	}
	if resp, _ := get(t, c, "/service/jobs", "X-API-Key", k.Secret); resp.StatusCode != http.StatusForbidden {
		t.Errorf("revoked while Redis is down: %d, want 403", resp.StatusCode)
	}
}
