package middleware

import "github.com/labstack/echo/v4"

// Guards are what the server hands every surface for building its routes'
// middleware: how to resolve credentials, the shared rate limiter and the
// request timeout. A surface picks from them per route.
type Guards struct {
	// Keys resolves credentials.
	Keys Keys
	// Limiter enforces each key's call rate and counts its usage, and
	// limits client addresses.
	Limiter *Limiter
	// Timeout bounds an ordinary request; streams and downloads go without.
	Timeout echo.MiddlewareFunc
	// PublicPerMinute limits each client address on the routes that take
	// no key; 0 means no limit.
	PublicPerMinute int
}

// PublicLimit is the per-address limit of the routes that take no key, or
// nil when there is none.
func (g Guards) PublicLimit() echo.MiddlewareFunc {
	if g.PublicPerMinute <= 0 {
		return nil
	}
	return g.Limiter.PerAddress(g.PublicPerMinute)
}
