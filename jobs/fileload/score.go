package fileload

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/turnoutdev/turnout/storage"
)

// scoreRule validates one Score action's cells of each row.
type scoreRule struct {
	index    int
	action   Action
	score    *storage.Score
	idCol    int
	valueCol int
	values   map[string]*string    // lower-case shortName → shortName, for value scores
	canon    map[string]canonValue // raw → valid value, for range scores

	valid, invalid, outOfRange, badValues int64
	// fileSum and fileValues add up every valid value of the file's score
	// column (rows of people not in the database and repeated rows
	// included): VAN auto-approves on the average of the values in the
	// file, not of the values that matched.
	fileSum    float64
	fileValues int64
}

// canonValue is a range score's valid value, formatted and parsed.
type canonValue struct {
	text *string
	num  float64
}

func newScoreRule(i int, a Action, s *storage.Score, f File) *scoreRule {
	r := &scoreRule{index: i, action: a, score: s, idCol: f.columnIndex(a.PersonIDColumn), valueCol: f.columnIndex(a.ScoreColumn)}
	if s.Type == storage.ScoreValue {
		r.values = map[string]*string{}
		for _, v := range s.Values {
			r.values[strings.ToLower(v)] = &v
		}
	} else {
		r.canon = map[string]canonValue{}
	}
	return r
}

// check returns the row to stage (the person id and the value), or a
// problem. A blank score clears the person's score (counted as nulledOut).
func (r *scoreRule) check(rec []string) (row stagedRow, column, problem string) {
	id := strings.TrimSpace(rec[r.idCol])
	switch {
	case id == "":
		return row, r.action.PersonIDColumn, "person id is blank"
	case r.action.PersonIDType == IDStateFile:
		if len(id) > 50 {
			return row, r.action.PersonIDColumn, "StateFileID is longer than 50 characters"
		}
		row.person = id
	default:
		n, err := strconv.ParseInt(id, 10, 64)
		if err != nil || n <= 0 {
			return row, r.action.PersonIDColumn, fmt.Sprintf("%s %q is not a positive integer", r.action.PersonIDType, clip(id))
		}
		row.id = n
	}
	raw := strings.TrimSpace(rec[r.valueCol])
	if raw == "" {
		return row, "", ""
	}
	if r.values != nil {
		v, ok := r.values[strings.ToLower(raw)]
		if !ok {
			r.badValues++
			return stagedRow{}, r.action.ScoreColumn, fmt.Sprintf("%q is not a value of score %d (%s)", clip(raw), r.score.ID, strings.Join(r.score.Values, ", "))
		}
		row.value = v
		return row, "", ""
	}
	// Files repeat a few values a million times: a valid value is parsed
	// and formatted once.
	if v, ok := r.canon[raw]; ok {
		row.value = v.text
		r.fileSum += v.num
		r.fileValues++
		return row, "", ""
	}
	f, err := strconv.ParseFloat(raw, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		r.badValues++
		return stagedRow{}, r.action.ScoreColumn, fmt.Sprintf("%q is not a number", clip(raw))
	}
	if f < *r.score.MinValue || f > *r.score.MaxValue {
		r.outOfRange++
		return stagedRow{}, r.action.ScoreColumn, fmt.Sprintf("%v is outside score %d's range [%v, %v]", f, r.score.ID, *r.score.MinValue, *r.score.MaxValue)
	}
	v := strconv.FormatFloat(f, 'f', -1, 64)
	row.value = &v
	r.fileSum += f
	r.fileValues++
	if len(r.canon) < maxCanon {
		r.canon[strings.Clone(raw)] = canonValue{text: row.value, num: f}
	}
	return row, "", ""
}

// maxCanon bounds a range score's cache of formatted values.
const maxCanon = 4096

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

