// Package testenv gives tests real PostgreSQL and Redis, isolated per test
// package so `go test ./...` can run packages in parallel: each package gets
// its own database, cloned from a template migrated once per schema version,
// and its own Redis logical database, locked for the package's lifetime.
//
// Use it from TestMain:
//
//	func TestMain(m *testing.M) { testenv.Main(m) }
//
// and get the environment in a test with testenv.Get(t).
//
// TURNOUT_TEST_PG (an admin URL, default the local trust-auth server) and
// TURNOUT_TEST_REDIS (default redis://127.0.0.1:6379, or a
// redis-sentinel:// URL) point it elsewhere. A Redis Cluster has no logical
// databases to share out, so tests of a Cluster start one of their own.
package testenv

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/turnoutdev/turnout/internal/redisconn"
	"github.com/turnoutdev/turnout/migrations"
	"github.com/turnoutdev/turnout/storage"
)

// Env is one test package's services.
type Env struct {
	DatabaseURL string
	RedisURL    string
	RedisDB     int
	Store       *storage.Store
	// Pool is a pgx pool of the tests' own on the package's database, for
	// a test that sets rows up or checks them directly with SQL; the code
	// under test goes through Store.
	Pool      *pgxpool.Pool
	Redis     redis.UniversalClient
	AsynqConn asynq.RedisConnOpt
	// Topology is the Redis the package's clients are built from.
	Topology *redisconn.Topology
}

var (
	current *Env
	setupMu sync.Mutex
)

