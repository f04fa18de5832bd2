package rocky

import (
	"net/http"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/turnoutdev/turnout/api/middleware"
	"github.com/turnoutdev/turnout/storage"
)

// Paths are the paths the surface owns: the API, and the PDF and
// stop-reminders links sent to registrants. Below them, a path or method
// no route has is answered with RenderError.
var Paths = []string{"/api/v4", "/pdf", "/stop_reminders"}

// Deps are what the surface needs. Either handler may be nil: its routes
// are then not mounted.
type Deps struct {
	Guards  middleware.Guards
	Handler *Handler
	Reports *Reports
}

// Routes mounts the surface on g, a group at the root answering errors
// with RenderError.
func Routes(g *middleware.Group, d Deps) {
	if d.Handler != nil {
		apiRoutes(g, d.Guards, d.Handler)
	}
	if d.Reports != nil {
		reportRoutes(g.Group("/api/v4"), d.Guards, d.Reports)
	}
}

// apiRoutes mounts partners, state requirements, registrations and the
// registrant links. Rails serves every route with or without its format
// suffix; clients use both, so both are routed.
func apiRoutes(g *middleware.Group, gd middleware.Guards, h *Handler) {
	v4 := g.Group("/api/v4", gd.Timeout)
	limit := gd.Limiter.Middleware()
	partner := middleware.Authenticate(gd.Keys, storage.ScopeRocky, middleware.RockyPartner)
	admin := middleware.Authenticate(gd.Keys, storage.ScopeAdmin, middleware.NativeKey)
	route := func(method, path string, hf echo.HandlerFunc, m ...echo.MiddlewareFunc) {
		v4.Add(method, path, hf, m...)
		if alt, ok := strings.CutSuffix(path, ".json"); ok {
			v4.Add(method, alt, hf, m...)
		} else if !strings.Contains(path, ":") {
			v4.Add(method, path+".json", hf, m...)
		}
	}
	// Public endpoints (no key, as in Rocky) are limited per client address
	// and answer browsers of any origin, preflight included.
	var public []echo.MiddlewareFunc
	if l := gd.PublicLimit(); l != nil {
		public = append(public, l)
	}
	browser := func(method, path string, hf echo.HandlerFunc, m ...echo.MiddlewareFunc) {
		route(method, path, hf, append([]echo.MiddlewareFunc{cors}, m...)...)
		route(http.MethodOptions, path, preflight)
	}
	if h.OpenSignup {
		// Open sign-up mints a key per call: it spends the address's public
		// budget and has a lower budget of its own.
		signup := slices.Clone(public)
		if h.SignupsPerHour > 0 {
			signup = append(signup, gd.Limiter.SignupsPerAddress(h.SignupsPerHour))
		}
		route(http.MethodPost, "/partners.json", h.CreatePartner, signup...)
	} else {
		route(http.MethodPost, "/partners.json", h.CreatePartner, admin, limit, middleware.Resource("rockyPartnerCreate"))
	}
	route(http.MethodGet, "/partners/:id", h.GetPartner, middleware.Authenticate(gd.Keys, storage.ScopeRocky, partnerInPath), limit,
		middleware.Resource("rockyPartnerRead"))
	browser(http.MethodGet, "/partnerpublicprofiles/:id", h.PublicProfile, public...)
	browser(http.MethodGet, "/state_requirements.json", h.StateRequirements, public...)
	browser(http.MethodGet, "/gregistrationstates.json", h.GRegistrationStates, public...)
	browser(http.MethodPost, "/registrations.json", h.Register, public...)
	browser(http.MethodGet, "/registrations/pdf_ready", h.PDFReady, public...)
	browser(http.MethodPost, "/registrations/stop_reminders", h.StopReminders, partner, limit, middleware.Resource("rockyStopReminders"))
	browser(http.MethodPost, "/gregistrations.json", h.GRegister, public...)
	route(http.MethodPost, "/registrations/bulk", h.Bulk, partner, limit, middleware.Resource("rockyBulk"))
	route(http.MethodPost, "/bulk_gregistrations.json", h.BulkGRegistrations, partner, limit, middleware.Resource("rockyBulk"))

	links := g.Group("", gd.Timeout)
	links.GET("/pdf/:file", h.PDF)
	links.GET("/stop_reminders/:uid", h.StopRemindersPage)
	links.POST("/stop_reminders/:uid", h.StopRemindersPage)
}

// reportRoutes mounts the registrant reports on g (at /api/v4). The
// request timeout applies to create and status; a download streams for as
// long as the file takes.
func reportRoutes(g *middleware.Group, gd middleware.Guards, h *Reports) {
	partner := middleware.Authenticate(gd.Keys, storage.ScopeRocky, middleware.RockyPartner)
	limit := gd.Limiter.Middleware()
	for _, p := range []string{"/registrant_reports.json", "/registrant_reports"} {
		g.POST(p, h.Create, gd.Timeout, partner, limit, middleware.Resource("rockyReportCreate"))
	}
	// ":id" is "17" (the status_url) or "17.json".
	g.GET("/registrant_reports/:id", h.Status, gd.Timeout, partner, limit, middleware.Resource("rockyReportRead"))
	g.GET("/registrant_reports/:id/download", h.Download, partner, limit, middleware.Resource("rockyReportDownload"))
}
