package fileload

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/turnoutdev/turnout/storage"
)

// scoreRule validates one Score action's cells of each row.
type scoreRule struct {
	index    int
	action   Action
	score    *storage.Score
	idCol    int
	valueCol int
	values   map[string]string // lower-case shortName → shortName, for value scores

	valid, invalid, outOfRange, badValues int64
}

func newScoreRule(i int, a Action, s *storage.Score, f File) *scoreRule {
	r := &scoreRule{index: i, action: a, score: s, idCol: f.columnIndex(a.PersonIDColumn), valueCol: f.columnIndex(a.ScoreColumn)}
	if s.Type == storage.ScoreValue {
		r.values = map[string]string{}
		for _, v := range s.Values {
			r.values[strings.ToLower(v)] = v
		}
	}
	return r
}

// check returns the staged person id and value of a row, or a problem.
// A blank score clears the person's score (counted as nulledOut).
func (r *scoreRule) check(rec []string) (person string, value *string, column, problem string) {
	id := strings.TrimSpace(rec[r.idCol])
	switch {
	case id == "":
		return "", nil, r.action.PersonIDColumn, "person id is blank"
	case r.action.PersonIDType == IDStateFile:
		if len(id) > 50 {
			return "", nil, r.action.PersonIDColumn, "StateFileID is longer than 50 characters"
		}
		person = id
	default:
		n, err := strconv.ParseInt(id, 10, 64)
		if err != nil || n <= 0 {
			return "", nil, r.action.PersonIDColumn, fmt.Sprintf("%s %q is not a positive integer", r.action.PersonIDType, clip(id))
		}
		person = strconv.FormatInt(n, 10)
	}
	raw := strings.TrimSpace(rec[r.valueCol])
	if raw == "" {
		return person, nil, "", ""
	}
	if r.values != nil {
		v, ok := r.values[strings.ToLower(raw)]
		if !ok {
			r.badValues++
			return "", nil, r.action.ScoreColumn, fmt.Sprintf("%q is not a value of score %d (%s)", clip(raw), r.score.ID, strings.Join(r.score.Values, ", "))
		}
		return person, &v, "", ""
	}
	f, err := strconv.ParseFloat(raw, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		r.badValues++
		return "", nil, r.action.ScoreColumn, fmt.Sprintf("%q is not a number", clip(raw))
	}
	if f < *r.score.MinValue || f > *r.score.MaxValue {
		r.outOfRange++
		return "", nil, r.action.ScoreColumn, fmt.Sprintf("%v is outside score %d's range [%v, %v]", f, r.score.ID, *r.score.MinValue, *r.score.MaxValue)
	}
	v := strconv.FormatFloat(f, 'f', -1, 64)
	return person, &v, "", ""
}

func clip(s string) string {
	if len(s) > 40 {
		return strings.ToValidUTF8(s[:40], "?") + "…"
	}
	return s
}

// Statistics is VAN's updateStatistics of a score update.
type Statistics struct {
	TotalRows     int64    `json:"totalRows"`
	DuplicateRows int64    `json:"duplicateRows"`
	MatchedRows   int64    `json:"matchedRows"`
	MatchPercent  float64  `json:"matchPercent"`
	IncreasedBy   int64    `json:"increasedBy"`
	DecreasedBy   int64    `json:"decreasedBy"`
	NulledOut     int64    `json:"nulledOut"`
	Added         int64    `json:"added"`
	OutOfRange    int64    `json:"outOfRange"`
	BadValues     int64    `json:"badValues"`
	MaxValue      *float64 `json:"maxValue"`
	MinValue      *float64 `json:"minValue"`
	AverageValue  *float64 `json:"averageValue"`
	MedianValue   *float64 `json:"medianValue"`
}

var personJoin = map[string]string{
	IDVANID:     `p.vanid = s.person_id::bigint`,
	IDDWID:      `p.dwid = s.person_id::bigint`,
	IDStateFile: `p.statefileid = s.person_id`,
}

