// Package jobs is the work Turnout does and the rules it follows, free of
// HTTP. This file holds what every kind of job shares: queue names, task
// types, the payload, and Enqueuer, the one way work enters the queues.
//
// Guarantees: a job is a PostgreSQL row before it is a task. The task's id
// is derived from the job id, so enqueueing the same job twice is a no-op
// while the first task lives, and its payload is only that id, so Redis
// and the dashboard never see request data, credentials or personal data.
// Delivery is at least once; handlers make the effect exactly once (see
// worker for the state machine that guards re-runs).
package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hibiken/asynq"

	"github.com/turnoutdev/turnout/internal/batch"
	"github.com/turnoutdev/turnout/internal/fault"
	"github.com/turnoutdev/turnout/storage"
)

// Queues. Separate worker deployments can serve separate subsets.
const (
	QueueCritical = "critical"
	QueueFileload = "fileload"
	QueuePDF      = "pdf"
	QueueReports  = "reports"
	QueueNotify   = "notify"
	QueueDefault  = "default"
)

// QueueWeights are the relative shares of a worker's slots each queue gets
// when all are busy. PDFs are interactive (a registrant waits for the
// link), so they outweigh bulk loads and reports.
var QueueWeights = map[string]int{
	QueueCritical: 10,
	QueuePDF:      6,
	QueueNotify:   4,
	QueueFileload: 3,
	QueueReports:  2,
	QueueDefault:  1,
}

// retainedQueues keep their completed tasks on the Asynq dashboard for 30
// minutes, so an operator can see last night's file loads and reports run
// there. Other queues drop a task when it completes, as Sidekiq does:
// keeping one costs Redis a sorted-set entry and a later deletion, 15% of
// the platform's throughput on short jobs, and the job's row keeps its
// record for good either way.
var retainedQueues = map[string]bool{QueueFileload: true, QueueReports: true}

// InteractiveQueues hold work someone is waiting on (a registrant's PDF,
// confirmation e-mails, webhooks): workers keep slots for them that bulk
// work (file loads, reports) cannot take.
var InteractiveQueues = []string{QueueCritical, QueuePDF, QueueNotify}

// RetryHeadroom is the retry Asynq is given beyond the job's attempts. The
// worker decides a job's last attempt itself; the spare retry lets a job
// that waits for a slot of its key go back to the queue even on its last
// attempt (Asynq would archive a task with no retries left).
const RetryHeadroom = 1

// Queues lists the queue names in weight order.
var Queues = []string{QueueCritical, QueuePDF, QueueNotify, QueueFileload, QueueReports, QueueDefault}

// ParseQueues parses a comma-separated queue list such as "fileload,notify".
func ParseQueues(s string) (map[string]int, error) {
	out := map[string]int{}
	for _, q := range strings.Split(s, ",") {
		q = strings.TrimSpace(q)
		if q == "" {
			continue
		}
		w, ok := QueueWeights[q]
		if !ok {
			return nil, fmt.Errorf("unknown queue %q (want some of %s)", q, strings.Join(Queues, ","))
		}
		out[q] = w
	}
	if len(out) == 0 {
		return nil, errors.New("no queues given")
	}
	return out, nil
}

// KindNoop is a job that does nothing but go through the whole machinery;
// operators use it to check a deployment end to end and benchmarks use it
// to measure the platform's own overhead.
const KindNoop = "noop"

// Handler does the work of one kind of job. The worker has already moved the
// job to running; Run returns nil when the work is done, or an error that
// is retried unless it is a fault.Invalid (bad input does not get better).
// Run may be called again for the same job after a crash, so it must be
// idempotent.
type Handler interface {
	Run(ctx context.Context, job *storage.Job) (result any, err error)
}

// Abandoner is a Handler that must hear when its job is failed for good
// without the handler returning: the worker died during the last attempt
// and the reconciler found Asynq had given up. Abandon settles what the
// handler settles on a final failure (a report marked failed and its
// callback scheduled, for example); reason is the job's error message.
type Abandoner interface {
	Abandon(ctx context.Context, job *storage.Job, reason string) error
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, job *storage.Job) (any, error)

// Run calls f.
func (f HandlerFunc) Run(ctx context.Context, job *storage.Job) (any, error) { return f(ctx, job) }

// Payload is the whole content of every job task.
type Payload struct {
	JobID int64 `json:"job_id"`
}

// TaskID is the Asynq task id of a job's main task.
func TaskID(jobID int64) string { return "job:" + strconv.FormatInt(jobID, 10) }

// ParsePayload decodes a task payload.
func ParsePayload(b []byte) (Payload, error) {
	var p Payload
	if err := json.Unmarshal(b, &p); err != nil || p.JobID <= 0 {
		return p, fmt.Errorf("bad job payload %q", b)
	}
	return p, nil
}

// Enqueuer commits jobs and hands them to the queues.
type Enqueuer struct {
	store  *storage.Store
	client *asynq.Client
	log    *slog.Logger
	// inserts batches the rows of concurrent Creates.
	inserts *batch.Group[storage.NewJob, inserted]
}

type inserted struct {
	job *storage.Job
	err error
}

