// Command turnout-api serves every Turnout HTTP surface.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/turnoutdev/turnout/api"
	"github.com/turnoutdev/turnout/api/middleware"
	"github.com/turnoutdev/turnout/api/native"
	"github.com/turnoutdev/turnout/internal/config"
	"github.com/turnoutdev/turnout/internal/netguard"
	"github.com/turnoutdev/turnout/internal/platform"
	"github.com/turnoutdev/turnout/internal/version"
)

const usage = `usage: turnout-api [--version] [--help]

Serves every Turnout HTTP surface on TURNOUT_HTTP_ADDR. Configuration comes
from TURNOUT_* environment variables (see docs/configuration.md); run turnout migrate up
before the first start and after each upgrade.

flags:
`

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "turnout-api:", err)
		os.Exit(1)
	}
}

// keyCacheSize bounds how many keys one API process keeps in memory.
const keyCacheSize = 10000

func run(args []string) error {
	fs := flag.NewFlagSet("turnout-api", flag.ContinueOnError)
	fs.SetOutput(os.Stdout)
	showVersion := fs.Bool("version", false, "print the version and exit")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if *showVersion {
		fmt.Println("turnout-api", version.Get())
		return nil
	}
	cfg, err := config.Load()
	if err != nil {
		return err
	}
	log := platform.NewLogger(cfg.LogLevel)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	p, err := platform.Open(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer p.Close()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	version.Register(reg)
	rockyH, err := newRocky(cfg, p, log)
	if err != nil {
		return err
	}
	watcher := native.NewWatcher(p.Store, log, native.WatchOptions{})
	handler := api.New(api.Deps{
		Store: p.Store, Keys: middleware.NewKeyCache(p.Store, keyCacheSize), Redis: p.Redis, AsynqConn: p.AsynqConn,
		Enqueuer: p.Enqueuer, Registry: reg, Log: log, Rocky: rockyH, Reports: newReports(cfg, p),
		Blobs: p.Blobs, Guard: netguard.New(cfg.AllowNetworks), PublicCallsPerMinute: cfg.PublicRateLimit,
		Watcher: watcher, EventsHeartbeat: cfg.EventsHeartbeat,
	})
	srv := &http.Server{
		Addr:              cfg.HTTPAddr,
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       5 * time.Minute, // bulk bodies
		IdleTimeout:       2 * time.Minute,
	}
	// Job event streams last as long as their jobs: they end when the
	// server shuts down, and their clients reconnect to another process.
	srv.RegisterOnShutdown(watcher.Close)
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	log.Info("api listening", "addr", cfg.HTTPAddr, "public_url", cfg.PublicURL.String(), "version", version.Get().Short())
	// Until the schema is current only the probes and the status page
	// answer (see ops.Schema); say so in the log too.
	go func() { _ = platform.WaitForSchema(ctx, p.Store, log) }()

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	// Drain: stop accepting, let in-flight requests finish.
	log.Info("api shutting down", "timeout", cfg.ShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	log.Info("api stopped")
	return nil
}
