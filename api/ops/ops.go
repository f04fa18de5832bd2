// Package ops is what operators and orchestrators call: liveness and
// readiness probes, the public status page, Prometheus metrics and the
// Asynq dashboard.
package ops

import (
	"context"
	_ "embed"
	"html/template"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/labstack/echo/v4"
	"golang.org/x/sync/errgroup"

	"github.com/turnoutdev/turnout/jobs"
	"github.com/turnoutdev/turnout/storage"
)

// Pinger is a dependency that can be checked.
type Pinger interface {
	Ping(ctx context.Context) error
}

// PingFunc adapts a function to Pinger.
type PingFunc func(ctx context.Context) error

// Ping calls f.
func (f PingFunc) Ping(ctx context.Context) error { return f(ctx) }

// Stats reads job counts.
type Stats interface {
	JobStatsSince(ctx context.Context, t time.Time) ([]storage.QueueStats, error)
}

// Handler serves the operational endpoints.
type Handler struct {
	Postgres  Pinger
	Redis     Pinger
	Stats     Stats
	Inspector *asynq.Inspector

	mu       sync.Mutex
	cached   *Status
	cachedAt time.Time
}

// Healthz is the liveness probe: 200 while the process runs. It never
// looks at PostgreSQL or Redis: restarting a process cannot cure a
// dependency, and restarting every process at once during an outage would
// only add a thundering herd to it.
func (h *Handler) Healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

// Readyz is the readiness probe: 200 once this process can serve. An
// outage of PostgreSQL or Redis does not make it unready: every surface
// answers that outage itself with a 503, Retry-After and a message in its
// own shape, which a load balancer that dropped every replica at once
// would replace with connection errors. The body still says how each
// dependency answered (within half a second), for people.
func (h *Handler) Readyz(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 500*time.Millisecond)
	defer cancel()
	res := h.checks(ctx)
	res["status"] = "ready"
	return c.JSON(http.StatusOK, res)
}

func (h *Handler) checks(ctx context.Context) map[string]string {
	res := map[string]string{"postgres": "ok", "redis": "ok"}
	var mu sync.Mutex
	var g errgroup.Group
	check := func(name string, p Pinger) {
		g.Go(func() error {
			if err := p.Ping(ctx); err != nil {
				mu.Lock()
				res[name] = "unavailable"
				mu.Unlock()
			}
			return nil
		})
	}
	check("postgres", h.Postgres)
	check("redis", h.Redis)
	_ = g.Wait()
	return res
}

// QueueStatus is one row of the status page.
type QueueStatus struct {
	Name            string  `json:"name"`
	Size            int     `json:"size"`
	Pending         int     `json:"pending"`
	Active          int     `json:"active"`
	Scheduled       int     `json:"scheduled"`
	Retry           int     `json:"retry"`
	Archived        int     `json:"archived"`
	LatencySeconds  float64 `json:"latencySeconds"`
	Paused          bool    `json:"paused"`
	SucceededLast1h int64   `json:"succeededLastHour"`
	FailedLast1h    int64   `json:"failedLastHour"`
}

// Status is the content of the status page.
type Status struct {
	Overall   string            `json:"status"` // operational, degraded or down
	Services  map[string]string `json:"services"`
	Workers   int               `json:"workers"`
	Queues    []QueueStatus     `json:"queues"`
	CheckedAt time.Time         `json:"checkedAt"`
}

// status is cached for a few seconds: the page is public and must not let
// anyone turn it into load on PostgreSQL and Redis.
func (h *Handler) status(ctx context.Context) *Status {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.cached != nil && time.Since(h.cachedAt) < 5*time.Second {
		return h.cached
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	st := &Status{Services: h.checks(ctx), CheckedAt: time.Now().UTC()}
	rows := map[string]*QueueStatus{}
	for _, q := range jobs.Queues {
		rows[q] = &QueueStatus{Name: q}
	}
	if st.Services["redis"] == "ok" {
		if servers, err := h.Inspector.Servers(); err == nil {
			st.Workers = len(servers)
		}
		for _, q := range jobs.Queues {
			info, err := h.Inspector.GetQueueInfo(q)
			if err != nil {
				continue // a queue that never had a task does not exist yet
			}
			r := rows[q]
			r.Size, r.Pending, r.Active, r.Scheduled = info.Size, info.Pending, info.Active, info.Scheduled
			r.Retry, r.Archived, r.Paused = info.Retry, info.Archived, info.Paused
			r.LatencySeconds = info.Latency.Seconds()
		}
	}
	if st.Services["postgres"] == "ok" {
		if stats, err := h.Stats.JobStatsSince(ctx, time.Now().Add(-time.Hour)); err == nil {
			for _, s := range stats {
				if r, ok := rows[s.Queue]; ok {
					r.SucceededLast1h, r.FailedLast1h = s.Succeeded, s.Failed
				}
			}
		}
	}
	for _, q := range jobs.Queues {
		st.Queues = append(st.Queues, *rows[q])
	}
	st.Services["workers"] = "ok"
	if st.Workers == 0 {
		st.Services["workers"] = "none running"
	}
	switch {
	case st.Services["postgres"] != "ok" || st.Services["redis"] != "ok":
		st.Overall = "down"
	case st.Workers == 0:
		st.Overall = "degraded"
	default:
		st.Overall = "operational"
	}
	h.cached, h.cachedAt = st, time.Now()
	return st
}

//go:embed status.html
var statusHTML string

var statusTmpl = template.Must(template.New("status").Funcs(template.FuncMap{
	"sortedKeys": func(m map[string]string) []string {
		var ks []string
		for k := range m {
			ks = append(ks, k)
		}
		slices.Sort(ks)
		return ks
	},
	"ms": func(s float64) string {
		return (time.Duration(s * float64(time.Second))).Round(time.Millisecond).String()
	},
}).Parse(statusHTML))

// StatusPage renders the public HTML status page (no credentials needed; it
// shows counts only, never job data).
func (h *Handler) StatusPage(c echo.Context) error {
	st := h.status(c.Request().Context())
	c.Response().Header().Set(echo.HeaderContentType, echo.MIMETextHTMLCharsetUTF8)
	c.Response().Header().Set("Cache-Control", "no-cache")
	c.Response().WriteHeader(http.StatusOK)
	return statusTmpl.Execute(c.Response(), st)
}

// StatusJSON is the status page as JSON, for uptime checkers.
func (h *Handler) StatusJSON(c echo.Context) error {
	return c.JSON(http.StatusOK, h.status(c.Request().Context()))
}
