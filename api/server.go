// Package api is Turnout's HTTP edge: one Echo server carrying every
// surface (VAN, Rocky, Adhese targets, Salsa metrics, the native /service
// API) and the operator endpoints. Handlers decode, call jobs or storage,
// and encode; rules live in jobs. api never imports worker.
package api

import (
	"context"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	"github.com/labstack/echo/v4"
	echomw "github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/turnoutdev/turnout/api/middleware"
	"github.com/turnoutdev/turnout/api/native"
	"github.com/turnoutdev/turnout/api/ops"
	"github.com/turnoutdev/turnout/api/rocky"
	"github.com/turnoutdev/turnout/api/salsa"
	"github.com/turnoutdev/turnout/api/targets"
	"github.com/turnoutdev/turnout/api/van"
	"github.com/turnoutdev/turnout/internal/netguard"
	"github.com/turnoutdev/turnout/internal/version"
	"github.com/turnoutdev/turnout/jobs"
	"github.com/turnoutdev/turnout/jobs/export"
	targetrules "github.com/turnoutdev/turnout/jobs/targets"
	"github.com/turnoutdev/turnout/storage"
)

// Deps are what the server needs; main builds them.
type Deps struct {
	Store *storage.Store
	// Keys resolves credentials (nil: the store, uncached); main passes a
	// KeyCache over the store.
	Keys      middleware.Keys
	Redis     redis.UniversalClient
	AsynqConn asynq.RedisConnOpt
	Enqueuer  *jobs.Enqueuer
	Registry  *prometheus.Registry
	Log       *slog.Logger
	// Rocky serves the Rocky API v4 surface when set (it needs the
	// registration service, so main builds it).
	Rocky *rocky.Handler
	// Reports serves the Rocky registrant reports when set.
	Reports *rocky.Reports
	// Blobs holds error files (VAN file loads); Guard checks caller-supplied
	// URLs (nil: a guard with no allow-listed networks).
	Blobs storage.Blobs
	Guard *netguard.Guard
	// RequestTimeout bounds an ordinary API request (default 30s).
	RequestTimeout time.Duration
	// PublicCallsPerMinute limits each client address on the endpoints that
	// take no key (Rocky's public ones); 0 means no limit.
	PublicCallsPerMinute int
	// VANExportWait bounds how long POST /v4/exportJobs waits for the
	// export to complete (0: van.DefaultExportWait; negative: no wait).
	VANExportWait time.Duration
	// AuthFailuresPerMinute is how many bad credentials one client address
	// may present per minute before it is refused (default 60).
	AuthFailuresPerMinute int
	// Watcher feeds the job event streams (nil: one of the server's own,
	// connecting on the first stream). Main closes it when shutting down,
	// which ends the streams.
	Watcher *native.Watcher
	// EventsHeartbeat is how often an idle event stream carries a comment
	// (0: native.DefaultHeartbeat).
	EventsHeartbeat time.Duration
}

