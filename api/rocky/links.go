package rocky

import (
	"bytes"
	"html/template"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/turnoutdev/turnout/internal/fault"
	"github.com/turnoutdev/turnout/jobs/registration"
)

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
