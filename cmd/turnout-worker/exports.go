package main

import (
	"context"
	"log/slog"

	"github.com/turnoutdev/turnout/internal/config"
	"github.com/turnoutdev/turnout/internal/netguard"
	"github.com/turnoutdev/turnout/internal/platform"
	"github.com/turnoutdev/turnout/jobs"
	"github.com/turnoutdev/turnout/jobs/export"
	"github.com/turnoutdev/turnout/jobs/report"
)

// exportHandlers wires VAN export jobs: the builds on queue reports (files
// kept for the registrant reports' retention, TURNOUT_REPORT_RETENTION)
// and their webhooks on queue notify, through the SSRF guard. A worker
// serving queue reports also sweeps expired export files.
func exportHandlers(ctx context.Context, cfg *config.Config, p *platform.Platform, qs map[string]int, log *slog.Logger) map[string]jobs.Handler {
	builder := &export.Builder{Store: p.Store, Blobs: p.Blobs, Retention: cfg.ReportRetention, Enqueuer: p.Enqueuer, Log: log}
	webhooks := &export.Webhooks{Store: p.Store, Log: log,
		Client: netguard.New(cfg.AllowNetworks).HTTPClient(netguard.ClientOptions{})}
	if _, ok := qs[jobs.QueueReports]; ok {
		go builder.SweepEvery(ctx, report.SweepInterval(cfg.ReportRetention))
	}
	out := builder.Handlers()
	for kind, h := range webhooks.Handlers() {
		out[kind] = h
	}
	return out
}
