package worker_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/turnoutdev/turnout/internal/testkit/testenv"
	"github.com/turnoutdev/turnout/jobs"
	"github.com/turnoutdev/turnout/storage"
	"github.com/turnoutdev/turnout/worker"
)

// A job that runs for a while says so: its row turns "running" after
// StartAfter and its heartbeat advances while it runs.
func TestLongJobIsRecordedRunningAndHeartbeats(t *testing.T) {
	release := make(chan struct{})
	h := start(t, map[string]jobs.Handler{"long": jobs.HandlerFunc(func(ctx context.Context, _ *storage.Job) (any, error) {
		select {
		case <-release:
			return "done", nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	})}, worker.Options{StartAfter: 50 * time.Millisecond, HeartbeatEvery: 100 * time.Millisecond})
	j := h.create(t, "long", 3)
	running := waitStatus(t, h.env.Store, j.ID, storage.JobRunning)
	if running.Attempts != 1 || running.StartedAt == nil || running.HeartbeatAt == nil {
		t.Fatalf("running row: attempts %d started %v heartbeat %v; want attempt 1 with both times", running.Attempts, running.StartedAt, running.HeartbeatAt)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		now, _ := h.env.Store.Job(context.Background(), j.ID)
		if now.HeartbeatAt.After(*running.HeartbeatAt) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("heartbeat stayed at %v for 5s", running.HeartbeatAt)
		}
		time.Sleep(20 * time.Millisecond)
	}
	close(release)
	done := waitStatus(t, h.env.Store, j.ID, storage.JobSucceeded)
	if done.Attempts != 1 || !done.StartedAt.Equal(*running.StartedAt) || string(done.Result) != `"done"` {
		t.Fatalf("succeeded row: attempts %d started %v result %s; want attempt 1, the same start, \"done\"", done.Attempts, done.StartedAt, done.Result)
	}
}

// A job that finishes within StartAfter is written once, with its start:
// it never had a heartbeat, which only a recorded start writes.
func TestShortJobWritesItsStartWithItsOutcome(t *testing.T) {
	h := start(t, map[string]jobs.Handler{"short": jobs.HandlerFunc(jobs.Noop)}, worker.Options{StartAfter: time.Minute})
	before := time.Now()
	j := waitStatus(t, h.env.Store, h.create(t, "short", 3).ID, storage.JobSucceeded)
	if j.HeartbeatAt != nil {
		t.Errorf("heartbeat_at %v: the start was written on its own", j.HeartbeatAt)
	}
	if j.Attempts != 1 || j.StartedAt == nil || j.StartedAt.Before(before.Add(-time.Second)) || j.FinishedAt == nil || j.FinishedAt.Before(*j.StartedAt) {
		t.Errorf("attempts %d started %v finished %v; want attempt 1, started before finished", j.Attempts, j.StartedAt, j.FinishedAt)
	}
}

// Two tasks for one job (a duplicate delivery) run side by side: the first
// to record its start keeps the job, the other is cancelled and its outcome
// dropped, so the job is counted and finished once.
func TestDuplicateRunLosesTheJobAndIsCancelled(t *testing.T) {
	env, client, _, j := queued(t, "dup", jobs.QueueDefault)
	if _, err := client.Enqueue(asynq.NewTask("dup", []byte(`{"job_id":`+itoa(j.ID)+`}`)), asynq.Queue(jobs.QueueDefault)); err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	var runs, cancelled atomic.Int32
	h := start2(t, env, map[string]jobs.Handler{"dup": jobs.HandlerFunc(func(ctx context.Context, _ *storage.Job) (any, error) {
		runs.Add(1)
		select {
		case <-release:
			return "kept", nil
		case <-ctx.Done():
			cancelled.Add(1)
			return "dropped", nil // a handler that ignores cancellation still cannot win
		}
	})}, worker.Options{StartAfter: 50 * time.Millisecond})
	waitStatus(t, h.env.Store, j.ID, storage.JobRunning)
	deadline := time.Now().Add(5 * time.Second)
	for cancelled.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	close(release)
	got := waitStatus(t, h.env.Store, j.ID, storage.JobSucceeded)
	if runs.Load() != 2 || cancelled.Load() != 1 {
		t.Fatalf("%d runs, %d cancelled; want 2 runs, the duplicate cancelled", runs.Load(), cancelled.Load())
	}
	if got.Attempts != 1 || string(got.Result) != `"kept"` {
		t.Fatalf("attempts %d result %s; want 1 attempt with the kept run's result", got.Attempts, got.Result)
	}
}

