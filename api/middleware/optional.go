package middleware

import (
	"github.com/labstack/echo/v4"
)

// AuthenticateIfPresent is Authenticate for routes that need no
// credentials but must know whose they are when a request presents some
// (an unguessable download URL refuses another key's). A request without
// an Authorization header passes with no key; one with credentials that
// do not resolve to a live key is refused as Authenticate refuses it.
func AuthenticateIfPresent(keys Keys, extract Extractor) echo.MiddlewareFunc {
	auth := Authenticate(keys, "", extract)
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		authed := auth(Settle(next))
		return func(c echo.Context) error {
			if c.Request().Header.Get(echo.HeaderAuthorization) == "" {
				return next(c)
			}
			return authed(c)
		}
	}
}
