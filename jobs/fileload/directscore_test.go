package fileload

import (
	"bytes"
	"cmp"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/turnoutdev/turnout/internal/testkit/testenv"
	"github.com/turnoutdev/turnout/jobs"
	"github.com/turnoutdev/turnout/storage"
)

// directFixture is a database of people (dense VANIDs 1..400, every even
// one with a DWID; 300 sparse VANIDs without), a key, a range score, a
// value score and a file-load job to hang score updates on.
type directFixture struct {
	env    *testenv.Env
	fl     *storage.FileLoad
	ranged *storage.Score
	valued *storage.Score
	file   File
}

func newDirectFixture(t *testing.T) *directFixture {
	t.Helper()
	env := testenv.Get(t)
	ctx := context.Background()
	if _, err := env.Pool.Exec(ctx, `TRUNCATE van_people CASCADE;
		INSERT INTO van_people (db_mode, vanid, dwid, first_name)
		SELECT 0, g, CASE WHEN g % 2 = 0 THEN 7000000 + 3 * g END, 'Person' FROM generate_series(1, 400) g;
		INSERT INTO van_people (db_mode, vanid, first_name) SELECT 0, 1000000 + 7919 * g, 'Sparse' FROM generate_series(1, 300) g;
		INSERT INTO van_people (db_mode, vanid, dwid, first_name) SELECT 1, g, 7000000 + 3 * g, 'Other mode' FROM generate_series(1, 900) g;
		ANALYZE van_people`); err != nil {
		t.Fatal(err)
	}
	mode := int16(0)
	key, err := env.Store.CreateKey(ctx, storage.NewKey{Name: "direct", Scopes: []string{storage.ScopeVAN}, VANApp: "direct", VANDBMode: &mode})
	if err != nil {
		t.Fatal(err)
	}
	lo, hi := 0.0, 100.0
	f := &directFixture{env: env}
	if f.ranged, err = env.Store.CreateScore(ctx, storage.NewScore{Name: "Direct range", Min: &lo, Max: &hi}); err != nil {
		t.Fatal(err)
	}
	if f.valued, err = env.Store.CreateScore(ctx, storage.NewScore{Name: "Direct values", Values: []string{"A", "B", "C"}}); err != nil {
		t.Fatal(err)
	}
	err = env.Store.WithTx(ctx, func(tx *storage.Tx) error {
		job, err := tx.InsertJob(ctx, storage.NewJob{Kind: Kind, Queue: jobs.QueueFileload, KeyID: &key.ID, MaxAttempts: 1})
		if err != nil {
			return err
		}
		f.fl = &storage.FileLoad{JobID: job.ID, KeyID: key.ID, DBMode: mode, Request: []byte("{}"), SourceURL: "http://127.0.0.1/f.csv", Listeners: []byte("[]")}
		return tx.InsertFileLoad(ctx, *f.fl)
	})
	if err != nil {
		t.Fatal(err)
	}
	f.file = File{ColumnDelimiter: DelimCsv, HasHeader: true, HasQuotes: true, Columns: []Column{{"vanid"}, {"dwid"}, {"a"}, {"b"}}}
	return f
}

