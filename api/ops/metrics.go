package ops

import (
	"fmt"
	"strconv"
	"time"

	"github.com/hibiken/asynq"
	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/turnoutdev/turnout/api/middleware"
	"github.com/turnoutdev/turnout/internal/fault"
	"github.com/turnoutdev/turnout/jobs"
)

// HTTPMetrics counts and times requests by route pattern (never by raw path,
// which would make a series per job id).
func HTTPMetrics(reg prometheus.Registerer) echo.MiddlewareFunc {
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "turnout_http_requests_total", Help: "HTTP requests by method, route and status code.",
	}, []string{"method", "route", "code"})
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "turnout_http_request_duration_seconds", Help: "HTTP request latency by method and route.",
		Buckets: []float64{.002, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"method", "route"})
	reg.MustRegister(requests, duration)
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := time.Now()
			err := next(c)
			route := c.Path()
			if route == "" {
				route = "unmatched"
			}
			status := c.Response().Status
			if err != nil {
				// The error handler has not written yet; use the status it will.
				status = statusOf(err)
			}
			requests.WithLabelValues(c.Request().Method, route, strconv.Itoa(status)).Inc()
			duration.WithLabelValues(c.Request().Method, route).Observe(time.Since(start).Seconds())
			return err
		}
	}
}

// queueCollector exports Asynq's per-queue state at scrape time.
type queueCollector struct {
	insp                                    *asynq.Inspector
	size, tasks, latency, processed, failed *prometheus.Desc
	paused, workers                         *prometheus.Desc
}

// NewQueueCollector returns a collector of Asynq queue metrics.
func NewQueueCollector(insp *asynq.Inspector) prometheus.Collector {
	return &queueCollector{
		insp:      insp,
		size:      prometheus.NewDesc("turnout_queue_size", "Tasks in the queue (all states but completed).", []string{"queue"}, nil),
		tasks:     prometheus.NewDesc("turnout_queue_tasks", "Tasks in the queue by state.", []string{"queue", "state"}, nil),
		latency:   prometheus.NewDesc("turnout_queue_latency_seconds", "Age of the oldest pending task.", []string{"queue"}, nil),
		processed: prometheus.NewDesc("turnout_queue_processed_total", "Tasks processed (succeeded or failed).", []string{"queue"}, nil),
		failed:    prometheus.NewDesc("turnout_queue_failed_total", "Task attempts that failed.", []string{"queue"}, nil),
		paused:    prometheus.NewDesc("turnout_queue_paused", "1 if the queue is paused.", []string{"queue"}, nil),
		workers: prometheus.NewDesc("turnout_queue_workers",
			"Live worker processes that take tasks from the queue (0: its tasks wait for ever).", []string{"queue"}, nil),
	}
}

func (qc *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{qc.size, qc.tasks, qc.latency, qc.processed, qc.failed, qc.paused, qc.workers} {
		ch <- d
	}
}

func (qc *queueCollector) Collect(ch chan<- prometheus.Metric) {
	queues, err := qc.insp.Queues()
	if err != nil {
		return
	}
	serving := map[string]int{}
	if servers, err := qc.insp.Servers(); err == nil {
		// A worker process may run more than one Asynq server (slots
		// reserved for interactive queues), so processes are counted, not
		// servers.
		seen := map[string]bool{}
		for _, srv := range servers {
			for q := range srv.Queues {
				proc := fmt.Sprintf("%s/%d/%s", srv.Host, srv.PID, q)
				if !seen[proc] {
					seen[proc] = true
					serving[q]++
				}
			}
		}
		// Every queue Turnout uses is reported, known to Asynq or not, so
		// "no worker serves it" is visible before its first task.
		for _, q := range jobs.Queues {
			ch <- prometheus.MustNewConstMetric(qc.workers, prometheus.GaugeValue, float64(serving[q]), q)
		}
	}
	for _, q := range queues {
		info, err := qc.insp.GetQueueInfo(q)
		if err != nil {
			continue
		}
		g := func(d *prometheus.Desc, v float64, l ...string) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, append([]string{q}, l...)...)
		}
		g(qc.size, float64(info.Size))
		g(qc.latency, info.Latency.Seconds())
		for state, n := range map[string]int{"pending": info.Pending, "active": info.Active, "scheduled": info.Scheduled,
			"retry": info.Retry, "archived": info.Archived, "completed": info.Completed} {
			g(qc.tasks, float64(n), state)
		}
		paused := 0.0
		if info.Paused {
			paused = 1
		}
		g(qc.paused, paused)
		ch <- prometheus.MustNewConstMetric(qc.processed, prometheus.CounterValue, float64(info.ProcessedTotal), q)
		ch <- prometheus.MustNewConstMetric(qc.failed, prometheus.CounterValue, float64(info.FailedTotal), q)
	}
}

// Metrics serves the Prometheus exposition of reg.
func Metrics(reg *prometheus.Registry) echo.HandlerFunc {
	return echo.WrapHandler(promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
}

// RenderAdminError asks a browser for credentials on 401 and answers plain
// text: operator pages have no client library to please.
func RenderAdminError(c echo.Context, status int, e *fault.Error) error {
	if e.Kind == fault.Unauthorized {
		c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Basic realm="Turnout operators", charset="UTF-8"`)
	}
	msg := e.Message
	if e.Kind == fault.Internal {
		msg = "internal error"
	}
	return c.String(status, msg+"\n")
}

func statusOf(err error) int {
	if he, ok := err.(*echo.HTTPError); ok {
		return he.Code
	}
	return middleware.Status(middleware.Classify(err).Kind)
}
