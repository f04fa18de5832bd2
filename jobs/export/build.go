package export

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"time"

	"github.com/turnoutdev/turnout/internal/fault"
	"github.com/turnoutdev/turnout/jobs"
	"github.com/turnoutdev/turnout/jobs/report"
	"github.com/turnoutdev/turnout/storage"
)

// Builder runs export builds and the retention sweep of their files.
type Builder struct {
	Store *storage.Store
	Blobs storage.Blobs
	// Retention is how long a complete export stays downloadable (the
	// registrant reports' retention; default report.DefaultRetention).
	Retention time.Duration
	// ProgressEvery is how many rows pass between updates of the job's
	// progress counters (default 10,000).
	ProgressEvery int64
	// Enqueuer enqueues webhook jobs after their commit.
	Enqueuer *jobs.Enqueuer
	Log      *slog.Logger
}

// Handlers returns the job kind → handler map for the worker.
func (b *Builder) Handlers() map[string]jobs.Handler {
	// The Builder itself: it is also the jobs.Abandoner the reconciler
	// looks for.
	return map[string]jobs.Handler{Kind: b}
}

// BlobKey is where an export's CSV is stored.
func BlobKey(id int64) string { return "van/exports/" + strconv.FormatInt(id, 10) + ".csv" }

// Run builds the export of job. It is idempotent: an export already
// complete is left alone, and any other run writes the whole file again.
func (b *Builder) Run(ctx context.Context, job *storage.Job) (any, error) {
	e, err := b.Store.ExportJob(ctx, job.ID)
	if fault.Is(err, fault.NotFound) {
		return nil, fault.New(fault.Invalid, "export job %d has no export row", job.ID)
	}
	if err != nil {
		return nil, err
	}
	if e.CompletedAt != nil {
		return map[string]any{"exportJobId": e.JobID, "rows": e.RecordCount}, nil
	}
	ok, err := b.Store.StartExport(ctx, e.JobID)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fault.New(fault.Invalid, "export job %d is no longer buildable", e.JobID)
	}
	rows, size, err := b.build(ctx, e)
	if err != nil {
		// Failed for good: bad input, or the worker's last attempt. The
		// export says so (and its webhook is scheduled) in one transaction.
		if fault.Is(err, fault.Invalid) || (job.MaxAttempts > 0 && job.Attempts >= job.MaxAttempts) {
			if ferr := b.fail(context.WithoutCancel(ctx), e); ferr != nil {
				b.Log.Error("mark export failed", "job_id", job.ID, "err", ferr)
			}
		}
		return nil, err
	}
	b.Log.Info("export built", "job_id", job.ID, "rows", rows, "bytes", size)
	return map[string]any{"exportJobId": e.JobID, "rows": rows, "bytes": size}, nil
}

// Abandon marks the export of a job the worker died on during its last
// attempt failed, and schedules its webhook, as Run does when the last
// attempt returns an error.
func (b *Builder) Abandon(ctx context.Context, job *storage.Job, _ string) error {
	e, err := b.Store.ExportJob(ctx, job.ID)
	if err != nil {
		return err
	}
	return b.fail(ctx, e)
}

// fail settles an export as failed for good: Canceled when its job was
// cancelled, ExportFailed otherwise (the cause is in the worker's log).
func (b *Builder) fail(ctx context.Context, e *storage.ExportJob) error {
	code := ErrorFailed
	if cur, err := b.Store.ExportJob(ctx, e.JobID); err == nil && cur.JobStatus == storage.JobCanceled {
		code = ErrorCanceled
	}
	_, err := b.settle(ctx, e.JobID, StatusError, func(tx *storage.Tx) (bool, error) {
		return tx.FailExport(ctx, e.JobID, code)
	})
	return err
}

func (b *Builder) retention() time.Duration {
	if b.Retention <= 0 {
		return report.DefaultRetention
	}
	return b.Retention
}

