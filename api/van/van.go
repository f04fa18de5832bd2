// Package van is the NGP VAN / EveryAction-compatible surface:
// /v4/fileLoadingJobs, /v4/scores and /v4/scoreUpdates,
// authenticated with VAN's HTTP Basic "applicationName:apiKey|dbMode", with
// VAN's error shape and paging. Paths match case-insensitively, as VAN's
// do (Parsons posts to /v4/FileLoadingJobs).
package van

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/turnoutdev/turnout/api/middleware"
	"github.com/turnoutdev/turnout/internal/fault"
	"github.com/turnoutdev/turnout/internal/netguard"
	"github.com/turnoutdev/turnout/jobs"
	"github.com/turnoutdev/turnout/jobs/export"
	"github.com/turnoutdev/turnout/jobs/fileload"
	"github.com/turnoutdev/turnout/storage"
)

// Handlers serves the VAN routes.
type Handlers struct {
	Store    *storage.Store
	Enqueuer *jobs.Enqueuer
	Guard    *netguard.Guard
	Blobs    storage.Blobs // error files; may be nil (then no download)
	// Exports creates and serves export jobs.
	Exports *export.Service
	// ExportWait bounds how long POST /v4/exportJobs waits for the export
	// (0: DefaultExportWait; negative: no wait).
	ExportWait time.Duration
}

// segments are the VAN path segments whose casing clients vary.
var segments = map[string]string{
	"v4": "v4", "fileloadingjobs": "fileLoadingJobs", "scores": "scores", "scoreupdates": "scoreUpdates", "errors": "errors",
	"stats": "stats", "folders": "folders", "savedlists": "savedLists",
	"exportjobs": "exportJobs", "exportjobtypes": "exportJobTypes", "apikeyprofiles": "apiKeyProfiles", "download": "download",
}

// CanonicalPath is an Echo Pre middleware that rewrites the known VAN path
// segments of /v4 requests to the casing the routes use.
func CanonicalPath(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		p := r.URL.Path
		if len(p) >= 3 && strings.EqualFold(p[:3], "/v4") && (len(p) == 3 || p[3] == '/') {
			parts := strings.Split(p, "/")
			for i, s := range parts {
				if canon, ok := segments[strings.ToLower(s)]; ok {
					parts[i] = canon
				}
			}
			r.URL.Path = strings.Join(parts, "/")
			r.URL.RawPath = ""
		}
		return next(c)
	}
}

func caller(c echo.Context) fileload.Caller {
	k := middleware.Key(c)
	var mode int16
	if k.VANDBMode != nil {
		mode = *k.VANDBMode
	}
	return fileload.Caller{KeyID: k.ID, DBMode: mode, MayAutoApprove: k.MayAutoApprove}
}

const maxRequest = 1 << 20

// CreateFileLoadingJob answers POST /v4/fileLoadingJobs with 201 {"jobId": N}.
func (h *Handlers) CreateFileLoadingJob(c echo.Context) error {
	body, err := io.ReadAll(io.LimitReader(c.Request().Body, maxRequest+1))
	if err != nil {
		return err
	}
	if len(body) > maxRequest {
		return fault.Validation(fault.FieldError{Field: "body", Code: fault.CodeOutOfRange, Message: "the request body is larger than 1 MiB"})
	}
	ctx := c.Request().Context()
	cl := caller(c)
	req, err := fileload.Parse(ctx, body, h.Store, cl, h.Guard)
	if err != nil {
		return err
	}
	id, err := fileload.Submit(ctx, h.Enqueuer, cl, req)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, map[string]int64{"jobId": id})
}

func pathID(c echo.Context, name, what string) (int64, error) {
	id, err := strconv.ParseInt(c.Param(name), 10, 64)
	if err != nil || id <= 0 {
		return 0, fault.New(fault.NotFound, "%s %q not found", what, c.Param(name))
	}
	return id, nil
}

// GetFileLoadingJob answers GET /v4/fileLoadingJobs/{jobId}; a key sees
// only its own jobs.
func (h *Handlers) GetFileLoadingJob(c echo.Context) error {
	id, err := pathID(c, "jobId", "file loading job")
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	v, err := fileload.View(ctx, h.Store, id, middleware.Key(c).ID)
	if err != nil {
		return err
	}
	if v.ErrorFile != "" {
		v.ErrorFile = baseURL(c) + "/v4/fileLoadingJobs/" + strconv.FormatInt(id, 10) + "/errors"
	}
	return c.JSON(http.StatusOK, fileLoadingJobOf(v))
}

