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
//
// Any unfinished job may be canceled (storage.CancelJob); a running one's
// context is then cancelled and its task revoked. A failed or canceled job
// may be retried, which queues it again (storage.RetryJob).
//
// A job's row is written at most twice per attempt, each time in a
// statement shared with the other jobs of that moment: "running" once the
// attempt has run for StartAfter (a shorter one goes straight from queued
// to its outcome), and the outcome, written just after the task is
// acknowledged. See runs and completer for what that costs in guarantees.
package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/turnoutdev/turnout/internal/batch"
	"github.com/turnoutdev/turnout/internal/fault"
	"github.com/turnoutdev/turnout/jobs"
	"github.com/turnoutdev/turnout/storage"
)

// Options configures a Server.
type Options struct {
	Redis       asynq.RedisConnOpt
	Queues      map[string]int // queue → weight; see jobs.ParseQueues
	Concurrency int
	// Interactive is how many further slots serve only the interactive
	// queues among Queues (jobs.InteractiveQueues: registration PDFs,
	// e-mails, webhooks), so bulk work cannot take every slot; 0 keeps
	// none.
	Interactive     int
	ShutdownTimeout time.Duration
	// HeartbeatEvery is how often a running job's heartbeat is written.
	HeartbeatEvery time.Duration
	// StartAfter is how long an attempt runs before its row says
	// "running" (default 100ms); see runs.
	StartAfter time.Duration
	Reconcile  ReconcileOptions
	// KeyLimit caps how many jobs of one key run at once (file loads).
	KeyLimit KeyLimitOptions
	// RetryDelay overrides the backoff between attempts (tests make it short).
	RetryDelay asynq.RetryDelayFunc
	// DelayedCheckEvery is how often retries and scheduled tasks due to run
	// move back to their queue (default 1s); it bounds how late a retry
	// starts after its delay.
	DelayedCheckEvery time.Duration
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
	opts  Options
	store *storage.Store
	// book keeps the job rows (reads, starts, outcomes, heartbeats) over
	// connections of its own, so handlers that hold the main pool cannot
	// stall or time out the bookkeeping of their own runs.
	book *storage.Store
	// servers are the Asynq servers taking tasks: one for every queue, and
	// one more with the Interactive slots for the interactive queues.
	servers    []*asynq.Server
	mux        *asynq.ServeMux
	limits     *keyLimiter
	reconciler *Reconciler
	log        *slog.Logger
	finished   *prometheus.CounterVec
	duration   *prometheus.HistogramVec
	peeks      *batch.Group[int64, *storage.Job]
	runs       *runs
	successes  *completer[storage.Success]
}

