package storage

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
)

// The statements of a Score action's load, run in the load's transaction.

// InsertScoreUpdate creates the score update of a load's Score action,
// pending approval, and returns its id.
func (ex *executor) InsertScoreUpdate(ctx context.Context, jobID int64, actionIndex int, keyID int64, dbMode int16, scoreID int64) (int64, error) {
	var id int64
	if err := ex.q.QueryRow(ctx, `INSERT INTO van_score_updates (job_id, action_index, key_id, db_mode, score_id, load_status, statistics)
		VALUES ($1, $2, $3, $4, $5, 'PendingApproval', '{}') RETURNING id`, jobID, actionIndex, keyID, dbMode, scoreID).Scan(&id); err != nil {
		return 0, fmt.Errorf("insert score update: %w", err)
	}
	return id, nil
}

// DistinctStagedPersons counts the different person ids of action
// actionIndex's rows of fileload_stage.
func (ex *executor) DistinctStagedPersons(ctx context.Context, actionIndex int) (int64, error) {
	var n int64
	err := ex.q.QueryRow(ctx, `SELECT count(*) FROM (SELECT DISTINCT person_id FROM fileload_stage WHERE action_index = $1) d`, actionIndex).Scan(&n)
	return n, err
}

// FinishScoreUpdate records score update id's statistics and, when
// approved (its approval criteria held), applies it to the people's
// current scores and marks it Approved (Completed is kept for updates a
// person approved). It returns the update's load status.
func (ex *executor) FinishScoreUpdate(ctx context.Context, id int64, statistics json.RawMessage, approved bool) (string, error) {
	if _, err := ex.q.Exec(ctx, `UPDATE van_score_updates SET statistics = $2 WHERE id = $1`, id, statistics); err != nil {
		return "", err
	}
	if approved {
		if err := ex.ApplyScoreUpdate(ctx, id); err != nil {
			return "", err
		}
		if _, err := ex.q.Exec(ctx, `UPDATE van_score_updates SET load_status = $2 WHERE id = $1`, id, LoadApproved); err != nil {
			return "", err
		}
	}
	var status string
	err := ex.q.QueryRow(ctx, `SELECT load_status FROM van_score_updates WHERE id = $1`, id).Scan(&status)
	return status, err
}

