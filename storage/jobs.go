package storage

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
)

// Job statuses. A job moves queued → running → succeeded | failed, passing
// through retrying between failed attempts. An operator or the owning key
// may cancel an unfinished job (CancelJob) and retry a failed or canceled
// one (RetryJob), which queues it again.
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
	CanceledBy     *string         `db:"canceled_by" json:"canceledBy,omitempty"`
	CanceledAt     *time.Time      `db:"canceled_at" json:"canceledAt,omitempty"`
}

// Finished reports whether the job reached a final status.
func (j *Job) Finished() bool {
	return j.Status == JobSucceeded || j.Status == JobFailed || j.Status == JobCanceled
}

// NewJob describes a job to insert.
type NewJob struct {
	Kind        string
	Queue       string
	KeyID       *int64
	Params      any // marshalled to JSON; never put secrets here that a response would show
	MaxAttempts int
	// FileLoad, when set, is the file-load record the job works on; it is
	// inserted in the same statement as the job, with JobID filled in.
	FileLoad *FileLoad
}

const jobColumns = `id, kind, queue, status, key_id, params, result, progress_total, progress_done,
	progress_failed, error, attempts, max_attempts, created_at, updated_at, started_at, finished_at, heartbeat_at,
	canceled_by, canceled_at`

// InsertJob inserts a queued job (and its file load, if it has one).
func (ex *executor) InsertJob(ctx context.Context, n NewJob) (*Job, error) {
	if n.FileLoad != nil {
		js, err := ex.InsertJobs(ctx, []NewJob{n})
		if err != nil {
			return nil, err
		}
		return js[0], nil
	}
	params, err := jobParams(n)
	if err != nil {
		return nil, err
	}
	rows, _ := ex.q.Query(ctx, `INSERT INTO jobs (kind, queue, key_id, params, max_attempts)
		VALUES ($1, $2, $3, $4, $5) RETURNING `+jobColumns, n.Kind, n.Queue, n.KeyID, params, maxAttempts(n))
	j, err := pgx.CollectExactlyOneRow(rows, pgx.RowToAddrOfStructByName[Job])
	if err != nil {
		return nil, fmt.Errorf("insert job: %w", err)
	}
	return j, nil
}

// jobParams is a new job's parameters as valid JSON.
func jobParams(n NewJob) ([]byte, error) {
	if n.Params == nil {
		return []byte("{}"), nil
	}
	params, err := json.Marshal(n.Params)
	if err != nil {
		return nil, fmt.Errorf("marshal job params: %w", err)
	}
	return validJSON(params), nil
}

func maxAttempts(n NewJob) int32 {
	if n.MaxAttempts == 0 {
		return 5
	}
	return int32(n.MaxAttempts)
}

