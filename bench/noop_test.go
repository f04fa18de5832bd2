// Package bench holds benchmarks that compare Turnout with a baseline
// measured in the same run, so machine noise cancels out of the ratio.
// `make bench` runs them and writes bench/results.md.
package bench

import (
	"context"

	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/turnoutdev/turnout/api"
	"github.com/turnoutdev/turnout/internal/testkit/testenv"
	"github.com/turnoutdev/turnout/jobs"
	"github.com/turnoutdev/turnout/storage"
	"github.com/turnoutdev/turnout/worker"
)

func TestMain(m *testing.M) { testenv.Main(m) }

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

const (
	noopJobs    = 10000
	clients     = 8
	concurrency = 10
	batchSize   = 50
)

// BenchmarkNoopJobs is the platform's own overhead: no-op jobs POSTed to the
// API (auth, rate limit, usage counters, row insert, enqueue) and run by a
// worker (row read, guarded outcome written in batches), against raw Asynq
// enqueue and processing of no-op tasks with the same concurrency.
func BenchmarkNoopJobs(b *testing.B) {
	env := testenv.Get(b)
	b.Run("turnout", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			env.FlushRedis(b)
			d := turnoutNoop(b, env, 1)
			b.ReportMetric(float64(noopJobs)/d.Seconds(), "jobs/s")
		}
	})
	// The same jobs POSTed batchSize at a time to /service/jobs/batch.
	b.Run("turnout-batch", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			env.FlushRedis(b)
			d := turnoutNoop(b, env, batchSize)
			b.ReportMetric(float64(noopJobs)/d.Seconds(), "jobs/s")
		}
	})
	b.Run("asynq", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			env.FlushRedis(b)
			d := asynqNoop(b, env)
			b.ReportMetric(float64(noopJobs)/d.Seconds(), "jobs/s")
		}
	})
}

func turnoutNoop(b *testing.B, env *testenv.Env, batch int) time.Duration {
	client := asynq.NewClient(env.AsynqConn)
	defer client.Close()
	enq := jobs.NewEnqueuer(env.Store, client, quiet)
	k, err := env.Store.CreateKey(context.Background(), storage.NewKey{Name: "bench", Scopes: []string{"admin"}, RateLimit: 1_000_000, MaxBatchSize: batchSize})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(api.New(api.Deps{Store: env.Store, Redis: env.Redis, AsynqConn: env.AsynqConn,
		Enqueuer: enq, Registry: prometheus.NewRegistry(), Log: quiet}))
	defer srv.Close()
	var ran, done atomic.Int64
	finished := make(chan struct{})
	w := worker.New(worker.Options{Redis: env.AsynqConn, Concurrency: concurrency, Log: quiet,
		Queues: map[string]int{jobs.QueueDefault: 1}}, env.Store, enq, map[string]jobs.Handler{
		jobs.KindNoop: jobs.HandlerFunc(func(context.Context, *storage.Job) (any, error) {
			ran.Add(1)
			return nil, nil
		}),
	})
	ctx, cancel := context.WithCancel(context.Background())
	wdone := make(chan struct{})
	go func() { defer close(wdone); _ = w.Run(ctx) }()
	defer func() { cancel(); <-wdone }()

	start := time.Now()
	if batch == 1 {
		post(b, srv.URL+"/service/jobs", k.Secret, "")
	} else {
		post(b, srv.URL+"/service/jobs/batch", k.Secret, `{"jobs": [{}`+strings.Repeat(`, {}`, batch-1)+`]}`)
	}
	// Completion is read from the rows, as a client polling would see it,
	// once every handler has run: counting 10,000 rows every few
	// milliseconds while they are written would load the database the
	// jobs share and charge that to Turnout.
	go func() {
		for ran.Load() < noopJobs {
			time.Sleep(time.Millisecond)
		}
		for {
			var n int64
			_ = env.Pool.QueryRow(context.Background(), `SELECT count(*) FROM jobs WHERE key_id = $1 AND status = 'succeeded'`, k.ID).Scan(&n)
			done.Store(n)
			if n >= noopJobs {
				close(finished)
				return
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	select {
	case <-finished:
	case <-time.After(2 * time.Minute):
		b.Fatalf("only %d of %d no-op jobs finished in 2 minutes", done.Load(), noopJobs)
	}
	return time.Since(start)
}

// post sends noopJobs jobs from clients concurrent clients, one per
// request, or batches of them when body is a batch.
func post(b *testing.B, url, secret, body string) {
	var wg sync.WaitGroup
	var failed atomic.Int64
	per := noopJobs / clients
	if body != "" {
		per = noopJobs / clients / strings.Count(body, "{}")
	}
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < per; i++ {
				req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
				req.Header.Set("X-API-Key", secret)
				resp, err := hc.Do(req)
				if err != nil || resp.StatusCode != http.StatusAccepted {
					failed.Add(1)
				}
				if resp != nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}
		}()
	}
	wg.Wait()
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d POSTs failed", n)
	}
}

func asynqNoop(b *testing.B, env *testenv.Env) time.Duration {
	client := asynq.NewClient(env.AsynqConn)
	defer client.Close()
	var done atomic.Int64
	finished := make(chan struct{})
	srv := asynq.NewServer(env.AsynqConn, asynq.Config{Concurrency: concurrency, Queues: map[string]int{"raw": 1},
		TaskCheckInterval: 100 * time.Millisecond, LogLevel: asynq.FatalLevel})
	mux := asynq.NewServeMux()
	mux.HandleFunc("noop", func(context.Context, *asynq.Task) error {
		if done.Add(1) == noopJobs {
			close(finished)
		}
		return nil
	})
	if err := srv.Start(mux); err != nil {
		b.Fatal(err)
	}
	defer srv.Shutdown()
	start := time.Now()
	var wg sync.WaitGroup
	per := noopJobs / clients
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < per; i++ {
				if _, err := client.Enqueue(asynq.NewTask("noop", []byte(`{"job_id":1}`)), asynq.Queue("raw")); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	select {
	case <-finished:
	case <-time.After(2 * time.Minute):
		b.Fatalf("only %d of %d raw tasks finished", done.Load(), noopJobs)
	}
	return time.Since(start)
}