// HasCurrentScoreValues tells whether people of dbMode have current
// values of score, which is so once one of its updates there was applied.
func (ex *executor) HasCurrentScoreValues(ctx context.Context, dbMode int16, score int64) (bool, error) {
	var ok bool
	err := ex.q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM van_score_updates WHERE score_id = $1 AND db_mode = $2 AND load_status = 'Completed')`,
		score, dbMode).Scan(&ok)
	return ok, err
}

// CreateLaterScoreValues creates fileload_later, the values of people a
// direct score load lists again after storing them (seq: the chunk),
// dropped at commit. Its columns are COPY's order.
func (ex *executor) CreateLaterScoreValues(ctx context.Context) error {
	_, err := ex.q.Exec(ctx, `CREATE TEMP TABLE fileload_later (score_update_id bigint NOT NULL, seq bigint NOT NULL,
		vanid bigint NOT NULL, value text) ON COMMIT DROP`)
	return err
}

// ApplyLaterScoreValues stores, for each person of update id in
// fileload_later, the value of his last row there (the highest seq),
// over the value stored before or as a new value.
func (ex *executor) ApplyLaterScoreValues(ctx context.Context, id int64) error {
	if _, err := ex.q.Exec(ctx, `WITH last AS (
			SELECT DISTINCT ON (vanid) vanid, value FROM fileload_later WHERE score_update_id = $1 ORDER BY vanid, seq DESC),
		stored AS (
			UPDATE van_score_update_values v SET value = last.value FROM last
			WHERE v.score_update_id = $1 AND v.vanid = last.vanid RETURNING v.vanid)
		INSERT INTO van_score_update_values (score_update_id, vanid, value)
		SELECT $1, last.vanid, last.value FROM last WHERE NOT EXISTS (SELECT 1 FROM stored WHERE stored.vanid = last.vanid)`,
		id); err != nil {
		return fmt.Errorf("store the last value of people listed twice: %w", err)
	}
	return nil
}

// CreateUnmatchedIDs creates fileload_unmatched, the ids a direct score
// load's actions matched nobody with (one table for every action of the
// load), unless it exists; it is dropped at commit. Its columns are COPY's
// order.
func (ex *executor) CreateUnmatchedIDs(ctx context.Context) error {
	_, err := ex.q.Exec(ctx, `CREATE TEMP TABLE IF NOT EXISTS fileload_unmatched (score_update_id bigint NOT NULL, id bigint NOT NULL) ON COMMIT DROP`)
	return err
}

// DistinctUnmatchedIDs counts the different ids of update id in
// fileload_unmatched.
func (ex *executor) DistinctUnmatchedIDs(ctx context.Context, id int64) (int64, error) {
	var n int64
	err := ex.q.QueryRow(ctx, `SELECT count(DISTINCT id) FROM fileload_unmatched WHERE score_update_id = $1`, id).Scan(&n)
	return n, err
}

// ScoreValueStats compare a score update's values with the people's
// current scores: the values, those that clear a score (NulledOut), those
// of people without one (Added), those above and below the current one,
// and the values' maximum, minimum, average and median (nil for a value
// score, or with no values).
type ScoreValueStats struct {
	Matched, NulledOut, Added, IncreasedBy, DecreasedBy int64
	Max, Min, Average, Median                           *float64
}

// StoreStagedScoreValues stores the values of action actionIndex's rows
// of fileload_stage in score update id (the last row wins for a person
// listed twice; people are matched in dbMode by idType) and returns their
// statistics against score's current values; numeric: the score is a
// range score.
func (ex *executor) StoreStagedScoreValues(ctx context.Context, dbMode int16, score, id int64, actionIndex int, idType string, numeric bool) (ScoreValueStats, error) {
	// One statement stores the values and computes the statistics from
	// what it stored.
	return ex.valueStatistics(ctx, `INSERT INTO van_score_update_values (score_update_id, vanid, value)
			SELECT DISTINCT ON (p.vanid) $3, p.vanid, s.value
			FROM fileload_stage s JOIN van_people p ON p.db_mode = $1 AND `+personMatch[idType]+`
			WHERE s.action_index = $4
			ORDER BY p.vanid, s.line DESC
			RETURNING vanid, value`, numeric, dbMode, score, id, actionIndex)
}

// ScoreValueStatistics computes the statistics of the values stored in
// score update id of score, against dbMode's people's current scores;
// numeric: the score is a range score.
func (ex *executor) ScoreValueStatistics(ctx context.Context, dbMode int16, score, id int64, numeric bool) (ScoreValueStats, error) {
	return ex.valueStatistics(ctx, `SELECT vanid, value FROM van_score_update_values WHERE score_update_id = $3`,
		numeric, dbMode, score, id)
}

// valueStatistics computes the statistics of a score update's values
// against the people's current scores. values is a query (or a
// data-modifying statement with RETURNING) yielding the update's (vanid,
// value) rows; args are the database mode ($1), the score ($2) and values'
// own arguments ($3 on). numeric: the score is a range score, whose values
// are compared as numbers.
func (ex *executor) valueStatistics(ctx context.Context, values string, numeric bool, args ...any) (ScoreValueStats, error) {
	num := "NULL::numeric"
	if numeric {
		num = "v.value::numeric"
	}
	cur := strings.Replace(num, "v.value", "ps.value", 1)
	var st ScoreValueStats
	err := ex.q.QueryRow(ctx, `WITH v AS (`+values+`)
		SELECT count(*),
			count(*) FILTER (WHERE v.value IS NULL AND ps.value IS NOT NULL),
			count(*) FILTER (WHERE v.value IS NOT NULL AND ps.value IS NULL),
			count(*) FILTER (WHERE `+num+` > `+cur+`),
			count(*) FILTER (WHERE `+num+` < `+cur+`),
			max(`+num+`)::float8, min(`+num+`)::float8, avg(`+num+`)::float8,
			(percentile_cont(0.5) WITHIN GROUP (ORDER BY `+num+`))::float8
		FROM v LEFT JOIN van_person_scores ps ON ps.db_mode = $1 AND ps.vanid = v.vanid AND ps.score_id = $2`, args...).Scan(
		&st.Matched, &st.NulledOut, &st.Added, &st.IncreasedBy, &st.DecreasedBy,
		&st.Max, &st.Min, &st.Average, &st.Median)
	return st, err
}
