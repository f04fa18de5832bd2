// Package api is Turnout's HTTP edge: one Echo server carrying every
// surface (VAN, Rocky, Adhese targets, Salsa metrics, the native /service
// API) and the operator endpoints. Handlers decode, call jobs or storage,
// and encode; rules live in jobs. api never imports worker.
package api

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	"github.com/labstack/echo/v4"
	echomw "github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/turnoutdev/turnout/api/middleware"
	"github.com/turnoutdev/turnout/api/native"
	"github.com/turnoutdev/turnout/api/openapi"
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

// reference is the API reference page, rendered from OpenAPI once. The
// document is embedded and checked by the tests, so failing to render it is
// a build defect, as a bad template is.
var reference = func() echo.HandlerFunc {
	h, err := ops.Reference(openapi.Spec)
	if err != nil {
		panic(err)
	}
	return h
}()

// surfaces are the path prefixes each surface owns: a path or method no
// route has is answered there in that surface's error shape (Rocky's only
// under its own paths); elsewhere in the native envelope.
var surfaces = []middleware.Prefix{
	{Path: "/v4", Renderer: van.RenderError},
	{Path: "/api/v4", Renderer: rocky.RenderError},
	{Path: "/pdf", Renderer: rocky.RenderError},
	{Path: "/stop_reminders", Renderer: rocky.RenderError},
	{Path: "/api/targettypes", Renderer: targets.RenderError},
	{Path: "/api/integration/ext/v1", Renderer: salsa.RenderError},
	{Path: "/service", Renderer: native.RenderError},
	{Path: "/monitoring", Renderer: ops.RenderAdminError},
}

