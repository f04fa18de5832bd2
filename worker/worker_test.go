package worker_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/turnoutdev/turnout/internal/fault"
	"github.com/turnoutdev/turnout/internal/testkit"
	"github.com/turnoutdev/turnout/internal/testkit/testenv"
	"github.com/turnoutdev/turnout/jobs"
	"github.com/turnoutdev/turnout/storage"
	"github.com/turnoutdev/turnout/worker"
)

func TestMain(m *testing.M) { testenv.Main(m) }

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// harness runs a worker in-process against the package's PostgreSQL and Redis.
type harness struct {
	env    *testenv.Env
	enq    *jobs.Enqueuer
	client *asynq.Client
	cancel context.CancelFunc
	done   chan struct{}
}

func start(t *testing.T, handlers map[string]jobs.Handler, opts worker.Options) *harness {
	t.Helper()
	env := testenv.Get(t)
	env.FlushRedis(t)
	client := asynq.NewClient(env.AsynqConn)
	h := &harness{env: env, client: client, enq: jobs.NewEnqueuer(env.Store, client, quiet), done: make(chan struct{})}
	opts.Redis = env.AsynqConn
	opts.Log = quiet
	if opts.Concurrency == 0 {
		opts.Concurrency = 4
	}
	if opts.DelayedCheckEvery == 0 {
		opts.DelayedCheckEvery = fastRetry.DelayedCheckEvery
	}
	srv := worker.New(opts, env.Store, h.enq, handlers)
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { defer close(h.done); _ = srv.Run(ctx) }()
	t.Cleanup(func() { h.stop(); client.Close() })
	return h
}

func (h *harness) stop() {
	h.cancel()
	<-h.done
}

func (h *harness) create(t *testing.T, kind string, maxAttempts int) *storage.Job {
	t.Helper()
	j, err := h.enq.Create(context.Background(), storage.NewJob{Kind: kind, Queue: jobs.QueueDefault, MaxAttempts: maxAttempts})
	if err != nil {
		t.Fatalf("create job: %v", err)
	}
	return j
}

