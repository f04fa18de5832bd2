package storage

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
)

// JobChangesChannel is the PostgreSQL NOTIFY channel on which a trigger on
// jobs announces, with the job id as payload, every committed change of a
// job's status, attempts, progress counters or error. Notifications are
// delivered only to connections listening when the change commits, and
// PostgreSQL folds identical ones of one transaction into one.
const JobChangesChannel = "turnout_job_changes"

// listenerAppName names the listening connection in pg_stat_activity.
const listenerAppName = "turnout-job-changes"

// ListenJobChanges listens on JobChangesChannel over a connection of its
// own, outside the pool (a listener holds its connection for as long as
// it runs, and must neither take a slot from requests nor be handed to
// one), and calls changed with each announced job id until ctx is done or
// the connection fails; it returns why it stopped. listening is called
// once LISTEN is in force: every change committed from then on is passed
// to changed, so a caller re-reads what it watches at that moment to make
// up for changes made while it was not listening.
//
// When ping passes without a notification the connection is checked, so a
// connection lost without a word (a server failover, a dropped route) is
// noticed within ping plus the check's own bound.
func (s *Store) ListenJobChanges(ctx context.Context, ping time.Duration, listening func(), changed func(id int64)) error {
	cfg := s.pool.Config().ConnConfig.Copy()
	if cfg.RuntimeParams == nil {
		cfg.RuntimeParams = map[string]string{}
	}
	cfg.RuntimeParams["application_name"] = listenerAppName
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("connect the job changes listener: %w", err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = conn.Close(cctx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+JobChangesChannel); err != nil {
		return fmt.Errorf("listen for job changes: %w", err)
	}
	listening()
	for {
		wctx, cancel := context.WithTimeout(ctx, ping)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		if n != nil {
			if id, perr := strconv.ParseInt(n.Payload, 10, 64); perr == nil {
				changed(id)
			}
		}
		switch {
		case err == nil:
		case ctx.Err() != nil:
			return ctx.Err()
		case wctx.Err() != nil && !conn.IsClosed():
			// A quiet spell: make sure the connection is still there.
			pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err = conn.Ping(pctx)
			cancel()
			if err != nil {
				return fmt.Errorf("job changes listener: %w", err)
			}
		default:
			return fmt.Errorf("job changes listener: %w", err)
		}
	}
}

// JobListings returns the jobs among ids that exist, with their keys'
// names, in one statement (by primary key: see PeekJobs).
func (ex *executor) JobListings(ctx context.Context, ids []int64) ([]JobListing, error) {
	rows, _ := ex.q.Query(ctx, `SELECT `+qualified("j")+`, k.name AS key_name FROM jobs j
		LEFT JOIN api_keys k ON k.id = j.key_id WHERE j.id = ANY($1::bigint[])`, ids)
	out, err := pgx.CollectRows(rows, pgx.RowToStructByName[JobListing])
	if err != nil {
		return nil, fmt.Errorf("read %d jobs: %w", len(ids), err)
	}
	return out, nil
}
