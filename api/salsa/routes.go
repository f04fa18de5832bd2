package salsa

import (
	"github.com/turnoutdev/turnout/api/middleware"
	"github.com/turnoutdev/turnout/storage"
)

// Paths are the paths the surface owns: below them, a path or method no
// route has is answered with RenderError.
var Paths = []string{root}

// root is where the routes are.
const root = "/api/integration/ext/v1"

// Deps are what the surface needs.
type Deps struct {
	Guards  middleware.Guards
	Metrics *Metrics
}

// Routes mounts the metrics endpoint on g, a group at the root answering
// errors with RenderError: a key with the metrics scope, by its authToken.
func Routes(g *middleware.Group, d Deps) {
	g.GET(root+"/metrics", d.Metrics.Get, d.Guards.Timeout, middleware.Resource("metricsRead"),
		middleware.Authenticate(d.Guards.Keys, storage.ScopeMetrics, middleware.SalsaToken), d.Guards.Limiter.Middleware())
}