// GetErrorFile streams a job's full error CSV.
func (h *Handlers) GetErrorFile(c echo.Context) error {
	id, err := pathID(c, "jobId", "file loading job")
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	if _, err := h.Store.JobOfKey(ctx, id, middleware.Key(c).ID); err != nil {
		return fault.New(fault.NotFound, "file loading job %d not found", id)
	}
	fl, err := h.Store.FileLoad(ctx, id)
	if err != nil {
		return err
	}
	if fl.ErrorFileKey == nil || h.Blobs == nil {
		return fault.New(fault.NotFound, "file loading job %d has no error file", id)
	}
	r, err := h.Blobs.Open(ctx, *fl.ErrorFileKey)
	if err != nil {
		return err
	}
	defer r.Close()
	c.Response().Header().Set("Content-Disposition", `attachment; filename="job-`+strconv.FormatInt(id, 10)+`-errors.csv"`)
	return c.Stream(http.StatusOK, "text/csv", r)
}

// Score is VAN's score object.
type Score struct {
	ScoreID     int64        `json:"scoreId"`
	Name        string       `json:"name"`
	ShortName   string       `json:"shortName"`
	Description *string      `json:"description"`
	MinValue    *float64     `json:"minValue"`
	MaxValue    *float64     `json:"maxValue"`
	State       string       `json:"state"`
	Origin      string       `json:"origin"`
	ScoreValues []ScoreValue `json:"scoreValues,omitempty"`
}

// ScoreValue is an allowed value of a value score.
type ScoreValue struct {
	ShortName string `json:"shortName"`
}

func scoreOf(s *storage.Score) Score {
	out := Score{ScoreID: s.ID, Name: s.Name, ShortName: s.ShortName, Description: s.Description,
		MinValue: s.MinValue, MaxValue: s.MaxValue, State: s.State, Origin: s.Origin}
	for _, v := range s.Values {
		out.ScoreValues = append(out.ScoreValues, ScoreValue{ShortName: v})
	}
	return out
}

// Page is VAN's list envelope.
type Page[T any] struct {
	Items        []T     `json:"items"`
	NextPageLink *string `json:"nextPageLink"`
	Count        int64   `json:"count"`
}

const (
	defaultTop = 50
	maxTop     = 200
)

func paging(c echo.Context) (skip, top int, err error) {
	top = defaultTop
	if s := c.QueryParam("$top"); s != "" {
		if top, err = strconv.Atoi(s); err != nil || top < 1 || top > maxTop {
			return 0, 0, fault.Validation(fault.FieldError{Field: "$top", Code: fault.CodeOutOfRange, Message: "must be an integer from 1 to 200"})
		}
	}
	if s := c.QueryParam("$skip"); s != "" {
		if skip, err = strconv.Atoi(s); err != nil || skip < 0 {
			return 0, 0, fault.Validation(fault.FieldError{Field: "$skip", Code: fault.CodeOutOfRange, Message: "must be a non-negative integer"})
		}
	}
	return skip, top, nil
}

func baseURL(c echo.Context) string {
	return c.Scheme() + "://" + c.Request().Host
}

// nextLink is the absolute URL of the next page, or nil on the last page.
func nextLink(c echo.Context, skip, top, got int, total int64) *string {
	if int64(skip+got) >= total {
		return nil
	}
	q := url.Values{}
	for k, v := range c.QueryParams() {
		q[k] = v
	}
	q.Set("$top", strconv.Itoa(top))
	q.Set("$skip", strconv.Itoa(skip+top))
	s := baseURL(c) + c.Request().URL.Path + "?" + q.Encode()
	return &s
}

// ListScores answers GET /v4/scores.
func (h *Handlers) ListScores(c echo.Context) error {
	skip, top, err := paging(c)
	if err != nil {
		return err
	}
	scores, total, err := h.Store.Scores(c.Request().Context(), skip, top)
	if err != nil {
		return err
	}
	p := Page[Score]{Items: []Score{}, Count: total}
	for i := range scores {
		p.Items = append(p.Items, scoreOf(&scores[i]))
	}
	p.NextPageLink = nextLink(c, skip, top, len(scores), total)
	return c.JSON(http.StatusOK, p)
}

