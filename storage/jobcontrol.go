package storage

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/turnoutdev/turnout/internal/fault"
)

// Job history actions (job_events.action).
const (
	EventCanceled      = "canceled"
	EventRetried       = "retried"
	EventAttemptFailed = "attempt_failed"
	EventGaveUp        = "gave_up"
	// EventCanceledLate records a cancel that reached a run after its work
	// had committed: the job says canceled, but its effect stands.
	EventCanceledLate = "canceled_after_commit"
)

// JobEvent is one entry of a job's history: a failed attempt or an
// operator's action.
type JobEvent struct {
	At      time.Time `db:"at" json:"at"`
	Action  string    `db:"action" json:"action"`
	Actor   string    `db:"actor" json:"actor,omitempty"`
	Attempt int       `db:"attempt" json:"attempt"`
	Detail  *string   `db:"detail" json:"detail,omitempty"`
}

// JobListing is a job as lists show it, with its owning key's name.
type JobListing struct {
	Job
	KeyName *string `db:"key_name" json:"keyName"`
}

// JobFilter selects jobs for ListJobs. Zero fields select everything.
type JobFilter struct {
	// Owner limits the list to one key's jobs; nil lists every key's.
	Owner         *int64
	Statuses      []string
	Kind          string
	Queue         string
	CreatedAfter  *time.Time
	CreatedBefore *time.Time
	// BeforeID is the keyset cursor: only jobs with a smaller id.
	BeforeID int64
	Limit    int
}

// qualified prefixes each of jobColumns with alias.
func qualified(alias string) string {
	cols := strings.Split(jobColumns, ",")
	for i, c := range cols {
		cols[i] = alias + "." + strings.TrimSpace(c)
	}
	return strings.Join(cols, ", ")
}

// ListJobs returns jobs newest first. Paging is by keyset (id below the
// last one seen), so a page costs the same however deep it is and jobs
// created meanwhile do not shift it.
func (ex *executor) ListJobs(ctx context.Context, f JobFilter) ([]JobListing, error) {
	if f.Limit <= 0 {
		f.Limit = 50
	}
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if f.Owner != nil {
		where = append(where, "j.key_id = "+arg(*f.Owner))
	}
	if len(f.Statuses) > 0 {
		where = append(where, "j.status = ANY("+arg(f.Statuses)+"::text[])")
	}
	if f.Kind != "" {
		where = append(where, "j.kind = "+arg(f.Kind))
	}
	if f.Queue != "" {
		where = append(where, "j.queue = "+arg(f.Queue))
	}
	if f.CreatedAfter != nil {
		where = append(where, "j.created_at >= "+arg(*f.CreatedAfter))
	}
	if f.CreatedBefore != nil {
		where = append(where, "j.created_at < "+arg(*f.CreatedBefore))
	}
	if f.BeforeID > 0 {
		where = append(where, "j.id < "+arg(f.BeforeID))
	}
	q := `SELECT ` + qualified("j") + `, k.name AS key_name FROM jobs j LEFT JOIN api_keys k ON k.id = j.key_id`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY j.id DESC LIMIT " + arg(f.Limit)
	rows, _ := ex.q.Query(ctx, q, args...)
	out, err := pgx.CollectRows(rows, pgx.RowToStructByName[JobListing])
	if err != nil {
		return nil, fmt.Errorf("list jobs: %w", err)
	}
	return out, nil
}

// JobListingOf returns one job with its key's name; with owner set, only
// if that key owns it (another key's job is reported as missing).
func (ex *executor) JobListingOf(ctx context.Context, id int64, owner *int64) (*JobListing, error) {
	rows, _ := ex.q.Query(ctx, `SELECT `+qualified("j")+`, k.name AS key_name FROM jobs j
		LEFT JOIN api_keys k ON k.id = j.key_id WHERE j.id = $1 AND ($2::bigint IS NULL OR j.key_id = $2)`, id, owner)
	j, err := pgx.CollectExactlyOneRow(rows, pgx.RowToAddrOfStructByName[JobListing])
	if err != nil {
		return nil, notFound(err, "job")
	}
	return j, nil
}

// JobEvents returns a job's history, oldest first.
func (ex *executor) JobEvents(ctx context.Context, id int64) ([]JobEvent, error) {
	rows, _ := ex.q.Query(ctx, `SELECT at, action, actor, attempt, detail FROM job_events
		WHERE job_id = $1 ORDER BY id`, id)
	out, err := pgx.CollectRows(rows, pgx.RowToStructByName[JobEvent])
	if err != nil {
		return nil, fmt.Errorf("read history of job %d: %w", id, err)
	}
	return out, nil
}

// AddJobEvent appends to a job's history.
func (ex *executor) AddJobEvent(ctx context.Context, id int64, action, actor string, attempt int, detail string) error {
	_, err := ex.q.Exec(ctx, `INSERT INTO job_events (job_id, action, actor, attempt, detail)
		VALUES ($1, $2, $3, $4, nullif($5, ''))`, id, action, actor, attempt, detail)
	return err
}

