package worker

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/turnoutdev/turnout/jobs"
	"github.com/turnoutdev/turnout/storage"
)

// ReconcileOptions tunes the reconciler.
type ReconcileOptions struct {
	// Interval between passes (default 30s).
	Interval time.Duration
	// Grace is how long a queued job may lack a task before it counts as
	// orphaned; it covers the moment between commit and enqueue (default 30s).
	Grace time.Duration
	// Stale is how old a running job's heartbeat may be before its worker is
	// presumed dead (default 2m; the heartbeat is written every 10s).
	Stale time.Duration
	// Settle is how long a queued job found without a live task is watched
	// before it is enqueued again (default 5s). A worker may be running it
	// with the row still saying "queued": its start is recorded only after
	// Options.StartAfter (cancelled if that write fails within 2s) and its
	// outcome just after the task is acknowledged. If the row is untouched
	// after Settle, no worker has it.
	Settle time.Duration
}

// Reconciler re-enqueues jobs that are committed but have no live task:
// Redis lost its data, or a process died between commit and enqueue.
// Every worker process runs one; a Redis lock makes one pass run at a time.
type Reconciler struct {
	opts  ReconcileOptions
	store *storage.Store
	enq   *jobs.Enqueuer
	insp  *asynq.Inspector
	rdb   redis.UniversalClient
	log   *slog.Logger
	// abandon holds the handlers told of jobs failed without them.
	abandon map[string]jobs.Abandoner
	// passes counts finished passes, if set.
	passes prometheus.Counter
	// failures counts the jobs a pass could not settle (loop="reconcile").
	failures *prometheus.CounterVec
}

// NewReconciler returns a Reconciler.
func NewReconciler(opts ReconcileOptions, store *storage.Store, enq *jobs.Enqueuer, insp *asynq.Inspector, conn asynq.RedisConnOpt, log *slog.Logger) *Reconciler {
	if opts.Interval == 0 {
		opts.Interval = 30 * time.Second
	}
	if opts.Grace == 0 {
		opts.Grace = 30 * time.Second
	}
	if opts.Stale == 0 {
		opts.Stale = 2 * time.Minute
	}
	if opts.Settle == 0 {
		opts.Settle = 5 * time.Second
	}
	rdb, _ := conn.MakeRedisClient().(redis.UniversalClient)
	return &Reconciler{opts: opts, store: store, enq: enq, insp: insp, rdb: rdb, log: log, abandon: map[string]jobs.Abandoner{},
		failures: newItemFailures()}
}

// Abandoners registers the handlers (kind → handler) that implement
// jobs.Abandoner, to be told of jobs failed for good without them.
func (r *Reconciler) Abandoners(handlers map[string]jobs.Handler) {
	for kind, h := range handlers {
		if a, ok := h.(jobs.Abandoner); ok {
			r.abandon[kind] = a
		}
	}
}

const reconcileLock = "turnout:reconciler:lock"

// Run reconciles every Interval until ctx is done.
func (r *Reconciler) Run(ctx context.Context) {
	t := time.NewTicker(r.opts.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		ok, err := r.rdb.SetNX(ctx, reconcileLock, "1", r.opts.Interval*9/10).Result()
		if err != nil || !ok {
			continue // another process holds this interval, or Redis is down
		}
		n, err := r.ReconcileOrphanedJobs(ctx)
		if err != nil && ctx.Err() == nil {
			r.log.Warn("reconcile pass failed", "err", err)
		} else if n > 0 {
			r.log.Info("re-enqueued orphaned jobs", "jobs", n)
		}
		if err := r.settleCanceled(ctx); err != nil && ctx.Err() == nil {
			r.log.Warn("settle canceled jobs", "err", err)
		}
		if r.passes != nil {
			r.passes.Inc()
		}
	}
}

