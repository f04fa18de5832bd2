package ops

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/turnoutdev/turnout/internal/fault"
)

// Migrations counts the migrations the database lacks.
type Migrations interface {
	PendingMigrations(ctx context.Context) (int, error)
}

// Schema tells whether the database schema is behind this binary, checked
// at most every 2 s while it is behind and every 30 s once it is current.
type Schema struct {
	M Migrations

	mu        sync.Mutex
	pending   int
	checkedAt time.Time
}

// Pending returns how many migrations are pending.
func (s *Schema) Pending(ctx context.Context) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ttl := 30 * time.Second
	if s.pending > 0 {
		ttl = 2 * time.Second
	}
	if !s.checkedAt.IsZero() && time.Since(s.checkedAt) < ttl {
		return s.pending, nil
	}
	n, err := s.M.PendingMigrations(ctx)
	if err != nil {
		return 0, err
	}
	s.pending, s.checkedAt = n, time.Now()
	return n, nil
}

// probes answer while the schema is behind: they are how an operator
// learns that it is.
var probes = []string{"/healthz", "/readyz", "/status", "/metrics", "/openapi.yaml"}

// Gate answers 503 naming `turnout migrate up` for every request but the
// probes while migrations are pending, instead of letting each call fail
// on a missing table.
func (s *Schema) Gate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		path := c.Request().URL.Path
		for _, p := range probes {
			if strings.HasPrefix(path, p) {
				return next(c)
			}
		}
		if n, err := s.Pending(c.Request().Context()); err == nil && n > 0 {
			return fault.New(fault.Unavailable, "the database schema is not up to date; an operator must run turnout migrate up")
		}
		return next(c)
	}
}