// GetScore answers GET /v4/scores/{scoreId}.
func (h *Handlers) GetScore(c echo.Context) error {
	id, err := pathID(c, "scoreId", "score")
	if err != nil {
		return err
	}
	s, err := h.Store.Score(c.Request().Context(), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, scoreOf(s))
}

// ScoreUpdate is VAN's score update object.
type ScoreUpdate struct {
	ScoreUpdateID    int64           `json:"scoreUpdateId"`
	Score            Score           `json:"score"`
	UpdateStatistics json.RawMessage `json:"updateStatistics"`
	LoadStatus       string          `json:"loadStatus"`
	DateProcessed    *string         `json:"dateProcessed"`
	DateCreated      string          `json:"dateCreated"`
	// ApprovalNote says why approval criteria sent with the update did not
	// auto-approve it (Turnout's addition).
	ApprovalNote string `json:"approvalNote,omitempty"`
}

const vanTime = "2006-01-02T15:04:05.000Z"

func (h *Handlers) scoreUpdateOf(ctx context.Context, u *storage.ScoreUpdate, cache map[int64]Score) (ScoreUpdate, error) {
	sc, ok := cache[u.ScoreID]
	if !ok {
		s, err := h.Store.Score(ctx, u.ScoreID)
		if err != nil {
			return ScoreUpdate{}, err
		}
		sc = scoreOf(s)
		cache[u.ScoreID] = sc
	}
	note, err := fileload.ApprovalNote(ctx, h.Store, u.JobID, u.ActionIndex)
	if err != nil {
		return ScoreUpdate{}, err
	}
	out := ScoreUpdate{ScoreUpdateID: u.ID, Score: sc, UpdateStatistics: u.Statistics, LoadStatus: u.LoadStatus,
		DateCreated: u.CreatedAt.UTC().Format(vanTime), ApprovalNote: note}
	if u.DateProcessed != nil {
		s := u.DateProcessed.UTC().Format(vanTime)
		out.DateProcessed = &s
	}
	return out, nil
}

// parseDate accepts VAN's YYYY-MM-DD (what Parsons sends) or RFC 3339.
func parseDate(field, s string) (*time.Time, error) {
	if s == "" {
		return nil, nil
	}
	for _, layout := range []string{"2006-01-02", time.RFC3339Nano} {
		if t, err := time.Parse(layout, s); err == nil {
			return &t, nil
		}
	}
	return nil, fault.Validation(fault.FieldError{Field: field, Code: fault.CodeInvalidValue, Message: "must be a date (YYYY-MM-DD) or an RFC 3339 time"})
}

// ListScoreUpdates answers GET /v4/scoreUpdates (the caller's only).
func (h *Handlers) ListScoreUpdates(c echo.Context) error {
	skip, top, err := paging(c)
	if err != nil {
		return err
	}
	var f storage.ScoreUpdateFilter
	var errs []fault.FieldError
	if f.CreatedAfter, err = parseDate("createdAfter", c.QueryParam("createdAfter")); err != nil {
		errs = append(errs, fault.As(err).Fields...)
	}
	if f.CreatedBefore, err = parseDate("createdBefore", c.QueryParam("createdBefore")); err != nil {
		errs = append(errs, fault.As(err).Fields...)
	}
	if s := c.QueryParam("scoreId"); s != "" {
		id, err := strconv.ParseInt(s, 10, 64)
		if err != nil || id <= 0 {
			errs = append(errs, fault.FieldError{Field: "scoreId", Code: fault.CodeInvalidValue, Message: "must be a positive integer"})
		}
		f.ScoreID = &id
	}
	if s := c.QueryParam("loadStatus"); s != "" {
		st, ok := fileload.LoadStatusOf(s)
		if !ok {
			errs = append(errs, fault.FieldError{Field: "loadStatus", Code: fault.CodeInvalidValue,
				Message: "must be one of PendingApproval, Approved, Disapproved, Canceled or Completed"})
		}
		f.LoadStatus = &st
	}
	if len(errs) > 0 {
		return fault.Validation(errs...)
	}
	ctx := c.Request().Context()
	ups, total, err := h.Store.ScoreUpdatesOfKey(ctx, middleware.Key(c).ID, f, skip, top)
	if err != nil {
		return err
	}
	p := Page[ScoreUpdate]{Items: []ScoreUpdate{}, Count: total}
	cache := map[int64]Score{}
	for i := range ups {
		su, err := h.scoreUpdateOf(ctx, &ups[i], cache)
		if err != nil {
			return err
		}
		p.Items = append(p.Items, su)
	}
	p.NextPageLink = nextLink(c, skip, top, len(ups), total)
	return c.JSON(http.StatusOK, p)
}

