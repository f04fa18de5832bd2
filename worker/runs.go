package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/turnoutdev/turnout/storage"
)

// errTakenOver ends a run whose job another attempt recorded first (a
// duplicate delivery) or that finished meanwhile: its outcome must not
// count, and nothing is left for it to retry.
var errTakenOver = errors.New("another attempt took the job over")

// errCanceled ends a run whose job was canceled (its row already says so):
// the handler's work is undone as on a failure, and nothing is retried.
var errCanceled = errors.New("the job was canceled")

// runs tracks the attempts this worker is running. Once one has run for
// startAfter it records the start (the row says "running" from then on),
// and it heartbeats the recorded ones every heartbeatEvery: one statement
// per tick for all of them, not a goroutine and a statement per job.
//
// Runs that finish within startAfter are never recorded on their own: their
// outcome carries the start (see storage.Attempt). That halves the writes
// of short jobs, the bulk of a busy queue, at the price of a window in
// which a job runs while its row still says "queued". The reconciler
// allows for that window (ReconcileOptions.Settle), and startTimeout bounds
// it: a run whose start cannot be recorded in time is cancelled.
type runs struct {
	store          *storage.Store
	startAfter     time.Duration
	startTimeout   time.Duration
	heartbeatEvery time.Duration
	log            *slog.Logger

	mu     sync.Mutex
	cond   *sync.Cond // signalled when a start write settles
	active map[*run]struct{}
}

type runPhase int

const (
	unrecorded runPhase = iota
	recording           // StartJobs in flight
	recorded
	lost // see run.err
)

type run struct {
	a        storage.Attempt
	phase    runPhase
	err      error // why the run was lost
	canceled bool  // the job was canceled while the run went on
	cancel   context.CancelCauseFunc
	lastBeat time.Time
}

func newRuns(store *storage.Store, startAfter, heartbeatEvery time.Duration, log *slog.Logger) *runs {
	r := &runs{store: store, startAfter: startAfter, startTimeout: 2 * time.Second,
		heartbeatEvery: heartbeatEvery, log: log, active: map[*run]struct{}{}}
	r.cond = sync.NewCond(&r.mu)
	return r
}

// add tracks a run that has just taken its job; cancel ends the run's
// context if it loses the job.
func (r *runs) add(a storage.Attempt, cancel context.CancelCauseFunc) *run {
	ru := &run{a: a, cancel: cancel}
	r.mu.Lock()
	r.active[ru] = struct{}{}
	r.mu.Unlock()
	return ru
}

// finish stops tracking a run and returns its attempt as recorded so far,
// or why the run lost its job. A start write in flight is waited for, so
// the outcome is written with the attempt's final Started.
func (r *runs) finish(ru *run) (storage.Attempt, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for ru.phase == recording {
		r.cond.Wait()
	}
	delete(r.active, ru)
	if ru.canceled && ru.err == nil {
		return ru.a, errCanceled
	}
	return ru.a, ru.err
}

// cancelJob stops this worker's runs of a job that was canceled, and
// reports how many there were.
func (r *runs) cancelJob(id int64) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for ru := range r.active {
		if ru.a.JobID == id && !ru.canceled {
			ru.canceled = true
			ru.cancel(errCanceled)
			n++
		}
	}
	return n
}

// recordNow records a run's start at once unless it is recorded already:
// the handler is about to report progress (jobs.Started).
func (r *runs) recordNow(ru *run) error {
	r.mu.Lock()
	for ru.phase == recording {
		r.cond.Wait()
	}
	if ru.phase != unrecorded {
		defer r.mu.Unlock()
		return ru.err
	}
	ru.phase = recording
	r.mu.Unlock()
	r.recordStarts([]*run{ru}, time.Now())
	r.mu.Lock()
	defer r.mu.Unlock()
	return ru.err
}

// loop records starts and heartbeats until ctx is done.
func (r *runs) loop(ctx context.Context) {
	tick := time.NewTicker(max(r.startAfter/2, time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			r.tick(now)
		}
	}
}

func (r *runs) tick(now time.Time) {
	var due []*run
	var beat []int64
	r.mu.Lock()
	for ru := range r.active {
		switch {
		case ru.phase == unrecorded && now.Sub(ru.a.At) >= r.startAfter:
			ru.phase = recording
			due = append(due, ru)
		case ru.phase == recorded && now.Sub(ru.lastBeat) >= r.heartbeatEvery:
			ru.lastBeat = now
			beat = append(beat, ru.a.JobID)
		}
	}
	r.mu.Unlock()
	if len(due) > 0 {
		r.recordStarts(due, now)
	}
	if len(beat) > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), r.heartbeatEvery)
		alive, err := r.store.Heartbeats(ctx, beat)
		cancel()
		if err != nil {
			r.log.Warn("heartbeat failed", "jobs", len(beat), "err", err)
			return
		}
		// A recorded run whose row stopped saying "running" was canceled
		// (or settled by the reconciler): it must not go on. This catches a
		// cancel whose message this worker missed.
		for _, id := range beat {
			if !alive[id] && r.cancelJob(id) > 0 {
				r.log.Info("job no longer running; its run is stopped", "job_id", id)
			}
		}
	}
}

func (r *runs) recordStarts(due []*run, now time.Time) {
	// Two runs of one job (a duplicate delivery) in one statement would
	// both match the row and both be told they won: the first one asks.
	as := make([]storage.Attempt, 0, len(due))
	asking := make(map[int64]*run, len(due))
	for _, ru := range due {
		if asking[ru.a.JobID] == nil {
			asking[ru.a.JobID] = ru
			as = append(as, ru.a)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.startTimeout)
	started, err := r.store.StartJobs(ctx, as)
	cancel()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, ru := range due {
		switch {
		case err != nil:
			// The run must not go on unrecorded past the reconciler's
			// settle time; a retry will record it.
			ru.phase, ru.err = lost, fmt.Errorf("record start of job %d: %w", ru.a.JobID, err)
			ru.cancel(ru.err)
		case started[ru.a.JobID] && asking[ru.a.JobID] == ru:
			ru.phase, ru.lastBeat = recorded, now
			ru.a.Started = true
			r.log.Info("job running", "job_id", ru.a.JobID, "attempt", ru.a.Number)
		default:
			ru.phase, ru.err = lost, errTakenOver
			ru.cancel(errTakenOver)
		}
	}
	r.cond.Broadcast()
}
