// Package rocky is the Rock the Vote "Rocky" API v4-compatible surface
// under /api/v4: partners, state requirements, registrations
// with their PDF, reminders and bulk statistics rows. Rules live in
// jobs/registration; this package decodes, calls it and answers in Rocky's
// shapes: success bodies as Rocky documents them, errors as {field_name,
// message} or {message} with status 400 (429 for an oversized batch), and
// JSONP when a callback is given. docs/compat/rocky.md lists every
// difference from Rocky.
package rocky

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/turnoutdev/turnout/api/middleware"
	"github.com/turnoutdev/turnout/internal/fault"
	"github.com/turnoutdev/turnout/jobs/registration"
	"github.com/turnoutdev/turnout/storage"
)

// Handler serves the surface.
type Handler struct {
	Service   *registration.Service
	Blobs     storage.Blobs
	PublicURL *url.URL
	// PDFWait bounds how long an async=false registration waits for its PDF.
	PDFWait time.Duration
	// OpenSignup serves POST partners.json without a key (Rocky's own
	// behaviour); by default it needs an admin key.
	OpenSignup bool
	// SignupsPerHour limits open partner sign-ups per client address; they
	// count against the limit of the public endpoints too.
	SignupsPerHour int
	// BatchSize is the batch size of the API keys partner creation issues;
	// 0 means storage.DefaultRockyBatchSize.
	BatchSize int
	Now       func() time.Time
}

func (h *Handler) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

// callbackName restricts JSONP callbacks to JavaScript identifiers and
// dotted paths, so a callback cannot inject script.
var callbackName = regexp.MustCompile(`^[A-Za-z_$][A-Za-z0-9_$]*(\.[A-Za-z_$][A-Za-z0-9_$]*)*$`)

const callbackKey = "rocky.callback"

// respond writes v as JSON, or as JSONP ("cb(json);", Rocky's form) when
// the request names a callback.
func respond(c echo.Context, status int, v any) error {
	cb := c.QueryParam("callback")
	if cb == "" {
		cb, _ = c.Get(callbackKey).(string)
	}
	if cb == "" {
		return c.JSON(status, v)
	}
	if !callbackName.MatchString(cb) || len(cb) > 100 {
		return c.JSON(http.StatusBadRequest, map[string]any{"field_name": "callback", "message": "Invalid parameter value"})
	}
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return c.Blob(status, "application/javascript; charset=UTF-8", []byte(cb+"("+string(b)+");"))
}

// RenderError writes err in Rocky's shapes: {field_name, message} for a
// field problem, {message} otherwise. Input problems, bad credentials and
// unknown registrants are 400, as Rocky answers them.
func RenderError(c echo.Context, status int, e *fault.Error) error {
	body := map[string]any{}
	if errors.Is(e, middleware.ErrUnrouted) {
		// A path Rocky has no route for is 404 and a known path's other
		// method 405 with Allow (Rails answers 404 to both; the 405 names
		// the methods to use), in Rocky's {message} shape, never the 400 of
		// bad input.
		body["message"] = e.Message
		return respond(c, status, body)
	}
	switch e.Kind {
	case fault.Invalid, fault.Query, fault.NotFound:
		status = http.StatusBadRequest
		if f, m := registration.FieldOf(e); f != "" {
			body["field_name"], body["message"] = f, m
		} else {
			body["message"] = m
		}
	case fault.Unauthorized, fault.Forbidden:
		status = http.StatusBadRequest
		body["message"] = "Invalid Partner or API key"
	case fault.Internal:
		body["message"] = "Internal error (request " + middleware.RequestID(c) + ")"
	default:
		body["message"] = e.Message
	}
	return respond(c, status, body)
}