// GetScoreUpdate answers GET /v4/scoreUpdates/{scoreUpdateId}.
func (h *Handlers) GetScoreUpdate(c echo.Context) error {
	id, err := pathID(c, "scoreUpdateId", "score update")
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	u, err := h.Store.ScoreUpdateOfKey(ctx, id, middleware.Key(c).ID)
	if err != nil {
		return err
	}
	su, err := h.scoreUpdateOf(ctx, u, map[int64]Score{})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, su)
}

// PatchScoreUpdate answers PATCH /v4/scoreUpdates/{id} {"loadStatus": ...}
// with 204.
func (h *Handlers) PatchScoreUpdate(c echo.Context) error {
	id, err := pathID(c, "scoreUpdateId", "score update")
	if err != nil {
		return err
	}
	var body struct {
		LoadStatus *string `json:"loadStatus"`
	}
	raw, err := io.ReadAll(io.LimitReader(c.Request().Body, 64<<10))
	if err != nil {
		return err
	}
	if err := json.Unmarshal(raw, &body); err != nil {
		return fault.Validation(fault.FieldError{Field: "body", Code: fault.CodeInvalidValue, Message: "the request body must be a JSON object"})
	}
	if body.LoadStatus == nil || *body.LoadStatus == "" {
		return fault.Validation(fault.FieldError{Field: "loadStatus", Code: fault.CodeRequired, Message: "is required"})
	}
	if err := fileload.SetLoadStatus(c.Request().Context(), h.Store, middleware.Key(c).ID, id, *body.LoadStatus); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// RenderError writes VAN's error shape:
// {"errors":[{"code","text","properties","referenceCode"}]}.
func RenderError(c echo.Context, status int, e *fault.Error) error {
	type vanErr struct {
		Code          string   `json:"code"`
		Text          string   `json:"text"`
		Properties    []string `json:"properties,omitempty"`
		ReferenceCode string   `json:"referenceCode"`
	}
	ref := middleware.RequestID(c)
	var out []vanErr
	for _, f := range e.Fields {
		code := "INVALID_PARAMETER"
		if f.Code == fault.CodeRequired {
			code = "MISSING_PARAMETER"
		}
		out = append(out, vanErr{Code: code, Text: f.Field + ": " + f.Message, Properties: []string{f.Field}, ReferenceCode: ref})
	}
	if len(out) == 0 {
		msg := e.Message
		if e.Kind == fault.Internal {
			msg = "An unexpected error occurred; quote the reference code to support"
		}
		code := vanCode(e.Kind)
		if status == http.StatusMethodNotAllowed {
			code = "METHOD_NOT_ALLOWED"
		}
		out = append(out, vanErr{Code: code, Text: msg, ReferenceCode: ref})
	}
	if e.Kind == fault.Unauthorized {
		c.Response().Header().Set("WWW-Authenticate", `Basic realm="VAN"`)
	}
	return c.JSON(status, map[string]any{"errors": out})
}

func vanCode(k fault.Kind) string {
	switch k {
	case fault.Unauthorized:
		return "UNAUTHORIZED"
	case fault.Forbidden:
		return "FORBIDDEN"
	case fault.Invalid, fault.Query:
		return "INVALID_PARAMETER"
	case fault.NotFound:
		return "NOT_FOUND"
	case fault.Conflict:
		return "CONFLICT"
	case fault.RateLimited:
		return "TOO_MANY_REQUESTS"
	case fault.Timeout:
		return "TIMEOUT"
	case fault.Unavailable:
		return "SERVICE_UNAVAILABLE"
	}
	return "INTERNAL_SERVER_ERROR"
}
