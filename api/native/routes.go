package native

import (
	"github.com/turnoutdev/turnout/api/middleware"
	"github.com/turnoutdev/turnout/storage"
)

// Paths are the paths the surface owns: below them, a path or method no
// route has is answered with RenderError.
var Paths = []string{root}

// root is where the routes are.
const root = "/service"

// Deps are what the surface needs.
type Deps struct {
	Guards middleware.Guards
	Jobs   *Jobs
}

// Routes mounts /service/jobs on g, a group at the root answering errors
// with RenderError. Any key reads and controls its own jobs; creating
// them takes the admin scope.
func Routes(g *middleware.Group, d Deps) {
	limit := d.Guards.Limiter.Middleware()
	// The function is named first, so refusals of the key carry it too.
	anyKey := middleware.Authenticate(d.Guards.Keys, "", middleware.NativeKey)
	admin := middleware.Authenticate(d.Guards.Keys, storage.ScopeAdmin, middleware.NativeKey)
	svc := g.Group(root, d.Guards.Timeout)
	svc.GET("/jobs", d.Jobs.List, Function("service.jobs.list"), anyKey, limit, middleware.Resource("jobRead"))
	svc.GET("/jobs/:id", d.Jobs.Get, Function("service.jobs.get"), anyKey, limit, middleware.Resource("jobRead"))
	// A job's event stream lasts as long as the job runs, so it has no
	// request timeout; its first read has a bound of its own.
	g.GET(root+"/jobs/:id/events", d.Jobs.Events, Function("service.jobs.events"), middleware.Resource("jobRead"), anyKey, limit)
	svc.POST("/jobs/:id/cancel", d.Jobs.Cancel, Function("service.jobs.cancel"), anyKey, limit, middleware.Resource("jobControl"))
	svc.POST("/jobs/:id/retry", d.Jobs.Retry, Function("service.jobs.retry"), anyKey, limit, middleware.Resource("jobControl"))
	svc.POST("/jobs", d.Jobs.CreateNoop, Function("service.jobs.create"), admin, limit, middleware.Resource("jobCreate"))
	svc.POST("/jobs/batch", d.Jobs.CreateNoops, Function("service.jobs.batch"), admin, limit, middleware.Resource("jobCreate"))
}