// scoreFile returns n rows of people by VANID and DWID with a range value
// and a value-score value: people listed once and many times, ids of
// nobody (some repeated far apart), blank and malformed ids and values.
func scoreFile(n int, seed uint64) [][4]string {
	rng := rand.New(rand.NewPCG(seed, 99))
	nobody := []int64{401, 402, 555, 1000001, 1000000 + 7919*150 + 1, 1 << 40, 1<<40 + 7}
	var rows [][4]string
	for range n {
		var vanid int64
		switch k := rng.IntN(100); {
		case k < 10:
			vanid = int64(1 + rng.IntN(5)) // a few people listed very often
		case k < 50:
			vanid = int64(1 + rng.IntN(400))
		case k < 65:
			vanid = 1000000 + 7919*int64(1+rng.IntN(300))
		case k < 85:
			vanid = nobody[rng.IntN(len(nobody))]
		case k < 95:
			vanid = 2000000 + rng.Int64N(1<<30) // nobody, mostly once
		default:
			vanid = -1
		}
		id, dwid := fmt.Sprint(vanid), fmt.Sprint(7000000+3*vanid)
		switch {
		case vanid < 0:
			id, dwid = []string{"", "x", "0"}[rng.IntN(3)], ""
		case vanid%2 == 1 && vanid <= 400:
			dwid = fmt.Sprint(7000000 + 3*vanid) // nobody's DWID
		}
		a := []string{"", fmt.Sprint(rng.IntN(101)), fmt.Sprintf("%d.25", rng.IntN(100)), "101", "abc", fmt.Sprint(rng.IntN(101))}[rng.IntN(6)]
		b := []string{"", "A", "b", "C", "Z", "a"}[rng.IntN(6)]
		rows = append(rows, [4]string{id, dwid, a, b})
	}
	return rows
}

func csvOf(rows [][4]string) []byte {
	var b strings.Builder
	b.WriteString("vanid,dwid,a,b\n")
	for _, r := range rows {
		b.WriteString(strings.Join(r[:], ",") + "\n")
	}
	return []byte(b.String())
}

// scoreOutcome is what a load leaves of each action: its stored values,
// statistics and result counts.
type scoreOutcome struct {
	values, stats, result []string
}

// load runs both Score actions over file, directly with opts or staged,
// and rolls back. current: the people already have values of both scores
// (so the statistics compare with them). It returns the direct actions'
// state too.
func (f *directFixture) load(t *testing.T, file []byte, direct, current bool, opts Options, pool *storage.Store) (scoreOutcome, []*directScore) {
	t.Helper()
	ctx := context.Background()
	actions := []Action{
		{ActionType: ActionScore, PersonIDColumn: "vanid", PersonIDType: IDVANID, ScoreColumn: "a", ScoreID: f.ranged.ID},
		{ActionType: ActionScore, PersonIDColumn: "dwid", PersonIDType: IDDWID, ScoreColumn: "b", ScoreID: f.valued.ID},
	}
	rules := []rule{newScoreRule(0, actions[0], f.ranged, f.file), newScoreRule(1, actions[1], f.valued, f.file)}
	st := &stager{rd: newReader(bytes.NewReader(file), f.file, CSVLimits{}), rules: rules, header: true,
		errW: csv.NewWriter(io.Discard), maxErrs: 10, progress: func(int64, int64) {}}
	var out scoreOutcome
	var states []*directScore
	rollback := errors.New("rollback")
	err := f.env.Store.InTx(ctx, func(ptx pgx.Tx) error {
		tx := storage.TxOf(ptx)
		if current {
			if _, err := ptx.Exec(ctx, `WITH u AS (INSERT INTO van_score_updates (job_id, action_index, key_id, db_mode, score_id, load_status, statistics)
					VALUES ($1, 90, $2, 0, $3, 'Completed', '{}'), ($1, 91, $2, 0, $4, 'Completed', '{}') RETURNING id, score_id)
				INSERT INTO van_person_scores (db_mode, vanid, score_id, value, score_update_id)
				SELECT 0, p.vanid, u.score_id, CASE WHEN u.score_id = $3 THEN (p.vanid % 97)::text ELSE 'B' END, u.id
				FROM van_people p, u WHERE p.db_mode = 0 AND p.vanid % 3 <> 0`,
				f.fl.JobID, f.fl.KeyID, f.ranged.ID, f.valued.ID); err != nil {
				return err
			}
		}
		var err error
		if direct {
			states, err = copyDirect(ctx, tx, pool, f.fl.JobID, f.fl, directScores(rules), st, opts, slog.New(slog.DiscardHandler))
		} else {
			err = stageRows(ctx, tx, st)
		}
		if err != nil {
			return err
		}
		for i, ru := range rules {
			r := ru.(*scoreRule)
			var res storage.ActionResult
			var su *storage.ScoreUpdate
			if direct {
				res, su, err = applyDirect(ctx, tx, f.fl.JobID, f.fl, r, states[i], st.rowsRead)
			} else {
				res, su, err = applyScore(ctx, tx, f.fl.JobID, f.fl, r, st.rowsRead)
			}
			if err != nil {
				return err
			}
			var values string
			if err := ptx.QueryRow(ctx, `SELECT coalesce(string_agg(vanid || '=' || coalesce(value, 'null'), ' ' ORDER BY vanid), '')
				FROM van_score_update_values WHERE score_update_id = $1`, su.ID).Scan(&values); err != nil {
				return err
			}
			out.values = append(out.values, values)
			out.stats = append(out.stats, string(su.Statistics))
			out.result = append(out.result, fmt.Sprintf("read %d valid %d invalid %d matched %d unmatched %d",
				res.RowsRead, res.RowsValid, res.RowsInvalid, res.Matched, res.Unmatched))
		}
		return rollback
	})
	if !errors.Is(err, rollback) {
		t.Fatalf("load: %v", err)
	}
	return out, states
}

