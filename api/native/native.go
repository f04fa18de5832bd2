// Package native is Turnout's own surface, under /service, in TargetSmart's
// conventions: every response is a JSON object with `input`
// (the request parameters, mirrored), `error` (null, or a message starting
// with "Authorization Error:", "Validation Error:", "Query Error:" or
// "Internal Error"), `gateway_id` (the request id, also the X-Request-Id
// header) and `function_id` (which function answered), beside the
// service's own keys.
package native

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/turnoutdev/turnout/api/middleware"
	"github.com/turnoutdev/turnout/internal/fault"
	"github.com/turnoutdev/turnout/jobs"
	"github.com/turnoutdev/turnout/storage"
)

const (
	inputKey    = "native.input"
	functionKey = "native.function"
)

// Function names the function_id of a route.
func Function(id string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			c.Set(functionKey, id)
			return next(c)
		}
	}
}

// SetInput records the decoded request body, to be mirrored in `input`.
func SetInput(c echo.Context, v map[string]any) { c.Set(inputKey, v) }

// input mirrors the request parameters: path and query parameters, and the
// JSON body fields a handler recorded with SetInput.
func input(c echo.Context) map[string]any {
	in := map[string]any{}
	for _, n := range c.ParamNames() {
		// A wildcard's name is the router's, not a parameter of the request.
		if n != "*" {
			in[n] = c.Param(n)
		}
	}
	for k, v := range c.QueryParams() {
		if len(v) == 1 {
			in[k] = v[0]
		} else {
			in[k] = v
		}
	}
	if body, ok := c.Get(inputKey).(map[string]any); ok {
		for k, v := range body {
			in[k] = v
		}
	}
	return in
}

func envelope(c echo.Context, errMsg any) map[string]any {
	fn, _ := c.Get(functionKey).(string)
	if fn == "" {
		// Requests no route answers (unknown paths and methods) still
		// name who answered them.
		fn = unroutedFunction
	}
	return map[string]any{
		"input":       input(c),
		"error":       errMsg,
		"gateway_id":  middleware.RequestID(c),
		"function_id": fn,
	}
}

// unroutedFunction is the function_id of an answer no route gave.
const unroutedFunction = "service.unrouted"

// Respond writes a successful envelope carrying data's keys.
func Respond(c echo.Context, status int, data map[string]any) error {
	out := envelope(c, nil)
	for k, v := range data {
		out[k] = v
	}
	return c.JSON(status, out)
}

// Prefix returns TargetSmart's error prefix for e: a batch larger than the
// key allows is a request parameter to revise (Validation Error), while an
// exceeded call rate is a limit of the key (Authorization Error).
func Prefix(e *fault.Error) string {
	if errors.Is(e, middleware.ErrBatchSize) {
		return "Validation Error: "
	}
	switch e.Kind {
	case fault.Unauthorized, fault.Forbidden, fault.RateLimited:
		return "Authorization Error: "
	case fault.Invalid:
		return "Validation Error: "
	case fault.Query, fault.NotFound, fault.Conflict:
		return "Query Error: "
	}
	return "Internal Error: "
}

// RenderError is the native surface's error renderer; it is also the
// fallback for routes of no surface. Missing or bad credentials get 403
// ("API access denied, confirm your API Key"), as TargetSmart answers.
func RenderError(c echo.Context, status int, e *fault.Error) error {
	msg := e.Message
	if e.Kind == fault.Internal {
		msg = "an unexpected error occurred; quote gateway_id " + middleware.RequestID(c) + " to an operator"
	}
	if e.Kind == fault.Unauthorized {
		status = http.StatusForbidden
	}
	out := envelope(c, Prefix(e)+msg)
	if len(e.Fields) > 0 {
		out["errors"] = middleware.FieldErrors(e.Fields)
	}
	return c.JSON(status, out)
}

// Jobs is the /service/jobs API: any key lists, polls, cancels and retries
// its own jobs, and a key with the admin scope every key's; operators may
// start no-op jobs to check the pipeline end to end.
type Jobs struct {
	Store    JobStore
	Enqueuer JobCreator
	Control  JobControl
	// Watcher tells Events of job changes; Heartbeat is how often an idle
	// event stream carries a comment (0: DefaultHeartbeat).
	Watcher   *Watcher
	Heartbeat time.Duration
}

// JobStore reads jobs.
type JobStore interface {
	ListJobs(ctx context.Context, f storage.JobFilter) ([]storage.JobListing, error)
	JobListingOf(ctx context.Context, id int64, owner *int64) (*storage.JobListing, error)
	JobEvents(ctx context.Context, id int64) ([]storage.JobEvent, error)
}

// JobControl cancels and retries jobs.
type JobControl interface {
	Cancel(ctx context.Context, id int64, owner *int64, actor string) (*storage.Job, error)
	Retry(ctx context.Context, id int64, owner *int64, actor string) (*storage.Job, error)
}

// JobCreator creates jobs.
type JobCreator interface {
	Create(ctx context.Context, n storage.NewJob) (*storage.Job, error)
	CreateMany(ctx context.Context, ns []storage.NewJob) ([]*storage.Job, error)
}

