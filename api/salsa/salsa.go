// Package salsa is the Salsa Engage-compatible surface: the usage
// metrics endpoint GET /api/integration/ext/v1/metrics, authenticated by the
// authToken header, and Salsa's error shape.
package salsa

import (
	"context"
	"net/http"
	"os"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/turnoutdev/turnout/api/middleware"
	"github.com/turnoutdev/turnout/internal/fault"
	"github.com/turnoutdev/turnout/storage"
)

// Usage is what the metrics endpoint reads.
type Usage interface {
	Remaining(ctx context.Context, k *storage.APIKey) (int, error)
	Usage(ctx context.Context, keyID int64) (*storage.KeyUsage, error)
}

// Metrics serves the metrics endpoint.
type Metrics struct {
	Usage    Usage
	ServerID string
}

// NewMetrics returns the handler; ServerID is the host name, as Salsa's.
func NewMetrics(u Usage) *Metrics {
	host, _ := os.Hostname()
	return &Metrics{Usage: u, ServerID: host}
}

// salsaCounters are Salsa's own counters. Turnout has no supporters or
// activities, so they stay 0; they are sent so clients that read them work.
var salsaCounters = []string{
	"supporterRead", "supporterAdd", "supporterUpdate", "supporterDelete",
	"activityEvent", "activitySubscribe", "activityFundraise", "activityTargetedLetter",
	"activityPetition", "activitySubscriptionManagement",
}

// Get answers GET /api/integration/ext/v1/metrics. The counts are those
// before this call; currentRateLimit and lastAPICall already reflect it.
func (m *Metrics) Get(c echo.Context) error {
	start := time.Now()
	k := middleware.Key(c)
	ctx := c.Request().Context()
	u, err := m.Usage.Usage(ctx, k.ID)
	if err != nil {
		return fault.Wrap(fault.Unavailable, err, "usage counters are unavailable")
	}
	if res, counted := middleware.Counted(c); counted {
		u.TotalCalls--
		if res != "" {
			u.ResourceCounts[res]--
		}
	}
	remaining, err := m.Usage.Remaining(ctx, k)
	if err != nil {
		return fault.Wrap(fault.Unavailable, err, "rate limiter is unavailable")
	}
	p := map[string]any{
		"rateLimit":            k.RateLimit,
		"maxBatchSize":         k.MaxBatchSize,
		"currentRateLimit":     remaining,
		"totalAPICalls":        u.TotalCalls,
		"totalAPICallFailures": u.TotalFailures,
	}
	for _, name := range salsaCounters {
		p[name] = int64(0)
	}
	for name, n := range u.ResourceCounts {
		p[name] = n
	}
	if u.LastCall != nil {
		p["lastAPICall"] = iso(*u.LastCall)
	}
	if u.LastFailure != nil {
		p["lastAPICallFailure"] = iso(*u.LastFailure)
	}
	return c.JSON(http.StatusOK, map[string]any{
		"id":        uuid.NewString(),
		"timestamp": iso(time.Now()),
		"header": map[string]any{
			"processingTime": time.Since(start).Milliseconds(),
			"serverId":       m.ServerID,
		},
		"payload": p,
	})
}

// iso formats t as Salsa does: ISO-8601 in GMT with milliseconds.
func iso(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// RenderError writes Salsa's error shape: system errors carry the HTTP
// status as their code and Salsa's message; validation errors carry the
// 2001/2007/2008/2011 codes and the field name.
func RenderError(c echo.Context, status int, e *fault.Error) error {
	msg := e.Message
	if e.Kind == fault.Internal {
		msg = "Internal Server Error (reference " + middleware.RequestID(c) + ")"
	}
	errs := middleware.FieldErrors(e.Fields)
	if len(errs) == 0 {
		errs = []map[string]any{{"id": uuid.NewString(), "code": status, "message": msg}}
	}
	return c.JSON(status, map[string]any{
		"id":        middleware.RequestID(c),
		"timestamp": iso(time.Now()),
		"errors":    errs,
	})
}
