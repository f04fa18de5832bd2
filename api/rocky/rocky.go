// Package rocky is the Rock the Vote "Rocky" API v4-compatible surface
// under /api/v4: partners, state requirements, registrations
// with their PDF, reminders and bulk statistics rows. Rules live in
// jobs/registration; this package decodes, calls it and answers in Rocky's
// shapes: success bodies as the seed lists them, errors as {field_name,
// message} or {message} with status 400 (429 for an oversized batch), and
// JSONP when a callback is given. docs/compat/rocky.md lists every
// difference from Rocky.
package rocky

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
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

// partnerInPath reads GET partners/{id}.json's credential: the id from the
// path, the key from partner_API_key.
func partnerInPath(c echo.Context) (middleware.Credential, error) {
	id, ok := pathID(c)
	secret := c.QueryParam("partner_API_key")
	if !ok || secret == "" {
		return middleware.Credential{}, fault.New(fault.Unauthorized, "Invalid Partner or API key")
	}
	return middleware.Credential{Secret: secret, Check: func(k *storage.APIKey) error {
		if k.RockyPartnerID == nil || *k.RockyPartnerID != id {
			return fault.New(fault.Unauthorized, "Invalid Partner or API key")
		}
		return nil
	}}, nil
}

// pathID parses ":id" with or without the ".json" suffix. Rocky's older
// form names the partner in the query instead: partners/partner.json?partner_id=7.
func pathID(c echo.Context) (int64, bool) {
	id := strings.TrimSuffix(c.Param("id"), ".json")
	if id == "partner" {
		id = c.QueryParam("partner_id")
	}
	n, err := strconv.ParseInt(id, 10, 64)
	return n, err == nil && n > 0
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

// checkParams rejects query parameters the endpoint does not define, with
// Rocky's syntax error. "_" is jQuery's JSONP cache buster.
func checkParams(c echo.Context, allowed ...string) error {
	names := make([]string, 0)
	for k := range c.QueryParams() {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		if k != "callback" && k != "_" && !slices.Contains(allowed, k) {
			return syntaxError(k)
		}
	}
	return nil
}

func syntaxError(field string) error {
	return fault.Validation(fault.FieldError{Field: field, Code: fault.CodeInvalidValue, Message: registration.InvalidParameterType})
}

// maxBody bounds a Rocky request body other than bulk's.
const maxBody = 4 << 20

// readBody reads a request body of up to limit bytes; a form-encoded body
// is turned into the JSON object Rails would have made of it.
func readBody(c echo.Context, limit int64) ([]byte, error) {
	raw, err := io.ReadAll(io.LimitReader(c.Request().Body, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(raw)) > limit {
		return nil, fault.New(fault.Invalid, "request body too large")
	}
	if isForm(c.Request()) {
		return formObject(raw)
	}
	return raw, nil
}

// decodeObject reads a JSON (or form-encoded) object body, returning the
// object under key. Values stay raw so validation sees what the client
// sent.
func decodeObject(c echo.Context, key string) (registration.Input, error) {
	raw, err := readBody(c, maxBody)
	if err != nil {
		return nil, err
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(raw, &top); err != nil {
		return nil, fault.New(fault.Invalid, "the body must be a JSON object with the fields nested under %q", key)
	}
	if cb := top["callback"]; cb != nil {
		var s string
		if json.Unmarshal(cb, &s) == nil {
			c.Set(callbackKey, s)
		}
	}
	inner, ok := top[key]
	if !ok {
		return nil, fault.Validation(fault.FieldError{Field: key, Code: fault.CodeRequired,
			Message: fmt.Sprintf("Required: post the fields nested under %q", key)})
	}
	var in registration.Input
	if err := json.Unmarshal(inner, &in); err != nil || in == nil {
		return nil, fault.Validation(fault.FieldError{Field: key, Code: fault.CodeInvalidValue, Message: "Must be a JSON object"})
	}
	if cb := in["callback"]; cb != nil {
		var s string
		if json.Unmarshal(cb, &s) == nil && s != "" {
			c.Set(callbackKey, s)
		}
	}
	return in, nil
}

func (h *Handler) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

func (h *Handler) pdfURL(uid string) string {
	return h.PublicURL.String() + registration.PDFPath(uid)
}

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

// uidError reports an unknown registrant in the seed's shape.
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

// StopRemindersPage is the link in reminder e-mails: the unguessable uid is
// the capability, as it is for the PDF. GET only shows a button that POSTs
// back, because mail scanners open links and must not stop reminders. The
// page is for a person on a phone: styled, in the registrant's language,
// and an unknown link is a page too (404), never JSON.
func (h *Handler) StopRemindersPage(c echo.Context) error {
	uid := c.Param("uid")
	ctx := c.Request().Context()
	r, err := h.Service.Store.RegistrantByUID(ctx, uid)
	if fault.Is(err, fault.NotFound) {
		return renderPage(c, http.StatusNotFound, pageLang(c, ""), pageNotFound, false)
	}
	if err != nil {
		return err
	}
	lang := pageLang(c, r.Locale)
	if c.Request().Method == http.MethodGet {
		return renderPage(c, http.StatusOK, lang, pageAsk, true)
	}
	if _, err := h.Service.Store.StopReminders(ctx, r.PartnerID, uid); err != nil {
		return err
	}
	return renderPage(c, http.StatusOK, lang, pageDone, false)
}

// pageLang is the registrant's language, or for an unknown registrant the
// browser's first choice among the supported ones.
func pageLang(c echo.Context, locale string) string {
	if registration.SupportedLanguage(locale) {
		return locale
	}
	for _, tag := range strings.Split(c.Request().Header.Get("Accept-Language"), ",") {
		l := registration.NormalizeLanguage(strings.Split(tag, ";")[0])
		if registration.SupportedLanguage(l) {
			return l
		}
	}
	return "en"
}

type pageText struct{ Title, Body, Button string }

var (
	pageAsk = map[string]pageText{
		"en": {"Stop reminders", "Stop the reminder e-mails about your voter registration form?", "Stop reminders"},
		"es": {"Detener recordatorios", "¿Detener los recordatorios por correo electrónico sobre su solicitud de inscripción electoral?", "Detener recordatorios"},
	}
	pageDone = map[string]pageText{
		"en": {"Reminders stopped", "You will not receive any more reminders about your voter registration form.", ""},
		"es": {"Recordatorios detenidos", "No recibirá más recordatorios sobre su solicitud de inscripción electoral.", ""},
	}
	pageNotFound = map[string]pageText{
		"en": {"Link not found", "This link is not valid. Check that you opened the whole link from your e-mail.", ""},
		"es": {"Enlace no encontrado", "Este enlace no es válido. Compruebe que abrió el enlace completo de su correo electrónico.", ""},
	}
)

var stopPage = template.Must(template.New("stop").Parse(`<!doctype html>
<html lang="{{.Lang}}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex"><title>{{.T.Title}}</title>
<style>
body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:#f4f5f7;color:#1d2330}
main{max-width:32rem;margin:12vh auto 0;padding:2rem 1.5rem;background:#fff;border-radius:12px;box-shadow:0 1px 4px rgba(0,0,0,.12)}
h1{font-size:1.4rem;margin:0 0 1rem}
button{font:inherit;font-weight:600;width:100%;padding:.9rem;border:0;border-radius:8px;background:#c8102e;color:#fff;cursor:pointer}
@media (max-width:36rem){main{margin:0;border-radius:0;min-height:100vh;box-sizing:border-box}}
</style></head>
<body><main><h1>{{.T.Title}}</h1><p>{{.T.Body}}</p>
{{if .Form}}<form method="post"><button type="submit">{{.T.Button}}</button></form>{{end}}
</main></body></html>
`))

func renderPage(c echo.Context, status int, lang string, texts map[string]pageText, form bool) error {
	var b bytes.Buffer
	if err := stopPage.Execute(&b, map[string]any{"Lang": lang, "T": texts[lang], "Form": form}); err != nil {
		return err
	}
	c.Response().Header().Set("X-Robots-Tag", "noindex")
	return c.HTMLBlob(status, b.Bytes())
}

// PDF serves a registrant's form from the blob store.
func (h *Handler) PDF(c echo.Context) error {
	// A missing PDF is a 404 (a browser follows this link), unlike
	// Rocky's API errors, which are all 400.
	notFound := func() error {
		return respond(c, http.StatusNotFound, map[string]any{"message": "PDF not found, or not ready yet: check pdf_ready"})
	}
	uid, ok := strings.CutSuffix(c.Param("file"), ".pdf")
	if !ok || len(uid) < 32 || strings.ContainsAny(uid, "/.\\") {
		return notFound()
	}
	rc, err := h.Blobs.Open(c.Request().Context(), registration.PDFKey(uid))
	if err != nil {
		if fault.Is(err, fault.NotFound) || fault.Is(err, fault.Invalid) {
			return notFound()
		}
		return err
	}
	defer rc.Close()
	c.Response().Header().Set("Cache-Control", "private, max-age=3600")
	c.Response().Header().Set("X-Robots-Tag", "noindex")
	return c.Stream(http.StatusOK, "application/pdf", rc)
}

// Bulk answers POST registrations/bulk: a JSON list of records, or
// {"registrants": [...]} with the credentials beside it.
func (h *Handler) Bulk(c echo.Context) error {
	records, err := decodeList(c, "registrants")
	if err != nil {
		return err
	}
	res, err := h.bulk(c, records, "bulk")
	if err != nil {
		return err
	}
	if res.Errors != nil {
		return respond(c, http.StatusBadRequest, bulkErrors(res.Errors))
	}
	// The seed names the count abandoned_registrations; Rocky's code
	// registrants_added. Both are sent.
	return respond(c, http.StatusOK, map[string]any{"abandoned_registrations": res.Written, "registrants_added": res.Written})
}

// BulkGRegistrations answers POST bulk_gregistrations.json.
func (h *Handler) BulkGRegistrations(c echo.Context) error {
	records, err := decodeList(c, "bulk_gregistrations")
	if err != nil {
		return err
	}
	res, err := h.bulk(c, records, "bulk_gregistration")
	if err != nil {
		return err
	}
	if res.Errors != nil {
		return respond(c, http.StatusBadRequest, bulkErrors(res.Errors))
	}
	return respond(c, http.StatusOK, map[string]any{"bulk_gregistrations": res.Written})
}

func (h *Handler) bulk(c echo.Context, records []registration.Input, kind string) (*registration.BulkResult, error) {
	if len(records) == 0 {
		return nil, fault.New(fault.Invalid, "no registrations given")
	}
	if err := middleware.CheckBatch(c, len(records)); err != nil {
		return nil, err
	}
	k := middleware.Key(c)
	return h.Service.Bulk(c.Request().Context(), *k.RockyPartnerID, records, kind)
}

// maxBulkBody bounds a bulk body: the batch size caps the records, this
// their bytes (about 8 KiB a record at the largest default batch).
const maxBulkBody = 8 << 20

func bulkErrors(errs []*registration.BulkError) []any {
	out := make([]any, len(errs))
	for i, e := range errs {
		if e == nil {
			out[i] = map[string]any{}
		} else {
			out[i] = e
		}
	}
	return out
}

// decodeList reads a JSON array of objects, or an object holding one
// under key; a form body holds it as Rails reads a list of objects
// (key[][field]=value, or key[0][field]=value as jQuery sends it).
func decodeList(c echo.Context, key string) ([]registration.Input, error) {
	raw, err := readBody(c, maxBulkBody)
	if err != nil {
		return nil, err
	}
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '{' {
		var top map[string]json.RawMessage
		if err := json.Unmarshal(raw, &top); err != nil {
			return nil, fault.New(fault.Invalid, "the body must be a JSON list of registrations or an object with %q", key)
		}
		for k := range top {
			if k != key && k != "partner_id" && k != "partner_API_key" && k != "callback" {
				return nil, syntaxError(k)
			}
		}
		raw = top[key]
	}
	form := isForm(c.Request())
	if form {
		if l, ok := indexedList(raw); ok {
			raw = l
		}
	}
	var list []registration.Input
	if err := json.Unmarshal(raw, &list); err != nil {
		if form {
			// A form can say a list of objects only as Rails reads one.
			return nil, fault.Validation(fault.FieldError{Field: key, Code: fault.CodeInvalidValue,
				Message: fmt.Sprintf("Must be a list of registration objects: %s[][field]=value or %s[0][field]=value", key, key)})
		}
		return nil, fault.Validation(fault.FieldError{Field: key, Code: fault.CodeInvalidValue,
			Message: "Must be a JSON list of registration objects"})
	}
	for _, in := range list {
		if in == nil {
			return nil, fault.Validation(fault.FieldError{Field: key, Code: fault.CodeInvalidValue,
				Message: "Must be a JSON list of registration objects"})
		}
	}
	return list, nil
}

// StateRequirements answers GET state_requirements.json.
func (h *Handler) StateRequirements(c echo.Context) error {
	if err := checkParams(c, "lang", "home_state_id", "home_zip_code", "date_of_birth", "partner_id"); err != nil {
		// Seed: {message, field_name} for an undefined parameter.
		return err
	}
	req, err := h.Service.Validator.Ref.StateRequirements(registration.RequirementsQuery{
		Lang: c.QueryParam("lang"), HomeStateID: c.QueryParam("home_state_id"),
		HomeZIPCode: c.QueryParam("home_zip_code"), DateOfBirth: c.QueryParam("date_of_birth"),
		PreRegistration: h.Service.Validator.PreRegistration,
	}, h.now())
	if err != nil {
		return err
	}
	return respond(c, http.StatusOK, req)
}

// GRegistrationStates answers GET gregistrationstates.json.
func (h *Handler) GRegistrationStates(c echo.Context) error {
	if err := checkParams(c); err != nil {
		return err
	}
	states := []map[string]string{}
	for _, s := range h.Service.Validator.Ref.GRegistrationStates() {
		states = append(states, map[string]string{"name": s.Abbreviation, "url": *s.OnlineRegistrationURL})
	}
	return respond(c, http.StatusOK, map[string]any{"states": states})
}

// CreatePartner answers POST partners.json: the new partner's id and its
// API key, which is shown only here.
func (h *Handler) CreatePartner(c echo.Context) error {
	in, err := decodeObject(c, "partner")
	if err != nil {
		return err
	}
	p, err := h.Service.Validator.NewPartner(in)
	if err != nil {
		return err
	}
	created, err := h.Service.Store.CreateRockyPartner(c.Request().Context(), p, h.BatchSize)
	if err != nil {
		return err
	}
	return respond(c, http.StatusOK, map[string]any{
		"partner_id":      strconv.FormatInt(created.Partner.ID, 10),
		"partner_API_key": created.Key.Secret,
	})
}

func (h *Handler) partner(c echo.Context) (*storage.RockyPartner, error) {
	id, ok := pathID(c)
	if !ok {
		return nil, fault.New(fault.Unauthorized, "Invalid Partner or API key")
	}
	p, err := h.Service.Store.RockyPartner(c.Request().Context(), id)
	if fault.Is(err, fault.NotFound) {
		return nil, fault.New(fault.Unauthorized, "Invalid Partner or API key")
	}
	return p, err
}

// GetPartner answers GET partners/{id}.json (partner key).
func (h *Handler) GetPartner(c echo.Context) error {
	if err := checkParams(c, "partner_id", "partner_API_key"); err != nil {
		return err
	}
	p, err := h.partner(c)
	if err != nil {
		return err
	}
	out := map[string]any{
		// Aliases Rocky also sends (its own names of the same fields).
		"organization": p.OrgName, "url": p.OrgURL, "privacy_url": p.OrgPrivacyURL, "name": p.ContactName,
		"phone": p.ContactPhone, "address": p.ContactAddress, "city": p.ContactCity,
		"state_abbrev": p.ContactState, "zip_code": p.ContactZIP,
		"org_name": p.OrgName, "org_URL": p.OrgURL, "org_privacy_url": p.OrgPrivacyURL,
		"contact_name": p.ContactName, "contact_email": p.ContactEmail, "contact_phone": p.ContactPhone,
		"contact_address": p.ContactAddress, "contact_city": p.ContactCity, "contact_state": p.ContactState,
		"contact_ZIP": p.ContactZIP, "logo_image_URL": p.LogoImageURL,
		"application_css_URL": p.ApplicationCSSURL, "registration_css_URL": p.RegistrationCSSURL,
		// "parnter_css_URL" is the seed's spelling; the correct one is sent too.
		"parnter_css_URL": p.PartnerCSSURL, "partner_css_URL": p.PartnerCSSURL,
		"finish_iframe_url": p.FinishIframeURL, "whitelabeled": p.Whitelabeled,
		"rtv_email_opt_in": p.RTVEmailOptIn, "partner_email_opt_in": p.PartnerEmailOptIn,
		"rtv_sms_opt_in": p.RTVSMSOptIn, "partner_sms_opt_in": p.PartnerSMSOptIn,
		"rtv_ask_email_opt_in": p.RTVEmailOptIn, "partner_ask_email_opt_in": p.PartnerEmailOptIn,
		"rtv_ask_sms_opt_in": p.RTVSMSOptIn, "partner_ask_sms_opt_in": p.PartnerSMSOptIn,
		"ask_for_volunteers": p.AskForVolunteers, "partner_ask_for_volunteers": p.PartnerAskForVolunteers,
		"external_tracking_snippet": p.ExternalTrackingSnippet, "registration_instructions_url": p.RegistrationInstructionsURL,
		"application_css_present": p.ApplicationCSSURL != "", "application_css_url": p.ApplicationCSSURL,
		"registration_css_present": p.RegistrationCSSURL != "", "registration_css_url": p.RegistrationCSSURL,
		"partner_css_present": p.PartnerCSSURL != "", "partner_css_url": p.PartnerCSSURL,
		"primary": p.IsPrimary,
	}
	for n, byLocale := range p.Questions() {
		for loc, q := range byLocale {
			out["survey_question_"+n+"_"+loc] = q
		}
	}
	return respond(c, http.StatusOK, out)
}

// PublicProfile answers GET partnerpublicprofiles/{id}.json (no key): the
// public subset and its alias fields.
func (h *Handler) PublicProfile(c echo.Context) error {
	if err := checkParams(c, "partner_id"); err != nil {
		return err
	}
	p, err := h.partner(c)
	if err != nil {
		return err
	}
	qs := p.Questions()
	q := func(n string) map[string]string {
		if qs[n] == nil {
			return map[string]string{}
		}
		return qs[n]
	}
	return respond(c, http.StatusOK, map[string]any{
		"org_name": p.OrgName, "org_URL": p.OrgURL, "org_privacy_url": p.OrgPrivacyURL,
		"logo_image_URL": p.LogoImageURL, "survey_question_1": q("1"), "survey_question_2": q("2"),
		"whitelabeled": p.Whitelabeled, "rtv_ask_email_opt_in": p.RTVEmailOptIn,
		"partner_ask_email_opt_in": p.PartnerEmailOptIn, "rtv_ask_sms_opt_in": p.RTVSMSOptIn,
		"partner_ask_sms_opt_in": p.PartnerSMSOptIn, "rtv_ask_volunteer": p.AskForVolunteers,
		"partner_ask_volunteer": p.PartnerAskForVolunteers,
		// Aliases Rocky documents beside the contact fields.
		"organization": p.OrgName, "url": p.OrgURL, "privacy_url": p.OrgPrivacyURL,
		"rtv_email_opt_in": p.RTVEmailOptIn, "partner_email_opt_in": p.PartnerEmailOptIn,
		"rtv_sms_opt_in": p.RTVSMSOptIn, "partner_sms_opt_in": p.PartnerSMSOptIn,
	})
}
