package storage

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/turnoutdev/turnout/internal/fault"
)

// Score update load statuses (VAN's loadStatus values).
const (
	LoadPendingApproval = "PendingApproval"
	LoadApproved        = "Approved"
	LoadDisapproved     = "Disapproved"
	LoadCanceled        = "Canceled"
	LoadCompleted       = "Completed"
)

// ScoreUpdate is the result of one Score action.
type ScoreUpdate struct {
	ID            int64
	JobID         int64
	ActionIndex   int
	KeyID         int64
	DBMode        int16
	ScoreID       int64
	LoadStatus    string
	Statistics    json.RawMessage
	CreatedAt     time.Time
	DateProcessed *time.Time
}

const scoreUpdateColumns = `id, job_id, action_index, key_id, db_mode, score_id, load_status, statistics, created_at, date_processed`

func scanScoreUpdate(r pgx.Row) (*ScoreUpdate, error) {
	var u ScoreUpdate
	err := r.Scan(&u.ID, &u.JobID, &u.ActionIndex, &u.KeyID, &u.DBMode, &u.ScoreID, &u.LoadStatus, &u.Statistics, &u.CreatedAt, &u.DateProcessed)
	return &u, err
}

// ScoreUpdateOfKey returns a score update only if keyID created it.
func (ex *executor) ScoreUpdateOfKey(ctx context.Context, id, keyID int64) (*ScoreUpdate, error) {
	u, err := scanScoreUpdate(ex.q.QueryRow(ctx, `SELECT `+scoreUpdateColumns+` FROM van_score_updates WHERE id = $1 AND key_id = $2`, id, keyID))
	if err != nil {
		return nil, notFound(err, "score update")
	}
	return u, nil
}

// ScoreUpdatesOfJob returns the score updates a file load created.
func (ex *executor) ScoreUpdatesOfJob(ctx context.Context, jobID int64) ([]ScoreUpdate, error) {
	rows, err := ex.q.Query(ctx, `SELECT `+scoreUpdateColumns+` FROM van_score_updates WHERE job_id = $1 ORDER BY action_index`, jobID)
	if err != nil {
		return nil, err
	}
	return collectScoreUpdates(rows)
}

func collectScoreUpdates(rows pgx.Rows) ([]ScoreUpdate, error) {
	defer rows.Close()
	out := []ScoreUpdate{}
	for rows.Next() {
		u, err := scanScoreUpdate(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *u)
	}
	return out, rows.Err()
}

// ScoreUpdateFilter narrows GET /scoreUpdates.
type ScoreUpdateFilter struct {
	CreatedAfter, CreatedBefore *time.Time
	ScoreID                     *int64
	LoadStatus                  *string
}

// ScoreUpdatesOfKey returns a page of keyID's score updates and the total.
func (ex *executor) ScoreUpdatesOfKey(ctx context.Context, keyID int64, f ScoreUpdateFilter, skip, top int) ([]ScoreUpdate, int64, error) {
	where := `key_id = $1 AND ($2::timestamptz IS NULL OR created_at >= $2) AND ($3::timestamptz IS NULL OR created_at < $3)
		AND ($4::bigint IS NULL OR score_id = $4) AND ($5::text IS NULL OR load_status = $5)`
	args := []any{keyID, f.CreatedAfter, f.CreatedBefore, f.ScoreID, f.LoadStatus}
	var total int64
	if err := ex.q.QueryRow(ctx, `SELECT count(*) FROM van_score_updates WHERE `+where, args...).Scan(&total); err != nil {
		return nil, 0, err
	}
	rows, err := ex.q.Query(ctx, `SELECT `+scoreUpdateColumns+` FROM van_score_updates WHERE `+where+
		` ORDER BY id OFFSET $6 LIMIT $7`, append(args, skip, top)...)
	if err != nil {
		return nil, 0, err
	}
	out, err := collectScoreUpdates(rows)
	return out, total, err
}

// TransitionScoreUpdate moves keyID's score update from one of from to to,
// guarded in SQL so concurrent PATCHes cannot both win. With to = Approved
// the update is applied in the same transaction and ends Completed. It
// returns a Conflict fault when the update is in another status.
func (s *Store) TransitionScoreUpdate(ctx context.Context, id, keyID int64, from []string, to string) error {
	return s.WithTx(ctx, func(tx *Tx) error {
		var status string
		err := tx.q.QueryRow(ctx, `SELECT load_status FROM van_score_updates WHERE id = $1 AND key_id = $2 FOR UPDATE`, id, keyID).Scan(&status)
		if err != nil {
			return notFound(err, "score update")
		}
		// Asking again for the status an update has changes nothing (an
		// auto-approved update is already Approved and applied).
		if status == to {
			return nil
		}
		allowed := false
		for _, f := range from {
			allowed = allowed || f == status
		}
		if !allowed {
			return fault.New(fault.Conflict, "score update %d is %s and cannot become %s", id, status, to)
		}
		if to == LoadApproved {
			return tx.ApplyScoreUpdate(ctx, id)
		}
		_, err = tx.q.Exec(ctx, `UPDATE van_score_updates SET load_status = $2, updated_at = now() WHERE id = $1`, id, to)
		return err
	})
}

// ApplyScoreUpdate makes an update's values the people's current scores
// and marks it Completed; run it in a transaction. Blank values clear the
// score.
func (ex *executor) ApplyScoreUpdate(ctx context.Context, id int64) error {
	var dbMode int16
	var scoreID int64
	if err := ex.q.QueryRow(ctx, `SELECT db_mode, score_id FROM van_score_updates WHERE id = $1`, id).Scan(&dbMode, &scoreID); err != nil {
		return notFound(err, "score update")
	}
	if _, err := ex.q.Exec(ctx, `DELETE FROM van_person_scores ps USING van_score_update_values v
		WHERE v.score_update_id = $1 AND v.value IS NULL AND ps.db_mode = $2 AND ps.vanid = v.vanid AND ps.score_id = $3`,
		id, dbMode, scoreID); err != nil {
		return fmt.Errorf("apply score update %d: %w", id, err)
	}
	if _, err := ex.q.Exec(ctx, `INSERT INTO van_person_scores (db_mode, vanid, score_id, value, score_update_id)
		SELECT $2, vanid, $3, value, $1 FROM van_score_update_values WHERE score_update_id = $1 AND value IS NOT NULL
		ON CONFLICT (db_mode, vanid, score_id) DO UPDATE
		SET value = excluded.value, score_update_id = excluded.score_update_id, updated_at = now()`,
		id, dbMode, scoreID); err != nil {
		return fmt.Errorf("apply score update %d: %w", id, err)
	}
	_, err := ex.q.Exec(ctx, `UPDATE van_score_updates SET load_status = 'Completed', date_processed = now(), updated_at = now()
		WHERE id = $1`, id)
	return err
}
