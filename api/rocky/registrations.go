package rocky

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/turnoutdev/turnout/api/middleware"
	"github.com/turnoutdev/turnout/internal/fault"
	"github.com/turnoutdev/turnout/jobs/registration"
)

// Register answers POST registrations.json: pdfurl and uid at once, or,
// with async=false, once the PDF exists. The registrant is stored either
// way, so an async=false call whose PDF is not ready within PDFWait is
// still a success: 200 with pdf_ready false, for the caller to poll
// pdf_ready with the uid (a failure would make the caller retry and
// register the person twice).
func (h *Handler) Register(c echo.Context) error {
	in, err := decodeObject(c, "registration")
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	r, async, err := h.Service.Register(ctx, in)
	if err != nil {
		return err
	}
	body := map[string]any{"pdfurl": h.pdfURL(r.UID), "uid": r.UID}
	if !async {
		body["pdf_ready"] = h.waitPDF(ctx, r.UID)
	}
	return respond(c, http.StatusOK, body)
}

// waitPDF waits up to PDFWait for uid's PDF and reports whether it is ready.
func (h *Handler) waitPDF(ctx context.Context, uid string) bool {
	wait := h.PDFWait
	if wait <= 0 {
		wait = 20 * time.Second
	}
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	return h.Service.WaitPDF(wctx, uid) == nil
}

// GRegister answers POST gregistrations.json: no body on success.
func (h *Handler) GRegister(c echo.Context) error {
	in, err := decodeObject(c, "registration")
	if err != nil {
		return err
	}
	if _, err := h.Service.GRegister(c.Request().Context(), in); err != nil {
		return err
	}
	return respond(c, http.StatusOK, map[string]any{})
}

// PDFReady answers GET registrations/pdf_ready?UID=.
func (h *Handler) PDFReady(c echo.Context) error {
	if err := checkParams(c, "UID", "partner_id", "partner_API_key"); err != nil {
		return err
	}
	uid := c.QueryParam("UID")
	if uid == "" {
		return fault.Validation(fault.FieldError{Field: "UID", Code: fault.CodeRequired, Message: "Required"})
	}
	ready, err := h.Service.PDFReady(c.Request().Context(), uid)
	if err != nil {
		return uidError(err)
	}
	return respond(c, http.StatusOK, map[string]any{"pdf_ready": ready, "UID": uid})
}

// uidError reports an unknown registrant as Rocky does: a UID field error.
func uidError(err error) error {
	if fault.Is(err, fault.NotFound) {
		return fault.Validation(fault.FieldError{Field: "UID", Code: fault.CodeInvalidValue, Message: "Registrant not found"})
	}
	return err
}

// StopReminders answers POST registrations/stop_reminders (partner key).
// UID may come in the query or in the JSON body.
func (h *Handler) StopReminders(c echo.Context) error {
	uid := c.QueryParam("UID")
	if uid == "" && c.Request().ContentLength != 0 {
		var body map[string]json.RawMessage
		raw, err := readBody(c, 1<<20)
		if err != nil {
			return err
		}
		if len(bytes.TrimSpace(raw)) > 0 {
			if err := json.Unmarshal(raw, &body); err != nil {
				return fault.New(fault.Invalid, "the body must be a JSON object")
			}
			for k := range body {
				if k != "UID" && k != "partner_id" && k != "partner_API_key" && k != "callback" {
					return syntaxError(k)
				}
			}
			_ = json.Unmarshal(body["UID"], &uid)
			var cb string
			if json.Unmarshal(body["callback"], &cb) == nil && cb != "" {
				c.Set(callbackKey, cb)
			}
		}
	}
	if err := checkParams(c, "UID", "partner_id", "partner_API_key"); err != nil {
		return err
	}
	if uid == "" {
		return fault.Validation(fault.FieldError{Field: "UID", Code: fault.CodeRequired, Message: "Required"})
	}
	k := middleware.Key(c)
	r, err := h.Service.Store.StopReminders(c.Request().Context(), *k.RockyPartnerID, uid)
	if err != nil {
		return uidError(err)
	}
	return respond(c, http.StatusOK, map[string]any{
		"UID": uid, "first_name": r.FirstName, "last_name": r.LastName, "email_address": r.EmailAddress,
		"reminders_stopped": true,
	})
}

func (h *Handler) pdfURL(uid string) string {
	return h.PublicURL.String() + registration.PDFPath(uid)
}
