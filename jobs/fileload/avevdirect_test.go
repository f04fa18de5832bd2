package fileload

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/turnoutdev/turnout/storage"
)

// avevTestColumns are the columns of avevFile: the required ones and a
// code and a text column.
var avevTestColumns = []string{"VanID", "RequestReceived", "BallotMailed", "BallotReceived", "EarlyVoted", "BallotParty",
	"BallotCancelled", "ApplicationMailed", "GOTVVoted", "DateApplicationReceived", "BallotType", "BallotCity"}

// avevFile returns n AV/EV rows of the direct fixture's people: people
// listed once and many times (near and far apart), ids of nobody (some
// repeated), malformed ids, and cells valid, blank and invalid.
func avevFile(n int, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, 7))
	pick := func(s ...string) string { return s[rng.IntN(len(s))] }
	var b strings.Builder
	b.WriteString(strings.Join(avevTestColumns, ",") + "\n")
	for range n {
		var id string
		switch k := rng.IntN(100); {
		case k < 10:
			id = fmt.Sprint(1 + rng.IntN(5))
		case k < 55:
			id = fmt.Sprint(1 + rng.IntN(400))
		case k < 70:
			id = fmt.Sprint(1000000 + 7919*(1+rng.IntN(300)))
		case k < 85:
			id = pick("401", "555", "1000001", fmt.Sprint(1<<40))
		case k < 95:
			id = fmt.Sprint(2000000 + rng.Int64N(1<<30))
		default:
			id = pick("", "x", "0", "-3")
		}
		date := func() string { return pick("", "9/1/2024", "09/05/2024", fmt.Sprintf("2024-10-%02d", 1+rng.IntN(28))) }
		cells := []string{id, date(), date(), date(), date(), pick("", "D", "r"), date(), date(), date(), date(),
			pick("", "1", "7"), pick("", "Saint Paul", fmt.Sprintf("Town %d", rng.IntN(50)))}
		if rng.IntN(20) == 0 {
			// One bad cell.
			bad := [][2]string{{"1", "1/2/1899"}, {"2", "13/1/2024"}, {"3", "2024-1-5"}, {"5", "ZZZ"}, {"10", "999"}, {"10", "x"}, {"11", strings.Repeat("y", 30)}}
			b := bad[rng.IntN(len(bad))]
			k := 0
			fmt.Sscan(b[0], &k)
			cells[k] = b[1]
		}
		b.WriteString(strings.Join(cells, ",") + "\n")
	}
	return []byte(b.String())
}

// avevOutcome is what an AV/EV load leaves: the records and the result.
type avevOutcome struct {
	records, result string
}

// loadAVEV runs an AVEVDataFile load of file through the loader mk makes
// and rolls back. stored: some people (of both modes) have records first.
func (f *directFixture) loadAVEV(t *testing.T, file []byte, stored bool, mk func(loadJob, *avevRule) loader, opts Options) avevOutcome {
	t.Helper()
	ctx := context.Background()
	var cols []Column
	for _, c := range avevTestColumns {
		cols = append(cols, Column{c})
	}
	ff := File{ColumnDelimiter: DelimCsv, HasHeader: true, HasQuotes: true, Columns: cols}
	r, err := newAVEVRule(ctx, f.env.Store, 0, Action{ActionType: ActionAVEV, PersonIDColumn: "VanID", PersonIDType: IDVANID}, ff)
	if err != nil {
		t.Fatal(err)
	}
	st := &stager{rd: newReader(bytes.NewReader(file), ff, CSVLimits{}), rules: []rule{r}, header: true,
		errW: csv.NewWriter(io.Discard), maxErrs: 10, progress: func(int64, int64) {}}
	ld := mk(loadJob{id: f.fl.JobID, fl: f.fl, rules: []rule{r}, store: f.env.Store, opts: opts, log: slog.New(slog.DiscardHandler)}, r)
	var out avevOutcome
	rollback := errors.New("rollback")
	err = f.env.Store.InTx(ctx, func(ptx pgx.Tx) error {
		tx := storage.TxOf(ptx)
		if stored {
			if _, err := ptx.Exec(ctx, `INSERT INTO van_avev (db_mode, vanid, ballot_city, ballot_type_id, early_voted, load_job_id)
				SELECT db_mode, vanid, 'Old', 7, '2020-01-01', 0 FROM van_people WHERE vanid % 3 = 0`); err != nil {
				return err
			}
		}
		if err := ld.stage(ctx, tx, st); err != nil {
			return err
		}
		if err := ld.apply(ctx, tx, st.rowsRead); err != nil {
			return err
		}
		if err := ptx.QueryRow(ctx, `SELECT string_agg(format('%s/%s %s', db_mode, vanid, to_jsonb(a) - 'updated_at'), E'\n' ORDER BY db_mode, vanid)
			FROM van_avev a`).Scan(&out.records); err != nil {
			return err
		}
		if err := ptx.QueryRow(ctx, `SELECT format('read %s valid %s invalid %s matched %s unmatched %s %s', rows_read, rows_valid, rows_invalid, matched, unmatched, result)
			FROM van_file_load_actions WHERE job_id = $1`, f.fl.JobID).Scan(&out.result); err != nil {
			return err
		}
		return rollback
	})
	if !errors.Is(err, rollback) {
		t.Fatalf("load: %v", err)
	}
	return out
}

