package middleware

import (
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
)

const clientRequestIDKey = "turnout.client_request_id"

// maxClientRequestID bounds how much of a client's X-Request-Id is kept:
// enough for any UUID, trace id or correlation token.
const maxClientRequestID = 128

// RequestIDs gives every request an id of the server's own making (mint),
// sent back as X-Request-Id and quoted in every error body (gateway_id,
// referenceCode, requestId). A client's own X-Request-Id is never adopted:
// a chosen id could collide with another request's, forge an operator's
// reference, or smuggle text into logs. It is kept apart, cleaned and
// bounded, for the logs (see ClientRequestID).
func RequestIDs(mint func() string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if v := cleanClientRequestID(c.Request().Header.Get(echo.HeaderXRequestID)); v != "" {
				c.Set(clientRequestIDKey, v)
			}
			c.Response().Header().Set(echo.HeaderXRequestID, mint())
			return next(c)
		}
	}
}

// ClientRequestID returns the X-Request-Id the client sent, cleaned, or "".
func ClientRequestID(c echo.Context) string {
	v, _ := c.Get(clientRequestIDKey).(string)
	return v
}

// cleanClientRequestID keeps printable ASCII only (no control characters
// or line breaks that could forge log lines) and at most
// maxClientRequestID bytes.
func cleanClientRequestID(s string) string {
	if s == "" {
		return ""
	}
	var b strings.Builder
	for _, r := range s {
		if b.Len() >= maxClientRequestID {
			break
		}
		if r > ' ' && r < utf8.RuneSelf && r != 0x7f {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// RequestLogAttrs are the log attributes that identify a request: the
// server's id (request_id) and, when the client sent one, its own
// (client_request_id).
func RequestLogAttrs(c echo.Context) []any {
	attrs := []any{"request_id", RequestID(c)}
	if v := ClientRequestID(c); v != "" {
		attrs = append(attrs, "client_request_id", v)
	}
	return attrs
}