// applyScore turns a Score action's staged rows (fileload_stage, a
// temporary table of tx) into a score update in tx:
// the update row (unique per job and action), its values (the last row
// wins for a person listed twice), its statistics, and, when the approval
// criteria hold, its application to the people's current scores.
func applyScore(ctx context.Context, tx pgx.Tx, jobID int64, fl *storage.FileLoad, r *scoreRule, rowsRead int64) (storage.ActionResult, *storage.ScoreUpdate, error) {
	res := storage.ActionResult{ActionIndex: r.index, ActionType: ActionScore, RowsRead: rowsRead, RowsValid: r.valid, RowsInvalid: r.invalid}
	var id int64
	if err := tx.QueryRow(ctx, `INSERT INTO van_score_updates (job_id, action_index, key_id, db_mode, score_id, load_status, statistics)
		VALUES ($1, $2, $3, $4, $5, 'PendingApproval', '{}') RETURNING id`, jobID, r.index, fl.KeyID, fl.DBMode, r.score.ID).Scan(&id); err != nil {
		return res, nil, fmt.Errorf("insert score update: %w", err)
	}
	st := Statistics{TotalRows: rowsRead, OutOfRange: r.outOfRange, BadValues: r.badValues}
	var distinct int64
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM (SELECT DISTINCT person_id FROM fileload_stage WHERE action_index = $1) d`,
		r.index).Scan(&distinct); err != nil {
		return res, nil, err
	}
	numeric := "NULL::numeric"
	if r.score.Type == storage.ScoreRange {
		numeric = "v.value::numeric"
	}
	cur := strings.Replace(numeric, "v.value", "ps.value", 1)
	// One statement stores the values (the last row wins for a person
	// listed twice) and computes the statistics from what it stored.
	if err := tx.QueryRow(ctx, `WITH v AS (
			INSERT INTO van_score_update_values (score_update_id, vanid, value)
			SELECT DISTINCT ON (p.vanid) $1, p.vanid, s.value
			FROM fileload_stage s JOIN van_people p ON p.db_mode = $3 AND `+personJoin[r.action.PersonIDType]+`
			WHERE s.action_index = $2
			ORDER BY p.vanid, s.line DESC
			RETURNING vanid, value)
		SELECT count(*),
			count(*) FILTER (WHERE v.value IS NULL AND ps.value IS NOT NULL),
			count(*) FILTER (WHERE v.value IS NOT NULL AND ps.value IS NULL),
			count(*) FILTER (WHERE `+numeric+` > `+cur+`),
			count(*) FILTER (WHERE `+numeric+` < `+cur+`),
			max(`+numeric+`)::float8, min(`+numeric+`)::float8, avg(`+numeric+`)::float8,
			(percentile_cont(0.5) WITHIN GROUP (ORDER BY `+numeric+`))::float8
		FROM v LEFT JOIN van_person_scores ps ON ps.db_mode = $3 AND ps.vanid = v.vanid AND ps.score_id = $4`,
		id, r.index, fl.DBMode, r.score.ID).Scan(
		&st.MatchedRows, &st.NulledOut, &st.Added, &st.IncreasedBy, &st.DecreasedBy,
		&st.MaxValue, &st.MinValue, &st.AverageValue, &st.MedianValue); err != nil {
		return res, nil, fmt.Errorf("store score values: %w", err)
	}
	st.DuplicateRows = r.valid - distinct
	if rowsRead > 0 {
		st.MatchPercent = math.Round(float64(st.MatchedRows)/float64(rowsRead)*10000) / 100
	}
	res.Matched, res.Unmatched = st.MatchedRows, distinct-st.MatchedRows
	stats, _ := json.Marshal(st)
	if _, err := tx.Exec(ctx, `UPDATE van_score_updates SET statistics = $2 WHERE id = $1`, id, stats); err != nil {
		return res, nil, err
	}
	if autoApproved(r.action.ApprovalCriteria, st.AverageValue) {
		if err := storage.ApplyScoreUpdate(ctx, tx, id); err != nil {
			return res, nil, err
		}
	}
	detail, _ := json.Marshal(map[string]any{"scoreUpdateId": id})
	res.Result = detail
	if _, err := tx.Exec(ctx, `INSERT INTO van_file_load_actions (job_id, action_index, action_type, rows_read, rows_valid, rows_invalid, matched, unmatched, result)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, jobID, r.index, ActionScore, res.RowsRead, res.RowsValid, res.RowsInvalid,
		res.Matched, res.Unmatched, res.Result); err != nil {
		return res, nil, err
	}
	var su storage.ScoreUpdate
	err := tx.QueryRow(ctx, `SELECT id, load_status FROM van_score_updates WHERE id = $1`, id).Scan(&su.ID, &su.LoadStatus)
	su.ScoreID, su.Statistics = r.score.ID, stats
	return res, &su, err
}

// autoApproved applies seed 004: the update is approved iff the observed
// average is within [average - tolerance, average + tolerance]. An update
// with no matched values has no average and waits for a person.
func autoApproved(c *ApprovalCriteria, observed *float64) bool {
	if c == nil || observed == nil {
		return false
	}
	const eps = 1e-9 // the database's numeric average comes back as float8
	return *observed >= c.Average-c.Tolerance-eps && *observed <= c.Average+c.Tolerance+eps
}