// New returns a Server that runs handlers (job kind → handler).
func New(opts Options, store *storage.Store, enq *jobs.Enqueuer, handlers map[string]jobs.Handler) *Server {
	if opts.HeartbeatEvery == 0 {
		opts.HeartbeatEvery = 10 * time.Second
	}
	if opts.StartAfter == 0 {
		opts.StartAfter = 100 * time.Millisecond
	}
	if opts.DelayedCheckEvery == 0 {
		opts.DelayedCheckEvery = time.Second
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
	s := &Server{opts: opts, store: store, book: store, log: opts.Log}
	// One connection each for the reads, the start/heartbeat tick and the
	// outcomes: each of those writes one batch at a time.
	if book, err := store.Side(3); err == nil {
		s.book = book
	} else {
		opts.Log.Warn("job bookkeeping shares the main pool", "err", err)
	}
	s.finished = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "turnout_job_attempts_total", Help: "Job attempts by kind and outcome (succeeded, retrying, failed, canceled, superseded: a duplicate run that lost the job to another).",
	}, []string{"kind", "outcome"})
	s.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "turnout_job_attempt_duration_seconds", Help: "Duration of job attempts by kind.",
		Buckets: prometheus.ExponentialBuckets(0.005, 4, 10),
	}, []string{"kind"})
	s.servers = append(s.servers, s.newAsynq(opts.Concurrency, opts.Queues))
	if q := interactiveQueues(opts.Queues); opts.Interactive > 0 && len(q) > 0 && len(q) < len(opts.Queues) {
		s.servers = append(s.servers, s.newAsynq(opts.Interactive, q))
	}
	rdb, _ := opts.Redis.MakeRedisClient().(redis.UniversalClient)
	s.limits = newKeyLimiter(opts.KeyLimit, rdb, opts.Log)
	s.peeks = &batch.Group[int64, *storage.Job]{Max: 500, Write: func(ctx context.Context, ids []int64) ([]*storage.Job, error) {
		found, err := s.book.PeekJobs(ctx, ids)
		out := make([]*storage.Job, len(ids))
		for i, id := range ids {
			out[i] = found[id]
		}
		return out, err
	}}
	s.runs = newRuns(s.book, opts.StartAfter, opts.HeartbeatEvery, opts.Log)
	s.mux = asynq.NewServeMux()
	s.mux.Use(s.jobMiddleware)
	for kind, h := range handlers {
		s.mux.Handle(kind, taskHandler{h})
	}
	s.reconciler = NewReconciler(opts.Reconcile, store, enq, asynq.NewInspector(opts.Redis), opts.Redis, opts.Log)
	s.reconciler.Abandoners(handlers)
	s.successes = newCompleter(s.book.SucceedJobs, 10*time.Millisecond, opts.Log.Error)
	s.successes.rejected, s.successes.reject = storage.IsRejectedData, s.rejectedSuccess
	if opts.Registry != nil {
		pending := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "turnout_job_outcomes_pending",
			Help: "Job successes acknowledged to Asynq and not yet written to their rows; at 10,000 the worker stops taking tasks.",
		}, func() float64 { return float64(s.successes.pending()) })
		opts.Registry.MustRegister(s.finished, s.duration, pending, s.reconciler.failures)
	}
	if opts.Registry != nil {
		s.reconciler.passes = prometheus.NewCounter(prometheus.CounterOpts{
			Name: "turnout_reconcile_passes_total",
			Help: "Reconciler passes this worker ran (one worker runs each interval's pass).",
		})
		opts.Registry.MustRegister(s.reconciler.passes)
	}
	return s
}

// newAsynq returns an Asynq server of n slots over queues.
func (s *Server) newAsynq(n int, queues map[string]int) *asynq.Server {
	retry := s.opts.RetryDelay
	recheck := s.opts.KeyLimit.Recheck
	if recheck == 0 {
		recheck = time.Second
	}
	return asynq.NewServer(s.opts.Redis, asynq.Config{
		Concurrency:     n,
		Queues:          queues,
		ShutdownTimeout: s.opts.ShutdownTimeout,
		Logger:          asynqLogger{s.opts.Log},
		LogLevel:        asynq.WarnLevel,
		// Poll empty queues often: a registrant waits on a PDF, a client
		// polls its file load, and the default (1s) alone would eat the
		// latency budget. One cheap Redis script per interval when idle.
		TaskCheckInterval: 50 * time.Millisecond,
		// Retries and scheduled tasks (reminder e-mails) move to pending on
		// this beat; the default 5 s would add up to 5 s to every retry.
		DelayedTaskCheckInterval: s.opts.DelayedCheckEvery,
		// A job waiting for a slot of its key is not a failure: Asynq
		// neither counts it against the task's retries nor in the queue's
		// failure rate, and it comes back soon.
		IsFailure: func(err error) bool { return !isKeyBusy(err) },
		RetryDelayFunc: func(n int, err error, t *asynq.Task) time.Duration {
			if isKeyBusy(err) {
				return recheck + rand.N(recheck)
			}
			return retry(n, err, t)
		},
	})
}

// interactiveQueues returns the interactive queues among queues.
func interactiveQueues(queues map[string]int) map[string]int {
	out := map[string]int{}
	for _, q := range jobs.InteractiveQueues {
		if w, ok := queues[q]; ok {
			out[q] = w
		}
	}
	return out
}

// newItemFailures counts the items that loops over many tenants' jobs
// skipped because of something about that one item.
func newItemFailures() *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "turnout_job_item_failures_total",
		Help: "Jobs a loop over many jobs skipped or settled apart because of that job alone (loop: reconcile, commit); the loop went on with the others.",
	}, []string{"loop"})
}

// rejectedSuccess settles a success the database refused alone (its
// result, say): the success is written without the result, so the job
// does not run again for a result no one could store.
func (s *Server) rejectedSuccess(ctx context.Context, v storage.Success, err error) {
	s.reconciler.failures.WithLabelValues("commit").Inc()
	s.log.Error("job result refused by the database; recording the success without it", "job_id", v.JobID, "err", storage.ErrorText(err.Error()))
	v.Result = nil
	if err := s.book.SucceedJobs(ctx, []storage.Success{v}); err != nil {
		s.log.Error("record success without its result", "job_id", v.JobID, "err", storage.ErrorText(err.Error()))
	}
}