// The direct path stores and counts what the staged path does, for any
// chunk size and set bound, with and without a second connection: people
// listed again within a chunk and across chunks (the last row wins), ids
// of nobody repeated across chunks, people by VANID and by DWID in one
// load, dense and sparse ids, files in any order, and scores with and
// without current values to compare with.
func TestDirectScoreLoadsAgreeWithStaged(t *testing.T) {
	f := newDirectFixture(t)
	// A pool whose one connection is taken: the direct path then matches
	// on the load's own connection, between COPYs.
	busy, err := f.env.Store.Side(1)
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	held, err := busy.AcquirePeopleMatcher(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer held.Release()

	shuffled := scoreFile(1500, 1)
	sorted := slices.Clone(shuffled)
	num := func(s string) int64 {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return -1
		}
		return n
	}
	slices.SortStableFunc(sorted, func(a, b [4]string) int { return cmp.Compare(num(a[0]), num(b[0])) })
	configs := []struct {
		name string
		opts Options
		pool *storage.Store
	}{
		{"defaults", Options{}, f.env.Store},
		{"one row a chunk", Options{ChunkRows: 1}, f.env.Store},
		{"3 rows a chunk", Options{ChunkRows: 3}, f.env.Store},
		{"64 rows a chunk, sets of 1 byte", Options{ChunkRows: 64, SetBytes: 1}, f.env.Store},
		{"200 rows a chunk, one connection", Options{ChunkRows: 200}, busy},
		{"7 rows a chunk, sets of 1 byte, one connection", Options{ChunkRows: 7, SetBytes: 1}, busy},
	}
	var later, full, spilled, onDisk, ranges, lookups bool
	for _, file := range []struct {
		name string
		rows [][4]string
	}{{"shuffled", shuffled}, {"sorted", sorted}} {
		data := csvOf(file.rows)
		for _, current := range []bool{false, true} {
			want, _ := f.load(t, data, false, current, Options{}, f.env.Store)
			if !strings.Contains(want.stats[0], `"duplicateRows"`) || strings.Contains(want.result[0], "matched 0 ") {
				t.Fatalf("the staged load proves nothing: %v", want)
			}
			for _, c := range configs {
				got, states := f.load(t, data, true, current, c.opts, c.pool)
				for i := range want.values {
					name := fmt.Sprintf("%s file, current values %v, %s, action %d", file.name, current, c.name, i)
					if got.values[i] != want.values[i] {
						t.Errorf("%s: stored values differ:\n direct %s\n staged %s", name, got.values[i], want.values[i])
					}
					if got.stats[i] != want.stats[i] {
						t.Errorf("%s: statistics differ:\n direct %s\n staged %s", name, got.stats[i], want.stats[i])
					}
					if got.result[i] != want.result[i] {
						t.Errorf("%s: results differ:\n direct %s\n staged %s", name, got.result[i], want.result[i])
					}
				}
				for _, d := range states {
					later, full, spilled, onDisk = later || d.later > 0, full || d.full, spilled || d.spilled, onDisk || d.sorted
					ranges, lookups = ranges || d.rangeReads > 0, lookups || d.lookups > 0
				}
			}
		}
	}
	if !later || !full || !spilled || !onDisk || !ranges || !lookups {
		t.Errorf("a path went untried: later rows %v, stored set full %v, unmatched spilled %v, file sorted %v, range reads %v, index lookups %v",
			later, full, spilled, onDisk, ranges, lookups)
	}
}

