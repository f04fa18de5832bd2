package fileload

import (
	"context"
	"log/slog"
	"strconv"
	"strings"

	"github.com/turnoutdev/turnout/internal/fault"
	"github.com/turnoutdev/turnout/storage"
)

// rule is one action of a load: a row validator for the single pass and
// the set-based apply step the staging table's loader (stagedLoader) runs
// over the staged rows. A direct path's loader applies the action its own
// way and never calls apply.
type rule interface {
	actionIndex() int
	// stage validates one record; a problem names the column and reason.
	stage(rec []string) (row stagedRow, column, problem string)
	counts() (valid, invalid int64)
	// apply turns the action's rows of fileload_stage into its effects and
	// its van_file_load_actions row, all in tx.
	apply(ctx context.Context, tx *storage.Tx, jobID int64, fl *storage.FileLoad, rowsRead int64, log *slog.Logger) error
}

// settler is a rule with a rule across rows (one preferred phone per
// person) that needs every row. It runs after staging and before the row
// errors are stored; what it changes in a row it reports as a warning of
// the row's line.
type settler interface {
	settle(ctx context.Context, tx *storage.Tx, warn func(line int64, column, message string)) error
}

// warner is a rule whose check of a valid row may load it not exactly as
// the file gave it (a value replaced by its default); the stager records
// each note as a warning of the row's line.
type warner interface {
	// warnings returns the notes on the row stage last accepted; they are
	// valid until the next call of stage.
	warnings() []rowNote
}

// rowNote is a warning about one column of a row.
type rowNote struct {
	column, message string
}

// stagedRow is one action's validated row: the person id as the file
// gives it (an integer id parsed into id), a score value, the action's own
// validated fields, or a phonesFile row (phone, valid until the rule's
// next stage call). stagedLoader COPYs it into fileload_stage; a direct
// path takes the parts it needs.
type stagedRow struct {
	person string
	id     int64
	value  *string
	fields []string
	phone  *phone
}

// newRule builds the rule of action i, reading what it validates against
// (a score definition, code lists, a folder) once per load.
func (r *Runner) newRule(ctx context.Context, i int, a Action, f File, fl *storage.FileLoad) (rule, error) {
	switch a.ActionType {
	case ActionPhones:
		return newPhonesRule(ctx, r.store, i, f, fl.DBMode)
	case ActionAVEV:
		return newAVEVRule(ctx, r.store, i, a, f)
	case ActionSavedList:
		return newSavedListRule(i, a, f), nil
	}
	s, err := r.store.Score(ctx, a.ScoreID)
	if fault.Is(err, fault.NotFound) {
		return nil, fault.New(fault.Invalid, "actions[%d].scoreId: score %d no longer exists", i, a.ScoreID)
	}
	if err != nil {
		return nil, err
	}
	return newScoreRule(i, a, s, f), nil
}

func (r *scoreRule) actionIndex() int { return r.index }

func (r *scoreRule) counts() (int64, int64) { return r.valid, r.invalid }

func (r *scoreRule) stage(rec []string) (stagedRow, string, string) {
	row, col, problem := r.check(rec)
	tally(&r.valid, &r.invalid, problem)
	return row, col, problem
}

// tally counts a checked row as valid or invalid, for rules' counts().
func tally(valid, invalid *int64, problem string) {
	if problem != "" {
		*invalid++
	} else {
		*valid++
	}
}

func (r *scoreRule) apply(ctx context.Context, tx *storage.Tx, jobID int64, fl *storage.FileLoad, rowsRead int64, log *slog.Logger) error {
	res, su, err := applyScore(ctx, tx, jobID, fl, r, rowsRead)
	if err != nil {
		return err
	}
	logScoreApplied(log, res, su)
	return nil
}

func logScoreApplied(log *slog.Logger, res storage.ActionResult, su *storage.ScoreUpdate) {
	log.Info("action applied", "action", res.ActionIndex, "rows", res.RowsValid, "matched", res.Matched, "score_update_id", su.ID, "load_status", su.LoadStatus)
}

// personText is the person id as fileload_stage keeps it.
func (s stagedRow) personText() string {
	if s.person == "" && s.id != 0 {
		return strconv.FormatInt(s.id, 10)
	}
	return s.person
}

// stageFields are the fields fileload_stage keeps of the row.
func (s stagedRow) stageFields() []string {
	if s.phone != nil {
		return s.phone.fields()
	}
	return s.fields
}

// checkOtherAction checks an action of a type other than Score at submit
// time; ok is false when typ is not one of them.
func checkOtherAction(ctx context.Context, p *problems, i int, typ string, wa wireAction, f File, cat Catalog, c Caller) (Action, bool) {
	switch {
	case strings.EqualFold(typ, ActionPhones):
		return checkPhonesAction(p, i, f), true
	case strings.EqualFold(typ, ActionAVEV):
		return checkAVEVAction(p, i, f), true
	case strings.EqualFold(typ, ActionSavedList):
		return checkSavedListAction(ctx, p, i, wa, f, cat, c), true
	}
	return Action{}, false
}
