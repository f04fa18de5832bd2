// Package teststack runs the API and a worker in-process against the test
// package's real PostgreSQL and Redis (testenv), with a real SMTP server.
// The worker runs the handlers the turnout-worker binary runs
// (worker/wiring), built from a configuration the test edits.
//
// The package must use testenv.Main. Start flushes the package's Redis, so
// tests of one package that use a stack do not run in parallel.
package teststack

import (
	"context"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/turnoutdev/turnout/api"
	"github.com/turnoutdev/turnout/internal/config"
	"github.com/turnoutdev/turnout/internal/mailcatcher"
	"github.com/turnoutdev/turnout/internal/netguard"
	"github.com/turnoutdev/turnout/internal/testkit/apitest"
	"github.com/turnoutdev/turnout/internal/testkit/testenv"
	"github.com/turnoutdev/turnout/jobs"
	"github.com/turnoutdev/turnout/storage"
	"github.com/turnoutdev/turnout/worker"
	"github.com/turnoutdev/turnout/worker/wiring"
)

// Options shape a stack; the zero value is the API and a worker with four
// slots on every queue, wired from the default configuration.
type Options struct {
	// Log receives the log lines of the API and the worker (default: none).
	Log *slog.Logger
	// BlobURL is the blob store the API and the worker share (default: a
	// directory of the test's own).
	BlobURL string
	// Config edits the configuration the worker is wired from. Its
	// database, Redis, public URL (the stack's server) and SMTP URL (the
	// stack's mail catcher) are set before.
	Config func(*config.Config)
	// Wiring edits the worker's dependencies before they are wired.
	Wiring func(*wiring.Deps)
	// Handlers add job kinds of the test's own, or replace wired ones.
	Handlers map[string]jobs.Handler
	// API edits the API's dependencies; the stack's fields are set.
	API func(*api.Deps, *Stack)
	// Front wraps the API handler (a proxy's behaviour).
	Front func(http.Handler) http.Handler
	// Worker are the worker's options (Redis and Log are the stack's;
	// Concurrency defaults to 4, DelayedCheckEvery to 50ms so retries
	// start as soon as their delay is over).
	Worker worker.Options
	// NoWorker starts no worker; StartWorker starts one later.
	NoWorker bool
}

// Stack is a running API and worker.
type Stack struct {
	Env      *testenv.Env
	Config   *config.Config
	Log      *slog.Logger
	Blobs    storage.Blobs
	Enqueuer *jobs.Enqueuer
	SMTP     *mailcatcher.Server
	// Wired is the worker's wiring; Handlers are the handlers it runs
	// (Wired's and the test's own).
	Wired    *wiring.Set
	Handlers map[string]jobs.Handler
	// URL is the API's address; API calls it, checking every answer
	// against the OpenAPI description.
	URL string
	API *apitest.Client

	t     testing.TB
	store *storage.Store
}

// Start runs a stack until the test ends.
func Start(t testing.TB, o Options) *Stack {
	t.Helper()
	env := testenv.Get(t)
	env.FlushRedis(t)
	s := &Stack{Env: env, Log: o.Log, t: t}
	if s.Log == nil {
		s.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	ctx := context.Background()
	if o.BlobURL == "" {
		o.BlobURL = "file://" + t.TempDir()
	}
	blobs, err := storage.OpenBlobs(ctx, o.BlobURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { blobs.Close() })
	s.Blobs = blobs
	aq := asynq.NewClient(env.AsynqConn)
	t.Cleanup(func() { aq.Close() })
	s.Enqueuer = jobs.NewEnqueuer(env.Store, aq, s.Log)
	s.SMTP = mailcatcher.Start(t)

	var h http.Handler
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	s.API = &apitest.Client{T: t, BaseURL: srv.URL}

	s.Config = Config(t, env)
	s.Config.PublicURL, _ = url.Parse(srv.URL)
	s.Config.SMTPURL = s.SMTP.URL()
	if o.Config != nil {
		o.Config(s.Config)
	}

	deps := api.Deps{Store: env.Store, Redis: env.Redis, AsynqConn: env.AsynqConn, Enqueuer: s.Enqueuer,
		Registry: prometheus.NewRegistry(), Log: s.Log, Blobs: blobs, Guard: netguard.New(s.Config.AllowNetworks)}
	if o.API != nil {
		o.API(&deps, s)
	}
	h = api.New(deps)
	if o.Front != nil {
		h = o.Front(h)
	}

	wd := wiring.Deps{Config: s.Config, Store: env.Store, Blobs: blobs, Enqueuer: s.Enqueuer, Log: s.Log}
	if o.Wiring != nil {
		o.Wiring(&wd)
	}
	s.store = wd.Store
	if s.Wired, err = wiring.New(wd); err != nil {
		t.Fatal(err)
	}
	s.Handlers = maps.Clone(s.Wired.Handlers)
	maps.Copy(s.Handlers, o.Handlers)
	if !o.NoWorker {
		s.StartWorker(o.Worker)
	}
	return s
}

// Config is the default configuration pointed at the package's database
// and Redis.
func Config(t testing.TB, env *testenv.Env) *config.Config {
	t.Helper()
	cfg, err := config.Parse(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	cfg.DatabaseURL, cfg.RedisURL, cfg.Redis = env.DatabaseURL, env.RedisURL, env.Topology
	return cfg
}

// StartWorker runs a worker over the stack's handlers until the test ends
// or stop is called (which waits for it to finish).
func (s *Stack) StartWorker(opts worker.Options) (stop func()) {
	opts.Redis, opts.Log = s.Env.AsynqConn, s.Log
	if opts.Concurrency == 0 {
		opts.Concurrency = 4
	}
	if opts.DelayedCheckEvery == 0 {
		opts.DelayedCheckEvery = 50 * time.Millisecond
	}
	w := worker.New(opts, s.store, s.Enqueuer, s.Handlers)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(ctx) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	s.t.Cleanup(stop)
	return stop
}
