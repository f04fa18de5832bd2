package fileload

import (
	"context"
	"fmt"
	"log/slog"
	"sort"

	"github.com/turnoutdev/turnout/storage"
)

// A loader is the way a load's valid rows reach PostgreSQL and take
// effect, inside the load's one transaction. Every load has exactly one,
// chosen by chooseLoader before the file is fetched:
//
//   - directScoreLoader (direct.go): every action is a Score naming
//     people by VANID or DWID; the file is matched against the people in
//     chunks and COPY'd straight into the score update;
//   - directPhonesLoader (phonesdirect.go): the only action is phonesFile;
//     matched like the score path, the one row of a person without phones
//     goes straight into van_phones, the one row of a person stored as it
//     is is left alone, every other row goes through the phone rules over
//     a staged table;
//   - directAVEVLoader (avevdirect.go): the only action is an
//     AVEVDataFile by VANID; matched like the score path, COPY'd straight
//     into van_avev;
//   - directListLoader (savedlistdirect.go): the only action is a
//     LoadSavedListFile; matched the same way, COPY'd straight into
//     van_saved_list_members;
//   - stagedLoader (below): anything else; every row is COPY'd into
//     fileload_stage and each action applies set-based SQL to it.
//
// A loader owns its path's state; the actions' rules (rule) only validate
// rows and hold what each action's statistics need, whichever loader runs.
type loader interface {
	// stage makes the single pass over the file through st (which
	// validates every row for every action and records the row errors) and
	// puts the valid rows where apply finds them; then it applies the
	// rules across rows, recording what they change as warnings of st.
	stage(ctx context.Context, tx *storage.Tx, st *stager) error
	// apply turns the staged rows into every action's effects and result
	// row.
	apply(ctx context.Context, tx *storage.Tx, rowsRead int64) error
	// close releases what the loader holds outside the transaction
	// (spool files, connections); it is called once the load is over.
	close()
}

// loadJob is what every loader knows of its load.
type loadJob struct {
	id    int64
	fl    *storage.FileLoad
	rules []rule
	store *storage.Store
	opts  Options
	log   *slog.Logger
}

// chooseLoader picks the load's way in, once: a direct path when the
// load's actions allow one, else the staging table.
func chooseLoader(j loadJob) loader {
	if scores := directScores(j.rules); scores != nil {
		return &directScoreLoader{job: j, rules: scores}
	}
	if avev := directAVEV(j.rules); avev != nil {
		return newDirectAVEVLoader(j, avev)
	}
	if list := directSavedList(j.rules); list != nil {
		return newDirectListLoader(j, list)
	}
	if phones := directPhones(j.rules); phones != nil {
		return newDirectPhonesLoader(j, phones)
	}
	return &stagedLoader{job: j}
}

// stagedLoader COPYs every valid row of every action into fileload_stage,
// a temporary table of the transaction, and applies each action to it with
// set-based SQL (each rule's apply).
type stagedLoader struct {
	job loadJob
}

func (l *stagedLoader) stage(ctx context.Context, tx *storage.Tx, st *stager) error {
	if err := stageRows(ctx, tx, st); err != nil {
		return err
	}
	if err := tx.AnalyzeStage(ctx); err != nil {
		return err
	}
	for _, ru := range l.job.rules {
		if s, ok := ru.(settler); ok {
			if err := settleWith(ctx, tx, ru.actionIndex(), s, st); err != nil {
				return err
			}
		}
	}
	return nil
}

func (l *stagedLoader) apply(ctx context.Context, tx *storage.Tx, rowsRead int64) error {
	for _, ru := range l.job.rules {
		if err := ru.apply(ctx, tx, l.job.id, l.job.fl, rowsRead, l.job.log); err != nil {
			return fmt.Errorf("apply actions[%d]: %w", ru.actionIndex(), err)
		}
	}
	return nil
}

func (l *stagedLoader) close() {}

// stageRows COPYs the rows of every action into fileload_stage, a
// temporary table of tx, for the actions' set-based apply steps.
func stageRows(ctx context.Context, tx *storage.Tx, st *stager) error {
	return tx.StageRows(ctx, st)
}

// settleWith runs the rule across rows of action idx and records what it
// changed as warnings of the pass.
func settleWith(ctx context.Context, tx *storage.Tx, idx int, s settler, st *stager) error {
	reported := false
	if err := s.settle(ctx, tx, func(line int64, column, message string) {
		st.addWarn(line, &idx, column, message)
		reported = true
	}); err != nil {
		return err
	}
	if reported {
		// The stored errors read in file order, whichever check found them.
		sort.SliceStable(st.errs, func(i, j int) bool { return st.errs[i].Line < st.errs[j].Line })
	}
	return nil
}
