// Package wiring builds the worker's job handlers (task type → handler)
// from a configuration and the open connections. The turnout-worker binary
// and the test stacks use it, so tests run the handlers production runs.
package wiring

import (
	"context"
	"log/slog"
	"maps"
	"time"

	"github.com/turnoutdev/turnout/internal/config"
	"github.com/turnoutdev/turnout/internal/netguard"
	"github.com/turnoutdev/turnout/jobs"
	"github.com/turnoutdev/turnout/jobs/export"
	"github.com/turnoutdev/turnout/jobs/fileload"
	"github.com/turnoutdev/turnout/jobs/notify"
	"github.com/turnoutdev/turnout/jobs/registration"
	"github.com/turnoutdev/turnout/jobs/report"
	"github.com/turnoutdev/turnout/storage"
)

// Deps are what the handlers run against.
type Deps struct {
	Config *config.Config
	Store  *storage.Store
	// Replica serves the long reads of registrant reports; nil means Store.
	Replica  *storage.Store
	Blobs    storage.Blobs
	Enqueuer *jobs.Enqueuer
	Log      *slog.Logger

	// Fetchers replace the file-load fetchers of their schemes (tests
	// serve sources the guard would refuse).
	Fetchers fileload.Fetchers
	// ProgressEvery is how many rows pass between progress updates of
	// file loads, registrant reports and exports (0: each one's default).
	ProgressEvery int64
}

// Set is the wired handlers and the builders whose files expire.
type Set struct {
	Handlers map[string]jobs.Handler
	Reports  *report.Builder
	Exports  *export.Builder
	sweep    time.Duration
}

// New wires every job kind the worker runs: no-op jobs; VAN file loads
// (queue fileload) and their listener notifications; Rocky registration
// PDFs and e-mails (queues pdf and notify); registrant reports and VAN
// exports (queue reports) and their webhooks (queue notify). Every
// outbound connection goes through the SSRF guard of
// TURNOUT_ALLOW_NETWORKS.
func New(d Deps) (*Set, error) {
	cfg := d.Config
	if d.Replica == nil {
		d.Replica = d.Store
	}
	guard := netguard.New(cfg.AllowNetworks)
	mailer := notify.NewMailer(cfg.SMTPURL, cfg.MailFrom)
	handlers := map[string]jobs.Handler{
		jobs.KindNoop: jobs.HandlerFunc(jobs.Noop),
	}

	fetchers := fileload.Fetchers{
		"http":  fileload.HTTPFetcher{Client: guard.HTTPClient(netguard.ClientOptions{})},
		"https": fileload.HTTPFetcher{Client: guard.HTTPClient(netguard.ClientOptions{})},
		"sftp":  fileload.SFTPFetcher{Dial: guard.DialContext, KnownHosts: cfg.SFTPKnownHosts, Insecure: cfg.SFTPInsecure},
		"ftp":   fileload.FTPFetcher{Dial: guard.DialContext},
	}
	maps.Copy(fetchers, d.Fetchers)
	handlers[fileload.Kind] = fileload.NewRunner(d.Store, d.Blobs, fetchers,
		&notify.Scheduler{Store: d.Store, Enqueuer: d.Enqueuer}, fileload.Options{
			MaxFileBytes:  cfg.MaxFileBytes,
			Fetch:         fileload.FetchLimits{Idle: cfg.FetchIdleTimeout, Total: cfg.FetchTimeout},
			Zip:           fileload.ZipLimits{MaxEntries: cfg.ZipMaxEntries},
			CSV:           fileload.CSVLimits{MaxFieldBytes: cfg.CSVMaxFieldBytes, MaxRecordBytes: cfg.CSVMaxRecordBytes, MaxColumns: cfg.CSVMaxColumns},
			ChunkRows:     cfg.FileLoadChunkRows,
			SetBytes:      int64(cfg.FileLoadSetBytes),
			ProgressEvery: d.ProgressEvery,
		}, d.Log)
	handlers[notify.KindListeners] = &notify.Deliverer{
		Store: d.Store, Client: guard.HTTPClient(netguard.ClientOptions{}), Mailer: mailer, Log: d.Log,
	}

	regSvc, err := registration.NewService(registration.Options{
		EncryptionKeys: cfg.EncryptionKeys, BlockedEmails: cfg.RockyEmailBlocklist, Reminders: cfg.RockyReminders,
	}, d.Store, d.Enqueuer)
	if err != nil {
		return nil, err
	}
	maps.Copy(handlers, regSvc.NewJobs(d.Blobs, mailer, cfg.PublicURL, d.Log).Handlers())

	reports := &report.Builder{Store: d.Store, Replica: d.Replica, Blobs: d.Blobs, Retention: cfg.ReportRetention,
		PublicURL: cfg.PublicURL, Enqueuer: d.Enqueuer, Log: d.Log, ProgressEvery: d.ProgressEvery}
	maps.Copy(handlers, reports.Handlers())
	maps.Copy(handlers, (&report.Callbacks{Store: d.Store, Log: d.Log, Client: guard.HTTPClient(netguard.ClientOptions{})}).Handlers())

	exports := &export.Builder{Store: d.Store, Blobs: d.Blobs, Retention: cfg.ReportRetention, Enqueuer: d.Enqueuer,
		Log: d.Log, ProgressEvery: d.ProgressEvery}
	maps.Copy(handlers, exports.Handlers())
	maps.Copy(handlers, (&export.Webhooks{Store: d.Store, Log: d.Log, Client: guard.HTTPClient(netguard.ClientOptions{})}).Handlers())

	return &Set{Handlers: handlers, Reports: reports, Exports: exports, sweep: report.SweepInterval(cfg.ReportRetention)}, nil
}

// Sweep deletes expired registrant report and export files until ctx
// ends; a worker serving queue reports runs it.
func (s *Set) Sweep(ctx context.Context) {
	go s.Exports.SweepEvery(ctx, s.sweep)
	s.Reports.SweepEvery(ctx, s.sweep)
}
