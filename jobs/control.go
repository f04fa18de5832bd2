package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/turnoutdev/turnout/storage"
)

// CancelChannel is the Redis pub/sub channel on which a canceled job's id
// is announced, so the worker running it stops at once. A worker that
// misses the message stops the run at its next heartbeat, when it finds
// the row no longer says "running".
const CancelChannel = "turnout:jobs:cancel"

// RetryAttempts is how many more attempts a retry gives a job.
const RetryAttempts = 3

// Control is what operators and owners do to jobs, through any door (the
// native API, the CLI, the Asynq dashboard): cancel and retry. PostgreSQL
// is written first and is the truth; Redis is brought in line afterwards,
// and whatever that misses is caught up by the worker's heartbeat and the
// reconciler, never the other way round.
type Control struct {
	Store     *storage.Store
	Enqueuer  *Enqueuer
	Inspector *asynq.Inspector
	Redis     redis.UniversalClient
	Log       *slog.Logger
}

// Cancel cancels an unfinished job as actor ("key:NAME", "dashboard:NAME",
// "cli:USER"). With owner set, only that key's job may be canceled. The
// job's queued task is removed; a running one's handler has its context
// cancelled, so its work is undone as on a failure.
func (c *Control) Cancel(ctx context.Context, id int64, owner *int64, actor string) (*storage.Job, error) {
	j, err := c.Store.CancelJob(ctx, id, owner, actor)
	if err != nil {
		return nil, err
	}
	c.Log.Info("job canceled", "job_id", id, "kind", j.Kind, "actor", actor)
	if err := c.Redis.Publish(ctx, CancelChannel, strconv.FormatInt(id, 10)).Err(); err != nil {
		c.Log.Warn("announce cancel; the worker stops the run at its next heartbeat", "job_id", id, "err", err)
	}
	c.dropTask(j)
	return j, nil
}

// Retry queues a failed or canceled job again with a fresh task. The
// attempts count goes on (a retry grants RetryAttempts more) and the last
// error stays in the job's history.
func (c *Control) Retry(ctx context.Context, id int64, owner *int64, actor string) (*storage.Job, error) {
	j, err := c.Store.RetryJob(ctx, id, owner, actor, RetryAttempts)
	if err != nil {
		return nil, err
	}
	c.Log.Info("job retried", "job_id", id, "kind", j.Kind, "actor", actor, "attempts", j.Attempts)
	// The old task (archived, completed, or a canceled run's) holds the
	// job's task id; it goes first so the new one can take it. If it is
	// still active, the reconciler enqueues the job once it is gone.
	c.dropTask(j)
	c.Enqueuer.EnqueueOrLog(ctx, j)
	return j, nil
}

// RetryResult is the outcome of RetryMany.
type RetryResult struct {
	Retried []int64 `json:"retried"`
	// Failed maps a job id to why it was not retried.
	Failed map[string]string `json:"failed,omitempty"`
}

// RetryMany retries every job f selects (failed ones unless f names
// statuses), up to limit jobs.
func (c *Control) RetryMany(ctx context.Context, f storage.JobFilter, actor string, limit int) (*RetryResult, error) {
	if len(f.Statuses) == 0 {
		f.Statuses = []string{storage.JobFailed}
	}
	f.Limit = min(max(limit, 1), 500)
	res := &RetryResult{Retried: []int64{}}
	for len(res.Retried) < limit {
		page, err := c.Store.ListJobs(ctx, f)
		if err != nil {
			return res, err
		}
		for _, j := range page {
			if len(res.Retried) >= limit {
				break
			}
			if _, err := c.Retry(ctx, j.ID, f.Owner, actor); err != nil {
				if res.Failed == nil {
					res.Failed = map[string]string{}
				}
				res.Failed[strconv.FormatInt(j.ID, 10)] = err.Error()
				continue
			}
			res.Retried = append(res.Retried, j.ID)
		}
		if len(page) < f.Limit {
			break
		}
		f.BeforeID = page[len(page)-1].ID
	}
	return res, nil
}

// dropTask removes the job's task from Redis if it is not running; an
// active task ends with its run.
func (c *Control) dropTask(j *storage.Job) {
	err := c.Inspector.DeleteTask(j.Queue, TaskID(j.ID))
	if err != nil && !errors.Is(err, asynq.ErrTaskNotFound) && !errors.Is(err, asynq.ErrQueueNotFound) {
		if info, ierr := c.Inspector.GetTaskInfo(j.Queue, TaskID(j.ID)); ierr == nil && info.State == asynq.TaskStateActive {
			return
		}
		c.Log.Warn("remove the task of a job", "job_id", j.ID, "err", fmt.Errorf("%w", err))
	}
}

// allQueuesKey is Asynq's set of known queues; Asynq adds a queue to it on
// its first task only.
const allQueuesKey = "asynq:queues"

// RegisterQueues makes every Turnout queue known to Asynq, so the
// dashboard and the metrics list a queue (critical, say) before its first
// task.
func RegisterQueues(ctx context.Context, rdb redis.UniversalClient) error {
	members := make([]any, len(Queues))
	for i, q := range Queues {
		members[i] = q
	}
	return rdb.SAdd(ctx, allQueuesKey, members...).Err()
}
