package middleware

import (
	"log/slog"
	"time"

	"github.com/labstack/echo/v4"
)

// AccessLog writes one JSON line per request: method, route template
// (never the raw path or the query string, which may carry a key or
// personal data), status, duration, request id and the calling key's id
// (never its secret). It renders a handler's error itself, so the status
// it logs is the one sent.
func AccessLog(log *slog.Logger) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := time.Now()
			if err := next(c); err != nil {
				c.Error(err)
			}
			route := c.Path()
			if route == "" {
				route = "unmatched"
			}
			attrs := []any{"method", c.Request().Method, "route", route, "status", c.Response().Status,
				"duration_ms", float64(time.Since(start).Microseconds()) / 1000}
			attrs = append(attrs, RequestLogAttrs(c)...)
			if k := Key(c); k != nil {
				attrs = append(attrs, "key_id", k.ID)
			}
			log.Info("request", attrs...)
			return nil
		}
	}
}
