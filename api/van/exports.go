package van

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/turnoutdev/turnout/api/middleware"
	"github.com/turnoutdev/turnout/internal/fault"
	"github.com/turnoutdev/turnout/jobs/export"
	"github.com/turnoutdev/turnout/storage"
)

// DefaultExportWait bounds how long POST /v4/exportJobs waits for the
// export to complete before answering (below the 30 s request timeout).
const DefaultExportWait = 20 * time.Second

// exportBody is POST /v4/exportJobs's body. Parsons sends savedListId and
// type as strings ("517612", "4"); VAN's reference shows numbers; both are
// taken.
type exportBody struct {
	SavedListID     json.RawMessage `json:"savedListId"`
	Type            json.RawMessage `json:"type"`
	WebhookURL      *string         `json:"webhookUrl"`
	SurveyQuestions json.RawMessage `json:"surveyQuestions"`
	ActivistCodes   json.RawMessage `json:"activistCodes"`
	CustomFields    json.RawMessage `json:"customFields"`
	DistrictFields  json.RawMessage `json:"districtFields"`
}

// intParam reads a positive integer given as a JSON number or a string of
// digits.
func intParam(field string, raw json.RawMessage) (int64, *fault.FieldError) {
	s := strings.TrimSpace(string(raw))
	if s == "" || s == "null" {
		return 0, &fault.FieldError{Field: field, Code: fault.CodeRequired, Message: "is required"}
	}
	if unq, err := strconv.Unquote(s); err == nil && strings.HasPrefix(s, `"`) {
		s = strings.TrimSpace(unq)
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, &fault.FieldError{Field: field, Code: fault.CodeInvalidValue, Message: "must be a positive integer"}
	}
	return n, nil
}

// noSelection refuses VAN's extra-column selections, which name data
// Turnout does not hold; null or an empty array is accepted.
func noSelection(field string, raw json.RawMessage) *fault.FieldError {
	var items []json.RawMessage
	if len(bytes.TrimSpace(raw)) == 0 || (json.Unmarshal(raw, &items) == nil && len(items) == 0) {
		return nil
	}
	return &fault.FieldError{Field: field, Code: fault.CodeInvalidValue,
		Message: "is not supported: Turnout holds no such data; leave it out (the export type sets the columns)"}
}

func parseExport(raw []byte) (savedList int64, typ int, webhook string, err error) {
	var b exportBody
	if err := json.Unmarshal(raw, &b); err != nil {
		return 0, 0, "", fault.Validation(fault.FieldError{Field: "body", Code: fault.CodeInvalidValue, Message: "the request body must be a JSON object"})
	}
	var errs []fault.FieldError
	savedList, fe := intParam("savedListId", b.SavedListID)
	if fe != nil {
		errs = append(errs, *fe)
	}
	t, fe := intParam("type", b.Type)
	if fe == nil && t > 1<<30 {
		fe = &fault.FieldError{Field: "type", Code: fault.CodeInvalidValue, Message: "must be an export type id (GET /v4/exportJobTypes)"}
	}
	if fe != nil {
		errs = append(errs, *fe)
	}
	for _, sel := range []struct {
		field string
		raw   json.RawMessage
	}{{"surveyQuestions", b.SurveyQuestions}, {"activistCodes", b.ActivistCodes}, {"customFields", b.CustomFields}, {"districtFields", b.DistrictFields}} {
		if fe := noSelection(sel.field, sel.raw); fe != nil {
			errs = append(errs, *fe)
		}
	}
	if len(errs) > 0 {
		return 0, 0, "", fault.Validation(errs...)
	}
	if b.WebhookURL != nil {
		webhook = *b.WebhookURL
	}
	return savedList, int(t), webhook, nil
}

// CreateExportJob answers POST /v4/exportJobs with 201 and the export job
// object. It waits (ExportWait) for the export to complete, so a list that
// exports in that time comes back Completed with its downloadUrl, which is
// where clients such as Parsons read it; a longer one comes back Requested
// or Pending and completes later (poll GET /v4/exportJobs/{id}, or take
// the webhook).
func (h *Handlers) CreateExportJob(c echo.Context) error {
	raw, err := io.ReadAll(io.LimitReader(c.Request().Body, 64<<10+1))
	if err != nil {
		return err
	}
	if len(raw) > 64<<10 {
		return fault.Validation(fault.FieldError{Field: "body", Code: fault.CodeOutOfRange, Message: "the request body is larger than 64 KiB"})
	}
	list, typ, webhook, err := parseExport(raw)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	cl := caller(c)
	e, err := h.Exports.Create(ctx, export.Request{KeyID: cl.KeyID, DBMode: cl.DBMode, SavedListID: list, Type: typ, WebhookURL: webhook})
	if err != nil {
		return err
	}
	if wait := h.exportWait(); wait > 0 {
		wctx, cancel := context.WithTimeout(ctx, wait)
		err := h.Exports.Wait(wctx, cl.KeyID, e.JobID)
		cancel()
		if err != nil {
			return err
		}
		if e, err = h.Exports.Get(ctx, cl.KeyID, e.JobID); err != nil {
			return err
		}
	}
	return c.JSON(http.StatusCreated, h.exportView(c, e))
}