// Run processes tasks until ctx is done, then shuts down gracefully: no new
// tasks are taken, in-flight ones get ShutdownTimeout to finish and are
// otherwise handed back to the queue to be retried.
func (s *Server) Run(ctx context.Context) error {
	for i, srv := range s.servers {
		if err := srv.Start(s.mux); err != nil {
			for _, started := range s.servers[:i] {
				started.Shutdown()
			}
			return fmt.Errorf("start worker: %w", err)
		}
	}
	reserved := 0
	if len(s.servers) > 1 {
		reserved = s.opts.Interactive
	}
	s.log.Info("worker started", "queues", s.opts.Queues, "concurrency", s.opts.Concurrency, "interactive_reserved", reserved)
	rctx, stopReconciler := context.WithCancel(context.WithoutCancel(ctx))
	var bg sync.WaitGroup
	bg.Go(func() { s.reconciler.Run(rctx) })
	tctx, stopRuns := context.WithCancel(context.WithoutCancel(ctx))
	bg.Go(func() { s.runs.loop(tctx) })
	bg.Go(func() { s.listenCancels(tctx) })
	<-ctx.Done()
	s.log.Info("worker shutting down", "timeout", s.opts.ShutdownTimeout.String())
	stopReconciler()
	var down sync.WaitGroup
	for _, srv := range s.servers {
		down.Go(srv.Shutdown)
	}
	down.Wait()
	stopRuns()
	bg.Wait()
	s.successes.close()
	if s.book != s.store {
		s.book.Close()
	}
	s.log.Info("worker stopped")
	return nil
}

type ctxKey struct{}

// taskHandler adapts a jobs.Handler to Asynq; the job is loaded by the
// middleware.
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
		row, err := s.peeks.Do(p.JobID)
		switch {
		case err != nil:
			return fmt.Errorf("read job %d: %w", p.JobID, err)
		case row == nil:
			log.Error("job row missing; dropping task")
			return fmt.Errorf("job %d not found: %w", p.JobID, asynq.SkipRetry)
		case row.Finished():
			log.Info("job already finished; duplicate delivery acknowledged")
			return nil
		}
		release, err := s.limits.acquire(ctx, row)
		if err != nil {
			if isKeyBusy(err) {
				log.Debug("job waits for a slot of its key", "err", err)
			}
			return err
		}
		defer release()
		start := time.Now()
		job := *row
		job.Status, job.Attempts = storage.JobRunning, row.Attempts+1
		if job.StartedAt == nil {
			job.StartedAt = &start
		}
		log = log.With("attempt", job.Attempts)
		log.Debug("job started")

		rctx, cancel := context.WithCancelCause(ctx)
		defer cancel(nil)
		r := s.runs.add(storage.Attempt{JobID: job.ID, Number: job.Attempts, At: start}, cancel)
		st := &runState{job: &job}
		runErr := func() (err error) {
			defer func() {
				if r := recover(); r != nil {
					log.Error("job panicked", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
					err = fmt.Errorf("panic: %v", r)
				}
			}()
			hctx := jobs.WithStart(context.WithValue(rctx, ctxKey{}, st), func() error { return s.runs.recordNow(r) })
			return next.ProcessTask(hctx, t)
		}()
		attempt, lost := s.runs.finish(r)
		elapsed := time.Since(start)
		s.duration.WithLabelValues(job.Kind).Observe(elapsed.Seconds())
		switch {
		case errors.Is(lost, errCanceled):
			s.finished.WithLabelValues(job.Kind, "canceled").Inc()
			if runErr == nil {
				// The work committed before the cancel reached it: the row
				// says canceled, and its history says the effect stands.
				log.Warn("job canceled after its work committed", "duration_ms", elapsed.Milliseconds())
				wctx, wcancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
				defer wcancel()
				if err := s.book.AddJobEvent(wctx, job.ID, storage.EventCanceledLate, "", job.Attempts, "the work had committed when the cancel arrived"); err != nil {
					log.Error("record late cancel", "err", err)
				}
			} else {
				log.Info("job canceled; its attempt was stopped and undone", "duration_ms", elapsed.Milliseconds())
			}
			// The task is dropped, not retried or kept: the row is final.
			return asynq.RevokeTask
		case errors.Is(lost, errTakenOver):
			s.finished.WithLabelValues(job.Kind, "superseded").Inc()
			log.Warn("another attempt took the job over; this one's outcome is dropped", "duration_ms", elapsed.Milliseconds())
			return nil
		case lost != nil:
			s.finished.WithLabelValues(job.Kind, "retrying").Inc()
			log.Warn("job attempt abandoned", "err", lost)
			return lost
		case runErr == nil:
			s.finished.WithLabelValues(job.Kind, "succeeded").Inc()
			if err := s.successes.add(storage.Success{Attempt: attempt, Result: st.result}); err != nil {
				return fmt.Errorf("record success of job %d: %w", job.ID, err)
			}
			log.Info("job succeeded", "duration_ms", elapsed.Milliseconds())
			return nil
		}
		retried, _ := asynq.GetRetryCount(ctx)
		maxRetry, _ := asynq.GetMaxRetry(ctx)
		final := fault.Is(runErr, fault.Invalid) || errors.Is(runErr, asynq.SkipRetry) || retried+jobs.RetryHeadroom >= maxRetry
		outcome := "retrying"
		if final {
			outcome = "failed"
		}
		s.finished.WithLabelValues(job.Kind, outcome).Inc()
		msg := fault.As(runErr).Message
		// Record the outcome even if the task's context was cancelled by
		// shutdown: the row must not keep saying "running".
		wctx, wcancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer wcancel()
		if err := s.book.FailAttempt(wctx, attempt, msg, final); err != nil {
			log.Error("record failure", "err", err)
		}
		// The log gets the whole error, made valid and short. The task's
		// last error (kept in Redis, shown on the dashboard) gets what the
		// job row says: the caller-safe message, so both doors tell the same
		// truth and no internals reach the dashboard.
		log.Warn("job attempt failed", "final", final, "duration_ms", elapsed.Milliseconds(), "err", boundedError{runErr})
		shown := safeError{msg: msg, causes: []error{runErr}}
		if final && !errors.Is(runErr, asynq.SkipRetry) {
			shown.causes = append(shown.causes, asynq.SkipRetry)
		}
		return shown
	})
}