// InsertJobs inserts queued jobs, and the file loads of those that have
// one, in one statement and returns the jobs in the order given. With file
// loads, job ids are drawn in the statement, in the order given; when a file load's
// source URL must be sealed (the seal is bound to the job id), the ids are
// drawn first.
func (ex *executor) InsertJobs(ctx context.Context, ns []NewJob) ([]*Job, error) {
	kinds, queues := make([]string, len(ns)), make([]string, len(ns))
	keys, params, attempts := make([]*int64, len(ns)), make([][]byte, len(ns)), make([]int32, len(ns))
	for i, n := range ns {
		p, err := jobParams(n)
		if err != nil {
			return nil, err
		}
		kinds[i], queues[i], keys[i], params[i], attempts[i] = n.Kind, n.Queue, n.KeyID, p, maxAttempts(n)
	}
	if !slices.ContainsFunc(ns, func(n NewJob) bool { return n.FileLoad != nil }) {
		// Identity values are drawn in the order the rows are inserted,
		// which is unnest's; sorting by id restores the order given.
		rows, _ := ex.q.Query(ctx, `INSERT INTO jobs (kind, queue, key_id, params, max_attempts)
			SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::jsonb[], $5::int[]) RETURNING `+jobColumns,
			kinds, queues, keys, params, attempts)
		js, err := pgx.CollectRows(rows, pgx.RowToAddrOfStructByName[Job])
		if err != nil {
			return nil, fmt.Errorf("insert %d jobs: %w", len(ns), err)
		}
		slices.SortFunc(js, func(a, b *Job) int { return cmp.Compare(a.ID, b.ID) })
		return js, nil
	}
	ids, err := ex.idsToSeal(ctx, ns)
	if err != nil {
		return nil, err
	}
	loads, err := ex.fileLoadColumns(ns, ids)
	if err != nil {
		return nil, err
	}
	rows, _ := ex.q.Query(ctx, `WITH n AS (
			SELECT coalesce(u.id, nextval(pg_get_serial_sequence('jobs', 'id'))) AS id,
				u.kind, u.queue, u.key_id, u.params, u.max_attempts, u.ord
			FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[], $5::jsonb[], $6::int[])
				WITH ORDINALITY AS u (id, kind, queue, key_id, params, max_attempts, ord)
		), j AS (
			INSERT INTO jobs (id, kind, queue, key_id, params, max_attempts) OVERRIDING SYSTEM VALUE
			SELECT id, kind, queue, key_id, params, max_attempts FROM n ORDER BY ord
			RETURNING `+jobColumns+`
		), f AS (
			INSERT INTO van_file_loads (job_id, key_id, db_mode, description, request, source_url, listeners)
			SELECT n.id, l.key_id, l.db_mode, l.description, l.request, l.source_url, coalesce(l.listeners, '[]')
			FROM unnest($7::bigint[], $8::smallint[], $9::text[], $10::jsonb[], $11::text[], $12::jsonb[])
				WITH ORDINALITY AS l (key_id, db_mode, description, request, source_url, listeners, ord)
			JOIN n ON n.ord = l.ord
			WHERE l.key_id IS NOT NULL
		)
		SELECT * FROM j ORDER BY id`,
		ids, kinds, queues, keys, params, attempts,
		loads.keys, loads.modes, loads.descriptions, loads.requests, loads.sources, loads.listeners)
	js, err := pgx.CollectRows(rows, pgx.RowToAddrOfStructByName[Job])
	if err != nil {
		return nil, fmt.Errorf("insert %d jobs: %w", len(ns), err)
	}
	return js, nil
}

// Job returns a job by id.
func (ex *executor) Job(ctx context.Context, id int64) (*Job, error) {
	rows, _ := ex.q.Query(ctx, `SELECT `+jobColumns+` FROM jobs WHERE id = $1`, id)
	j, err := pgx.CollectExactlyOneRow(rows, pgx.RowToAddrOfStructByName[Job])
	if err != nil {
		return nil, notFound(err, "job")
	}
	return j, nil
}

// JobOfKey returns a job only if keyID owns it; another key's job is
// reported exactly like a missing one.
func (ex *executor) JobOfKey(ctx context.Context, id, keyID int64) (*Job, error) {
	rows, _ := ex.q.Query(ctx, `SELECT `+jobColumns+` FROM jobs WHERE id = $1 AND key_id = $2`, id, keyID)
	j, err := pgx.CollectExactlyOneRow(rows, pgx.RowToAddrOfStructByName[Job])
	if err != nil {
		return nil, notFound(err, "job")
	}
	return j, nil
}

// Attempt is one run of a job by a worker. A worker reads the job
// (PeekJobs) and runs it at once; the row says "running" only once the
// attempt is recorded (StartJobs), which the worker does only for runs that
// last long enough for someone to look. A run that finishes sooner writes
// its start and its outcome in one statement (SucceedJobs, FailAttempt).
// Each write is guarded by the attempts count the run read, so of two runs
// of the same job only the first to write counts: a duplicate delivery, or
// a run that outlived its worker's shutdown, cannot overwrite the outcome
// of the attempt that replaced it.
type Attempt struct {
	JobID int64
	// Number is this run's attempt: the attempts recorded before it, plus 1.
	Number int
	// Started reports whether StartJobs recorded this attempt.
	Started bool
	// At is when the worker took the job.
	At time.Time
}

// expected is the attempts count the row holds while this attempt is the
// current one.
func (a Attempt) expected() int32 {
	if a.Started {
		return int32(a.Number)
	}
	return int32(a.Number - 1)
}

// unfinished is the guard of every state change. It names the final
// statuses rather than the others so that the planner cannot match it to
// the jobs_unfinished index: with that index in reach it ANDed a scan of
// every unfinished job into each batch write (9,572 rows read for 3
// updated, 3 ms a statement, in a burst of queued jobs that ANALYZE had not
// yet seen), where the primary key alone finds the rows.
const unfinished = `status NOT IN ('succeeded', 'failed', 'canceled')`

