package main

import (
	"log/slog"

	"github.com/turnoutdev/turnout/internal/config"
	"github.com/turnoutdev/turnout/internal/netguard"
	"github.com/turnoutdev/turnout/internal/platform"
	"github.com/turnoutdev/turnout/jobs"
	"github.com/turnoutdev/turnout/jobs/fileload"
	"github.com/turnoutdev/turnout/jobs/notify"
)

// fileloadHandlers wires the VAN file-load pipeline: the load
// itself on queue fileload and its listener notifications on queue notify.
// Every outbound connection goes through the SSRF guard.
func fileloadHandlers(cfg *config.Config, p *platform.Platform, log *slog.Logger) map[string]jobs.Handler {
	guard := netguard.New(cfg.AllowNetworks)
	fetchers := fileload.Fetchers{
		"http":  fileload.HTTPFetcher{Client: guard.HTTPClient(netguard.ClientOptions{})},
		"https": fileload.HTTPFetcher{Client: guard.HTTPClient(netguard.ClientOptions{})},
		"sftp":  fileload.SFTPFetcher{Dial: guard.DialContext, KnownHosts: cfg.SFTPKnownHosts, Insecure: cfg.SFTPInsecure},
		"ftp":   fileload.FTPFetcher{Dial: guard.DialContext},
	}
	sched := &notify.Scheduler{Store: p.Store, Enqueuer: p.Enqueuer}
	runner := fileload.NewRunner(p.Store, p.Blobs, fetchers, sched, fileload.Options{
		MaxFileBytes: cfg.MaxFileBytes,
		Fetch:        fileload.FetchLimits{Idle: cfg.FetchIdleTimeout, Total: cfg.FetchTimeout},
		Zip:          fileload.ZipLimits{MaxEntries: cfg.ZipMaxEntries},
		CSV:          fileload.CSVLimits{MaxFieldBytes: cfg.CSVMaxFieldBytes, MaxRecordBytes: cfg.CSVMaxRecordBytes, MaxColumns: cfg.CSVMaxColumns},
		ChunkRows:    cfg.FileLoadChunkRows,
		SetBytes:     int64(cfg.FileLoadSetBytes),
	}, log)
	deliverer := &notify.Deliverer{
		Store:  p.Store,
		Client: guard.HTTPClient(netguard.ClientOptions{}),
		Mailer: notify.NewMailer(cfg.SMTPURL, cfg.MailFrom),
		Log:    log,
	}
	return map[string]jobs.Handler{fileload.Kind: runner, notify.KindListeners: deliverer}
}
