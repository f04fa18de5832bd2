package rocky

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/turnoutdev/turnout/api/middleware"
	"github.com/turnoutdev/turnout/internal/fault"
	"github.com/turnoutdev/turnout/internal/netguard"
	"github.com/turnoutdev/turnout/jobs/report"
	"github.com/turnoutdev/turnout/storage"
)

// Reports serves registrant reports (Rocky's "reports" and "report
// status" calls): create, poll, download. Every call takes the
// partner's partner_id and partner_API_key; a report of another partner is
// answered exactly like a bad key.
type Reports struct {
	Service   *report.Service
	PublicURL *url.URL
}

// reportParams are the fields POST registrant_reports.json defines.
var reportParams = []string{"partner_id", "partner_API_key", "since", "before", "email", "report_type", "callback",
	"callback_url"}

// Create answers POST registrant_reports.json: the fields come as a JSON
// object (what the Parsons connector sends), a form body, and/or query
// parameters.
func (h *Reports) Create(c echo.Context) error {
	in := map[string]string{}
	for k, v := range c.QueryParams() {
		if k == "_" {
			continue
		}
		if !slices.Contains(reportParams, k) {
			return syntaxError(k)
		}
		in[k] = v[0]
	}
	raw, err := io.ReadAll(io.LimitReader(c.Request().Body, 64<<10+1))
	if err != nil {
		return err
	}
	if len(raw) > 64<<10 {
		return fault.New(fault.Invalid, "request body too large")
	}
	if isForm(c.Request()) {
		if raw, err = formObject(raw); err != nil {
			return err
		}
	}
	if s := strings.TrimSpace(string(raw)); s != "" {
		var body map[string]json.RawMessage
		if err := json.Unmarshal(raw, &body); err != nil {
			return fault.New(fault.Invalid, "the body must be a JSON object with the report's fields")
		}
		keys := make([]string, 0, len(body))
		for k := range body {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			if !slices.Contains(reportParams, k) {
				return syntaxError(k)
			}
			v, ok := scalar(body[k])
			if !ok {
				return fault.Validation(fault.FieldError{Field: k, Code: fault.CodeInvalidValue, Message: "Invalid parameter type"})
			}
			if _, set := in[k]; !set {
				in[k] = v
			}
		}
	}
	if in["callback"] != "" {
		c.Set(callbackKey, in["callback"])
	}
	r, err := h.Service.Create(c.Request().Context(), report.Request{
		PartnerID: *middleware.Key(c).RockyPartnerID, Since: in["since"], Before: in["before"],
		Email: in["email"], ReportType: in["report_type"],
		KeyID: middleware.Key(c).ID, CallbackURL: in["callback_url"],
	})
	if err != nil {
		return err
	}
	return respond(c, http.StatusOK, h.statusBody(r))
}

// scalar reads a JSON string, number, boolean or null as text.
func scalar(raw json.RawMessage) (string, bool) {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return "", false
	}
	switch x := v.(type) {
	case nil:
		return "", true
	case string:
		return x, true
	case float64, bool:
		return strings.TrimSpace(string(raw)), true
	}
	return "", false
}

func (h *Reports) statusURL(id int64) string { return report.StatusURL(h.PublicURL, id) }

// statusBody is Rocky's report answer. status_url ends with the id (the
// Parsons connector parses it from there); download_url is empty until the
// report is complete.
func (h *Reports) statusBody(r *storage.RegistrantReport) map[string]any {
	download := ""
	if r.Status == storage.ReportComplete {
		download = h.statusURL(r.ID) + "/download"
	}
	m := map[string]any{
		"status": r.Status, "report_id": r.ID, "record_count": r.RecordCount, "current_index": r.CurrentIndex,
		"status_url": h.statusURL(r.ID), "download_url": download,
	}
	// The callback_url extension: the URL redacted (it may carry a
	// password or token) and every delivery attempt so far.
	if r.CallbackURL != nil {
		m["callback_url"] = netguard.RedactURL(*r.CallbackURL)
		ds := make([]reportDelivery, len(r.CallbackDeliveries))
		for i, d := range r.CallbackDeliveries {
			ds[i] = reportDelivery{WebhookID: d.WebhookID, Attempt: d.Attempt, StatusCode: d.StatusCode, OK: d.OK,
				Error: d.Error, AttemptedAt: d.AttemptedAt}
		}
		m["callback_deliveries"] = ds
	}
	return m
}

// reportDelivery is one attempt to deliver a report's callback: the
// webhook id (the same on every retry), the status the receiver answered
// (null when it could not be reached) and the error, if any.
type reportDelivery struct {
	WebhookID   string    `json:"webhook_id"`
	Attempt     int       `json:"attempt"`
	StatusCode  *int      `json:"status_code"`
	OK          bool      `json:"ok"`
	Error       *string   `json:"error"`
	AttemptedAt time.Time `json:"attempted_at"`
}

func reportID(c echo.Context) (int64, error) {
	id, ok := pathID(c)
	if !ok {
		return 0, fault.New(fault.Unauthorized, "Invalid Partner or API key")
	}
	return id, nil
}

// Status answers GET registrant_reports/{id}.json with the live status.
func (h *Reports) Status(c echo.Context) error {
	if err := checkParams(c, "partner_id", "partner_API_key"); err != nil {
		return err
	}
	id, err := reportID(c)
	if err != nil {
		return err
	}
	r, err := h.Service.Get(c.Request().Context(), *middleware.Key(c).RockyPartnerID, id)
	if err != nil {
		return err
	}
	return respond(c, http.StatusOK, h.statusBody(r))
}

// Download answers GET registrant_reports/{id}/download with the CSV. A
// report still building is 409, an expired one 410, both with {message}.
func (h *Reports) Download(c echo.Context) error {
	if err := checkParams(c, "partner_id", "partner_API_key"); err != nil {
		return err
	}
	id, err := reportID(c)
	if err != nil {
		return err
	}
	rc, r, err := h.Service.Open(c.Request().Context(), *middleware.Key(c).RockyPartnerID, id)
	var expired *report.ExpiredError
	if errors.As(err, &expired) {
		return respond(c, http.StatusGone, map[string]any{"message": expired.Error()})
	}
	if err != nil {
		return err
	}
	defer rc.Close()
	hd := c.Response().Header()
	hd.Set("Content-Disposition", `attachment; filename="registrants-report-`+strconv.FormatInt(r.ID, 10)+`.csv"`)
	hd.Set("Cache-Control", "private, no-store")
	if r.Bytes != nil {
		hd.Set("Content-Length", strconv.FormatInt(*r.Bytes, 10))
	}
	return c.Stream(http.StatusOK, "text/csv; charset=utf-8", rc)
}
