package storage

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// The statements every file load runs in its transaction.

// PlanForBulk sets the transaction's planning for a load's few, large
// statements: JIT compiling their plans costs more than it saves.
func (ex *executor) PlanForBulk(ctx context.Context) error {
	_, err := ex.q.Exec(ctx, `SET LOCAL jit = off`)
	return err
}

// StageRows COPYs rows (action_index, line, person_id, value, fields)
// into fileload_stage, a temporary table of the transaction, for the
// actions' set-based apply steps, and gathers its statistics. Big sorts
// (DISTINCT ON, the median) over it stay in memory.
func (ex *executor) StageRows(ctx context.Context, rows pgx.CopyFromSource) error {
	if _, err := ex.q.Exec(ctx, `SET LOCAL work_mem = '256MB'`); err != nil {
		return err
	}
	// Byte-order collation: person ids are compared, never shown sorted.
	if _, err := ex.q.Exec(ctx, `CREATE TEMP TABLE fileload_stage (action_index integer NOT NULL, line bigint NOT NULL,
		person_id text COLLATE "C" NOT NULL, value text, fields text[]) ON COMMIT DROP`); err != nil {
		return err
	}
	_, err := ex.q.CopyFrom(ctx, pgx.Identifier{"fileload_stage"}, []string{"action_index", "line", "person_id", "value", "fields"}, rows)
	return err
}

// AnalyzeStage gathers fileload_stage's statistics, before the first
// query over its rows: the cross-row checks would otherwise be planned for
// an empty table (a nested loop over thousands of rows).
func (ex *executor) AnalyzeStage(ctx context.Context) error {
	_, err := ex.q.Exec(ctx, `ANALYZE fileload_stage`)
	return err
}

// InsertActionResult records a load's action result (one row per
// action of the load).
func (ex *executor) InsertActionResult(ctx context.Context, jobID int64, r ActionResult) error {
	_, err := ex.q.Exec(ctx, `INSERT INTO van_file_load_actions (job_id, action_index, action_type, rows_read, rows_valid, rows_invalid, matched, unmatched, result)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, jobID, r.ActionIndex, r.ActionType, r.RowsRead, r.RowsValid, r.RowsInvalid,
		r.Matched, r.Unmatched, r.Result)
	return err
}

// personMatch is, by the file's person id type, the join condition of a
// van_people row p with a staged row s.
var personMatch = map[string]string{
	"VANID":       `p.vanid = s.person_id::bigint`,
	"DWID":        `p.dwid = s.person_id::bigint`,
	"StateFileID": `p.statefileid = s.person_id`,
}