// PeekJobs reads jobs by id for a worker about to run them, in one
// statement, whatever their status; an id with no row is absent.
//
// The batch forms name their rows with id = ANY, so they are found by
// primary key whatever the statistics say: joined to unnest alone, a burst
// of queued jobs the planner has not counted yet made it scan every
// unfinished job per batch (twice the time per job at 4,000 queued).
func (ex *executor) PeekJobs(ctx context.Context, ids []int64) (map[int64]*Job, error) {
	rows, _ := ex.q.Query(ctx, `SELECT `+jobColumns+` FROM jobs WHERE id = ANY($1::bigint[])`, ids)
	found, err := pgx.CollectRows(rows, pgx.RowToAddrOfStructByName[Job])
	if err != nil {
		return nil, fmt.Errorf("read %d jobs: %w", len(ids), err)
	}
	out := make(map[int64]*Job, len(found))
	for _, j := range found {
		out[j.ID] = j
	}
	return out, nil
}

// StartJobs records attempts as running, in one statement, and returns the
// ids it recorded. An attempt it did not record lost the job: another run
// wrote first, or the job finished.
func (ex *executor) StartJobs(ctx context.Context, as []Attempt) (map[int64]bool, error) {
	ids, nums, ats := make([]int64, len(as)), make([]int32, len(as)), make([]time.Time, len(as))
	for i, a := range as {
		ids[i], nums[i], ats[i] = a.JobID, int32(a.Number), a.At
	}
	rows, _ := ex.q.Query(ctx, `UPDATE jobs SET status = 'running', attempts = u.att,
		started_at = coalesce(started_at, u.at), heartbeat_at = now(), updated_at = now()
		FROM unnest($1::bigint[], $2::int[], $3::timestamptz[]) AS u(job_id, att, at)
		WHERE id = ANY($1::bigint[]) AND id = u.job_id AND attempts = u.att - 1
		  AND `+unfinished+` RETURNING id`, ids, nums, ats)
	started, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("start %d jobs: %w", len(as), err)
	}
	out := make(map[int64]bool, len(started))
	for _, id := range started {
		out[id] = true
	}
	return out, nil
}

// Success is one job's successful attempt, for SucceedJobs.
type Success struct {
	Attempt
	Result any // may be nil
}

// SucceedJobs marks jobs succeeded with their results, in one statement;
// an attempt that lost its job (see Attempt) changes nothing.
func (ex *executor) SucceedJobs(ctx context.Context, done []Success) error {
	ids, nums, expect := make([]int64, len(done)), make([]int32, len(done)), make([]int32, len(done))
	ats, results := make([]time.Time, len(done)), make([][]byte, len(done))
	for i, d := range done {
		ids[i], nums[i], expect[i], ats[i] = d.JobID, int32(d.Number), d.expected(), d.At
		if d.Result != nil {
			b, err := json.Marshal(d.Result)
			if err != nil {
				return fmt.Errorf("marshal result of job %d: %w", d.JobID, err)
			}
			results[i] = validJSON(b)
		}
	}
	_, err := ex.q.Exec(ctx, `UPDATE jobs SET status = 'succeeded', attempts = u.att,
		started_at = coalesce(started_at, u.at), result = coalesce(u.res, result), error = NULL,
		finished_at = now(), updated_at = now()
		FROM unnest($1::bigint[], $2::int[], $3::int[], $4::timestamptz[], $5::jsonb[]) AS u(job_id, att, expect, at, res)
		WHERE id = ANY($1::bigint[]) AND id = u.job_id AND attempts = u.expect
		  AND `+unfinished, ids, nums, expect, ats, results)
	if err != nil {
		return fmt.Errorf("record success of %d jobs: %w", len(done), err)
	}
	return nil
}

// FailAttempt records the failure of an attempt. With final, the job is
// failed for good; otherwise it waits for a retry. msg is stored as
// ErrorText: made valid and cut to MaxErrorText.
func (ex *executor) FailAttempt(ctx context.Context, a Attempt, msg string, final bool) error {
	status, finished := JobRetrying, "NULL"
	if final {
		status, finished = JobFailed, "now()"
	}
	// The error also goes to the job's history, where a retry leaves it.
	_, err := ex.q.Exec(ctx, `WITH u AS (UPDATE jobs SET status = $2, error = $3, attempts = $4,
		started_at = coalesce(started_at, $6), finished_at = `+finished+`, updated_at = now()
		WHERE id = $1 AND attempts = $5 AND `+unfinished+` RETURNING id, attempts)
		INSERT INTO job_events (job_id, action, attempt, detail) SELECT id, 'attempt_failed', attempts, $3 FROM u`,
		a.JobID, status, ErrorText(msg), a.Number, a.expected(), a.At)
	return err
}

