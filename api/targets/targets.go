// Package targets is the Adhese Target API surface under
// /api/targettypes: reference code lists (target types and their values)
// and their edit log. Rules live in jobs/targets; this package decodes,
// calls it or storage, and encodes in Adhese's field names.
//
// Credentials: Adhese authenticates with its own accounts, which Turnout
// does not have, so this surface takes Turnout's native credential, an
// X-API-Key header or "Authorization: Bearer <secret>", of a key with the
// "targets" scope. The log's userId and userName are that key's id and
// name.
//
// Errors are JSON objects in the shape of a Spring Boot error body, which
// Java clients of Adhese already parse: timestamp, status, error (the
// status text), message, path, plus requestId and, for invalid fields,
// errors [{field, code, message}]. Status codes: 400 invalid request or
// value, 401 missing or unknown key, 403 key without the targets scope (or
// without the admin scope, changing a value of a built-in type), 404
// unknown type or value, 405 DELETE (deactivate instead), 409 duplicate
// code within a type, 429 over the key's rate.
package targets

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/turnoutdev/turnout/api/middleware"
	"github.com/turnoutdev/turnout/internal/fault"
	rules "github.com/turnoutdev/turnout/jobs/targets"
	"github.com/turnoutdev/turnout/storage"
)

// Reader reads code lists and the log.
type Reader interface {
	TargetTypes(ctx context.Context) ([]storage.TargetType, error)
	TargetType(ctx context.Context, id int64) (*storage.TargetType, error)
	TargetValues(ctx context.Context, typeID int64, withInactive bool) ([]storage.TargetValue, error)
	TargetValue(ctx context.Context, typeID, id int64) (*storage.TargetValue, error)
	TargetLog(ctx context.Context, start, size int) ([]storage.TargetLogEntry, error)
}

// Handler serves the surface.
type Handler struct {
	Read   Reader
	Editor *rules.Editor
}

// MaxLogSize bounds one page of the log.
const MaxLogSize = 1000

// maxBody bounds a request body: a value is a few short strings.
const maxBody = 1 << 16

// targetType is a code list in Adhese's field names.
type targetType struct {
	ID       int64  `json:"id"`
	Name     string `json:"name"`
	Editable bool   `json:"editable"`
}

func targetTypeOf(t storage.TargetType) targetType {
	return targetType{ID: t.ID, Name: t.Name, Editable: t.Editable}
}

// targetValue is a value of a code list in Adhese's field names.
type targetValue struct {
	ID     int64  `json:"id"`
	Name   string `json:"name"`
	Code   string `json:"code"`
	Active bool   `json:"active"`
}

func targetValueOf(v storage.TargetValue) targetValue {
	return targetValue{ID: v.ID, Name: v.Name, Code: v.Code, Active: v.Active}
}

// Types answers GET /api/targettypes.
func (h *Handler) Types(c echo.Context) error {
	ts, err := h.Read.TargetTypes(c.Request().Context())
	if err != nil {
		return err
	}
	out := make([]targetType, len(ts))
	for i, t := range ts {
		out[i] = targetTypeOf(t)
	}
	return c.JSON(http.StatusOK, out)
}

// Type answers GET /api/targettypes/{id}.
func (h *Handler) Type(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	t, err := h.Read.TargetType(c.Request().Context(), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, targetTypeOf(*t))
}

// Values answers GET /api/targettypes/{id}/targets?filterActive=; by
// default (filterActive=true) only active values are listed.
func (h *Handler) Values(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	onlyActive := true
	if s := c.QueryParam("filterActive"); s != "" {
		if onlyActive, err = strconv.ParseBool(s); err != nil {
			return fault.Validation(fault.FieldError{Field: "filterActive", Code: fault.CodeInvalidValue, Message: "must be true or false"})
		}
	}
	vs, err := h.Read.TargetValues(c.Request().Context(), id, !onlyActive)
	if err != nil {
		return err
	}
	out := make([]targetValue, len(vs))
	for i, v := range vs {
		out[i] = targetValueOf(v)
	}
	return c.JSON(http.StatusOK, out)
}

// Value answers GET /api/targettypes/{id}/targets/{valueId}.
func (h *Handler) Value(c echo.Context) error {
	typeID, err := pathID(c, "id")
	if err != nil {
		return err
	}
	id, err := pathID(c, "valueId")
	if err != nil {
		return err
	}
	v, err := h.Read.TargetValue(c.Request().Context(), typeID, id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, targetValueOf(*v))
}

