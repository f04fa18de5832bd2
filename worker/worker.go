// Package worker runs jobs: an Asynq server whose middleware moves each job
// through its states in PostgreSQL, and the reconciler that re-enqueues jobs
// whose tasks were lost. It routes tasks to jobs handlers and holds no
// business rules.
//
// State machine (guarded in SQL, so a duplicate or late delivery cannot
// undo a final state):
//
//	queued ─▶ running ─▶ succeeded
//	   ▲         │
//	   └ retrying ◀┤ (error, attempts left)
//	             └▶ failed (invalid input, panic on the last attempt, or no attempts left)
package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime/debug"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/turnoutdev/turnout/internal/fault"
	"github.com/turnoutdev/turnout/jobs"
	"github.com/turnoutdev/turnout/storage"
)

// Options configures a Server.
type Options struct {
	Redis           asynq.RedisConnOpt
	Queues          map[string]int // queue → weight; see jobs.ParseQueues
	Concurrency     int
	ShutdownTimeout time.Duration
	// HeartbeatEvery is how often a running job's heartbeat is written.
	HeartbeatEvery time.Duration
	Reconcile      ReconcileOptions
	// RetryDelay overrides the backoff between attempts (tests make it short).
	RetryDelay asynq.RetryDelayFunc
	// Registry, if set, receives the job metrics.
	Registry prometheus.Registerer
	Log      *slog.Logger
}

// maxRetryDelay caps every backoff: a flaky SFTP host or SMTP relay gets
// time to come back, a job does not sleep for hours.
const maxRetryDelay = 10 * time.Minute

// ExponentialRetry waits base·2ⁿ before retry n+1 (n counts the retries so
// far), plus up to a quarter more at random so tasks that failed together
// (a database restart) do not all come back in the same instant; capped at
// ten minutes.
func ExponentialRetry(base time.Duration) asynq.RetryDelayFunc {
	return func(n int, _ error, _ *asynq.Task) time.Duration {
		d := base
		for i := 0; i < n && d < maxRetryDelay; i++ {
			d *= 2
		}
		d = min(d, maxRetryDelay)
		return min(d+rand.N(d/4+1), maxRetryDelay)
	}
}

// Server is one worker process.
type Server struct {
	opts       Options
	store      *storage.Store
	srv        *asynq.Server
	mux        *asynq.ServeMux
	reconciler *Reconciler
	log        *slog.Logger
	finished   *prometheus.CounterVec
	duration   *prometheus.HistogramVec
	starts     *groupCommit[int64, *storage.Job]
	successes  *groupCommit[storage.Success, struct{}]
}

// New returns a Server that runs handlers (job kind → handler).
func New(opts Options, store *storage.Store, enq *jobs.Enqueuer, handlers map[string]jobs.Handler) *Server {
	if opts.HeartbeatEvery == 0 {
		opts.HeartbeatEvery = 10 * time.Second
	}
	if opts.Concurrency == 0 {
		opts.Concurrency = 10
	}
	if opts.ShutdownTimeout == 0 {
		opts.ShutdownTimeout = 30 * time.Second
	}
	if opts.RetryDelay == nil {
		opts.RetryDelay = func(n int, err error, t *asynq.Task) time.Duration {
			return min(asynq.DefaultRetryDelayFunc(n, err, t), maxRetryDelay)
		}
	}
	if opts.Queues == nil {
		opts.Queues = jobs.QueueWeights
	}
	s := &Server{opts: opts, store: store, log: opts.Log}
	s.finished = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "turnout_job_attempts_total", Help: "Job attempts by kind and outcome (succeeded, retrying, failed).",
	}, []string{"kind", "outcome"})
	s.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "turnout_job_attempt_duration_seconds", Help: "Duration of job attempts by kind.",
		Buckets: prometheus.ExponentialBuckets(0.005, 4, 10),
	}, []string{"kind"})
	if opts.Registry != nil {
		opts.Registry.MustRegister(s.finished, s.duration)
	}
	s.srv = asynq.NewServer(opts.Redis, asynq.Config{
		Concurrency:     opts.Concurrency,
		Queues:          opts.Queues,
		ShutdownTimeout: opts.ShutdownTimeout,
		Logger:          asynqLogger{opts.Log},
		LogLevel:        asynq.WarnLevel,
		// Poll empty queues often: a registrant waits on a PDF, a client
		// polls its file load, and the default (1s) alone would eat the
		// latency budget. One cheap Redis script per interval when idle.
		TaskCheckInterval: 50 * time.Millisecond,
		// Retries and scheduled tasks (reminder e-mails) move to pending on
		// this beat; the default 5 s would add up to 5 s to every retry.
		DelayedTaskCheckInterval: time.Second,
		RetryDelayFunc:           opts.RetryDelay,
	})
	s.starts = &groupCommit[int64, *storage.Job]{max: 500, write: func(ctx context.Context, ids []int64) ([]*storage.Job, error) {
		started, err := store.StartJobs(ctx, ids)
		out := make([]*storage.Job, len(ids))
		for i, id := range ids {
			out[i] = started[id]
		}
		return out, err
	}}
	s.successes = &groupCommit[storage.Success, struct{}]{max: 500, write: func(ctx context.Context, done []storage.Success) ([]struct{}, error) {
		return make([]struct{}, len(done)), store.SucceedJobs(ctx, done)
	}}
	s.mux = asynq.NewServeMux()
	s.mux.Use(s.jobMiddleware)
	for kind, h := range handlers {
		s.mux.Handle(kind, taskHandler{h})
	}
	s.reconciler = NewReconciler(opts.Reconcile, store, enq, asynq.NewInspector(opts.Redis), opts.Redis, opts.Log)
	s.reconciler.Abandoners(handlers)
	return s
}

