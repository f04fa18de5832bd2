package worker_test

import (
	"context"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/turnoutdev/turnout/jobs"
	"github.com/turnoutdev/turnout/storage"
	"github.com/turnoutdev/turnout/worker"
)

// A job whose key already runs its limit does not start: its task goes
// back to the queue, neither the job's attempts nor Asynq's retry count
// move, and not even a job on its last (here: only) attempt is given up.
// Once the key's slot frees, the job runs, on its first attempt.
func TestAJobWaitingForItsKeysSlotSpendsNoAttempt(t *testing.T) {
	var runs atomic.Int32
	h := start(t, map[string]jobs.Handler{"limited": jobs.HandlerFunc(func(context.Context, *storage.Job) (any, error) {
		runs.Add(1)
		return nil, nil
	})}, worker.Options{KeyLimit: worker.KeyLimitOptions{Kinds: []string{"limited"}, Default: 1, Recheck: 100 * time.Millisecond}})
	ctx := context.Background()
	key, err := h.env.Store.CreateKey(ctx, storage.NewKey{Name: "limited", Scopes: []string{"van"}})
	if err != nil {
		t.Fatal(err)
	}
	// Another job of the key holds its only slot.
	slots := "turnout:keyslots:limited:" + strconv.FormatInt(key.ID, 10)
	until := time.Now().Add(time.Minute).UnixMilli()
	if err := h.env.Redis.ZAdd(ctx, slots, redis.Z{Score: float64(until), Member: "holder"}).Err(); err != nil {
		t.Fatal(err)
	}
	j, err := h.enq.Create(ctx, storage.NewJob{Kind: "limited", Queue: jobs.QueueDefault, KeyID: &key.ID, MaxAttempts: 1})
	if err != nil {
		t.Fatal(err)
	}

	insp := asynq.NewInspector(h.env.AsynqConn)
	defer insp.Close()
	bounced := 0
	for deadline := time.Now().Add(20 * time.Second); bounced < 3; {
		info, err := insp.GetTaskInfo(jobs.QueueDefault, jobs.TaskID(j.ID))
		if err != nil {
			t.Fatalf("task info: %v", err)
		}
		if info.State == asynq.TaskStateArchived || info.Retried != 0 {
			t.Fatalf("task %s with %d retries counted (%s); waiting for a slot must cost nothing", info.State, info.Retried, info.LastErr)
		}
		if info.State == asynq.TaskStateRetry && strings.Contains(info.LastErr, "already runs its limit of 1") {
			bounced++
			for info.State == asynq.TaskStateRetry && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
				if info, err = insp.GetTaskInfo(jobs.QueueDefault, jobs.TaskID(j.ID)); err != nil {
					t.Fatalf("task info: %v", err)
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the task was sent back %d times in 20s, want 3", bounced)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := runs.Load(); n != 0 {
		t.Fatalf("the handler ran %d times while the key's only slot was taken", n)
	}
	if row, _ := h.env.Store.Job(ctx, j.ID); row.Status != storage.JobQueued || row.Attempts != 0 {
		t.Fatalf("job %s with %d attempts while waiting, want queued with 0", row.Status, row.Attempts)
	}

	if err := h.env.Redis.ZRem(ctx, slots, "holder").Err(); err != nil {
		t.Fatal(err)
	}
	done := waitStatus(t, h.env.Store, j.ID, storage.JobSucceeded)
	if done.Attempts != 1 || runs.Load() != 1 {
		t.Errorf("succeeded after %d attempts and %d runs, want 1 and 1", done.Attempts, runs.Load())
	}
	if n, _ := h.env.Redis.Exists(ctx, slots).Result(); n != 0 {
		t.Errorf("the key's slot set outlived its last job")
	}
}