// applyScore turns a Score action's staged rows (fileload_stage, a
// temporary table of tx) into a score update in tx: the update row (unique
// per job and action), its values (the last row wins for a person listed
// twice), its statistics, and, when the approval criteria hold, its
// application to the people's current scores.
func applyScore(ctx context.Context, tx *storage.Tx, jobID int64, fl *storage.FileLoad, r *scoreRule, rowsRead int64) (storage.ActionResult, *storage.ScoreUpdate, error) {
	id, err := insertScoreUpdate(ctx, tx, jobID, fl, r)
	if err != nil {
		return storage.ActionResult{}, nil, err
	}
	st := Statistics{TotalRows: rowsRead, OutOfRange: r.outOfRange, BadValues: r.badValues}
	distinct, err := tx.DistinctStagedPersons(ctx, r.index)
	if err != nil {
		return storage.ActionResult{}, nil, err
	}
	vs, err := tx.StoreStagedScoreValues(ctx, fl.DBMode, r.score.ID, id, r.index, r.action.PersonIDType, r.score.Type == storage.ScoreRange)
	if err != nil {
		return storage.ActionResult{}, nil, fmt.Errorf("store score values: %w", err)
	}
	setValueStatistics(&st, vs)
	return finishScore(ctx, tx, jobID, fl, r, id, st, distinct)
}

// setValueStatistics copies the value statistics vs into st.
func setValueStatistics(st *Statistics, vs storage.ScoreValueStats) {
	st.MatchedRows, st.NulledOut, st.Added, st.IncreasedBy, st.DecreasedBy = vs.Matched, vs.NulledOut, vs.Added, vs.IncreasedBy, vs.DecreasedBy
	st.MaxValue, st.MinValue, st.AverageValue, st.MedianValue = vs.Max, vs.Min, vs.Average, vs.Median
}

func insertScoreUpdate(ctx context.Context, tx *storage.Tx, jobID int64, fl *storage.FileLoad, r *scoreRule) (int64, error) {
	return tx.InsertScoreUpdate(ctx, jobID, r.index, fl.KeyID, fl.DBMode, r.score.ID)
}

// finishScore records score update id's statistics and the action's
// result, and applies the update when its approval criteria hold. distinct
// is the number of different person ids among the action's valid rows.
func finishScore(ctx context.Context, tx *storage.Tx, jobID int64, fl *storage.FileLoad, r *scoreRule, id int64, st Statistics, distinct int64) (storage.ActionResult, *storage.ScoreUpdate, error) {
	res := storage.ActionResult{ActionIndex: r.index, ActionType: ActionScore, RowsRead: st.TotalRows, RowsValid: r.valid, RowsInvalid: r.invalid}
	st.DuplicateRows = r.valid - distinct
	if st.TotalRows > 0 {
		st.MatchPercent = math.Round(float64(st.MatchedRows)/float64(st.TotalRows)*10000) / 100
	}
	res.Matched, res.Unmatched = st.MatchedRows, distinct-st.MatchedRows
	stats, _ := json.Marshal(st)
	// VAN: an auto-approved update "will be set to status Approved".
	stx := tx
	status, err := stx.FinishScoreUpdate(ctx, id, stats, autoApproved(r.action.ApprovalCriteria, r.fileAverage()))
	if err != nil {
		return res, nil, err
	}
	res.Result, _ = json.Marshal(map[string]any{"scoreUpdateId": id})
	if err := stx.InsertActionResult(ctx, jobID, res); err != nil {
		return res, nil, err
	}
	return res, &storage.ScoreUpdate{ID: id, ScoreID: r.score.ID, LoadStatus: status, Statistics: stats}, nil
}

// fileAverage is the average of every valid value in the file's score
// column, or nil when it has none.
func (r *scoreRule) fileAverage() *float64 {
	if r.fileValues == 0 {
		return nil
	}
	avg := r.fileSum / float64(r.fileValues)
	return &avg
}

// autoApproved applies VAN's rule: the update is approved iff the observed
// average is within [average - tolerance, average + tolerance]. A file with
// no valid values has no average and its update waits for a person.
func autoApproved(c *ApprovalCriteria, observed *float64) bool {
	if c == nil || observed == nil {
		return false
	}
	const eps = 1e-9 // the database's numeric average comes back as float8
	return *observed >= c.Average-c.Tolerance-eps && *observed <= c.Average+c.Tolerance+eps
}