func adminURL() string {
	if u := os.Getenv("TURNOUT_TEST_PG"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

func redisBase() string {
	if u := os.Getenv("TURNOUT_TEST_REDIS"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379"
}

// Main sets the package's environment up, runs its tests and tears the
// environment down.
func Main(m *testing.M) {
	env, cleanup, err := setup(context.Background())
	if err != nil {
		fmt.Fprintln(os.Stderr, "testenv:", err)
		fmt.Fprintln(os.Stderr, "testenv: are PostgreSQL and Redis running? `scripts/services.sh` starts them.")
		os.Exit(1)
	}
	current = env
	code := m.Run()
	cleanup()
	os.Exit(code)
}

// Get returns the package's environment; the package must use Main.
func Get(t testing.TB) *Env {
	t.Helper()
	if current == nil {
		t.Fatal("testenv.Get: call testenv.Main from the package's TestMain")
	}
	return current
}

// FlushRedis empties the package's Redis database.
func (e *Env) FlushRedis(t testing.TB) {
	t.Helper()
	if err := e.Redis.FlushDB(context.Background()).Err(); err != nil {
		t.Fatalf("flush redis: %v", err)
	}
}

// NewDatabase returns the URL of a fresh migrated database of the test's
// own, dropped when the test ends.
func NewDatabase(t testing.TB) string {
	t.Helper()
	ctx := context.Background()
	u, drop, err := cloneDatabase(ctx, "t")
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(drop)
	return u
}

// OpenPool returns a pgx pool on databaseURL, closed when the test ends,
// for a test that reads or writes another database's rows directly.
func OpenPool(t testing.TB, databaseURL string) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), databaseURL)
	if err != nil {
		t.Fatalf("testenv: open pool: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

func setup(ctx context.Context) (*Env, func(), error) {
	dbURL, dropDB, err := cloneDatabase(ctx, "p")
	if err != nil {
		return nil, nil, err
	}
	n, release, err := lockRedisDB(ctx)
	if err != nil {
		dropDB()
		return nil, nil, err
	}
	ru, _ := url.Parse(redisBase())
	ru.Path = "/" + strconv.Itoa(n)
	top, err := redisconn.Parse(ru.String())
	if err != nil {
		return nil, nil, fmt.Errorf("TURNOUT_TEST_REDIS: %w", err)
	}
	rdb := top.NewClient()
	if err := rdb.FlushDB(ctx).Err(); err != nil {
		return nil, nil, fmt.Errorf("flush redis db %d: %w", n, err)
	}
	store, err := storage.Open(ctx, dbURL)
	if err != nil {
		return nil, nil, err
	}
	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		store.Close()
		return nil, nil, fmt.Errorf("open test pool: %w", err)
	}
	env := &Env{
		DatabaseURL: dbURL, RedisURL: ru.String(), RedisDB: n, Store: store, Pool: pool, Redis: rdb,
		AsynqConn: top.AsynqConn(), Topology: top,
	}
	return env, func() {
		pool.Close()
		store.Close()
		_ = rdb.FlushDB(context.Background()).Err()
		_ = rdb.Close()
		release()
		dropDB()
	}, nil
}

// schemaHash names the template after the migrations' content, so a changed
// migration builds a new template instead of reusing a stale one.
func schemaHash() (string, error) {
	h := sha256.New()
	err := fs.WalkDir(migrations.FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		f, err := migrations.FS.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		io.WriteString(h, p)
		_, err = io.Copy(h, f)
		return err
	})
	return hex.EncodeToString(h.Sum(nil))[:12], err
}

func withDatabase(raw, name string) string {
	u, _ := url.Parse(raw)
	u.Path = "/" + name
	return u.String()
}

// cloneDatabase creates a database from the migrated template and returns
// its URL and a function that drops it.
func cloneDatabase(ctx context.Context, tag string) (string, func(), error) {
	setupMu.Lock()
	defer setupMu.Unlock()
	hash, err := schemaHash()
	if err != nil {
		return "", nil, err
	}
	admin, err := pgx.Connect(ctx, adminURL())
	if err != nil {
		return "", nil, fmt.Errorf("connect to postgres: %w", err)
	}
	defer admin.Close(ctx)
	// One process at a time builds templates and clones (CREATE DATABASE
	// ... TEMPLATE fails while anyone else is connected to the template).
	if _, err := admin.Exec(ctx, `SELECT pg_advisory_lock(7412001)`); err != nil {
		return "", nil, err
	}
	defer admin.Exec(context.Background(), `SELECT pg_advisory_unlock(7412001)`)

	tmpl := "turnout_tmpl_" + hash
	var exists bool
	if err := admin.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, tmpl).Scan(&exists); err != nil {
		return "", nil, err
	}
	if !exists {
		building := tmpl + "_build"
		_, _ = admin.Exec(ctx, `DROP DATABASE IF EXISTS `+building+` WITH (FORCE)`)
		if _, err := admin.Exec(ctx, `CREATE DATABASE `+building); err != nil {
			return "", nil, fmt.Errorf("create template: %w", err)
		}
		if err := storage.Migrate(ctx, withDatabase(adminURL(), building), "up", io.Discard); err != nil {
			return "", nil, fmt.Errorf("migrate template: %w", err)
		}
		if _, err := admin.Exec(ctx, `ALTER DATABASE `+building+` RENAME TO `+tmpl); err != nil {
			return "", nil, err
		}
	}
	name := fmt.Sprintf("turnout_test_%s%d_%d", tag, os.Getpid(), time.Now().UnixNano()%1e9)
	if _, err := admin.Exec(ctx, `CREATE DATABASE `+name+` TEMPLATE `+tmpl); err != nil {
		return "", nil, fmt.Errorf("clone template: %w", err)
	}
	drop := func() {
		c, err := pgx.Connect(context.Background(), adminURL())
		if err != nil {
			return
		}
		defer c.Close(context.Background())
		_, _ = c.Exec(context.Background(), `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`)
	}
	return withDatabase(adminURL(), name), drop, nil
}

// lockRedisDB claims one of Redis's logical databases 1-15 for this
// process (database 0 holds the locks).
func lockRedisDB(ctx context.Context) (int, func(), error) {
	top, err := redisconn.Parse(redisBase())
	if err != nil {
		return 0, nil, fmt.Errorf("TURNOUT_TEST_REDIS: %w", err)
	}
	rdb := top.WithDB(0).NewClient()
	owner := fmt.Sprintf("%d-%d", os.Getpid(), time.Now().UnixNano())
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		for n := 1; n <= 15; n++ {
			key := "turnout:testenv:db:" + strconv.Itoa(n)
			ok, err := rdb.SetNX(ctx, key, owner, 15*time.Minute).Result()
			if err != nil {
				rdb.Close()
				return 0, nil, fmt.Errorf("connect to redis: %w", err)
			}
			if ok {
				return n, func() {
					if v, _ := rdb.Get(context.Background(), key).Result(); v == owner {
						rdb.Del(context.Background(), key)
					}
					rdb.Close()
				}, nil
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	rdb.Close()
	return 0, nil, fmt.Errorf("no free redis database in 1-15 after 2 minutes")
}