// The AV/EV direct path stores and counts what the staged path does, for
// any chunk size and set bound: people listed again within a chunk and
// across chunks (the last row wins, replacing the whole record), people
// with records already (updated, not added), ids of nobody repeated
// across chunks, and rows with errors.
func TestDirectAVEVLoadsAgreeWithStaged(t *testing.T) {
	f := newDirectFixture(t)
	file := avevFile(1500, 1)
	staged := func(j loadJob, _ *avevRule) loader { return &stagedLoader{job: j} }
	direct := func(j loadJob, r *avevRule) loader { return newDirectAVEVLoader(j, r) }
	for _, stored := range []bool{false, true} {
		want := f.loadAVEV(t, file, stored, staged, Options{})
		if !strings.Contains(want.result, `"duplicateRows": `) || strings.Contains(want.result, `"duplicateRows": 0`) ||
			strings.Contains(want.result, `"matchedRows": 0`) || strings.Contains(want.result, `"unmatchedRows": 0`) ||
			strings.Contains(want.result, "invalid 0") || (stored && strings.Contains(want.result, `"updated": 0`)) {
			t.Fatalf("the staged load proves nothing: %s", want.result)
		}
		for _, opts := range []Options{{}, {ChunkRows: 1}, {ChunkRows: 3}, {ChunkRows: 64, SetBytes: 1}, {ChunkRows: 7, SetBytes: 1}, {ChunkBytes: 1024}} {
			got := f.loadAVEV(t, file, stored, direct, opts)
			name := fmt.Sprintf("records stored first %v, %d rows and %d bytes a chunk, sets of %d bytes", stored, opts.ChunkRows, opts.ChunkBytes, opts.SetBytes)
			if got.result != want.result {
				t.Errorf("%s: results differ:\n direct %s\n staged %s", name, got.result, want.result)
			}
			if got.records != want.records {
				t.Errorf("%s: records differ (%d and %d bytes)", name, len(got.records), len(want.records))
			}
		}
	}
}

// Only a load whose one action is an AVEVDataFile by VANID takes the
// direct path.
func TestDirectAVEVIsChosenForVANIDAlone(t *testing.T) {
	byVANID, byStateFile := &avevRule{idType: IDVANID}, &avevRule{idType: IDStateFile}
	for _, c := range []struct {
		rules []rule
		want  bool
	}{
		{[]rule{byVANID}, true},
		{[]rule{byStateFile}, false},
		{[]rule{byVANID, byVANID}, false},
		{[]rule{byVANID, &savedListRule{}}, false},
	} {
		if got := directAVEV(c.rules) != nil; got != c.want {
			t.Errorf("rules %v: direct %v, want %v", c.rules, got, c.want)
		}
	}
}