// dashboardMethods are those the Asynq dashboard and its JSON API use.
var dashboardMethods = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

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
	e.HTTPErrorHandler = middleware.ErrorHandler(d.Log, middleware.ByPrefix(native.RenderError, surfaces...))
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
	o := &ops.Handler{
		Postgres:  d.Store,
		Redis:     ops.PingFunc(func(ctx context.Context) error { return d.Redis.Ping(ctx).Err() }),
		Stats:     d.Store,
		Inspector: insp,
		Schema:    &ops.Schema{M: d.Store},
		Version:   version.Get().Short(),
	}
	e.Use(o.Schema.Gate)
	e.GET("/healthz", o.Healthz)
	e.GET("/readyz", o.Readyz)
	e.GET("/status", o.StatusPage)
	e.GET("/status.json", o.StatusJSON)
	e.GET("/metrics", ops.Metrics(d.Registry))
	e.GET("/openapi.yaml", func(c echo.Context) error { return c.Blob(http.StatusOK, "application/yaml", openapi.Spec) })
	e.GET("/", ops.Landing)
	e.GET("/reference", reference)

	admin := middleware.Authenticate(keys, storage.ScopeAdmin, middleware.AdminBasicOrKey)
	dash := ops.NewDashboard("/monitoring", d.AsynqConn, ctl, d.Store).Handle
	// Browsers fetch a web manifest without credentials; it holds nothing.
	e.GET("/monitoring/manifest.json", dash)
	mon := middleware.NewGroup(e, "/monitoring", middleware.Surface(ops.RenderAdminError), admin)
	mon.Match(dashboardMethods, "", dash)
	mon.Match(dashboardMethods, "/*", dash)

	limiter := middleware.NewLimiter(d.Redis, d.Log)
	e.Use(limiter.GuardAuth(d.AuthFailuresPerMinute))
	timeout := echomw.ContextTimeoutWithConfig(echomw.ContextTimeoutConfig{Timeout: d.RequestTimeout})

	// Native surface (TargetSmart conventions).
	nj := &native.Jobs{Store: d.Store, Enqueuer: d.Enqueuer, Control: ctl, Watcher: d.Watcher, Heartbeat: d.EventsHeartbeat}
	svc := middleware.NewGroup(e, "/service", middleware.Surface(native.RenderError), timeout)
	// The function is named first, so refusals of the key carry it too.
	anyKey := middleware.Authenticate(keys, "", middleware.NativeKey)
	svc.GET("/jobs", nj.List, native.Function("service.jobs.list"), anyKey, limiter.Middleware(), middleware.Resource("jobRead"))
	svc.GET("/jobs/:id", nj.Get, native.Function("service.jobs.get"), anyKey, limiter.Middleware(), middleware.Resource("jobRead"))
	// A job's event stream lasts as long as the job runs, so it has no
	// request timeout; its first read has a bound of its own.
	e.GET("/service/jobs/:id/events", nj.Events, middleware.Surface(native.RenderError), native.Function("service.jobs.events"),
		middleware.Resource("jobRead"), anyKey, limiter.Middleware())
	svc.POST("/jobs/:id/cancel", nj.Cancel, native.Function("service.jobs.cancel"), anyKey, limiter.Middleware(),
		middleware.Resource("jobControl"))
	svc.POST("/jobs/:id/retry", nj.Retry, native.Function("service.jobs.retry"), anyKey, limiter.Middleware(),
		middleware.Resource("jobControl"))
	svc.POST("/jobs", nj.CreateNoop, native.Function("service.jobs.create"),
		middleware.Authenticate(keys, storage.ScopeAdmin, middleware.NativeKey), limiter.Middleware(), middleware.Resource("jobCreate"))
	svc.POST("/jobs/batch", nj.CreateNoops, native.Function("service.jobs.batch"),
		middleware.Authenticate(keys, storage.ScopeAdmin, middleware.NativeKey), limiter.Middleware(), middleware.Resource("jobCreate"))

	// Salsa Engage conventions: usage metrics.
	sm := salsa.NewMetrics(limiter)
	e.GET("/api/integration/ext/v1/metrics", sm.Get, middleware.Surface(salsa.RenderError), timeout,
		middleware.Resource("metricsRead"), middleware.Authenticate(keys, storage.ScopeMetrics, middleware.SalsaToken),
		limiter.Middleware())

	// VAN surface.
	vh := &van.Handlers{Store: d.Store, Enqueuer: d.Enqueuer, Guard: d.Guard, Blobs: d.Blobs, ExportWait: d.VANExportWait,
		Exports: &export.Service{Store: d.Store, Blobs: d.Blobs, Enqueuer: d.Enqueuer, Guard: d.Guard}}
	vh.Register(middleware.NewGroup(e, "/v4", middleware.Surface(van.RenderError), timeout,
		middleware.Authenticate(keys, storage.ScopeVAN, middleware.VANBasic), limiter.Middleware()))
	// An export's downloadUrl needs no credentials (clients fetch it as a
	// plain URL) and streams without the request timeout.
	download := []echo.MiddlewareFunc{middleware.Surface(van.RenderError),
		middleware.AuthenticateIfPresent(keys, middleware.VANBasic), middleware.Resource("exportJobDownload")}
	if d.PublicCallsPerMinute > 0 {
		download = append(download, limiter.PerAddress(d.PublicCallsPerMinute))
	}
	e.GET("/v4/exportJobs/:exportJobId/download/:file", vh.DownloadExport, download...)
	// Adhese Target API: reference code lists and their edit log (native
	// X-API-Key or Bearer credential, targets scope).
	th := &targets.Handler{Read: d.Store, Editor: targetrules.NewEditor(d.Store)}
	tg := middleware.NewGroup(e, "/api/targettypes", middleware.Surface(targets.RenderError), timeout,
		middleware.Authenticate(keys, storage.ScopeTargets, middleware.NativeKey), limiter.Middleware())
	tg.GET("", th.Types, middleware.Resource("targetTypeRead"))
	tg.GET("/log", th.Log, middleware.Resource("targetLogRead"))
	tg.GET("/:id", th.Type, middleware.Resource("targetTypeRead"))
	tg.GET("/:id/targets", th.Values, middleware.Resource("targetValueRead"))
	tg.GET("/:id/targets/:valueId", th.Value, middleware.Resource("targetValueRead"))
	tg.POST("/:id/targets", th.Add, middleware.Resource("targetValueAdd"))
	tg.PUT("/:id/targets", th.Update, middleware.Resource("targetValueUpdate"))
	tg.PUT("/:id/targets/:valueId", th.Update, middleware.Resource("targetValueUpdate"))
	for _, p := range []string{"", "/:id", "/:id/targets", "/:id/targets/:valueId"} {
		tg.DELETE(p, th.Delete, middleware.Resource("targetValueDelete"))
	}
	// Adhese's answer to a method a path does not have names the methods
	// it has (DELETE, routed above only to explain itself, is not one).
	for p, methods := range targets.Unrouted {
		tg.Match(methods, p, th.NotAllowed)
	}

	// Rock the Vote "Rocky" API v4.
	if d.Rocky != nil {
		if d.PublicCallsPerMinute > 0 {
			d.Rocky.PublicLimit = limiter.PerAddress(d.PublicCallsPerMinute)
		}
		if d.Rocky.SignupsPerHour > 0 {
			d.Rocky.SignupLimit = limiter.SignupsPerAddress(d.Rocky.SignupsPerHour)
		}
		d.Rocky.Routes(e, keys, limiter.Middleware(), timeout)
	}
	if d.Reports != nil {
		d.Reports.Routes(e, keys, limiter.Middleware(), timeout)
	}

	return e
}