// Redis loses a task while a worker runs its job unrecorded (its row still
// says "queued"): the reconciler waits Settle, sees the start written
// meanwhile, and leaves the job alone rather than run it twice.
func TestReconcilerWaitsOutAnUnrecordedRun(t *testing.T) {
	env, _, enq, j := queued(t, "held", jobs.QueueDefault)
	age(t, env, j.ID) // queued long enough for the reconciler to look at it
	started := make(chan struct{}, 1)
	var runs atomic.Int32
	start2(t, env, map[string]jobs.Handler{"held": jobs.HandlerFunc(func(ctx context.Context, _ *storage.Job) (any, error) {
		runs.Add(1)
		started <- struct{}{}
		select {
		case <-time.After(1500 * time.Millisecond):
			return nil, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	})}, worker.Options{StartAfter: 200 * time.Millisecond})
	<-started
	env.FlushRedis(t)
	if got, _ := env.Store.Job(context.Background(), j.ID); got.Status != storage.JobQueued {
		t.Fatalf("status %s within StartAfter, want queued (the window under test)", got.Status)
	}
	r := worker.NewReconciler(worker.ReconcileOptions{Grace: time.Second, Settle: time.Second}, env.Store, enq,
		asynq.NewInspector(env.AsynqConn), env.AsynqConn, quiet)
	n, err := r.ReconcileOrphanedJobs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("re-enqueued %d jobs, want 0: a worker is running it", n)
	}
	waitStatus(t, env.Store, j.ID, storage.JobSucceeded)
	drained(t, env, jobs.QueueDefault)
	if runs.Load() != 1 {
		t.Fatalf("handler ran %d times, want 1", runs.Load())
	}
}

// A job run by nobody is still found: with the worker gone, the same pass
// enqueues it again.
func TestReconcilerEnqueuesAQueuedJobNobodyRuns(t *testing.T) {
	env, _, enq, j := queued(t, "lost", jobs.QueueDefault)
	env.FlushRedis(t)
	age(t, env, j.ID)
	r := worker.NewReconciler(worker.ReconcileOptions{Grace: time.Second, Settle: 200 * time.Millisecond}, env.Store, enq,
		asynq.NewInspector(env.AsynqConn), env.AsynqConn, quiet)
	began := time.Now()
	n, err := r.ReconcileOrphanedJobs(context.Background())
	if err != nil || n != 1 {
		t.Fatalf("re-enqueued %d (%v), want 1", n, err)
	}
	if waited := time.Since(began); waited < 200*time.Millisecond {
		t.Fatalf("pass took %v; a queued job must be watched for Settle first", waited)
	}
}

// A handler about to report progress has its start recorded first, however
// soon: a row never says "queued" beside rows done.
func TestProgressRecordsTheStartFirst(t *testing.T) {
	var seen atomic.Value
	h := start(t, map[string]jobs.Handler{"prog": jobs.HandlerFunc(func(ctx context.Context, j *storage.Job) (any, error) {
		if err := jobs.Started(ctx); err != nil {
			return nil, err
		}
		row, err := testenv.Get(t).Store.Job(ctx, j.ID)
		if err != nil {
			return nil, err
		}
		seen.Store(row.Status + "/" + itoa(int64(row.Attempts)))
		return nil, jobs.Started(ctx) // recorded already: a no-op
	})}, worker.Options{StartAfter: time.Hour})
	j := waitStatus(t, h.env.Store, h.create(t, "prog", 3).ID, storage.JobSucceeded)
	if got := seen.Load(); got != "running/1" {
		t.Fatalf("row during the handler after Started: %v, want running/1", got)
	}
	if j.Attempts != 1 || j.HeartbeatAt == nil {
		t.Fatalf("attempts %d heartbeat %v; want attempt 1 recorded with its start", j.Attempts, j.HeartbeatAt)
	}
}