// valueBody is a POST or PUT body; pointers tell absent fields from zero
// values. Fields the Target API does not name are ignored.
type valueBody struct {
	ID     *int64  `json:"id"`
	Name   *string `json:"name"`
	Code   *string `json:"code"`
	Active *bool   `json:"active"`
}

// Add answers POST /api/targettypes/{typeId}/targets with the new value.
func (h *Handler) Add(c echo.Context) error {
	typeID, err := pathID(c, "id")
	if err != nil {
		return err
	}
	b, err := decode(c)
	if err != nil {
		return err
	}
	n := rules.NewValue{Active: b.Active}
	if b.Name != nil {
		n.Name = *b.Name
	}
	if b.Code != nil {
		n.Code = *b.Code
	}
	v, err := h.Editor.Add(c.Request().Context(), typeID, n, actor(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, targetValueOf(*v))
}

// Update answers PUT /api/targettypes/{id}/targets[/{valueId}] with "OK".
func (h *Handler) Update(c echo.Context) error {
	typeID, err := pathID(c, "id")
	if err != nil {
		return err
	}
	var pid *int64
	if c.Param("valueId") != "" {
		id, err := pathID(c, "valueId")
		if err != nil {
			return err
		}
		pid = &id
	}
	b, err := decode(c)
	if err != nil {
		return err
	}
	if _, err := h.Editor.Update(c.Request().Context(), typeID, pid, rules.Change{ID: b.ID, Name: b.Name, Active: b.Active}, actor(c)); err != nil {
		return err
	}
	return c.String(http.StatusOK, "OK")
}

// Delete answers every DELETE: the Target API has no deletes, because
// the edit log must stay whole.
func (h *Handler) Delete(c echo.Context) error {
	c.Response().Header().Set(echo.HeaderAllow, allowed(c))
	return RenderError(c, http.StatusMethodNotAllowed, fault.New(fault.Invalid,
		"target types and values cannot be deleted (every change is kept in the edit log); deactivate the value instead: PUT /api/targettypes/{id}/targets/{valueId} with {\"active\": false}"))
}

// NotAllowed answers a method no route of the path has, naming the ones
// it has.
func (h *Handler) NotAllowed(c echo.Context) error {
	c.Response().Header().Set(echo.HeaderAllow, allowed(c))
	return RenderError(c, http.StatusMethodNotAllowed, fault.New(fault.Invalid,
		"%s is not allowed on %s; allowed: %s", c.Request().Method, c.Path(), allowed(c)))
}

// allowed is the Allow header of the DELETE's route.
func allowed(c echo.Context) string {
	switch {
	case c.Param("valueId") != "":
		return "GET, HEAD, PUT"
	case strings.HasSuffix(c.Path(), "/targets"):
		return "GET, HEAD, POST, PUT"
	}
	return "GET, HEAD"
}

// Unrouted lists, for each path of the surface, the methods it has no
// route for (DELETE has its own answer, Delete).
var Unrouted = map[string][]string{
	"":                      {http.MethodPost, http.MethodPut, http.MethodPatch},
	"/log":                  {http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete},
	"/:id":                  {http.MethodPost, http.MethodPut, http.MethodPatch},
	"/:id/targets":          {http.MethodPatch},
	"/:id/targets/:valueId": {http.MethodPost, http.MethodPatch},
}

// logEntry is a log row in Adhese's field names; timestamp is epoch ms.
type logEntry struct {
	ID         int64  `json:"id"`
	LogAction  string `json:"logAction"`
	Source     string `json:"source"`
	Parameters string `json:"parameters"`
	UserID     int64  `json:"userId"`
	Timestamp  int64  `json:"timestamp"`
	UserName   string `json:"userName"`
}

// Log answers GET /api/targettypes/log?start=&size=: the rows
// [start, start+size[ from the newest. size is required.
func (h *Handler) Log(c echo.Context) error {
	var fe []fault.FieldError
	size, start := 0, 0
	if s := c.QueryParam("size"); s == "" {
		fe = append(fe, fault.FieldError{Field: "size", Code: fault.CodeRequired, Message: "is required"})
	} else if n, err := strconv.Atoi(s); err != nil || n < 1 || n > MaxLogSize {
		fe = append(fe, fault.FieldError{Field: "size", Code: fault.CodeOutOfRange, Message: fmt.Sprintf("must be an integer from 1 to %d", MaxLogSize)})
	} else {
		size = n
	}
	if s := c.QueryParam("start"); s != "" {
		if n, err := strconv.Atoi(s); err != nil || n < 0 {
			fe = append(fe, fault.FieldError{Field: "start", Code: fault.CodeOutOfRange, Message: "must be an integer of 0 or more"})
		} else {
			start = n
		}
	}
	if len(fe) > 0 {
		return fault.Validation(fe...)
	}
	rows, err := h.Read.TargetLog(c.Request().Context(), start, size)
	if err != nil {
		return err
	}
	out := make([]logEntry, len(rows))
	for i, r := range rows {
		out[i] = logEntry{ID: r.ID, LogAction: r.LogAction, Source: r.Source, Parameters: r.Parameters,
			Timestamp: r.At.UnixMilli(), UserName: r.UserName}
		// The CLI and migrations have no key; Adhese clients expect a number.
		if r.UserID != nil {
			out[i].UserID = *r.UserID
		}
	}
	return c.JSON(http.StatusOK, out)
}

func actor(c echo.Context) storage.TargetActor {
	k := middleware.Key(c)
	return storage.TargetActor{Source: storage.TargetSourceAPI, UserID: &k.ID, UserName: k.Name, Admin: k.HasScope(storage.ScopeAdmin)}
}

func pathID(c echo.Context, name string) (int64, error) {
	id, err := strconv.ParseInt(c.Param(name), 10, 64)
	if err != nil || id <= 0 {
		return 0, fault.Validation(fault.FieldError{Field: name, Code: fault.CodeInvalidValue,
			Message: fmt.Sprintf("must be a positive integer, not %q", truncate(c.Param(name)))})
	}
	return id, nil
}

func truncate(s string) string {
	if r := []rune(s); len(r) > 40 {
		return string(r[:40]) + "…"
	}
	return s
}

// decode reads a JSON object body; a field of the wrong JSON type is
// reported by name.
func decode(c echo.Context) (*valueBody, error) {
	var b valueBody
	err := json.NewDecoder(http.MaxBytesReader(c.Response(), c.Request().Body, maxBody)).Decode(&b)
	var te *json.UnmarshalTypeError
	var mbe *http.MaxBytesError
	switch {
	case err == nil:
		return &b, nil
	case errors.As(err, &te) && te.Field != "":
		return nil, fault.Validation(fault.FieldError{Field: te.Field, Code: fault.CodeInvalidValue, Message: fmt.Sprintf("must be a JSON %s, not %s", jsonType(te.Field), te.Value)})
	case errors.As(err, &mbe):
		return nil, fault.New(fault.Invalid, "the body is larger than %d bytes", maxBody)
	case errors.Is(err, io.EOF):
		return nil, fault.New(fault.Invalid, "the body must be a JSON object; it is empty")
	}
	return nil, fault.New(fault.Invalid, "the body must be a JSON object: %s", err.Error())
}

func jsonType(field string) string {
	switch field {
	case "id":
		return "integer"
	case "active":
		return "boolean"
	}
	return "string"
}

// RenderError writes the surface's error body (see the package comment).
// Internal errors show only the request id; their details are logged by
// middleware.ErrorHandler.
func RenderError(c echo.Context, status int, e *fault.Error) error {
	msg := e.Message
	if e.Kind == fault.Internal {
		msg = "an unexpected error occurred; quote request id " + middleware.RequestID(c) + " to an operator"
	}
	if e.Kind == fault.Unauthorized {
		c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="turnout"`)
	}
	out := map[string]any{
		"timestamp": time.Now().UTC().Format("2006-01-02T15:04:05.000Z"),
		"status":    status,
		"error":     http.StatusText(status),
		"message":   msg,
		"path":      c.Request().URL.Path,
		"requestId": middleware.RequestID(c),
	}
	if len(e.Fields) > 0 {
		fields := make([]map[string]any, len(e.Fields))
		for i, f := range e.Fields {
			fields[i] = map[string]any{"field": f.Field, "code": f.Code, "message": f.Message}
		}
		out["errors"] = fields
	}
	if c.Request().Method == http.MethodHead {
		return c.NoContent(status)
	}
	return c.JSON(status, out)
}
