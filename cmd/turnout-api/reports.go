package main

import (
	"github.com/turnoutdev/turnout/api/rocky"
	"github.com/turnoutdev/turnout/internal/config"
	"github.com/turnoutdev/turnout/internal/netguard"
	"github.com/turnoutdev/turnout/internal/platform"
	"github.com/turnoutdev/turnout/jobs/report"
)

// newReports builds the Rocky registrant report endpoints.
func newReports(cfg *config.Config, p *platform.Platform) *rocky.Reports {
	return &rocky.Reports{
		Service: &report.Service{Store: p.Store, Blobs: p.Blobs, Enqueuer: p.Enqueuer,
			Guard: netguard.New(cfg.AllowNetworks)},
		PublicURL: cfg.PublicURL,
	}
}