// ReconcileOrphanedJobs runs one pass and returns how many jobs it
// re-enqueued. A job the pass cannot settle (its task cannot be read, its
// row cannot be written, it cannot be enqueued) is logged, counted and
// left for the next pass; the other jobs of the pass go on. An error is
// returned only when the pass cannot run at all.
func (r *Reconciler) ReconcileOrphanedJobs(ctx context.Context) (int, error) {
	cands, err := r.store.OrphanCandidates(ctx, r.opts.Grace, r.opts.Stale, 1000)
	if err != nil {
		return 0, err
	}
	var lost []orphan
	for i := range cands {
		j := &cands[i]
		info, err := r.insp.GetTaskInfo(j.Queue, jobs.TaskID(j.ID))
		switch {
		case errors.Is(err, asynq.ErrTaskNotFound), errors.Is(err, asynq.ErrQueueNotFound):
			lost = append(lost, orphan{job: j})
		case err != nil:
			r.itemFailed(j, "read task", err)
		case info.State == asynq.TaskStateArchived:
			// Asynq gave up but the final failure never reached the row.
			msg := "gave up after repeated failures"
			if info.LastErr != "" {
				msg = "last attempt failed: " + info.LastErr
			}
			if err := r.store.GiveUpJob(ctx, j.ID, msg); err != nil {
				r.itemFailed(j, "fail job", err)
				continue
			}
			if a, ok := r.abandon[j.Kind]; ok {
				if err := a.Abandon(ctx, j, msg); err != nil {
					r.log.Error("settle abandoned job", "job_id", j.ID, "kind", j.Kind, "err", err)
				}
			}
		case info.State == asynq.TaskStateCompleted:
			// The task finished but the row was not updated (the worker
			// died before writing the outcome): run it again; the
			// handler's effect is idempotent.
			lost = append(lost, orphan{job: j, completedTask: info.ID})
		default:
			// pending, scheduled, active or retry: alive
		}
	}
	if len(lost) == 0 {
		return 0, nil
	}
	lost, err = r.settle(ctx, lost)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, o := range lost {
		if o.completedTask != "" {
			if err := r.insp.DeleteTask(o.job.Queue, o.completedTask); err != nil && !errors.Is(err, asynq.ErrTaskNotFound) {
				r.itemFailed(o.job, "clear finished task", err)
				continue
			}
		}
		if err := r.enq.Enqueue(ctx, o.job); err != nil {
			r.itemFailed(o.job, "enqueue", err)
			continue
		}
		n++
	}
	return n, nil
}

// itemFailed logs and counts a job a pass could not settle. The error is
// the store's or Redis's, never the job's data.
func (r *Reconciler) itemFailed(j *storage.Job, action string, err error) {
	r.failures.WithLabelValues("reconcile").Inc()
	r.log.Error("reconcile: job skipped until the next pass", "job_id", j.ID, "kind", j.Kind, "action", action,
		"err", storage.ErrorText(err.Error()))
}

// orphan is a job whose task is gone or finished while its row is not.
type orphan struct {
	job           *storage.Job
	completedTask string // the finished task to clear first, if any
}

// settle waits Settle if any of the orphans is queued (a worker may hold it
// unrecorded, see Settle) and keeps those whose rows nobody touched
// meanwhile.
func (r *Reconciler) settle(ctx context.Context, lost []orphan) ([]orphan, error) {
	wait := false
	ids := make([]int64, len(lost))
	for i, o := range lost {
		ids[i] = o.job.ID
		wait = wait || o.job.Status != storage.JobRunning
	}
	if wait {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(r.opts.Settle):
		}
	}
	now, err := r.store.PeekJobs(ctx, ids)
	if err != nil {
		return nil, err
	}
	keep := lost[:0]
	for _, o := range lost {
		j := now[o.job.ID]
		if j != nil && j.Status == o.job.Status && j.Attempts == o.job.Attempts && j.UpdatedAt.Equal(o.job.UpdatedAt) &&
			equalTimes(j.HeartbeatAt, o.job.HeartbeatAt) {
			keep = append(keep, o)
		}
	}
	return keep, nil
}

func equalTimes(a, b *time.Time) bool {
	return a == nil && b == nil || a != nil && b != nil && a.Equal(*b)
}