// NewEnqueuer returns an Enqueuer over store and client.
func NewEnqueuer(store *storage.Store, client *asynq.Client, log *slog.Logger) *Enqueuer {
	e := &Enqueuer{store: store, client: client, log: log}
	e.inserts = &batch.Group[storage.NewJob, inserted]{Max: 500, Write: func(ctx context.Context, ns []storage.NewJob) ([]inserted, error) {
		out := make([]inserted, len(ns))
		js, err := store.InsertJobs(ctx, ns)
		if err == nil {
			for i, j := range js {
				out[i].job = j
			}
			return out, nil
		}
		if len(ns) == 1 {
			return nil, err
		}
		// One bad job must not fail the others': each goes alone.
		for i, n := range ns {
			out[i].job, out[i].err = store.InsertJob(ctx, n)
		}
		return out, nil
	}}
	return e
}

// Create inserts a job and enqueues it. The job is durable once Create
// returns without error, even if Redis was unreachable: the reconciler
// enqueues it later, so the caller can report success either way.
//
// Inserts of concurrent calls share a statement and a commit (see
// batch.Group): under load the API makes one INSERT per batch of requests,
// and each still answers only once its row is committed.
func (e *Enqueuer) Create(ctx context.Context, n storage.NewJob) (*storage.Job, error) {
	r, err := e.inserts.Do(n)
	if err == nil {
		err = r.err
	}
	if err != nil {
		return nil, err
	}
	job := r.job
	e.EnqueueOrLog(ctx, job)
	return job, nil
}

// CreateMany is Create for many jobs: one insert, then the tasks enqueued
// side by side (Asynq has no batch enqueue; each is one Redis script).
func (e *Enqueuer) CreateMany(ctx context.Context, ns []storage.NewJob) ([]*storage.Job, error) {
	js, err := e.store.InsertJobs(ctx, ns)
	if err != nil {
		return nil, err
	}
	const parallel = 8
	var wg sync.WaitGroup
	next := make(chan *storage.Job)
	for range min(parallel, len(js)) {
		wg.Go(func() {
			for j := range next {
				e.EnqueueOrLog(ctx, j)
			}
		})
	}
	for _, j := range js {
		next <- j
	}
	close(next)
	wg.Wait()
	return js, nil
}

// EnqueueOrLog enqueues a committed job, logging (not returning) a failure:
// the row is the promise, the reconciler keeps it.
func (e *Enqueuer) EnqueueOrLog(ctx context.Context, job *storage.Job) {
	if err := e.Enqueue(ctx, job); err != nil {
		e.log.Warn("enqueue failed; the reconciler will retry", "job_id", job.ID, "kind", job.Kind, "err", err)
	}
}

// Enqueue puts a committed job's task on its queue. A task that already
// exists for the job makes this a no-op.
func (e *Enqueuer) Enqueue(ctx context.Context, job *storage.Job) error {
	return e.EnqueueIn(ctx, job, 0)
}

// EnqueueIn is Enqueue with a delay.
func (e *Enqueuer) EnqueueIn(ctx context.Context, job *storage.Job, delay time.Duration) error {
	payload, _ := json.Marshal(Payload{JobID: job.ID})
	retries := max(job.MaxAttempts-job.Attempts-1, 0)
	opts := []asynq.Option{
		asynq.TaskID(TaskID(job.ID)),
		asynq.Queue(job.Queue),
		asynq.MaxRetry(retries + RetryHeadroom),
	}
	if retainedQueues[job.Queue] {
		opts = append(opts, asynq.Retention(30*time.Minute))
	}
	if delay > 0 {
		opts = append(opts, asynq.ProcessIn(delay))
	}
	_, err := e.client.EnqueueContext(ctx, asynq.NewTask(job.Kind, payload), opts...)
	if errors.Is(err, asynq.ErrTaskIDConflict) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("enqueue job %d: %w", job.ID, err)
	}
	return nil
}

// NoopParams are a no-op job's parameters.
type NoopParams struct {
	// SleepMS makes the job take this long (0–60000), to watch a job run on
	// the dashboard or to exercise shutdown and recovery.
	SleepMS int `json:"sleepMs"`
}

// Validate checks the parameters.
func (p NoopParams) Validate() error {
	if p.SleepMS < 0 || p.SleepMS > 60000 {
		return fault.Validation(fault.FieldError{Field: "sleepMs", Code: fault.CodeOutOfRange, Message: "must be between 0 and 60000"})
	}
	return nil
}

// Noop is the handler of KindNoop jobs.
func Noop(ctx context.Context, job *storage.Job) (any, error) {
	var p NoopParams
	if err := json.Unmarshal(job.Params, &p); err != nil {
		return nil, fault.Wrap(fault.Invalid, err, "bad no-op parameters")
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	select {
	case <-time.After(time.Duration(p.SleepMS) * time.Millisecond):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return map[string]any{"ok": true}, nil
}

type startKey struct{}

// WithStart returns ctx carrying start, which records that the attempt the
// context belongs to is running; the worker sets it for each handler.
func WithStart(ctx context.Context, start func() error) context.Context {
	return context.WithValue(ctx, startKey{}, start)
}

// Started makes sure the job's row says "running" before a handler reports
// progress: the worker records the start of an attempt only once it has
// run for a while, and a row that said "queued" beside rows done would
// puzzle whoever polls it. Cheap once recorded; outside a worker it does
// nothing. An error means this attempt lost the job (its context is then
// cancelled too) or the start could not be written.
func Started(ctx context.Context) error {
	if start, ok := ctx.Value(startKey{}).(func() error); ok {
		return start()
	}
	return nil
}
