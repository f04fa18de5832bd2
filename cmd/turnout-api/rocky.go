package main

import (
	"log/slog"

	"github.com/turnoutdev/turnout/api/rocky"
	"github.com/turnoutdev/turnout/internal/config"
	"github.com/turnoutdev/turnout/internal/platform"
	"github.com/turnoutdev/turnout/jobs/registration"
)

// newRocky builds the Rocky API v4 surface. Without TURNOUT_ENCRYPTION_KEY
// the surface still serves partners and state requirements, but refuses
// registrations with 503: ID numbers are never stored in clear.
func newRocky(cfg *config.Config, p *platform.Platform, log *slog.Logger) (*rocky.Handler, error) {
	svc, err := registration.NewService(registration.Options{
		EncryptionKeys: cfg.EncryptionKeys, BlockedEmails: cfg.RockyEmailBlocklist, Reminders: cfg.RockyReminders,
		PreRegistration: cfg.RockyPreRegistration,
	}, p.Store, p.Enqueuer)
	if err != nil {
		return nil, err
	}
	if !svc.Ring.Enabled() {
		log.Warn("TURNOUT_ENCRYPTION_KEY is not set: Rocky registrations will be refused with 503")
	}
	return &rocky.Handler{Service: svc, Blobs: p.Blobs, PublicURL: cfg.PublicURL, PDFWait: cfg.RockyPDFWait,
		OpenSignup: cfg.RockyOpenSignup, SignupsPerHour: cfg.RockySignupsPerHour, BatchSize: cfg.RockyBatchSize}, nil
}