// build streams the CSV into the blob store and marks the export complete.
// The job's progress counters follow the rows written.
func (b *Builder) build(ctx context.Context, e *storage.ExportJob) (rows, size int64, err error) {
	t, err := TypeOf(e.Type)
	if err != nil {
		return 0, 0, err
	}
	key := BlobKey(e.JobID)
	var total int64
	sel := storage.SavedListExport{ListID: e.SavedListID, DBMode: e.DBMode, Columns: t.SelectList()}
	n, size, err := report.Stream(ctx, b.Blobs, report.CSVFile{Key: key, Header: t.Header(), Every: b.ProgressEvery,
		Copy: func(cctx context.Context, w io.Writer) (int64, error) {
			return b.Store.CopySavedListCSV(cctx, sel, func(n int64) error { total = n; return nil }, w)
		},
		Progress: func(n int64) error {
			if err := jobs.Started(ctx); err != nil {
				return err
			}
			return b.Store.SetProgress(ctx, e.JobID, total, n, 0)
		},
	})
	if err != nil {
		return 0, 0, fmt.Errorf("build export %d: %w", e.JobID, err)
	}
	changed, err := b.settle(ctx, e.JobID, StatusCompleted, func(tx *storage.Tx) (bool, error) {
		return tx.CompleteExport(ctx, e.JobID, n, size, key, b.retention())
	})
	if err != nil {
		return 0, 0, fmt.Errorf("complete export %d: %w", e.JobID, err)
	}
	if !changed {
		return 0, 0, b.unwanted(ctx, e.JobID, key)
	}
	if err := jobs.Started(ctx); err != nil {
		return 0, 0, err
	}
	if err := b.Store.SetProgress(ctx, e.JobID, n, n, 0); err != nil {
		return 0, 0, err
	}
	return n, size, nil
}

// unwanted handles a file whose export could not be completed: its job
// was cancelled meanwhile (the file is deleted) or another run completed
// it first (the file is that run's too, and stays).
func (b *Builder) unwanted(ctx context.Context, id int64, key string) error {
	e, err := b.Store.ExportJob(ctx, id)
	if err != nil {
		return err
	}
	if e.CompletedAt != nil {
		return nil
	}
	if err := b.Blobs.Delete(ctx, key); err != nil {
		return fmt.Errorf("delete unwanted export %d: %w", id, err)
	}
	return fault.New(fault.Invalid, "export job %d was canceled", id)
}

// settle applies change (an export's move to status, Completed or Error)
// and, when it changed the export and the export has a webhook URL,
// inserts and claims the webhook job in the same transaction; the job is
// enqueued after commit. The message states status itself: the job row
// may not say yet that the attempt ran (the worker writes it afterwards,
// and records the start of short attempts only with their outcome).
func (b *Builder) settle(ctx context.Context, id int64, status string, change func(tx *storage.Tx) (bool, error)) (bool, error) {
	var job *storage.Job
	var changed bool
	err := b.Store.WithTx(ctx, func(tx *storage.Tx) error {
		job = nil
		var err error
		if changed, err = change(tx); err != nil || !changed {
			return err
		}
		e, err := tx.ExportJob(ctx, id)
		if err != nil || e.WebhookURL == nil {
			return err
		}
		v := ViewOf(e, "")
		v.Status, v.ErrorCode = status, nil
		if status == StatusError {
			v.ErrorCode = e.ErrorCode
		}
		raw, err := json.Marshal(v)
		if err != nil {
			return err
		}
		j, err := tx.InsertJob(ctx, storage.NewJob{Kind: KindWebhook, Queue: jobs.QueueNotify, KeyID: &e.KeyID,
			Params: webhookParams{ExportJobID: id, Body: string(raw)}, MaxAttempts: webhookMaxAttempts})
		if err != nil {
			return err
		}
		won, err := tx.ClaimExportWebhook(ctx, id, j.ID)
		if err != nil {
			return err
		}
		if !won {
			// Cannot happen while an export settles once; keep no stray job.
			err = tx.DeleteJob(ctx, j.ID)
			return err
		}
		job = j
		return nil
	})
	if err != nil {
		return false, err
	}
	if job != nil {
		if b.Enqueuer != nil {
			b.Enqueuer.EnqueueOrLog(ctx, job)
		} else {
			// The reconciler enqueues committed jobs that have no task.
			b.Log.Warn("export webhook job committed without an enqueuer", "job_id", job.ID, "export_job_id", id)
		}
	}
	return changed, nil
}

// Sweep deletes the files of exports past their retention. It is safe to
// run from several workers at once and after a crash: an export stays on
// the work list until its file is gone.
func (b *Builder) Sweep(ctx context.Context) (int, error) {
	done := 0
	for {
		list, err := b.Store.ExpiredExports(ctx, 100)
		if err != nil {
			return done, err
		}
		if len(list) == 0 {
			return done, nil
		}
		for _, e := range list {
			if err := b.Blobs.Delete(ctx, e.BlobKey); err != nil {
				return done, fmt.Errorf("delete export %d: %w", e.ID, err)
			}
			if err := b.Store.ForgetExportFile(ctx, e.ID); err != nil {
				return done, err
			}
			done++
		}
	}
}

// SweepEvery runs Sweep every interval until ctx is done.
func (b *Builder) SweepEvery(ctx context.Context, interval time.Duration) {
	jobs.SweepEvery(ctx, b.Log, interval, "exports", b.Sweep)
}