// Get returns one job with its history of attempts and operator actions.
func (h *Jobs) Get(c echo.Context) error {
	id, err := jobID(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	j, err := h.Store.JobListingOf(ctx, id, owner(c))
	if err != nil {
		return err
	}
	history, err := h.Store.JobEvents(ctx, id)
	if err != nil {
		return err
	}
	return Respond(c, http.StatusOK, map[string]any{"job": jobListingOf(j), "history": jobEventsOf(history)})
}

// Cancel cancels one of the caller's unfinished jobs (any job, for admin).
func (h *Jobs) Cancel(c echo.Context) error {
	id, err := jobID(c)
	if err != nil {
		return err
	}
	j, err := h.Control.Cancel(c.Request().Context(), id, owner(c), "key:"+middleware.Key(c).Name)
	if err != nil {
		return err
	}
	return Respond(c, http.StatusOK, map[string]any{"job": jobOf(j)})
}

// Retry queues one of the caller's failed or canceled jobs again.
func (h *Jobs) Retry(c echo.Context) error {
	id, err := jobID(c)
	if err != nil {
		return err
	}
	j, err := h.Control.Retry(c.Request().Context(), id, owner(c), "key:"+middleware.Key(c).Name)
	if err != nil {
		return err
	}
	return Respond(c, http.StatusAccepted, map[string]any{"job": jobOf(j)})
}

// List pages through the caller's jobs (every key's, for admin), newest
// first, filtered by status, kind, queue and creation time.
func (h *Jobs) List(c echo.Context) error {
	f, err := ParseJobFilter(c.QueryParams())
	if err != nil {
		return err
	}
	f.Owner = owner(c)
	page, err := h.Store.ListJobs(c.Request().Context(), f)
	if err != nil {
		return err
	}
	var next any
	if len(page) == f.Limit {
		next = strconv.FormatInt(page[len(page)-1].ID, 10)
	}
	if page == nil {
		page = []storage.JobListing{}
	}
	return Respond(c, http.StatusOK, map[string]any{"jobs": jobListingsOf(page), "nextCursor": next})
}

func jobID(c echo.Context) (int64, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, fault.Validation(fault.FieldError{Field: "id", Code: fault.CodeInvalidValue, Message: "must be a positive integer"})
	}
	return id, nil
}

// owner is the key whose jobs the caller may see and act on; nil for a
// key with the admin scope, which may act on every key's.
func owner(c echo.Context) *int64 {
	k := middleware.Key(c)
	if k.HasScope(storage.ScopeAdmin) {
		return nil
	}
	return &k.ID
}

// CreateNoop starts a no-op job; the optional body is jobs.NoopParams.
func (h *Jobs) CreateNoop(c echo.Context) error {
	var p jobs.NoopParams
	if c.Request().ContentLength != 0 {
		raw, err := io.ReadAll(http.MaxBytesReader(c.Response(), c.Request().Body, 1<<16))
		if err != nil {
			return fault.New(fault.Invalid, "the body is too large")
		}
		var body map[string]any
		if err := json.Unmarshal(raw, &body); err != nil {
			return fault.New(fault.Invalid, "the body must be a JSON object")
		}
		SetInput(c, body)
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&p); err != nil {
			return fault.Validation(fault.FieldError{Field: "body", Code: fault.CodeInvalidValue, Message: "only sleepMs (an integer) is accepted"})
		}
	}
	if err := p.Validate(); err != nil {
		return err
	}
	kid := middleware.Key(c).ID
	j, err := h.Enqueuer.Create(c.Request().Context(), storage.NewJob{Kind: jobs.KindNoop, Queue: jobs.QueueDefault, KeyID: &kid, Params: p})
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderLocation, "/service/jobs/"+strconv.FormatInt(j.ID, 10))
	return Respond(c, http.StatusAccepted, map[string]any{"job": jobOf(j)})
}

// CreateNoops starts a batch of no-op jobs, {"jobs": [NoopParams, ...]},
// at most the key's batch size (Salsa Engage's convention), committed
// together: all of them or, on any invalid item, none.
func (h *Jobs) CreateNoops(c echo.Context) error {
	raw, err := io.ReadAll(http.MaxBytesReader(c.Response(), c.Request().Body, 1<<20))
	if err != nil {
		return fault.New(fault.Invalid, "the body is too large")
	}
	var body struct {
		Jobs []json.RawMessage `json:"jobs"`
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		return fault.Validation(fault.FieldError{Field: "body", Code: fault.CodeInvalidValue, Message: `must be {"jobs": [...]}, an array of no-op job parameters`})
	}
	SetInput(c, map[string]any{"jobs": len(body.Jobs)})
	if len(body.Jobs) == 0 {
		return fault.Validation(fault.FieldError{Field: "jobs", Code: fault.CodeRequired, Message: "must hold at least one job"})
	}
	if err := middleware.CheckBatch(c, len(body.Jobs)); err != nil {
		return err
	}
	kid := middleware.Key(c).ID
	ns := make([]storage.NewJob, len(body.Jobs))
	var problems []fault.FieldError
	for i, item := range body.Jobs {
		var p jobs.NoopParams
		d := json.NewDecoder(bytes.NewReader(item))
		d.DisallowUnknownFields()
		field := "jobs[" + strconv.Itoa(i) + "]"
		if err := d.Decode(&p); err != nil {
			problems = append(problems, fault.FieldError{Field: field, Code: fault.CodeInvalidValue, Message: "only sleepMs (an integer) is accepted"})
			continue
		}
		if err := p.Validate(); err != nil {
			problems = append(problems, fault.FieldError{Field: field + ".sleepMs", Code: fault.CodeOutOfRange, Message: "must be between 0 and 60000"})
			continue
		}
		ns[i] = storage.NewJob{Kind: jobs.KindNoop, Queue: jobs.QueueDefault, KeyID: &kid, Params: p}
	}
	if len(problems) > 0 {
		return fault.Validation(problems...)
	}
	js, err := h.Enqueuer.CreateMany(c.Request().Context(), ns)
	if err != nil {
		return err
	}
	return Respond(c, http.StatusAccepted, map[string]any{"jobs": jobsOf(js)})
}
