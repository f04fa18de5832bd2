package jobs

import (
	"context"
	"log/slog"
	"time"
)

// SweepEvery runs sweep every interval until ctx is done, logging each pass
// that removed something (as what, e.g. "reports") and each failure; a
// failed pass is simply tried again at the next tick.
func SweepEvery(ctx context.Context, log *slog.Logger, interval time.Duration, what string, sweep func(context.Context) (int, error)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if n, err := sweep(ctx); err != nil && ctx.Err() == nil {
			log.Warn("retention sweep failed; will retry", "action", what+"_sweep", "err", err)
		} else if n > 0 {
			log.Info("expired files deleted", "action", what+"_sweep", what, n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
