package fileload

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/turnoutdev/turnout/jobs"
	"github.com/turnoutdev/turnout/storage"
)

// Submit commits a validated request as a job and its file-load record,
// inserted together in one statement (shared with concurrent submissions,
// as every job insert is), then enqueues it. The task carries only the job
// id; the source URL and its credentials stay in PostgreSQL.
func Submit(ctx context.Context, enq *jobs.Enqueuer, c Caller, r *Request) (int64, error) {
	shown, err := json.Marshal(r.Redacted())
	if err != nil {
		return 0, err
	}
	listeners, err := json.Marshal(r.Listeners)
	if err != nil {
		return 0, err
	}
	keyID := c.KeyID
	job, err := enq.Create(ctx, storage.NewJob{
		Kind: Kind, Queue: jobs.QueueFileload, KeyID: &keyID, MaxAttempts: 5,
		FileLoad: &storage.FileLoad{
			KeyID: c.KeyID, DBMode: c.DBMode, Description: r.Description,
			Request: shown, SourceURL: r.File.SourceURL, Listeners: listeners,
		},
	})
	if err != nil {
		return 0, fmt.Errorf("submit file load: %w", err)
	}
	return job.ID, nil
}
