package ops

import (
	"net/http"

	"github.com/hibiken/asynq"
	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/turnoutdev/turnout/api/middleware"
	"github.com/turnoutdev/turnout/api/openapi"
	"github.com/turnoutdev/turnout/storage"
)

// DashboardRoot is where the Asynq dashboard is mounted; it and every
// path below it answer errors with RenderAdminError.
const DashboardRoot = "/monitoring"

// dashboardMethods are those the Asynq dashboard and its JSON API use.
var dashboardMethods = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

// reference is the API reference page, rendered from the OpenAPI document
// once. The document is embedded and checked by the tests, so failing to
// render it is a build defect, as a bad template is.
var reference = func() echo.HandlerFunc {
	h, err := Reference(openapi.Spec)
	if err != nil {
		panic(err)
	}
	return h
}()

// Deps are what the operator endpoints need.
type Deps struct {
	Guards  middleware.Guards
	Handler *Handler
	// Registry is what /metrics exposes.
	Registry *prometheus.Registry
	// AsynqConn, Control and Jobs feed the dashboard: its task actions
	// go through Control, and Jobs summarises a task's job.
	AsynqConn asynq.RedisConnOpt
	Control   JobControl
	Jobs      JobReader
}

// Routes mounts the probes, the status page, the metrics, the OpenAPI
// document, the landing and reference pages, and the dashboard (admin
// credentials) on g, a group at the root.
func Routes(g *middleware.Group, d Deps) {
	g.GET("/healthz", d.Handler.Healthz)
	g.GET("/readyz", d.Handler.Readyz)
	g.GET("/status", d.Handler.StatusPage)
	g.GET("/status.json", d.Handler.StatusJSON)
	g.GET("/metrics", Metrics(d.Registry))
	g.GET("/openapi.yaml", func(c echo.Context) error { return c.Blob(http.StatusOK, "application/yaml", openapi.Spec) })
	g.GET("/", Landing)
	g.GET("/reference", reference)

	dash := NewDashboard(DashboardRoot, d.AsynqConn, d.Control, d.Jobs).Handle
	// Browsers fetch a web manifest without credentials; it holds nothing.
	g.GET(DashboardRoot+"/manifest.json", dash)
	admin := middleware.Authenticate(d.Guards.Keys, storage.ScopeAdmin, middleware.AdminBasicOrKey)
	mon := g.Group(DashboardRoot, middleware.Surface(RenderAdminError), admin)
	mon.Match(dashboardMethods, "", dash)
	mon.Match(dashboardMethods, "/*", dash)
}
