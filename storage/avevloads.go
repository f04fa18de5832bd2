package storage

import (
	"context"
	"fmt"
	"io"
	"strings"
)

// The statements of an AVEVDataFile load, run in the load's transaction.

// AVEVColumn is a record column of van_avev: its name and the type a
// staged row's text is cast to (empty: text).
type AVEVColumn struct {
	Name, Cast string
}

// AVEVColumns are van_avev's record columns (the person and the job
// aside), in VAN's order, which is the order of a staged AV/EV row's
// fields and of the columns of CopyAVEV's rows.
var AVEVColumns = []AVEVColumn{
	{"request_received", "date"},
	{"ballot_mailed", "date"},
	{"ballot_received", "date"},
	{"early_voted", "date"},
	{"ballot_party", ""},
	{"ballot_cancelled", "date"},
	{"application_mailed", "date"},
	{"gotv_voted", "date"},
	{"date_application_received", "date"},
	{"ballot_return_status_id", "integer"},
	{"ballot_type_id", "integer"},
	{"ballot_request_type_id", "integer"},
	{"ballot_address1", ""},
	{"ballot_address2", ""},
	{"ballot_address3", ""},
	{"ballot_city", ""},
	{"ballot_state", ""},
	{"ballot_zip9", ""},
	{"ballot_country", ""},
	{"ballot_reissued", "date"},
	{"ballot_rejection_reason_id", "integer"},
	{"ballot_application_requested", "date"},
	{"ballot_rejected", "date"},
}

// LockAVEVLoads makes the AV/EV loads of dbMode take turns from here to
// the end of the transaction: the direct path relies on the records it
// finds missing staying missing until it commits.
func (ex *executor) LockAVEVLoads(ctx context.Context, dbMode int16) error {
	if _, err := ex.q.Exec(ctx, `SELECT pg_advisory_xact_lock($1, $2)`, avevLockKey, int32(dbMode)); err != nil {
		return fmt.Errorf("lock AV/EV loads: %w", err)
	}
	return nil
}

// avevLockKey is the first key of LockAVEVLoads' advisory lock ("avev").
const avevLockKey int32 = 0x61766576

// DistinctStagedPersonIDs counts the different person ids of action
// actionIndex's rows of fileload_stage, as DistinctStagedPersons does,
// with count(DISTINCT).
func (ex *executor) DistinctStagedPersonIDs(ctx context.Context, actionIndex int) (int64, error) {
	var n int64
	err := ex.q.QueryRow(ctx, `SELECT count(DISTINCT person_id) FROM fileload_stage WHERE action_index = $1`, actionIndex).Scan(&n)
	return n, err
}

// UpsertStagedAVEV writes, for each person of dbMode matched (by idType)
// by action actionIndex's rows of fileload_stage, the record of his last
// row, in place of his whole stored record, as written by job jobID. It
// returns the people matched and, of those, the records added.
func (ex *executor) UpsertStagedAVEV(ctx context.Context, dbMode int16, actionIndex int, jobID int64, idType string) (matched, added int64, err error) {
	var cols, sel, set []string
	for k, c := range AVEVColumns {
		cols = append(cols, c.Name)
		expr := fmt.Sprintf("nullif(s.fields[%d], '')", k+1)
		if c.Cast != "" {
			expr += "::" + c.Cast
		}
		sel = append(sel, expr)
		set = append(set, c.Name+" = excluded."+c.Name)
	}
	q := `WITH up AS (
		INSERT INTO van_avev AS a (db_mode, vanid, ` + strings.Join(cols, ", ") + `, load_job_id)
		SELECT DISTINCT ON (p.vanid) $1, p.vanid, ` + strings.Join(sel, ", ") + `, $3
		FROM fileload_stage s JOIN van_people p ON p.db_mode = $1 AND ` + personMatch[idType] + `
		WHERE s.action_index = $2
		ORDER BY p.vanid, s.line DESC
		ON CONFLICT (db_mode, vanid) DO UPDATE SET ` + strings.Join(set, ", ") + `, load_job_id = excluded.load_job_id, updated_at = now()
		RETURNING (xmax = 0) AS inserted
	)
	SELECT count(*), count(*) FILTER (WHERE inserted) FROM up`
	if err := ex.q.QueryRow(ctx, q, dbMode, actionIndex, jobID).Scan(&matched, &added); err != nil {
		return 0, 0, fmt.Errorf("upsert AV/EV records: %w", err)
	}
	return matched, added, nil
}

// HasNoAVEV tells whether dbMode has no AV/EV records.
func (ex *executor) HasNoAVEV(ctx context.Context, dbMode int16) (bool, error) {
	var none bool
	if err := ex.q.QueryRow(ctx, `SELECT NOT EXISTS (SELECT 1 FROM van_avev WHERE db_mode = $1)`, dbMode).Scan(&none); err != nil {
		return false, fmt.Errorf("look for AV/EV records: %w", err)
	}
	return none, nil
}

// DeleteAVEV deletes the AV/EV records of dbMode of the people vanids and
// returns how many of them job jobID wrote (mine) and how many it did not
// (stored).
func (ex *executor) DeleteAVEV(ctx context.Context, dbMode int16, vanids []int64, jobID int64) (mine, stored int64, err error) {
	if err := ex.q.QueryRow(ctx, `WITH gone AS (DELETE FROM van_avev WHERE db_mode = $1 AND vanid = ANY($2) RETURNING load_job_id)
			SELECT count(*) FILTER (WHERE load_job_id = $3), count(*) FILTER (WHERE load_job_id <> $3) FROM gone`,
		dbMode, vanids, jobID).Scan(&mine, &stored); err != nil {
		return 0, 0, fmt.Errorf("replace AV/EV records: %w", err)
	}
	return mine, stored, nil
}

// CopyAVEV COPYs rows, a whole COPY stream in binary format, into
// van_avev: each row is the database mode, the VANID, the AVEVColumns
// and the job.
func (tx *Tx) CopyAVEV(ctx context.Context, rows io.Reader) error {
	if err := tx.copyBinary(ctx, avevCopyTarget, rows); err != nil {
		return fmt.Errorf("copy AV/EV records: %w", err)
	}
	return nil
}

// avevCopyTarget is CopyAVEV's table and column list.
var avevCopyTarget = func() string {
	cols := make([]string, len(AVEVColumns))
	for k, c := range AVEVColumns {
		cols[k] = c.Name
	}
	return `van_avev (db_mode, vanid, ` + strings.Join(cols, ", ") + `, load_job_id)`
}()
