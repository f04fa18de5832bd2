package jobs_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"

	"github.com/hibiken/asynq"

	"github.com/turnoutdev/turnout/internal/testkit/testenv"
	"github.com/turnoutdev/turnout/jobs"
	"github.com/turnoutdev/turnout/storage"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// Concurrent Creates share inserts, yet each gets its own committed row
// back, and a job the database refuses fails alone.
func TestConcurrentCreatesGetTheirOwnRowsAndErrors(t *testing.T) {
	env := testenv.Get(t)
	env.FlushRedis(t)
	client := asynq.NewClient(env.AsynqConn)
	defer client.Close()
	enq := jobs.NewEnqueuer(env.Store, client, slog.New(slog.NewTextHandler(io.Discard, nil)))
	const n = 60
	const bad = 17
	jobsOut := make([]*storage.Job, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			nj := storage.NewJob{Kind: jobs.KindNoop, Queue: jobs.QueueDefault, Params: map[string]int{"i": i}}
			if i == bad {
				nj.MaxAttempts = -1 // refused by the table's CHECK
			}
			jobsOut[i], errs[i] = enq.Create(context.Background(), nj)
		})
	}
	wg.Wait()
	seen := map[int64]bool{}
	for i := range n {
		if i == bad {
			if errs[i] == nil {
				t.Errorf("job %d with max_attempts -1 was created", i)
			}
			continue
		}
		if errs[i] != nil {
			t.Fatalf("job %d: %v (the refused job failed its batch)", i, errs[i])
		}
		j := jobsOut[i]
		if seen[j.ID] {
			t.Fatalf("job %d got id %d twice", i, j.ID)
		}
		seen[j.ID] = true
		row, err := env.Store.Job(context.Background(), j.ID)
		if err != nil || string(row.Params) != fmt.Sprintf(`{"i": %d}`, i) || row.Status != storage.JobQueued {
			t.Fatalf("job %d: row %+v (%v), want its own params, queued", i, row, err)
		}
	}
	info, err := asynq.NewInspector(env.AsynqConn).GetQueueInfo(jobs.QueueDefault)
	if err != nil || info.Pending != n-1 {
		t.Fatalf("pending tasks %v (%v), want %d", info, err, n-1)
	}
}