// CancelJob records that actor canceled an unfinished job: it is final
// from then on, and every later write of a run (start, heartbeat, outcome)
// and of the reconciler is refused by the guards on final statuses. With
// owner set, only that key's job may be canceled.
func (s *Store) CancelJob(ctx context.Context, id int64, owner *int64, actor string) (*Job, error) {
	var j *Job
	err := s.WithTx(ctx, func(tx *Tx) error {
		rows, _ := tx.q.Query(ctx, `UPDATE jobs SET status = 'canceled', canceled_by = $2, canceled_at = now(),
			finished_at = now(), updated_at = now(), error = 'canceled'
			WHERE id = $1 AND ($3::bigint IS NULL OR key_id = $3) AND `+unfinished+` RETURNING `+jobColumns, id, actor, owner)
		var err error
		j, err = pgx.CollectExactlyOneRow(rows, pgx.RowToAddrOfStructByName[Job])
		if errors.Is(err, pgx.ErrNoRows) {
			return tx.notUnfinished(ctx, id, owner, "canceled", "queued, running or retrying")
		}
		if err != nil {
			return fmt.Errorf("cancel job %d: %w", id, err)
		}
		_, err = tx.q.Exec(ctx, `INSERT INTO job_events (job_id, action, actor, attempt) VALUES ($1, 'canceled', $2, $3)`,
			id, actor, j.Attempts)
		return err
	})
	if err != nil {
		return nil, err
	}
	return j, nil
}

// RetryJob queues a failed or canceled job again, as a new attempt: the
// attempts count goes on, the job gets extra more attempts, and its last
// error moves to its history. With owner set, only that key's job may be
// retried.
func (s *Store) RetryJob(ctx context.Context, id int64, owner *int64, actor string, extra int) (*Job, error) {
	var j *Job
	err := s.WithTx(ctx, func(tx *Tx) error {
		var prevStatus string
		var prevErr *string
		err := tx.q.QueryRow(ctx, `SELECT status, error FROM jobs WHERE id = $1 AND ($2::bigint IS NULL OR key_id = $2)
			AND status IN ('failed', 'canceled') FOR UPDATE`, id, owner).Scan(&prevStatus, &prevErr)
		if errors.Is(err, pgx.ErrNoRows) {
			return tx.notUnfinished(ctx, id, owner, "retried", "failed or canceled")
		}
		if err != nil {
			return fmt.Errorf("retry job %d: %w", id, err)
		}
		detail := "was " + prevStatus
		if prevErr != nil && *prevErr != "" && *prevErr != "canceled" {
			detail += ": " + *prevErr
		}
		rows, _ := tx.q.Query(ctx, `UPDATE jobs SET status = 'queued', error = NULL, result = NULL,
			max_attempts = attempts + $2, started_at = NULL, finished_at = NULL, heartbeat_at = NULL,
			canceled_by = NULL, canceled_at = NULL, progress_total = 0, progress_done = 0, progress_failed = 0,
			updated_at = now() WHERE id = $1 RETURNING `+jobColumns, id, max(extra, 1))
		if j, err = pgx.CollectExactlyOneRow(rows, pgx.RowToAddrOfStructByName[Job]); err != nil {
			return fmt.Errorf("retry job %d: %w", id, err)
		}
		_, err = tx.q.Exec(ctx, `INSERT INTO job_events (job_id, action, actor, attempt, detail) VALUES ($1, 'retried', $2, $3, $4)`,
			id, actor, j.Attempts, detail)
		return err
	})
	if err != nil {
		return nil, err
	}
	return j, nil
}

// notUnfinished explains why a job could not be acted on: it is missing
// (or another key's), or its status does not allow the action.
func (ex *executor) notUnfinished(ctx context.Context, id int64, owner *int64, action, allowed string) error {
	var status string
	err := ex.q.QueryRow(ctx, `SELECT status FROM jobs WHERE id = $1 AND ($2::bigint IS NULL OR key_id = $2)`, id, owner).Scan(&status)
	if errors.Is(err, pgx.ErrNoRows) {
		return fault.New(fault.NotFound, "job not found")
	}
	if err != nil {
		return err
	}
	return fault.New(fault.Conflict, "job %d is %s; only %s jobs can be %s", id, status, allowed, action)
}

// EventSettled records that the handler of a canceled job was told, so
// its own records (a file load's message, a report's status) and its
// listeners have the final status.
const EventSettled = "settled"

// UnsettledCanceled returns jobs of the given kinds canceled in the last
// day whose handlers have not been told (no EventSettled), oldest first.
func (ex *executor) UnsettledCanceled(ctx context.Context, kinds []string, limit int) ([]Job, error) {
	rows, _ := ex.q.Query(ctx, `SELECT `+jobColumns+` FROM jobs j WHERE status = 'canceled' AND kind = ANY($1::text[])
		AND canceled_at > now() - interval '1 day'
		AND NOT EXISTS (SELECT 1 FROM job_events e WHERE e.job_id = j.id AND e.action = 'settled')
		ORDER BY id LIMIT $2`, kinds, limit)
	return pgx.CollectRows(rows, pgx.RowToStructByName[Job])
}