// A file with a bad header stops the load with the reader's error, not
// with the pipeline's.
func TestDirectScoreLoadReportsTheReadersError(t *testing.T) {
	f := newDirectFixture(t)
	ctx := context.Background()
	a := Action{ActionType: ActionScore, PersonIDColumn: "vanid", PersonIDType: IDVANID, ScoreColumn: "a", ScoreID: f.ranged.ID}
	rules := []rule{newScoreRule(0, a, f.ranged, f.file)}
	st := &stager{rd: newReader(bytes.NewReader([]byte("nope,dwid,a,b\n1,2,3,A\n")), f.file, CSVLimits{}), rules: rules, header: true,
		errW: csv.NewWriter(io.Discard), maxErrs: 10, progress: func(int64, int64) {}}
	err := f.env.Store.InTx(ctx, func(ptx pgx.Tx) error {
		tx := storage.TxOf(ptx)
		_, err := copyDirect(ctx, tx, f.env.Store, f.fl.JobID, f.fl, directScores(rules), st, Options{ChunkRows: 1}, slog.New(slog.DiscardHandler))
		return err
	})
	if err == nil || st.err == nil || !errors.Is(err, st.err) || !strings.Contains(err.Error(), "header") {
		t.Errorf("load: %v (reader: %v), want the header error", err, st.err)
	}
}

// In a database whose VANIDs run one after the other, a chunk whose id
// range holds nobody but people is matched by counting them instead of
// reading their ids; the first range with a gap turns the counting off.
// Either way the load stores and counts what the staged path does.
func TestDirectScoreCountsFullRanges(t *testing.T) {
	f := newDirectFixture(t)
	ctx := context.Background()
	if _, err := f.env.Pool.Exec(ctx, `TRUNCATE van_people CASCADE;
		INSERT INTO van_people (db_mode, vanid, dwid, first_name)
		SELECT 0, g, CASE WHEN g % 2 = 0 THEN 7000000 + 3 * g END, 'Person' FROM generate_series(1, 400) g;
		ANALYZE van_people`); err != nil {
		t.Fatal(err)
	}
	var rows [][4]string
	for i := 1; i <= 420; i++ {
		v := fmt.Sprint(i)
		rows = append(rows, [4]string{v, fmt.Sprint(7000000 + 3*i), fmt.Sprint(i % 101), []string{"A", "B", ""}[i%3]})
		if i%50 == 0 {
			rows = append(rows, [4]string{v, "", "7", "C"}) // the same person again
		}
	}
	data := csvOf(rows)
	want, _ := f.load(t, data, false, false, Options{}, f.env.Store)
	got, states := f.load(t, data, true, false, Options{ChunkRows: 16}, f.env.Store)
	for i := range want.values {
		if got.values[i] != want.values[i] || got.stats[i] != want.stats[i] || got.result[i] != want.result[i] {
			t.Errorf("action %d: direct %v, staged %v", i, got, want)
		}
	}
	if d := states[0]; d.fullRanges == 0 || d.rangeReads == 0 {
		t.Errorf("VANIDs: %d ranges counted, %d read; want both, the reads after the range with a gap", d.fullRanges, d.rangeReads)
	}
	if d := states[1]; d.fullRanges != 0 {
		t.Errorf("DWIDs: %d ranges counted; a DWID's person must be read", d.fullRanges)
	}
}
