package middleware

import (
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/turnoutdev/turnout/internal/fault"
)

// Group registers routes under a path prefix with middleware shared by
// those routes. Unlike an echo.Group given middleware, it adds no catch-all
// route: a path or method the surface does not have is answered by the
// router itself (404, or 405 with Allow) before any route middleware runs,
// so an unknown path needs no credentials and is never counted as a call,
// and a known path's other methods are 405, not 404.
type Group struct {
	e      *echo.Echo
	prefix string
	mw     []echo.MiddlewareFunc
}

// NewGroup returns a route group at prefix whose routes all run mw first.
func NewGroup(e *echo.Echo, prefix string, mw ...echo.MiddlewareFunc) *Group {
	return &Group{e: e, prefix: prefix, mw: mw}
}

// Group returns a group below g at g's prefix followed by prefix, whose
// routes run g's middleware and then mw.
func (g *Group) Group(prefix string, mw ...echo.MiddlewareFunc) *Group {
	return &Group{e: g.e, prefix: g.prefix + prefix, mw: append(slices.Clone(g.mw), mw...)}
}

// Add registers a route of the group; m runs after the group's middleware.
// The handler settles the request's admission (Settle) first.
func (g *Group) Add(method, path string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route {
	r := g.e.Add(method, g.prefix+path, Settle(h), append(slices.Clone(g.mw), m...)...)
	groupRoutes.Store(r.Method+" "+r.Path, true)
	return r
}

// GET registers a GET route (HEAD is answered by it too).
func (g *Group) GET(path string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route {
	return g.Add(http.MethodGet, path, h, m...)
}

// POST registers a POST route.
func (g *Group) POST(path string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route {
	return g.Add(http.MethodPost, path, h, m...)
}

// PUT registers a PUT route.
func (g *Group) PUT(path string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route {
	return g.Add(http.MethodPut, path, h, m...)
}

// PATCH registers a PATCH route.
func (g *Group) PATCH(path string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route {
	return g.Add(http.MethodPatch, path, h, m...)
}

// DELETE registers a DELETE route.
func (g *Group) DELETE(path string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route {
	return g.Add(http.MethodDelete, path, h, m...)
}

// Match registers one route per method.
func (g *Group) Match(methods []string, path string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) []*echo.Route {
	routes := make([]*echo.Route, len(methods))
	for i, method := range methods {
		routes[i] = g.Add(method, path, h, m...)
	}
	return routes
}

// Prefix is the path prefix a surface owns and the renderer of its errors.
type Prefix struct {
	Path     string // "/v4"; matches the path itself and everything below it
	Renderer Renderer
}

// ByPrefix renders an error with the renderer of the surface owning the
// request's path (the longest matching prefix, compared without regard to
// case), or with fallback when no surface owns it. It is what answers a
// path no route has: each surface's 404 and 405 come in its own shape.
func ByPrefix(fallback Renderer, prefixes ...Prefix) Renderer {
	return func(c echo.Context, status int, e *fault.Error) error {
		return rendererFor(c.Request().URL.Path, fallback, prefixes)(c, status, e)
	}
}

func rendererFor(path string, fallback Renderer, prefixes []Prefix) Renderer {
	best, r := -1, fallback
	for _, p := range prefixes {
		n := len(p.Path)
		if len(path) < n || !strings.EqualFold(path[:n], p.Path) || (len(path) > n && path[n] != '/') {
			continue
		}
		if n > best {
			best, r = n, p.Renderer
		}
	}
	return r
}

// ErrUnrouted is the cause of the errors that answer a path or method no
// route has; a surface whose renderer changes statuses by kind keeps 404
// and 405 for these (errors.Is(e, ErrUnrouted)).
var ErrUnrouted = errors.New("no route for the request")

// unrouted turns the router's own 404 and 405 into errors naming the path
// and, for 405, the methods the path has (also set as Allow).
func unrouted(c echo.Context, err error) (*fault.Error, int, bool) {
	path := c.Request().URL.Path
	if len(path) > 200 {
		path = path[:200] + "…"
	}
	var he *echo.HTTPError
	if !errors.As(err, &he) {
		return nil, 0, false
	}
	switch {
	case he == echo.ErrNotFound:
		return &fault.Error{Kind: fault.NotFound, Message: "no resource at " + path, Err: ErrUnrouted}, http.StatusNotFound, true
	case he.Code == http.StatusMethodNotAllowed:
		allow := c.Response().Header().Get(echo.HeaderAllow)
		return &fault.Error{Kind: fault.Invalid, Err: ErrUnrouted,
			Message: c.Request().Method + " is not allowed on " + path + "; allowed: " + allow}, http.StatusMethodNotAllowed, true
	}
	return nil, 0, false
}

const headKey = "turnout.head"

// HeadAsGet is an Echo Pre middleware that routes HEAD as GET, so HEAD is
// answered wherever GET is. The request is marked and its method restored
// by RestoreHead, which must be the first Use middleware: handlers and
// metrics see HEAD, and the server sends the headers of the GET answer
// without its body.
func HeadAsGet(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if r := c.Request(); r.Method == http.MethodHead {
			// The router reads the method of the request the server was
			// handed, so it is changed in place and put back before any
			// handler writes.
			r.Method = http.MethodGet
			c.Set(headKey, true)
		}
		return next(c)
	}
}

// RestoreHead puts back the HEAD method HeadAsGet routed as GET, and
// completes the router's Allow list: HEAD is allowed wherever GET is, and
// OPTIONS (answered for every routed path) is not listed. An OPTIONS
// request on a routed path is answered 204 with that list.
func RestoreHead(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if head, _ := c.Get(headKey).(bool); head {
			c.Request().Method = http.MethodHead
		}
		allow, ok := c.Get(echo.ContextKeyHeaderAllow).(string)
		if !ok || allow == "" {
			return next(c)
		}
		allow = allowList(allow)
		c.Set(echo.ContextKeyHeaderAllow, allow)
		if c.Request().Method == http.MethodOptions {
			c.Response().Header().Set(echo.HeaderAllow, allow)
			return c.NoContent(http.StatusNoContent)
		}
		return next(c)
	}
}

// allowList rewrites the router's "OPTIONS, GET, POST" to "GET, HEAD, POST".
func allowList(routed string) string {
	var out []string
	for _, m := range strings.Split(routed, ",") {
		m = strings.TrimSpace(m)
		if m == "" || m == http.MethodOptions || slices.Contains(out, m) {
			continue
		}
		out = append(out, m)
		if m == http.MethodGet && !strings.Contains(routed, http.MethodHead) {
			out = append(out, http.MethodHead)
		}
	}
	return strings.Join(out, ", ")
}