// waitStatus polls the job row until it reaches want or 20 s pass.
func waitStatus(t *testing.T, store *storage.Store, id int64, want string) *storage.Job {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var j *storage.Job
	for time.Now().Before(deadline) {
		var err error
		if j, err = store.Job(context.Background(), id); err != nil {
			t.Fatalf("load job: %v", err)
		}
		if j.Status == want {
			return j
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("job %d: want status %q, still %q (error %v, attempts %d)", id, want, j.Status, deref(j.Error), j.Attempts)
	return nil
}

// drained waits until queue has no task pending, running, scheduled or
// waiting for a retry: nothing more of it will run.
func drained(t *testing.T, env *testenv.Env, queue string) {
	t.Helper()
	in := asynq.NewInspector(env.AsynqConn)
	testkit.Eventually(t, 10*time.Second, func() bool {
		if qs, err := in.Queues(); err == nil && !slices.Contains(qs, queue) {
			return true // Redis lost it, tasks and all
		}
		q, err := in.GetQueueInfo(queue)
		return err == nil && q.Pending+q.Active+q.Scheduled+q.Retry == 0
	}, "queue %s drained", queue)
}

// passes is how many reconcile passes the worker registered on reg ran.
func passes(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "turnout_reconcile_passes_total" {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	return 0
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

// queued returns a flushed Redis, an enqueuer over it and a job committed
// and enqueued by it, of kind on queue.
func queued(t *testing.T, kind, queue string) (*testenv.Env, *asynq.Client, *jobs.Enqueuer, *storage.Job) {
	t.Helper()
	env := testenv.Get(t)
	env.FlushRedis(t)
	client := asynq.NewClient(env.AsynqConn)
	t.Cleanup(func() { client.Close() })
	enq := jobs.NewEnqueuer(env.Store, client, quiet)
	j, err := enq.Create(context.Background(), storage.NewJob{Kind: kind, Queue: queue, MaxAttempts: 3})
	if err != nil {
		t.Fatal(err)
	}
	return env, client, enq, j
}

// age makes jobs look queued for an hour, past the reconciler's grace.
func age(t *testing.T, env *testenv.Env, ids ...int64) {
	t.Helper()
	if _, err := env.Pool.Exec(context.Background(), `UPDATE jobs SET updated_at = now() - interval '1 hour' WHERE id = ANY($1)`, ids); err != nil {
		t.Fatal(err)
	}
}

// fastRetry makes retries immediate so tests do not wait for backoff.
var fastRetry = worker.Options{RetryDelay: func(int, error, *asynq.Task) time.Duration { return 10 * time.Millisecond },
	DelayedCheckEvery: 20 * time.Millisecond}

func TestJobSucceedsWithResultAndTimestamps(t *testing.T) {
	h := start(t, map[string]jobs.Handler{"ok": jobs.HandlerFunc(func(ctx context.Context, j *storage.Job) (any, error) {
		if j.Status != storage.JobRunning {
			t.Errorf("handler saw status %q, want running", j.Status)
		}
		return map[string]int{"rows": 3}, nil
	})}, worker.Options{})
	j := waitStatus(t, h.env.Store, h.create(t, "ok", 3).ID, storage.JobSucceeded)
	if j.Attempts != 1 || j.StartedAt == nil || j.FinishedAt == nil || j.Error != nil {
		t.Errorf("got attempts=%d started=%v finished=%v error=%v; want 1 attempt, both times, no error", j.Attempts, j.StartedAt, j.FinishedAt, deref(j.Error))
	}
	if string(j.Result) != `{"rows": 3}` && string(j.Result) != `{"rows":3}` {
		t.Errorf("result = %s, want {\"rows\":3}", j.Result)
	}
}

func TestFailedAttemptIsRetriedThenSucceeds(t *testing.T) {
	var calls atomic.Int32
	h := start(t, map[string]jobs.Handler{"flaky": jobs.HandlerFunc(func(context.Context, *storage.Job) (any, error) {
		if calls.Add(1) < 3 {
			return nil, errors.New("sftp host went away")
		}
		return nil, nil
	})}, fastRetry)
	j := waitStatus(t, h.env.Store, h.create(t, "flaky", 5).ID, storage.JobSucceeded)
	if j.Attempts != 3 {
		t.Errorf("attempts = %d, want 3 (two failures, one success)", j.Attempts)
	}
	if j.Error != nil {
		t.Errorf("error = %q after success, want cleared", *j.Error)
	}
}

func TestInvalidInputFailsAtOnceWithoutRetry(t *testing.T) {
	var calls atomic.Int32
	h := start(t, map[string]jobs.Handler{"bad": jobs.HandlerFunc(func(context.Context, *storage.Job) (any, error) {
		calls.Add(1)
		return nil, fault.New(fault.Invalid, "row 2: score 11 is above the maximum 10")
	})}, fastRetry)
	j := waitStatus(t, h.env.Store, h.create(t, "bad", 5).ID, storage.JobFailed)
	drained(t, h.env, jobs.QueueDefault) // no retry is waiting
	if n := calls.Load(); n != 1 || j.Attempts != 1 {
		t.Errorf("handler ran %d times over %d attempts; invalid input must not be retried", n, j.Attempts)
	}
	if deref(j.Error) != "row 2: score 11 is above the maximum 10" {
		t.Errorf("error = %q, want the fault's message", deref(j.Error))
	}
}

func TestExhaustedAttemptsFailTheJobWithSafeMessage(t *testing.T) {
	h := start(t, map[string]jobs.Handler{"down": jobs.HandlerFunc(func(context.Context, *storage.Job) (any, error) {
		return nil, errors.New("dial tcp 10.1.2.3:5432: password=hunter2 refused")
	})}, fastRetry)
	j := waitStatus(t, h.env.Store, h.create(t, "down", 3).ID, storage.JobFailed)
	if j.Attempts != 3 {
		t.Errorf("attempts = %d, want 3", j.Attempts)
	}
	// An error that is not ours is internal: its details stay in the log.
	if deref(j.Error) != "internal error" {
		t.Errorf("error = %q, want %q (no internals on the job)", deref(j.Error), "internal error")
	}
	// The dashboard shows the archived task's last error: the same
	// caller-safe message as the row, never the cause's details.
	info, err := asynq.NewInspector(h.env.AsynqConn).GetTaskInfo(jobs.QueueDefault, jobs.TaskID(j.ID))
	if err != nil {
		t.Fatalf("archived task: %v", err)
	}
	if info.LastErr != "internal error" {
		t.Errorf("task last error = %q, want %q", info.LastErr, "internal error")
	}
}

func TestPanicIsRecoveredAndRetried(t *testing.T) {
	var calls atomic.Int32
	h := start(t, map[string]jobs.Handler{
		"panics": jobs.HandlerFunc(func(context.Context, *storage.Job) (any, error) {
			if calls.Add(1) == 1 {
				panic("handler bug")
			}
			return "recovered", nil
		}),
		"ok": jobs.HandlerFunc(func(context.Context, *storage.Job) (any, error) { return nil, nil }),
	}, fastRetry)
	j := waitStatus(t, h.env.Store, h.create(t, "panics", 3).ID, storage.JobSucceeded)
	if j.Attempts != 2 {
		t.Errorf("attempts = %d, want 2 (panic, then success)", j.Attempts)
	}
	// The worker process survived the panic and still serves other jobs.
	waitStatus(t, h.env.Store, h.create(t, "ok", 1).ID, storage.JobSucceeded)
}

func TestDuplicateEnqueueIsANoOp(t *testing.T) {
	env, client, enq, j := queued(t, "count", jobs.QueueDefault)
	for i := 0; i < 3; i++ {
		if err := enq.Enqueue(context.Background(), j); err != nil {
			t.Fatalf("second enqueue: %v, want nil (no-op)", err)
		}
	}
	info, err := asynq.NewInspector(env.AsynqConn).GetQueueInfo(jobs.QueueDefault)
	if err != nil {
		t.Fatal(err)
	}
	if info.Pending != 1 {
		t.Fatalf("pending tasks = %d after 4 enqueues of one job, want 1", info.Pending)
	}

	var runs atomic.Int32
	srv := worker.New(worker.Options{Redis: env.AsynqConn, Log: quiet}, env.Store, enq, map[string]jobs.Handler{
		"count": jobs.HandlerFunc(func(context.Context, *storage.Job) (any, error) { runs.Add(1); return nil, nil }),
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Run(ctx) }()
	waitStatus(t, env.Store, j.ID, storage.JobSucceeded)
	// A late duplicate delivery of a finished job is acknowledged, not run.
	if _, err := client.Enqueue(asynq.NewTask("count", []byte(`{"job_id":`+itoa(j.ID)+`}`)), asynq.Queue(jobs.QueueDefault)); err != nil {
		t.Fatal(err)
	}
	drained(t, env, jobs.QueueDefault)
	cancel()
	<-done
	if n := runs.Load(); n != 1 {
		t.Fatalf("handler ran %d times, want exactly 1", n)
	}
}

func itoa(n int64) string { return jobs.TaskID(n)[len("job:"):] }

func TestReconcilerReenqueuesJobsLostFromRedis(t *testing.T) {
	env := testenv.Get(t)
	env.FlushRedis(t)
	client := asynq.NewClient(env.AsynqConn)
	defer client.Close()
	enq := jobs.NewEnqueuer(env.Store, client, quiet)
	var ids []int64
	for i := 0; i < 5; i++ {
		j, err := enq.Create(context.Background(), storage.NewJob{Kind: "lost", Queue: jobs.QueueFileload})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, j.ID)
	}
	// Redis loses everything (FLUSHDB) before any worker ran the jobs.
	env.FlushRedis(t)
	age(t, env, ids...)
	var mu sync.Mutex
	runs := map[int64]int{}
	reg := prometheus.NewRegistry()
	h := start(t, map[string]jobs.Handler{"lost": jobs.HandlerFunc(func(_ context.Context, j *storage.Job) (any, error) {
		mu.Lock()
		runs[j.ID]++
		mu.Unlock()
		return nil, nil
	})}, worker.Options{Reconcile: worker.ReconcileOptions{Interval: 100 * time.Millisecond, Grace: time.Second, Stale: time.Minute, Settle: 300 * time.Millisecond},
		Registry: reg})
	for _, id := range ids {
		waitStatus(t, h.env.Store, id, storage.JobSucceeded)
	}
	// Further reconcile passes must not run them again.
	after := passes(t, reg)
	testkit.Eventually(t, 10*time.Second, func() bool { return passes(t, reg) >= after+2 }, "two more reconcile passes")
	drained(t, h.env, jobs.QueueFileload)
	mu.Lock()
	defer mu.Unlock()
	for _, id := range ids {
		if runs[id] != 1 {
			t.Errorf("job %d ran %d times, want 1", id, runs[id])
		}
	}
}

func TestReconcilerLeavesLiveTasksAlone(t *testing.T) {
	env, _, enq, j := queued(t, "waiting", jobs.QueueReports)
	age(t, env, j.ID)
	r := worker.NewReconciler(worker.ReconcileOptions{Grace: time.Second, Settle: 100 * time.Millisecond}, env.Store, enq, asynq.NewInspector(env.AsynqConn), env.AsynqConn, quiet)
	n, err := r.ReconcileOrphanedJobs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("re-enqueued %d jobs whose task is still pending, want 0", n)
	}
}

func TestGracefulShutdownFinishesInFlightJob(t *testing.T) {
	started := make(chan struct{})
	h := start(t, map[string]jobs.Handler{"slow": jobs.HandlerFunc(func(ctx context.Context, _ *storage.Job) (any, error) {
		close(started)
		select {
		case <-time.After(700 * time.Millisecond):
			return "done", nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	})}, worker.Options{ShutdownTimeout: 10 * time.Second})
	j := h.create(t, "slow", 3)
	<-started
	h.stop() // SIGTERM equivalent: returns once the in-flight job is done
	got, err := h.env.Store.Job(context.Background(), j.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != storage.JobSucceeded {
		t.Fatalf("after graceful shutdown the in-flight job is %q, want succeeded", got.Status)
	}
}

func TestShutdownTimeoutHandsJobBackForRetry(t *testing.T) {
	var calls atomic.Int32
	first := make(chan struct{})
	slow := jobs.HandlerFunc(func(ctx context.Context, _ *storage.Job) (any, error) {
		if calls.Add(1) == 1 {
			close(first)
			<-ctx.Done() // longer than the shutdown timeout
			return nil, ctx.Err()
		}
		return "second run", nil
	})
	h := start(t, map[string]jobs.Handler{"stuck": slow}, worker.Options{ShutdownTimeout: 300 * time.Millisecond})
	j := h.create(t, "stuck", 3)
	<-first
	h.stop()
	got, _ := h.env.Store.Job(context.Background(), j.ID)
	if got.Finished() {
		t.Fatalf("job is %q after a cut-off shutdown, want it left for a retry", got.Status)
	}
	// A new worker picks it up again and finishes it.
	start2(t, h.env, map[string]jobs.Handler{"stuck": slow}, worker.Options{})
	waitStatus(t, h.env.Store, j.ID, storage.JobSucceeded)
}

// start2 starts a worker without flushing Redis (the queue keeps its tasks).
func start2(t *testing.T, env *testenv.Env, handlers map[string]jobs.Handler, opts worker.Options) *harness {
	client := asynq.NewClient(env.AsynqConn)
	h := &harness{env: env, client: client, enq: jobs.NewEnqueuer(env.Store, client, quiet), done: make(chan struct{})}
	opts.Redis, opts.Log, opts.RetryDelay, opts.DelayedCheckEvery = env.AsynqConn, quiet, fastRetry.RetryDelay, fastRetry.DelayedCheckEvery
	srv := worker.New(opts, env.Store, h.enq, handlers)
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { defer close(h.done); _ = srv.Run(ctx) }()
	t.Cleanup(func() { h.stop(); client.Close() })
	return h
}

func TestWorkerServesOnlyItsQueues(t *testing.T) {
	noop := jobs.HandlerFunc(func(context.Context, *storage.Job) (any, error) { return nil, nil })
	h := start(t, map[string]jobs.Handler{"n": noop}, worker.Options{Queues: map[string]int{jobs.QueueFileload: 1}})
	other, err := h.enq.Create(context.Background(), storage.NewJob{Kind: "n", Queue: jobs.QueuePDF})
	if err != nil {
		t.Fatal(err)
	}
	// The pdf job was queued first: jobs of the worker's own queue queued
	// after it finish while it stays queued.
	for range 3 {
		mine, err := h.enq.Create(context.Background(), storage.NewJob{Kind: "n", Queue: jobs.QueueFileload})
		if err != nil {
			t.Fatal(err)
		}
		waitStatus(t, h.env.Store, mine.ID, storage.JobSucceeded)
	}
	if got, _ := h.env.Store.Job(context.Background(), other.ID); got.Status != storage.JobQueued {
		t.Fatalf("a fileload-only worker ran a pdf job: status %q", got.Status)
	}
	if info, err := asynq.NewInspector(h.env.AsynqConn).GetQueueInfo(jobs.QueuePDF); err != nil || info.Pending != 1 {
		t.Fatalf("pdf queue: %+v %v, want its task still pending", info, err)
	}
}

type abandoning struct {
	jobs.Handler
	mu   sync.Mutex
	told map[int64]string
}

func (a *abandoning) Abandon(_ context.Context, j *storage.Job, reason string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.told[j.ID] = reason
	return nil
}

// A job whose task Asynq archived (the worker died on the last attempt)
// is failed by the reconciler, and its handler, an Abandoner, is told.
func TestReconcilerTellsTheHandlerOfAJobItGaveUpOn(t *testing.T) {
	env, _, enq, j := queued(t, "doomed", jobs.QueueReports)
	insp := asynq.NewInspector(env.AsynqConn)
	if err := insp.ArchiveTask(jobs.QueueReports, jobs.TaskID(j.ID)); err != nil {
		t.Fatal(err)
	}
	age(t, env, j.ID)
	h := &abandoning{Handler: jobs.HandlerFunc(jobs.Noop), told: map[int64]string{}}
	r := worker.NewReconciler(worker.ReconcileOptions{Grace: time.Second, Settle: 100 * time.Millisecond}, env.Store, enq, insp, env.AsynqConn, quiet)
	r.Abandoners(map[string]jobs.Handler{"doomed": h, "other": jobs.HandlerFunc(jobs.Noop)})
	if _, err := r.ReconcileOrphanedJobs(context.Background()); err != nil {
		t.Fatal(err)
	}
	got, _ := env.Store.Job(context.Background(), j.ID)
	if got.Status != storage.JobFailed {
		t.Errorf("job status %s, want failed", got.Status)
	}
	if reason, ok := h.told[j.ID]; !ok || reason == "" {
		t.Errorf("handler told %v, want job %d with a reason", h.told, j.ID)
	}
}

// A job whose row cannot be written (here a trigger refuses it, as
// PostgreSQL refused a NUL byte in an error text) does not end the pass:
// the other tenants' orphaned jobs after it are re-enqueued, and the one
// skipped is logged by id.
func TestReconcilerGoesOnPastAJobItCannotSettle(t *testing.T) {
	env, _, enq, bad := queued(t, "doomed", jobs.QueueReports)
	ctx := context.Background()
	insp := asynq.NewInspector(env.AsynqConn)
	if err := insp.ArchiveTask(jobs.QueueReports, jobs.TaskID(bad.ID)); err != nil {
		t.Fatal(err)
	}
	var lost []int64
	for range 2 {
		j, err := enq.Create(ctx, storage.NewJob{Kind: "lost", Queue: jobs.QueueDefault, MaxAttempts: 3})
		if err != nil {
			t.Fatal(err)
		}
		if err := insp.DeleteTask(jobs.QueueDefault, jobs.TaskID(j.ID)); err != nil {
			t.Fatal(err)
		}
		lost = append(lost, j.ID)
	}
	age(t, env, append(lost, bad.ID)...)
	_, err := env.Pool.Exec(ctx, fmt.Sprintf(`CREATE FUNCTION refuse_job() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN RAISE EXCEPTION 'invalid byte sequence' USING ERRCODE = '22021'; END $$;
		CREATE TRIGGER refuse_job BEFORE UPDATE ON jobs FOR EACH ROW WHEN (OLD.id = %d) EXECUTE FUNCTION refuse_job()`, bad.ID))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = env.Pool.Exec(ctx, `DROP TRIGGER refuse_job ON jobs; DROP FUNCTION refuse_job()`)
	})
	var logs bytes.Buffer
	r := worker.NewReconciler(worker.ReconcileOptions{Grace: time.Second, Settle: 100 * time.Millisecond}, env.Store, enq, insp, env.AsynqConn,
		slog.New(slog.NewJSONHandler(&logs, nil)))
	n, err := r.ReconcileOrphanedJobs(ctx)
	// Jobs left queued by earlier tests of the package are orphans too.
	if err != nil || n < len(lost) {
		t.Fatalf("pass: %d re-enqueued, err %v; want at least the %d lost jobs re-enqueued past the one it cannot settle", n, err, len(lost))
	}
	for _, id := range lost {
		if _, err := insp.GetTaskInfo(jobs.QueueDefault, jobs.TaskID(id)); err != nil {
			t.Errorf("job %d has no task after the pass: %v", id, err)
		}
	}
	if want := fmt.Sprintf(`"job_id":%d`, bad.ID); !strings.Contains(logs.String(), want) || !strings.Contains(logs.String(), "skipped until the next pass") {
		t.Errorf("log does not name the skipped job (%s):\n%s", want, logs.String())
	}
}
