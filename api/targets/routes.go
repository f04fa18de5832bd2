package targets

import (
	"github.com/turnoutdev/turnout/api/middleware"
	"github.com/turnoutdev/turnout/storage"
)

// Paths are the paths the surface owns: below them, a path or method no
// route has is answered with RenderError.
var Paths = []string{root}

// root is where the routes are.
const root = "/api/targettypes"

// Deps are what the surface needs.
type Deps struct {
	Guards  middleware.Guards
	Handler *Handler
}

// Routes mounts the code lists and their log on g, a group at the root
// answering errors with RenderError: a native X-API-Key or Bearer
// credential of a key with the targets scope.
func Routes(g *middleware.Group, d Deps) {
	h := d.Handler
	tg := g.Group(root, d.Guards.Timeout,
		middleware.Authenticate(d.Guards.Keys, storage.ScopeTargets, middleware.NativeKey), d.Guards.Limiter.Middleware())
	tg.GET("", h.Types, middleware.Resource("targetTypeRead"))
	tg.GET("/log", h.Log, middleware.Resource("targetLogRead"))
	tg.GET("/:id", h.Type, middleware.Resource("targetTypeRead"))
	tg.GET("/:id/targets", h.Values, middleware.Resource("targetValueRead"))
	tg.GET("/:id/targets/:valueId", h.Value, middleware.Resource("targetValueRead"))
	tg.POST("/:id/targets", h.Add, middleware.Resource("targetValueAdd"))
	tg.PUT("/:id/targets", h.Update, middleware.Resource("targetValueUpdate"))
	tg.PUT("/:id/targets/:valueId", h.Update, middleware.Resource("targetValueUpdate"))
	for _, p := range []string{"", "/:id", "/:id/targets", "/:id/targets/:valueId"} {
		tg.DELETE(p, h.Delete, middleware.Resource("targetValueDelete"))
	}
	// Adhese's answer to a method a path does not have names the methods
	// it has (DELETE, routed above only to explain itself, is not one).
	for p, methods := range Unrouted {
		tg.Match(methods, p, h.NotAllowed)
	}
}
