package storage

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Job statuses. A job moves queued → running → succeeded | failed, passing
// through retrying between failed attempts; canceled is set only by users.
const (
	JobQueued    = "queued"
	JobRunning   = "running"
	JobRetrying  = "retrying"
	JobSucceeded = "succeeded"
	JobFailed    = "failed"
	JobCanceled  = "canceled"
)

// Job is the source of truth for one unit of asynchronous work. The Asynq
// task that runs it carries only its id.
type Job struct {
	ID             int64           `db:"id" json:"id"`
	Kind           string          `db:"kind" json:"kind"`
	Queue          string          `db:"queue" json:"queue"`
	Status         string          `db:"status" json:"status"`
	KeyID          *int64          `db:"key_id" json:"-"`
	Params         json.RawMessage `db:"params" json:"-"`
	Result         json.RawMessage `db:"result" json:"result,omitempty"`
	ProgressTotal  int64           `db:"progress_total" json:"progressTotal"`
	ProgressDone   int64           `db:"progress_done" json:"progressDone"`
	ProgressFailed int64           `db:"progress_failed" json:"progressFailed"`
	Error          *string         `db:"error" json:"error"`
	Attempts       int             `db:"attempts" json:"attempts"`
	MaxAttempts    int             `db:"max_attempts" json:"maxAttempts"`
	CreatedAt      time.Time       `db:"created_at" json:"createdAt"`
	UpdatedAt      time.Time       `db:"updated_at" json:"updatedAt"`
	StartedAt      *time.Time      `db:"started_at" json:"startedAt"`
	FinishedAt     *time.Time      `db:"finished_at" json:"finishedAt"`
	HeartbeatAt    *time.Time      `db:"heartbeat_at" json:"-"`
}

// Finished reports whether the job reached a final status.
func (j *Job) Finished() bool {
	return j.Status == JobSucceeded || j.Status == JobFailed || j.Status == JobCanceled
}

// Querier is what both a pool and a transaction offer, so a job can be
// inserted in the same transaction as the rows it works on.
type Querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// NewJob describes a job to insert.
type NewJob struct {
	Kind        string
	Queue       string
	KeyID       *int64
	Params      any // marshalled to JSON; never put secrets here that a response would show
	MaxAttempts int
}

const jobColumns = `id, kind, queue, status, key_id, params, result, progress_total, progress_done,
	progress_failed, error, attempts, max_attempts, created_at, updated_at, started_at, finished_at, heartbeat_at`

// InsertJob inserts a queued job through q (a pool or a transaction).
func InsertJob(ctx context.Context, q Querier, n NewJob) (*Job, error) {
	params := []byte("{}")
	if n.Params != nil {
		var err error
		if params, err = json.Marshal(n.Params); err != nil {
			return nil, fmt.Errorf("marshal job params: %w", err)
		}
	}
	if n.MaxAttempts == 0 {
		n.MaxAttempts = 5
	}
	rows, _ := q.Query(ctx, `INSERT INTO jobs (kind, queue, key_id, params, max_attempts)
		VALUES ($1, $2, $3, $4, $5) RETURNING `+jobColumns, n.Kind, n.Queue, n.KeyID, params, n.MaxAttempts)
	j, err := pgx.CollectExactlyOneRow(rows, pgx.RowToAddrOfStructByName[Job])
	if err != nil {
		return nil, fmt.Errorf("insert job: %w", err)
	}
	return j, nil
}

// InsertJobs inserts queued jobs in one statement through q and returns
// them in the order given.
func InsertJobs(ctx context.Context, q Querier, ns []NewJob) ([]*Job, error) {
	kinds, queues := make([]string, len(ns)), make([]string, len(ns))
	keys, params, attempts := make([]*int64, len(ns)), make([][]byte, len(ns)), make([]int32, len(ns))
	for i, n := range ns {
		kinds[i], queues[i], keys[i], attempts[i], params[i] = n.Kind, n.Queue, n.KeyID, int32(n.MaxAttempts), []byte("{}")
		if attempts[i] == 0 {
			attempts[i] = 5
		}
		if n.Params != nil {
			var err error
			if params[i], err = json.Marshal(n.Params); err != nil {
				return nil, fmt.Errorf("marshal job params: %w", err)
			}
		}
	}
	// Identity values are drawn in the order the rows are inserted, which
	// is unnest's; sorting by id restores the order given.
	rows, _ := q.Query(ctx, `INSERT INTO jobs (kind, queue, key_id, params, max_attempts)
		SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::jsonb[], $5::int[]) RETURNING `+jobColumns,
		kinds, queues, keys, params, attempts)
	js, err := pgx.CollectRows(rows, pgx.RowToAddrOfStructByName[Job])
	if err != nil {
		return nil, fmt.Errorf("insert %d jobs: %w", len(ns), err)
	}
	slices.SortFunc(js, func(a, b *Job) int { return cmp.Compare(a.ID, b.ID) })
	return js, nil
}

