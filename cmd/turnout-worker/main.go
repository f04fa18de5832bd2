// Command turnout-worker runs jobs from the queues it is given.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/turnoutdev/turnout/internal/config"
	"github.com/turnoutdev/turnout/internal/platform"
	"github.com/turnoutdev/turnout/internal/version"
	"github.com/turnoutdev/turnout/jobs"
	"github.com/turnoutdev/turnout/jobs/fileload"
	"github.com/turnoutdev/turnout/worker"
	"github.com/turnoutdev/turnout/worker/wiring"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "turnout-worker:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("turnout-worker", flag.ContinueOnError)
	queues := fs.String("queues", strings.Join(jobs.Queues, ","), "comma-separated queues this process serves")
	concurrency := fs.Int("concurrency", 0, "tasks run at once (default TURNOUT_WORKER_CONCURRENCY)")
	httpAddr := fs.String("http-addr", "", "serve /healthz and /metrics on this address (e.g. :9090); off when empty")
	showVersion := fs.Bool("version", false, "print the version and exit")
	fs.SetOutput(os.Stdout)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "usage: turnout-worker [--queues q1,q2] [--concurrency N] [--http-addr :9090] [--version]\n\n"+
			"Runs jobs from the queues it is given. Configuration comes from TURNOUT_* environment\n"+
			"variables (see docs/configuration.md).\n\nflags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if *showVersion {
		fmt.Println("turnout-worker", version.Get())
		return nil
	}
	cfg, err := config.Load()
	if err != nil {
		return err
	}
	qs, err := jobs.ParseQueues(*queues)
	if err != nil {
		return fmt.Errorf("--queues: %w", err)
	}
	if *concurrency > 0 {
		cfg.WorkerConcurrency = *concurrency
	}
	log := platform.NewLogger(cfg.LogLevel)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	p, err := platform.Open(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer p.Close()
	if err := platform.WaitForSchema(ctx, p.Store, log); err != nil {
		return err
	}

	wired, err := wiring.New(wiring.Deps{Config: cfg, Store: p.Store, Replica: p.Replica, Blobs: p.Blobs,
		Enqueuer: p.Enqueuer, Log: log})
	if err != nil {
		return err
	}
	// A worker serving queue reports also deletes expired report and
	// export files.
	if _, ok := qs[jobs.QueueReports]; ok {
		go wired.Sweep(ctx)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	version.Register(reg)
	if *httpAddr != "" {
		mux := http.NewServeMux()
		mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, `{"status":"ok"}`) })
		mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		hs := &http.Server{Addr: *httpAddr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go func() {
			if err := hs.ListenAndServe(); err != nil && err != http.ErrServerClosed {
				log.Error("worker http server", "err", err)
			}
		}()
		defer hs.Close()
	}
	var retryDelay asynq.RetryDelayFunc
	if cfg.RetryBase > 0 {
		retryDelay = worker.ExponentialRetry(cfg.RetryBase)
	}
	srv := worker.New(worker.Options{
		Redis:       p.AsynqConn,
		Queues:      qs,
		Concurrency: cfg.WorkerConcurrency,
		// Registration PDFs and e-mails keep slots of their own, and one
		// key's file loads take at most a few of the others.
		Interactive: cfg.WorkerInteractiveConcurrency,
		KeyLimit: worker.KeyLimitOptions{Kinds: []string{fileload.Kind}, Default: cfg.KeyFileLoadConcurrency,
			PerKey: p.Store.KeyFileLoadConcurrency},
		ShutdownTimeout: cfg.ShutdownTimeout,
		// Grace equals the interval: a job queued for a whole pass without a
		// task is orphaned (the commit-to-enqueue gap is milliseconds).
		Reconcile:  worker.ReconcileOptions{Interval: cfg.ReconcileInterval, Grace: cfg.ReconcileInterval, Stale: cfg.ReconcileStale},
		RetryDelay: retryDelay,
		Registry:   reg,
		Log:        log,
	}, p.Store, p.Enqueuer, wired.Handlers)
	return srv.Run(ctx)
}