// Run processes tasks until ctx is done, then shuts down gracefully: no new
// tasks are taken, in-flight ones get ShutdownTimeout to finish and are
// otherwise handed back to the queue to be retried.
func (s *Server) Run(ctx context.Context) error {
	if err := s.srv.Start(s.mux); err != nil {
		return fmt.Errorf("start worker: %w", err)
	}
	s.log.Info("worker started", "queues", s.opts.Queues, "concurrency", s.opts.Concurrency)
	rctx, stopReconciler := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() { defer close(done); s.reconciler.Run(rctx) }()
	<-ctx.Done()
	s.log.Info("worker shutting down", "timeout", s.opts.ShutdownTimeout.String())
	stopReconciler()
	s.srv.Shutdown()
	<-done
	s.log.Info("worker stopped")
	return nil
}

type ctxKey struct{}

// taskHandler adapts a jobs.Handler to Asynq; the job is loaded (and moved
// to running) by the middleware.
type taskHandler struct{ h jobs.Handler }

type runState struct {
	job    *storage.Job
	result any
}

func (t taskHandler) ProcessTask(ctx context.Context, _ *asynq.Task) error {
	st := ctx.Value(ctxKey{}).(*runState)
	res, err := t.h.Run(ctx, st.job)
	st.result = res
	return err
}

func (s *Server) jobMiddleware(next asynq.Handler) asynq.Handler {
	return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) (err error) {
		taskID, _ := asynq.GetTaskID(ctx)
		queue, _ := asynq.GetQueueName(ctx)
		log := s.log.With("task_id", taskID, "kind", t.Type(), "queue", queue)
		p, err := jobs.ParsePayload(t.Payload())
		if err != nil {
			log.Error("dropping task", "err", err)
			return fmt.Errorf("%v: %w", err, asynq.SkipRetry)
		}
		log = log.With("job_id", p.JobID)
		job, err := s.starts.do(p.JobID)
		if err == nil && job == nil {
			// Not moved to running: StartJob says whether it is missing
			// or finished.
			job, err = s.store.StartJob(ctx, p.JobID)
		}
		switch {
		case errors.Is(err, storage.ErrJobDone):
			log.Info("job already finished; duplicate delivery acknowledged")
			return nil
		case fault.Is(err, fault.NotFound):
			log.Error("job row missing; dropping task")
			return fmt.Errorf("job %d not found: %w", p.JobID, asynq.SkipRetry)
		case err != nil:
			return fmt.Errorf("start job %d: %w", p.JobID, err)
		}
		log = log.With("attempt", job.Attempts)
		start := time.Now()
		log.Info("job started")

		hbCtx, stopHeartbeat := context.WithCancel(ctx)
		defer stopHeartbeat()
		go s.heartbeat(hbCtx, job.ID)

		st := &runState{job: job}
		runErr := func() (err error) {
			defer func() {
				if r := recover(); r != nil {
					log.Error("job panicked", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
					err = fmt.Errorf("panic: %v", r)
				}
			}()
			return next.ProcessTask(context.WithValue(ctx, ctxKey{}, st), t)
		}()
		stopHeartbeat()
		// Record the outcome even if the task's context was cancelled by
		// shutdown: the row must not keep saying "running".
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		elapsed := time.Since(start)
		s.duration.WithLabelValues(job.Kind).Observe(elapsed.Seconds())
		if runErr == nil {
			s.finished.WithLabelValues(job.Kind, "succeeded").Inc()
			if _, err := s.successes.do(storage.Success{JobID: job.ID, Attempt: job.Attempts, Result: st.result}); err != nil {
				return fmt.Errorf("record success of job %d: %w", job.ID, err)
			}
			log.Info("job succeeded", "duration_ms", elapsed.Milliseconds())
			return nil
		}
		retried, _ := asynq.GetRetryCount(ctx)
		maxRetry, _ := asynq.GetMaxRetry(ctx)
		final := fault.Is(runErr, fault.Invalid) || errors.Is(runErr, asynq.SkipRetry) || retried >= maxRetry
		outcome := "retrying"
		if final {
			outcome = "failed"
		}
		s.finished.WithLabelValues(job.Kind, outcome).Inc()
		msg := fault.As(runErr).Message
		if err := s.store.FailJob(wctx, job.ID, job.Attempts, msg, final); err != nil {
			log.Error("record failure", "err", err)
		}
		log.Warn("job attempt failed", "final", final, "duration_ms", elapsed.Milliseconds(), "err", runErr)
		if final && !errors.Is(runErr, asynq.SkipRetry) {
			return fmt.Errorf("%w: %w", runErr, asynq.SkipRetry)
		}
		return runErr
	})
}

func (s *Server) heartbeat(ctx context.Context, jobID int64) {
	t := time.NewTicker(s.opts.HeartbeatEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.store.Heartbeat(ctx, jobID); err != nil && ctx.Err() == nil {
				s.log.Warn("heartbeat failed", "job_id", jobID, "err", err)
			}
		}
	}
}

// asynqLogger sends Asynq's own log lines through slog.
type asynqLogger struct{ l *slog.Logger }

func (a asynqLogger) Debug(args ...any) { a.l.Debug(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Info(args ...any)  { a.l.Info(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Warn(args ...any)  { a.l.Warn(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Error(args ...any) { a.l.Error(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Fatal(args ...any) {
	a.l.Error(fmt.Sprint(args...), "component", "asynq", "fatal", true)
}
