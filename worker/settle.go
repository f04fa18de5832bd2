package worker

import (
	"context"
	"maps"
	"slices"

	"github.com/turnoutdev/turnout/storage"
)

// settleCanceled tells the handlers of canceled jobs (those that implement
// jobs.Abandoner) that their job ended, whichever door canceled it and
// whether or not it was running: a file load's listeners hear it failed, a
// report is marked failed and its callback sent. Each job is told once.
func (r *Reconciler) settleCanceled(ctx context.Context) error {
	if len(r.abandon) == 0 {
		return nil
	}
	js, err := r.store.UnsettledCanceled(ctx, slices.Sorted(maps.Keys(r.abandon)), 100)
	if err != nil {
		return err
	}
	for i := range js {
		j := &js[i]
		reason := "canceled"
		if j.CanceledBy != nil {
			reason = "canceled by " + *j.CanceledBy
		}
		if err := r.abandon[j.Kind].Abandon(ctx, j, reason); err != nil {
			r.log.Error("settle canceled job", "job_id", j.ID, "kind", j.Kind, "err", err)
			continue
		}
		if err := r.store.AddJobEvent(ctx, j.ID, storage.EventSettled, "", j.Attempts, ""); err != nil {
			return err
		}
	}
	return nil
}