// Job returns a job by id.
func (s *Store) Job(ctx context.Context, id int64) (*Job, error) {
	rows, _ := s.Pool.Query(ctx, `SELECT `+jobColumns+` FROM jobs WHERE id = $1`, id)
	j, err := pgx.CollectExactlyOneRow(rows, pgx.RowToAddrOfStructByName[Job])
	if err != nil {
		return nil, notFound(err, "job")
	}
	return j, nil
}

// JobOfKey returns a job only if keyID owns it; another key's job is
// reported exactly like a missing one.
func (s *Store) JobOfKey(ctx context.Context, id, keyID int64) (*Job, error) {
	rows, _ := s.Pool.Query(ctx, `SELECT `+jobColumns+` FROM jobs WHERE id = $1 AND key_id = $2`, id, keyID)
	j, err := pgx.CollectExactlyOneRow(rows, pgx.RowToAddrOfStructByName[Job])
	if err != nil {
		return nil, notFound(err, "job")
	}
	return j, nil
}

// ErrJobDone is returned by StartJob when the job has already finished: the
// task is a duplicate delivery and must be acknowledged without running.
var ErrJobDone = errors.New("job already finished")

// StartJob moves a job to running and counts the attempt. A job left running
// by a crashed worker may be started again; a finished one may not.
func (s *Store) StartJob(ctx context.Context, id int64) (*Job, error) {
	rows, _ := s.Pool.Query(ctx, `UPDATE jobs SET status = 'running', attempts = attempts + 1,
		started_at = coalesce(started_at, now()), heartbeat_at = now(), updated_at = now()
		WHERE id = $1 AND status IN ('queued', 'retrying', 'running') RETURNING `+jobColumns, id)
	j, err := pgx.CollectExactlyOneRow(rows, pgx.RowToAddrOfStructByName[Job])
	if errors.Is(err, pgx.ErrNoRows) {
		if _, gerr := s.Job(ctx, id); gerr != nil {
			return nil, gerr
		}
		return nil, ErrJobDone
	}
	if err != nil {
		return nil, fmt.Errorf("start job %d: %w", id, err)
	}
	return j, nil
}

// SucceedJob marks a running job succeeded with its result (may be nil).
// attempt is the attempt reporting (Job.Attempts when it started): a run
// that outlived its worker's shutdown cannot overwrite the outcome of the
// attempt that replaced it.
func (s *Store) SucceedJob(ctx context.Context, id int64, attempt int, result any) error {
	return s.SucceedJobs(ctx, []Success{{JobID: id, Attempt: attempt, Result: result}})
}

// FailJob records the failure of attempt (see SucceedJob; 0 means whatever
// attempt is current, for the reconciler). With final, the job is failed
// for good; otherwise it waits for a retry.
func (s *Store) FailJob(ctx context.Context, id int64, attempt int, msg string, final bool) error {
	status, finished := JobRetrying, "NULL"
	if final {
		status, finished = JobFailed, "now()"
	}
	_, err := s.Pool.Exec(ctx, `UPDATE jobs SET status = $2, error = $3, finished_at = `+finished+`,
		updated_at = now() WHERE id = $1 AND status IN ('running', 'queued', 'retrying') AND ($4 = 0 OR attempts = $4)`,
		id, status, msg, attempt)
	return err
}

