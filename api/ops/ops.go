// Package ops is what operators and orchestrators call: liveness and
// readiness probes, the public status page, Prometheus metrics and the
// Asynq dashboard.
package ops

import (
	"context"
	_ "embed"
	"fmt"
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

// Stats reads job counts and progress.
type Stats interface {
	JobStatsSince(ctx context.Context, t time.Time) ([]storage.QueueStats, error)
	RunningProgress(ctx context.Context, limit int) ([]storage.JobProgress, error)
}

// Handler serves the operational endpoints.
type Handler struct {
	Postgres  Pinger
	Redis     Pinger
	Stats     Stats
	Inspector *asynq.Inspector
	// Schema tells whether migrations are pending; nil skips the check.
	Schema *Schema
	// Version is shown on the status page.
	Version string

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
// dependency answered (within half a second), for people. Pending
// migrations do make it 503, naming `turnout migrate up`: no request can
// succeed until an operator acts, and replicas of the previous release,
// whose schema is in place, keep the traffic meanwhile.
func (h *Handler) Readyz(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 500*time.Millisecond)
	defer cancel()
	res := h.checks(ctx)
	if m, ok := res["migrations"]; ok && m != "ok" && m != "unknown" {
		res["status"] = "not ready: " + m
		return c.JSON(http.StatusServiceUnavailable, res)
	}
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
	if h.Schema != nil && res["postgres"] == "ok" {
		res["migrations"] = "ok"
		if n, err := h.Schema.Pending(ctx); err != nil {
			res["migrations"] = "unknown"
		} else if n > 0 {
			res["migrations"] = fmt.Sprintf("%d pending: run turnout migrate up", n)
		}
	}
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
	// Waiting counts jobs queued or retrying in PostgreSQL.
	Waiting int64 `json:"waiting"`
	// Workers counts the live worker processes serving the queue.
	Workers int `json:"workers"`
}

// Progress is a running job as the status page shows it.
type Progress struct {
	Kind          string  `json:"kind"`
	Queue         string  `json:"queue"`
	Percent       float64 `json:"percent"`
	RowsPerSecond float64 `json:"rowsPerSecond"`
	// ETASeconds is the time left at the rate so far; -1 before any row.
	ETASeconds float64 `json:"etaSeconds"`
}

// Status is the content of the status page.
type Status struct {
	Overall  string            `json:"status"` // operational, degraded or down
	Services map[string]string `json:"services"`
	// Problems says what makes the status degraded or down, naming queues.
	Problems  []string      `json:"problems"`
	Workers   int           `json:"workers"`
	Queues    []QueueStatus `json:"queues"`
	Running   []Progress    `json:"running"`
	Version   string        `json:"version"`
	CheckedAt time.Time     `json:"checkedAt"`
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
	st := &Status{Services: h.checks(ctx), Version: h.Version, CheckedAt: time.Now().UTC(), Problems: []string{}, Running: []Progress{}}
	rows := map[string]*QueueStatus{}
	for _, q := range jobs.Queues {
		rows[q] = &QueueStatus{Name: q}
	}
	if st.Services["redis"] == "ok" {
		h.redisStatus(st, rows)
	}
	if st.Services["postgres"] == "ok" {
		h.postgresStatus(ctx, st, rows)
	}
	for _, q := range jobs.Queues {
		st.Queues = append(st.Queues, *rows[q])
	}
	st.Services["workers"] = "ok"
	if st.Workers == 0 {
		st.Services["workers"] = "none running"
	}
	st.Overall = h.overall(st)
	h.cached, h.cachedAt = st, time.Now()
	return st
}

// redisStatus fills in what Asynq knows: live workers and what each queue
// holds. Size counts the states the page shows.
func (h *Handler) redisStatus(st *Status, rows map[string]*QueueStatus) {
	if servers, err := h.Inspector.Servers(); err == nil {
		st.Workers = len(servers)
		for _, srv := range servers {
			for q := range srv.Queues {
				if r, ok := rows[q]; ok {
					r.Workers++
				}
			}
		}
	}
	for _, q := range jobs.Queues {
		info, err := h.Inspector.GetQueueInfo(q)
		if err != nil {
			continue // a queue that never had a task does not exist yet
		}
		r := rows[q]
		r.Pending, r.Active, r.Scheduled = info.Pending, info.Active, info.Scheduled
		r.Retry, r.Archived, r.Paused = info.Retry, info.Archived, info.Paused
		r.Size = r.Pending + r.Active + r.Scheduled + r.Retry + r.Archived
		r.LatencySeconds = info.Latency.Seconds()
	}
}

// postgresStatus fills in the last hour's outcomes, the jobs waiting and
// the progress of running jobs.
func (h *Handler) postgresStatus(ctx context.Context, st *Status, rows map[string]*QueueStatus) {
	if stats, err := h.Stats.JobStatsSince(ctx, time.Now().Add(-time.Hour)); err == nil {
		for _, s := range stats {
			if r, ok := rows[s.Queue]; ok {
				r.SucceededLast1h, r.FailedLast1h, r.Waiting = s.Succeeded, s.Failed, s.Waiting
			}
		}
	}
	running, err := h.Stats.RunningProgress(ctx, 20)
	if err != nil {
		return
	}
	now := time.Now()
	for _, p := range running {
		pr := Progress{Kind: p.Kind, Queue: p.Queue, ETASeconds: -1}
		pr.Percent = min(100, float64(p.Done)*100/float64(p.Total))
		if secs := now.Sub(p.StartedAt).Seconds(); secs > 0 && p.Done > 0 {
			pr.RowsPerSecond = float64(p.Done) / secs
			pr.ETASeconds = float64(max(p.Total-p.Done, 0)) / pr.RowsPerSecond
		}
		st.Running = append(st.Running, pr)
	}
}

// overall is down when a store is, degraded when no worker runs or a queue
// has work waiting that no live worker serves, operational otherwise.
func (h *Handler) overall(st *Status) string {
	if st.Services["postgres"] != "ok" || st.Services["redis"] != "ok" {
		for _, name := range []string{"postgres", "redis"} {
			if st.Services[name] != "ok" {
				st.Problems = append(st.Problems, name+" is unavailable")
			}
		}
		return "down"
	}
	if st.Workers == 0 {
		st.Problems = append(st.Problems, "no worker is running")
	}
	for _, q := range st.Queues {
		waiting := max(int64(q.Pending), q.Waiting)
		if st.Workers > 0 && waiting > 0 && q.Workers == 0 && !q.Paused {
			st.Problems = append(st.Problems, fmt.Sprintf("queue %s has %d jobs waiting and no live worker serves it", q.Name, waiting))
		}
	}
	if len(st.Problems) > 0 {
		return "degraded"
	}
	return "operational"
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
	"eta": func(s float64) string {
		if s < 0 {
			return "—"
		}
		return (time.Duration(s) * time.Second).String()
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