func (h *Handlers) exportWait() time.Duration {
	if h.ExportWait == 0 {
		return DefaultExportWait
	}
	return h.ExportWait
}

func (h *Handlers) exportView(c echo.Context, e *storage.ExportJob) export.View {
	download := ""
	if export.Downloadable(e, time.Now()) {
		download = baseURL(c) + export.DownloadPath(middleware.Key(c), e)
	}
	return export.ViewOf(e, download)
}

// GetExportJob answers GET /v4/exportJobs/{exportJobId}; a key sees only
// its own.
func (h *Handlers) GetExportJob(c echo.Context) error {
	id, err := pathID(c, "exportJobId", "export job")
	if err != nil {
		return err
	}
	e, err := h.Exports.Get(c.Request().Context(), middleware.Key(c).ID, id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, h.exportView(c, e))
}

// DownloadExport answers GET /v4/exportJobs/{id}/download/{token}.csv, a
// completed export's downloadUrl: the file, to anyone holding the URL, as
// VAN's blob-store URLs are (clients fetch it without credentials). A
// request presenting another key's credentials, a wrong token or an
// expired file gets 404. It is mounted without the request timeout: a
// large file streams for as long as it takes.
func (h *Handlers) DownloadExport(c echo.Context) error {
	id, err := pathID(c, "exportJobId", "export job")
	if err != nil {
		return err
	}
	token := strings.TrimSuffix(c.Param("file"), ".csv")
	rc, e, err := h.Exports.Open(c.Request().Context(), id, token, middleware.Key(c))
	if err != nil {
		return err
	}
	defer rc.Close()
	hd := c.Response().Header()
	hd.Set("Content-Disposition", `attachment; filename="export-job-`+strconv.FormatInt(e.JobID, 10)+`.csv"`)
	hd.Set("Cache-Control", "private, no-store")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("X-Content-Type-Options", "nosniff")
	return c.Stream(http.StatusOK, "text/csv", rc)
}

// ExportJobType is VAN's export job type object.
type ExportJobType struct {
	ExportJobTypeID int    `json:"exportJobTypeId"`
	Name            string `json:"name"`
}

// ListExportJobTypes answers GET /v4/exportJobTypes.
func (h *Handlers) ListExportJobTypes(c echo.Context) error {
	skip, top, err := paging(c)
	if err != nil {
		return err
	}
	total := int64(len(export.Types))
	p := Page[ExportJobType]{Items: []ExportJobType{}, Count: total}
	for i := skip; i < len(export.Types) && i < skip+top; i++ {
		p.Items = append(p.Items, ExportJobType{ExportJobTypeID: export.Types[i].ID, Name: export.Types[i].Name})
	}
	p.NextPageLink = nextLink(c, skip, top, len(p.Items), total)
	return c.JSON(http.StatusOK, p)
}

// APIKeyProfile is VAN's API key profile, filled from what Turnout knows
// of the key: its database mode, its name (committeeName), its
// application name (username) and its id (keyReference, userId). Nothing
// secret, not even the secret's hint. Turnout has no users, so the user's
// names are null, and no client profiles.
type APIKeyProfile struct {
	DatabaseName     string  `json:"databaseName"`
	HasMyVoters      bool    `json:"hasMyVoters"`
	HasMyCampaign    bool    `json:"hasMyCampaign"`
	HasClientProfile bool    `json:"hasClientProfile"`
	CommitteeName    string  `json:"committeeName"`
	APIKeyTypeName   string  `json:"apiKeyTypeName"`
	KeyReference     string  `json:"keyReference"`
	UserFirstName    *string `json:"userFirstName"`
	UserLastName     *string `json:"userLastName"`
	Username         string  `json:"username"`
	UserID           int64   `json:"userId"`
}

// ListAPIKeyProfiles answers GET /v4/apiKeyProfiles: a page holding the
// calling key's profile (Parsons reads the first item).
func (h *Handlers) ListAPIKeyProfiles(c echo.Context) error {
	k := middleware.Key(c)
	cl := caller(c)
	p := APIKeyProfile{DatabaseName: "Turnout My Voters", HasMyVoters: cl.DBMode == 0, HasMyCampaign: cl.DBMode == 1,
		CommitteeName: k.Name, APIKeyTypeName: "Custom Integration", KeyReference: strconv.FormatInt(k.ID, 10), UserID: k.ID}
	if cl.DBMode == 1 {
		p.DatabaseName = "Turnout My Campaign"
	}
	if k.VANApp != nil {
		p.Username = *k.VANApp
	}
	return c.JSON(http.StatusOK, Page[APIKeyProfile]{Items: []APIKeyProfile{p}, Count: 1})
}
