package fileload

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/turnoutdev/turnout/internal/fault"
	"github.com/turnoutdev/turnout/storage"
)

// listOutcome is what a saved-list load leaves: the members of its list
// and its result.
type listOutcome struct {
	members, result string
}

// loadList runs a LoadSavedListFile load of the direct fixture's score
// file (people by VANID or DWID) through the loader mk makes, and rolls
// back. overwrite: the load replaces a list that has members already.
func (f *directFixture) loadList(t *testing.T, file []byte, idType string, overwrite, writable bool, mk func(loadJob, *savedListRule) loader, opts Options) (listOutcome, error) {
	t.Helper()
	ctx := context.Background()
	col := "vanid"
	if idType == IDDWID {
		col = "dwid"
	}
	var out listOutcome
	rollback := errors.New("rollback")
	err := f.env.Store.InTx(ctx, func(ptx pgx.Tx) error {
		tx := storage.TxOf(ptx)
		var folder, old int64
		if err := ptx.QueryRow(ctx, `WITH fo AS (INSERT INTO van_folders (name, api_writable) VALUES ('Lists', $2) RETURNING id),
				k AS (INSERT INTO van_folder_keys (folder_id, key_id) SELECT id, $1 FROM fo)
			SELECT id FROM fo`, f.fl.KeyID, writable).Scan(&folder); err != nil {
			return err
		}
		a := Action{ActionType: ActionSavedList, PersonIDColumn: col, PersonIDType: idType, SavedListLoad: SavedListLoad{ListName: "Direct", FolderID: folder}}
		if overwrite {
			if err := ptx.QueryRow(ctx, `WITH l AS (INSERT INTO van_saved_lists (folder_id, db_mode, key_id, name) VALUES ($1, 0, $2, 'Old') RETURNING id),
					m AS (INSERT INTO van_saved_list_members (list_id, vanid) SELECT l.id, g FROM l, generate_series(1, 400, 7) g)
				SELECT id FROM l`, folder, f.fl.KeyID).Scan(&old); err != nil {
				return err
			}
			a.OverwriteExistingListID = old
		}
		r := newSavedListRule(0, a, f.file)
		st := &stager{rd: newReader(bytes.NewReader(file), f.file, CSVLimits{}), rules: []rule{r}, header: true,
			errW: csv.NewWriter(io.Discard), maxErrs: 10, progress: func(int64, int64) {}}
		ld := mk(loadJob{id: f.fl.JobID, fl: f.fl, rules: []rule{r}, store: f.env.Store, opts: opts, log: slog.New(slog.DiscardHandler)}, r)
		if err := ld.stage(ctx, tx, st); err != nil {
			return err
		}
		if err := ld.apply(ctx, tx, st.rowsRead); err != nil {
			return err
		}
		// The list id differs from load to load: the result names it as L.
		if err := ptx.QueryRow(ctx, `SELECT coalesce(string_agg(m.vanid::text, ' ' ORDER BY m.vanid), ''),
				(SELECT format('read %s valid %s invalid %s matched %s unmatched %s %s', rows_read, rows_valid, rows_invalid, matched, unmatched,
					jsonb_set(result, '{savedList,savedListId}', '"L"')) FROM van_file_load_actions WHERE job_id = $1)
			FROM van_saved_lists l LEFT JOIN van_saved_list_members m ON m.list_id = l.id WHERE l.load_job_id = $1 GROUP BY l.id`, f.fl.JobID).Scan(&out.members, &out.result); err != nil {
			return err
		}
		return rollback
	})
	if errors.Is(err, rollback) {
		return out, nil
	}
	return out, err
}

// The saved-list direct path writes and counts what the staged path does,
// by VANID and by DWID, for a new list and an overwritten one, for any
// chunk size and set bound: people listed again within a chunk and across
// chunks, ids of nobody, rows with errors, files in any order.
func TestDirectSavedListLoadsAgreeWithStaged(t *testing.T) {
	f := newDirectFixture(t)
	rows := scoreFile(1500, 3)
	sorted := slices.Clone(rows)
	slices.SortStableFunc(sorted, func(a, b [4]string) int { return strings.Compare(a[0], b[0]) })
	staged := func(j loadJob, _ *savedListRule) loader { return &stagedLoader{job: j} }
	direct := func(j loadJob, r *savedListRule) loader { return newDirectListLoader(j, r) }
	for _, file := range [][][4]string{rows, sorted} {
		data := csvOf(file)
		for _, idType := range []string{IDVANID, IDDWID} {
			for _, overwrite := range []bool{false, true} {
				want, err := f.loadList(t, data, idType, overwrite, true, staged, Options{})
				if err != nil {
					t.Fatalf("staged load: %v", err)
				}
				if strings.Contains(want.result, `"matchedRowsCount": 0`) || strings.Contains(want.result, "invalid 0") ||
					!strings.Contains(want.result, `"savedListId": "L"`) {
					t.Fatalf("the staged load proves nothing: %s", want.result)
				}
				for _, opts := range []Options{{}, {ChunkRows: 1}, {ChunkRows: 3}, {ChunkRows: 64, SetBytes: 1}, {ChunkRows: 7, SetBytes: 1}, {ChunkBytes: 256}} {
					got, err := f.loadList(t, data, idType, overwrite, true, direct, opts)
					name := fmt.Sprintf("%s, overwrite %v, %d rows a chunk, sets of %d bytes", idType, overwrite, opts.ChunkRows, opts.SetBytes)
					if err != nil {
						t.Fatalf("%s: %v", name, err)
					}
					if got.result != want.result {
						t.Errorf("%s: results differ:\n direct %s\n staged %s", name, got.result, want.result)
					}
					if got.members != want.members {
						t.Errorf("%s: members differ:\n direct %s\n staged %s", name, got.members, want.members)
					}
				}
			}
		}
	}
}

// A list that cannot be written fails the load after the pass over the
// file, with the staged path's error.
func TestDirectSavedListReportsAnUnwritableFolderAfterThePass(t *testing.T) {
	f := newDirectFixture(t)
	data := csvOf(scoreFile(50, 4))
	for name, mk := range map[string]func(loadJob, *savedListRule) loader{
		"staged": func(j loadJob, _ *savedListRule) loader { return &stagedLoader{job: j} },
		"direct": func(j loadJob, r *savedListRule) loader { return newDirectListLoader(j, r) },
	} {
		_, err := f.loadList(t, data, IDVANID, false, false, mk, Options{})
		if !fault.Is(err, fault.Invalid) || !strings.Contains(err.Error(), "apply actions[0]: ") ||
			!strings.Contains(err.Error(), "actions[0].folderId: folder") {
			t.Errorf("%s: %v, want the folder's error from apply", name, err)
		}
	}
}