// New returns the HTTP handler with every route.
func New(d Deps) *echo.Echo {
	if d.AuthFailuresPerMinute == 0 {
		d.AuthFailuresPerMinute = 60
	}
	if d.RequestTimeout == 0 {
		d.RequestTimeout = 30 * time.Second
	}
	if d.Guard == nil {
		d.Guard = netguard.New(nil)
	}
	if d.Watcher == nil {
		d.Watcher = native.NewWatcher(d.Store, d.Log, native.WatchOptions{})
	}
	keys := d.Keys
	if keys == nil {
		keys = d.Store
	}
	e := echo.New()
	e.Pre(van.CanonicalPath, middleware.HeadAsGet)
	e.HideBanner, e.HidePort = true, true
	e.Use(middleware.RestoreHead)
	e.Use(middleware.RequestIDs(uuid.NewString))
	e.Use(middleware.AccessLog(d.Log))
	e.Use(ops.HTTPMetrics(d.Registry))
	e.Use(echomw.RecoverWithConfig(echomw.RecoverConfig{DisableStackAll: true, LogErrorFunc: func(c echo.Context, err error, stack []byte) error {
		d.Log.Error("handler panicked", append(middleware.RequestLogAttrs(c), "err", err, "stack", string(stack))...)
		return err
	}}))
	e.Use(echomw.BodyLimit("10M"))
	// Client addresses come from the connection, not from X-Forwarded-For,
	// which a client could forge to dodge the auth-failure limit.
	e.IPExtractor = echo.ExtractIPDirect()

	insp := asynq.NewInspector(d.AsynqConn)
	rctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	if err := jobs.RegisterQueues(rctx, d.Redis); err != nil {
		d.Log.Warn("register queues with Asynq; the dashboard lists a queue from its first task", "err", err)
	}
	cancel()
	ctl := &jobs.Control{Store: d.Store, Enqueuer: d.Enqueuer, Inspector: insp, Redis: d.Redis, Log: d.Log}
	d.Registry.MustRegister(ops.NewQueueCollector(insp))
	schema := &ops.Schema{M: d.Store}
	e.Use(schema.Gate)
	limiter := middleware.NewLimiter(d.Redis, d.Log)
	e.Use(limiter.GuardAuth(d.AuthFailuresPerMinute))
	guards := middleware.Guards{Keys: keys, Limiter: limiter, PublicPerMinute: d.PublicCallsPerMinute,
		Timeout: echomw.ContextTimeoutWithConfig(echomw.ContextTimeoutConfig{Timeout: d.RequestTimeout})}

	// Each surface mounts its routes on the root, with its error renderer;
	// the operator endpoints answer in the native envelope, the dashboard
	// in its own.
	root := middleware.NewGroup(e, "")
	owned := []middleware.Prefix{{Path: ops.DashboardRoot, Renderer: ops.RenderAdminError}}
	surface := func(paths []string, r middleware.Renderer) *middleware.Group {
		for _, p := range paths {
			owned = append(owned, middleware.Prefix{Path: p, Renderer: r})
		}
		return root.Group("", middleware.Surface(r))
	}
	ops.Routes(root, ops.Deps{Guards: guards, Registry: d.Registry, AsynqConn: d.AsynqConn, Control: ctl, Jobs: d.Store,
		Handler: &ops.Handler{
			Postgres:  d.Store,
			Redis:     ops.PingFunc(func(ctx context.Context) error { return d.Redis.Ping(ctx).Err() }),
			Stats:     d.Store,
			Inspector: insp,
			Schema:    schema,
			Version:   version.Get().Short(),
		}})
	native.Routes(surface(native.Paths, native.RenderError), native.Deps{Guards: guards,
		Jobs: &native.Jobs{Store: d.Store, Enqueuer: d.Enqueuer, Control: ctl, Watcher: d.Watcher, Heartbeat: d.EventsHeartbeat}})
	salsa.Routes(surface(salsa.Paths, salsa.RenderError), salsa.Deps{Guards: guards, Metrics: salsa.NewMetrics(limiter)})
	van.Routes(surface(van.Paths, van.RenderError), van.Deps{Guards: guards,
		Handlers: &van.Handlers{Store: d.Store, Enqueuer: d.Enqueuer, Guard: d.Guard, Blobs: d.Blobs, ExportWait: d.VANExportWait,
			Exports: &export.Service{Store: d.Store, Blobs: d.Blobs, Enqueuer: d.Enqueuer, Guard: d.Guard}}})
	targets.Routes(surface(targets.Paths, targets.RenderError), targets.Deps{Guards: guards,
		Handler: &targets.Handler{Read: d.Store, Editor: targetrules.NewEditor(d.Store)}})
	rocky.Routes(surface(rocky.Paths, rocky.RenderError), rocky.Deps{Guards: guards, Handler: d.Rocky, Reports: d.Reports})

	// A path or method no route has is answered in the error shape of the
	// surface owning the path (Rocky's only under its own paths), elsewhere
	// in the native envelope.
	e.HTTPErrorHandler = middleware.ErrorHandler(d.Log, middleware.ByPrefix(native.RenderError, owned...))
	return e
}