// GiveUpJob fails an unfinished job for good, whatever attempt it is at:
// the reconciler's verdict on a job whose task Asynq gave up on.
func (ex *executor) GiveUpJob(ctx context.Context, id int64, msg string) error {
	_, err := ex.q.Exec(ctx, `WITH u AS (UPDATE jobs SET status = 'failed', error = $2, finished_at = now(),
		updated_at = now() WHERE id = $1 AND `+unfinished+` RETURNING id, attempts)
		INSERT INTO job_events (job_id, action, attempt, detail) SELECT id, 'gave_up', attempts, $2 FROM u`, id, ErrorText(msg))
	return err
}

// Heartbeats records that a worker is still running the jobs and returns
// the ids it recorded; a job missing from them is no longer running (it
// was canceled, or the reconciler settled it), and its run should stop.
func (ex *executor) Heartbeats(ctx context.Context, ids []int64) (map[int64]bool, error) {
	// "Not any other status" rather than = 'running', for the reason given
	// at unfinished.
	rows, _ := ex.q.Query(ctx, `UPDATE jobs SET heartbeat_at = now() WHERE id = ANY($1::bigint[])
		AND status NOT IN ('queued', 'retrying', 'succeeded', 'failed', 'canceled') RETURNING id`, ids)
	beat, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, err
	}
	out := make(map[int64]bool, len(beat))
	for _, id := range beat {
		out[id] = true
	}
	return out, nil
}

// SetProgress records a running job's counters.
func (ex *executor) SetProgress(ctx context.Context, id, total, done, failed int64) error {
	_, err := ex.q.Exec(ctx, `UPDATE jobs SET progress_total = $2, progress_done = $3, progress_failed = $4,
		heartbeat_at = now(), updated_at = now() WHERE id = $1`, id, total, done, failed)
	return err
}

// OrphanCandidates returns unfinished jobs that the reconciler should check
// for a live task: queued or retrying for longer than grace, or running
// with a heartbeat older than stale.
func (ex *executor) OrphanCandidates(ctx context.Context, grace, stale time.Duration, limit int) ([]Job, error) {
	rows, _ := ex.q.Query(ctx, `SELECT `+jobColumns+` FROM jobs
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
func (ex *executor) JobStatsSince(ctx context.Context, t time.Time) ([]QueueStats, error) {
	rows, _ := ex.q.Query(ctx, `SELECT queue,
		count(*) FILTER (WHERE status = 'succeeded' AND finished_at >= $1) AS succeeded,
		count(*) FILTER (WHERE status = 'failed' AND finished_at >= $1) AS failed,
		count(*) FILTER (WHERE status IN ('queued', 'retrying')) AS waiting,
		count(*) FILTER (WHERE status = 'running') AS running
		FROM jobs WHERE finished_at >= $1 OR finished_at IS NULL GROUP BY queue ORDER BY queue`, t)
	return pgx.CollectRows(rows, pgx.RowToStructByName[QueueStats])
}

// JobProgress is a running job's progress as the public status page shows
// it: kind and counters only, never ids, parameters or personal data.
type JobProgress struct {
	Kind      string    `db:"kind"`
	Queue     string    `db:"queue"`
	Total     int64     `db:"progress_total"`
	Done      int64     `db:"progress_done"`
	Failed    int64     `db:"progress_failed"`
	StartedAt time.Time `db:"started_at"`
}

// RunningProgress returns the progress of up to limit running jobs that
// report it, oldest first.
func (ex *executor) RunningProgress(ctx context.Context, limit int) ([]JobProgress, error) {
	rows, _ := ex.q.Query(ctx, `SELECT kind, queue, progress_total, progress_done, progress_failed,
		coalesce(started_at, updated_at) AS started_at FROM jobs
		WHERE status = 'running' AND progress_total > 0 ORDER BY id LIMIT $1`, limit)
	return pgx.CollectRows(rows, pgx.RowToStructByName[JobProgress])
}

// DeleteJob deletes a job row that nothing refers to yet (a delivery job
// whose claim lost).
func (ex *executor) DeleteJob(ctx context.Context, id int64) error {
	_, err := ex.q.Exec(ctx, `DELETE FROM jobs WHERE id = $1`, id)
	return err
}
