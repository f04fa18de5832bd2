package client

import (
	"context"
	"encoding/json"
	"errors"
	"iter"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Status is where a job is in its life.
type Status string

// A job is queued, then running (once an attempt has lasted 100 ms),
// retrying between attempts, and ends succeeded, failed or canceled. A
// failed or canceled job may be retried, which queues it again.
const (
	StatusQueued    Status = "queued"
	StatusRunning   Status = "running"
	StatusRetrying  Status = "retrying"
	StatusSucceeded Status = "succeeded"
	StatusFailed    Status = "failed"
	StatusCanceled  Status = "canceled"
)

// Finished reports whether s is a final status.
func (s Status) Finished() bool {
	return s == StatusSucceeded || s == StatusFailed || s == StatusCanceled
}

// Job is a job as the API shows it.
type Job struct {
	ID     int64  `json:"id"`
	Kind   string `json:"kind"`
	Queue  string `json:"queue"`
	Status Status `json:"status"`
	// ProgressTotal, ProgressDone and ProgressFailed count the rows of a
	// job that reports progress (file loads, exports); zero otherwise.
	ProgressTotal  int64 `json:"progressTotal"`
	ProgressDone   int64 `json:"progressDone"`
	ProgressFailed int64 `json:"progressFailed"`
	// Error is the caller-safe message of the last failed attempt.
	Error       *string    `json:"error"`
	Attempts    int        `json:"attempts"`
	MaxAttempts int        `json:"maxAttempts"`
	CreatedAt   time.Time  `json:"createdAt"`
	UpdatedAt   time.Time  `json:"updatedAt"`
	StartedAt   *time.Time `json:"startedAt"`
	FinishedAt  *time.Time `json:"finishedAt"`
	// KeyName names the owning key (lists, reads and events only).
	KeyName *string `json:"keyName,omitempty"`
	// Result is the job's own outcome, if it has one.
	Result json.RawMessage `json:"result,omitempty"`
	// CanceledBy says who canceled the job: key:NAME, dashboard:NAME or
	// cli:USER.
	CanceledBy *string    `json:"canceledBy,omitempty"`
	CanceledAt *time.Time `json:"canceledAt,omitempty"`
}

// Finished reports whether the job reached a final status.
func (j *Job) Finished() bool { return j.Status.Finished() }

// Sentinels of JobError.
var (
	ErrJobFailed   = errors.New("turnout: job failed")
	ErrJobCanceled = errors.New("turnout: job canceled")
)

// JobError is a job that ended without success.
type JobError struct {
	Job *Job
}

func (e *JobError) Error() string {
	msg := "job " + strconv.FormatInt(e.Job.ID, 10) + " " + string(e.Job.Status)
	if e.Job.Status == StatusCanceled && e.Job.CanceledBy != nil {
		msg += " by " + *e.Job.CanceledBy
	}
	if e.Job.Error != nil {
		msg += ": " + *e.Job.Error
	}
	return msg
}

// Is matches ErrJobFailed or ErrJobCanceled.
func (e *JobError) Is(target error) bool {
	return (target == ErrJobFailed && e.Job.Status == StatusFailed) ||
		(target == ErrJobCanceled && e.Job.Status == StatusCanceled)
}

// Err is nil for a job that succeeded or is not finished, and a *JobError
// for one that failed or was canceled.
func (j *Job) Err() error {
	if j.Status == StatusFailed || j.Status == StatusCanceled {
		return &JobError{Job: j}
	}
	return nil
}

// HistoryEntry is a failed attempt of a job or an action taken on it.
type HistoryEntry struct {
	At time.Time `json:"at"`
	// Action is attempt_failed, canceled, retried, ...
	Action  string  `json:"action"`
	Actor   string  `json:"actor,omitempty"`
	Attempt int     `json:"attempt"`
	Detail  *string `json:"detail,omitempty"`
}

// CreateParams are a no-op job's parameters.
type CreateParams struct {
	// SleepMS makes the job take this long (0–60000 ms).
	SleepMS int `json:"sleepMs"`
}

// Create starts a no-op job, which goes through the whole pipeline and
// does nothing: a check that a deployment runs jobs end to end. It needs
// a key with the admin scope. The job is committed when Create returns.
func (c *Client) Create(ctx context.Context, p CreateParams) (*Job, error) {
	var out struct{ Job Job }
	if err := c.call(ctx, "POST", "/service/jobs", nil, p, &out); err != nil {
		return nil, err
	}
	return &out.Job, nil
}

// CreateBatch starts several no-op jobs in one request, at most the key's
// batch size: all of them, or none when any item is invalid (its Fields
// name jobs[i]).
func (c *Client) CreateBatch(ctx context.Context, ps []CreateParams) ([]Job, error) {
	var out struct{ Jobs []Job }
	if err := c.call(ctx, "POST", "/service/jobs/batch", nil, map[string]any{"jobs": ps}, &out); err != nil {
		return nil, err
	}
	return out.Jobs, nil
}

func jobPath(id int64, action string) string {
	p := "/service/jobs/" + strconv.FormatInt(id, 10)
	if action != "" {
		p += "/" + action
	}
	return p
}

// Get reads one job.
func (c *Client) Get(ctx context.Context, id int64) (*Job, error) {
	j, _, err := c.GetWithHistory(ctx, id)
	return j, err
}

// GetWithHistory reads one job and its history: its failed attempts and
// the actions taken on it, oldest first.
func (c *Client) GetWithHistory(ctx context.Context, id int64) (*Job, []HistoryEntry, error) {
	var out struct {
		Job     Job
		History []HistoryEntry
	}
	if err := c.call(ctx, "GET", jobPath(id, ""), nil, nil, &out); err != nil {
		return nil, nil, err
	}
	return &out.Job, out.History, nil
}

// Cancel cancels a queued, retrying or running job. The job is canceled
// when Cancel returns; a running attempt is stopped and its work undone.
// A finished job is ErrConflict.
func (c *Client) Cancel(ctx context.Context, id int64) (*Job, error) {
	var out struct{ Job Job }
	if err := c.call(ctx, "POST", jobPath(id, "cancel"), nil, nil, &out); err != nil {
		return nil, err
	}
	return &out.Job, nil
}

// Retry queues a failed or canceled job again, as a new attempt; any
// other is ErrConflict.
func (c *Client) Retry(ctx context.Context, id int64) (*Job, error) {
	var out struct{ Job Job }
	if err := c.call(ctx, "POST", jobPath(id, "retry"), nil, nil, &out); err != nil {
		return nil, err
	}
	return &out.Job, nil
}

// ListOptions filter and page the job list. Zero fields do not filter.
type ListOptions struct {
	// Status keeps jobs in any of these statuses.
	Status []Status
	Kind   string
	Queue  string
	// CreatedAfter and CreatedBefore bound the creation time.
	CreatedAfter  time.Time
	CreatedBefore time.Time
	// Limit is the page size, 1–200 (default 50).
	Limit int
	// Cursor is the NextCursor of the page before.
	Cursor string
}

func (o ListOptions) query() url.Values {
	q := url.Values{}
	if len(o.Status) > 0 {
		s := make([]string, len(o.Status))
		for i, st := range o.Status {
			s[i] = string(st)
		}
		q.Set("status", strings.Join(s, ","))
	}
	set := func(k, v string) {
		if v != "" {
			q.Set(k, v)
		}
	}
	set("kind", o.Kind)
	set("queue", o.Queue)
	set("cursor", o.Cursor)
	if !o.CreatedAfter.IsZero() {
		q.Set("createdAfter", o.CreatedAfter.UTC().Format(time.RFC3339))
	}
	if !o.CreatedBefore.IsZero() {
		q.Set("createdBefore", o.CreatedBefore.UTC().Format(time.RFC3339))
	}
	if o.Limit > 0 {
		q.Set("limit", strconv.Itoa(o.Limit))
	}
	return q
}

// Page is one page of the job list.
type Page struct {
	Jobs []Job
	// NextCursor fetches the next page; empty on the last.
	NextCursor string
}

// List returns one page of the key's jobs (every key's, for admin),
// newest first. Paging is by keyset: jobs created while paging do not
// shift the pages.
func (c *Client) List(ctx context.Context, o ListOptions) (*Page, error) {
	var out struct {
		Jobs       []Job
		NextCursor *string
	}
	if err := c.call(ctx, "GET", "/service/jobs", o.query(), nil, &out); err != nil {
		return nil, err
	}
	p := &Page{Jobs: out.Jobs}
	if out.NextCursor != nil {
		p.NextCursor = *out.NextCursor
	}
	return p, nil
}

// All iterates over every job the filter selects, newest first, fetching
// the pages (of o.Limit jobs) as the loop reaches them. An error ends the
// iteration after it is yielded.
func (c *Client) All(ctx context.Context, o ListOptions) iter.Seq2[Job, error] {
	return func(yield func(Job, error) bool) {
		for {
			p, err := c.List(ctx, o)
			if err != nil {
				yield(Job{}, err)
				return
			}
			for _, j := range p.Jobs {
				if !yield(j, nil) {
					return
				}
			}
			if p.NextCursor == "" {
				return
			}
			o.Cursor = p.NextCursor
		}
	}
}
