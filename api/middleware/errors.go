// Package middleware is what every API surface shares: request ids,
// authentication to the one key table, rate limits, usage counting and the
// rendering of errors, which each surface customises with its own Renderer.
package middleware

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/turnoutdev/turnout/internal/fault"
	"github.com/turnoutdev/turnout/storage"
)

// Renderer writes err in a surface's own error shape. status is the HTTP
// status chosen for the error's kind (a renderer may change it).
type Renderer func(c echo.Context, status int, err *fault.Error) error

const rendererKey = "turnout.renderer"

// Surface makes errors on this route group render with r.
func Surface(r Renderer) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			c.Set(rendererKey, r)
			return next(c)
		}
	}
}

// Status maps an error kind to the HTTP status every surface uses unless
// its renderer knows better.
func Status(k fault.Kind) int {
	switch k {
	case fault.Unauthorized:
		return http.StatusUnauthorized
	case fault.Forbidden:
		return http.StatusForbidden
	case fault.Invalid, fault.Query:
		return http.StatusBadRequest
	case fault.NotFound:
		return http.StatusNotFound
	case fault.Conflict:
		return http.StatusConflict
	case fault.RateLimited:
		return http.StatusTooManyRequests
	case fault.Timeout:
		return http.StatusGatewayTimeout
	case fault.Unavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// Classify turns any error into one of ours: Echo's own HTTP errors, time-outs
// and unreachable dependencies get their kinds; anything else is Internal.
func Classify(err error) *fault.Error {
	var fe *fault.Error
	if errors.As(err, &fe) {
		return fe
	}
	var he *echo.HTTPError
	if errors.As(err, &he) {
		msg := http.StatusText(he.Code)
		if s, ok := he.Message.(string); ok && s != "" {
			msg = s
		}
		switch he.Code {
		case http.StatusNotFound:
			return fault.New(fault.NotFound, "%s", msg)
		case http.StatusMethodNotAllowed:
			return &fault.Error{Kind: fault.Invalid, Message: "method not allowed", Err: err}
		case http.StatusUnauthorized:
			return fault.New(fault.Unauthorized, "%s", msg)
		case http.StatusRequestEntityTooLarge:
			return fault.New(fault.Invalid, "request body too large")
		case http.StatusServiceUnavailable:
			return fault.New(fault.Unavailable, "%s", msg)
		}
		if he.Code < 500 {
			return fault.New(fault.Invalid, "%s", msg)
		}
	}
	// Before the deadline check: a connection attempt cut short by the
	// request's deadline is an unreachable database, not a slow query.
	if storage.Unreachable(err) {
		return fault.Wrap(fault.Unavailable, err, "the database is unavailable; retry shortly")
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return fault.Wrap(fault.Timeout, err, "the service timed out; retry or revise your request")
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return fault.Wrap(fault.Unavailable, err, "a backing service is unavailable; retry shortly")
	}
	return fault.As(err)
}

// ErrorHandler is Echo's HTTPErrorHandler: it classifies err, logs what the
// caller must not see, and renders with the route's surface renderer (or
// fallback).
func ErrorHandler(log *slog.Logger, fallback Renderer) echo.HTTPErrorHandler {
	return func(err error, c echo.Context) {
		if c.Response().Committed {
			return
		}
		fe, status, ok := unrouted(c, err)
		if !ok {
			fe = Classify(err)
			status = Status(fe.Kind)
		}
		if fe.Kind == fault.Internal || fe.Kind == fault.Unavailable || fe.Kind == fault.Timeout {
			log.Error("request failed", append(RequestLogAttrs(c), "method", c.Request().Method,
				"route", c.Path(), "kind", fe.Kind, "err", err)...)
		}
		if fe.Kind == fault.Unavailable && c.Response().Header().Get("Retry-After") == "" {
			c.Response().Header().Set("Retry-After", unavailableRetryAfter)
		}
		c.Set(failedKey, true)
		r, _ := c.Get(rendererKey).(Renderer)
		if r == nil {
			r = fallback
		}
		if rerr := r(c, status, fe); rerr != nil {
			log.Error("render error", append(RequestLogAttrs(c), "err", rerr)...)
		}
	}
}

const failedKey = "turnout.failed"

// unavailableRetryAfter is the Retry-After, in seconds, of a 503: a
// restarting PostgreSQL or Redis is usually back within seconds, and a
// client retrying sooner only adds load to its recovery.
const unavailableRetryAfter = "5"

// RequestID returns the request's id, minted by the server (also sent as
// X-Request-Id; see RequestIDs).
func RequestID(c echo.Context) string {
	return c.Response().Header().Get(echo.HeaderXRequestID)
}

// codeMessages are Salsa's texts for its validation codes.
var codeMessages = map[int]string{
	fault.CodeRequired:     "A value for the field is required",
	fault.CodeOutOfRange:   "The value for the field is out of range",
	fault.CodeInvalidEmail: "The email provided is not of correct format",
	fault.CodeInvalidValue: "The value provided was not one of the allowed types",
}

// FieldErrors renders field problems in Salsa's validation error shape:
// {id, code, message, details, fieldName}, where message is the code's
// text and details says what was wrong with this field. field repeats
// fieldName for clients of the earlier shape.
func FieldErrors(fields []fault.FieldError) []map[string]any {
	out := make([]map[string]any, len(fields))
	for i, f := range fields {
		msg, ok := codeMessages[f.Code]
		if !ok {
			msg = f.Message
		}
		out[i] = map[string]any{"id": uuid.NewString(), "code": f.Code, "message": msg, "details": f.Message,
			"fieldName": f.Field, "field": f.Field}
	}
	return out
}
