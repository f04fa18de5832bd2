package fileload

import (
	"context"

	"github.com/turnoutdev/turnout/storage"
)

// Abandon settles a load that ended without its handler returning a final
// outcome: the worker died during its last attempt, or the job was
// canceled. The load's message says why, and its listeners hear that it
// failed, as they would from Run.
func (r *Runner) Abandon(ctx context.Context, job *storage.Job, reason string) error {
	fl, err := r.store.FileLoad(ctx, job.ID)
	if err != nil {
		return err
	}
	if err := r.store.SetFileLoadMessage(ctx, job.ID, reason); err != nil {
		return err
	}
	if r.notifier == nil {
		return nil
	}
	body, err := r.notification(ctx, job.ID, fl, "Failed", reason)
	if err != nil {
		return err
	}
	return r.notifier.Notify(ctx, job.ID, body)
}
