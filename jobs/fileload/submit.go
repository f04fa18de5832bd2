package fileload

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/turnoutdev/turnout/jobs"
	"github.com/turnoutdev/turnout/storage"
)

// Submit commits a validated request as a job and its file-load record in
// one transaction, then enqueues it. The task carries only the job id; the
// source URL and its credentials stay in PostgreSQL.
func Submit(ctx context.Context, store *storage.Store, enq *jobs.Enqueuer, c Caller, r *Request) (int64, error) {
	shown, err := json.Marshal(r.Redacted())
	if err != nil {
		return 0, err
	}
	listeners, err := json.Marshal(r.Listeners)
	if err != nil {
		return 0, err
	}
	var job *storage.Job
	err = store.InTx(ctx, func(tx pgx.Tx) error {
		keyID := c.KeyID
		job, err = storage.InsertJob(ctx, tx, storage.NewJob{Kind: Kind, Queue: jobs.QueueFileload, KeyID: &keyID, MaxAttempts: 5})
		if err != nil {
			return err
		}
		return store.InsertFileLoad(ctx, tx, storage.FileLoad{
			JobID: job.ID, KeyID: c.KeyID, DBMode: c.DBMode, Description: r.Description,
			Request: shown, SourceURL: r.File.SourceURL, Listeners: listeners,
		})
	})
	if err != nil {
		return 0, fmt.Errorf("submit file load: %w", err)
	}
	enq.EnqueueOrLog(ctx, job)
	return job.ID, nil
}