// listenCancels stops the runs of jobs announced on jobs.CancelChannel
// until ctx is done. The subscription reconnects by itself; a message
// missed meanwhile is made up for by the heartbeat (see runs.tick).
func (s *Server) listenCancels(ctx context.Context) {
	rdb, ok := s.opts.Redis.MakeRedisClient().(redis.UniversalClient)
	if !ok {
		return
	}
	defer rdb.Close()
	sub := rdb.Subscribe(ctx, jobs.CancelChannel)
	defer sub.Close()
	ch := sub.Channel()
	for {
		select {
		case <-ctx.Done():
			return
		case m, ok := <-ch:
			if !ok {
				return
			}
			id, err := strconv.ParseInt(m.Payload, 10, 64)
			if err == nil && s.runs.cancelJob(id) > 0 {
				s.log.Info("stopping the run of a canceled job", "job_id", id)
			}
		}
	}
}

// boundedError is an error whose text is storage.ErrorText of its cause's.
type boundedError struct{ err error }

func (b boundedError) Error() string { return storage.ErrorText(b.err.Error()) }
func (b boundedError) Unwrap() error { return b.err }

// safeError shows the caller-safe message of a failure and unwraps to the
// failure itself (and to asynq.SkipRetry on a final one), so retry
// decisions still see the cause without its text reaching the task.
type safeError struct {
	msg    string
	causes []error
}

func (e safeError) Error() string   { return storage.ErrorText(e.msg) }
func (e safeError) Unwrap() []error { return e.causes }

// asynqLogger sends Asynq's own log lines through slog.
type asynqLogger struct{ l *slog.Logger }

func (a asynqLogger) Debug(args ...any) { a.l.Debug(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Info(args ...any)  { a.l.Info(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Warn(args ...any)  { a.l.Warn(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Error(args ...any) { a.l.Error(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Fatal(args ...any) {
	a.l.Error(fmt.Sprint(args...), "component", "asynq", "fatal", true)
}