// StartJobs is StartJob for many jobs in one statement. It returns the
// jobs it moved to running; an id it did not move (missing or finished) is
// absent, and StartJob tells which.
//
// Both batch forms name their rows with id = ANY, so they are found by
// primary key whatever the statistics say: joined to unnest alone, a
// burst of queued jobs the planner has not counted yet made it scan every
// unfinished job per batch (twice the time per job at 4,000 queued).
func (s *Store) StartJobs(ctx context.Context, ids []int64) (map[int64]*Job, error) {
	rows, _ := s.Pool.Query(ctx, `UPDATE jobs SET status = 'running', attempts = attempts + 1,
		started_at = coalesce(started_at, now()), heartbeat_at = now(), updated_at = now()
		WHERE id = ANY($1::bigint[]) AND status IN ('queued', 'retrying', 'running') RETURNING `+jobColumns, ids)
	started, err := pgx.CollectRows(rows, pgx.RowToAddrOfStructByName[Job])
	if err != nil {
		return nil, fmt.Errorf("start %d jobs: %w", len(ids), err)
	}
	out := make(map[int64]*Job, len(started))
	for _, j := range started {
		out[j.ID] = j
	}
	return out, nil
}

// Success is one job's successful attempt, for SucceedJobs.
type Success struct {
	JobID   int64
	Attempt int
	Result  any
}

// SucceedJobs is SucceedJob for many jobs in one statement.
func (s *Store) SucceedJobs(ctx context.Context, done []Success) error {
	ids := make([]int64, len(done))
	attempts := make([]int32, len(done))
	results := make([][]byte, len(done))
	for i, d := range done {
		ids[i], attempts[i] = d.JobID, int32(d.Attempt)
		if d.Result != nil {
			b, err := json.Marshal(d.Result)
			if err != nil {
				return fmt.Errorf("marshal result of job %d: %w", d.JobID, err)
			}
			results[i] = b
		}
	}
	_, err := s.Pool.Exec(ctx, `UPDATE jobs SET status = 'succeeded', result = coalesce(u.res, result), error = NULL,
		finished_at = now(), updated_at = now()
		FROM unnest($1::bigint[], $2::int[], $3::jsonb[]) AS u(job_id, att, res)
		WHERE id = ANY($1::bigint[]) AND id = u.job_id AND status = 'running' AND attempts = u.att`, ids, attempts, results)
	if err != nil {
		return fmt.Errorf("record success of %d jobs: %w", len(done), err)
	}
	return nil
}

// Heartbeat records that a worker is still running the job.
func (s *Store) Heartbeat(ctx context.Context, id int64) error {
	_, err := s.Pool.Exec(ctx, `UPDATE jobs SET heartbeat_at = now() WHERE id = $1 AND status = 'running'`, id)
	return err
}

// SetProgress records a running job's counters.
func (s *Store) SetProgress(ctx context.Context, id, total, done, failed int64) error {
	_, err := s.Pool.Exec(ctx, `UPDATE jobs SET progress_total = $2, progress_done = $3, progress_failed = $4,
		heartbeat_at = now(), updated_at = now() WHERE id = $1`, id, total, done, failed)
	return err
}

// OrphanCandidates returns unfinished jobs that the reconciler should check
// for a live task: queued or retrying for longer than grace, or running
// with a heartbeat older than stale.
func (s *Store) OrphanCandidates(ctx context.Context, grace, stale time.Duration, limit int) ([]Job, error) {
	rows, _ := s.Pool.Query(ctx, `SELECT `+jobColumns+` FROM jobs
		WHERE (status IN ('queued', 'retrying') AND updated_at < now() - $1::interval)
		   OR (status = 'running' AND coalesce(heartbeat_at, updated_at) < now() - $2::interval)
		ORDER BY id LIMIT $3`, grace, stale, limit)
	return pgx.CollectRows(rows, pgx.RowToStructByName[Job])
}

// QueueStats is what the status page shows per queue from the jobs table.
type QueueStats struct {
	Queue     string `db:"queue"`
	Succeeded int64  `db:"succeeded"`
	Failed    int64  `db:"failed"`
	Waiting   int64  `db:"waiting"`
	Running   int64  `db:"running"`
}

// JobStatsSince counts jobs finished since t and unfinished now, per queue.
func (s *Store) JobStatsSince(ctx context.Context, t time.Time) ([]QueueStats, error) {
	rows, _ := s.Pool.Query(ctx, `SELECT queue,
		count(*) FILTER (WHERE status = 'succeeded' AND finished_at >= $1) AS succeeded,
		count(*) FILTER (WHERE status = 'failed' AND finished_at >= $1) AS failed,
		count(*) FILTER (WHERE status IN ('queued', 'retrying')) AS waiting,
		count(*) FILTER (WHERE status = 'running') AS running
		FROM jobs WHERE finished_at >= $1 OR finished_at IS NULL GROUP BY queue ORDER BY queue`, t)
	return pgx.CollectRows(rows, pgx.RowToStructByName[QueueStats])
}
