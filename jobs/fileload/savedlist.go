package fileload

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/turnoutdev/turnout/internal/fault"
	"github.com/turnoutdev/turnout/storage"
)

// ActionSavedList is VAN's LoadSavedListFile action type.
const ActionSavedList = "LoadSavedListFile"

// SavedListLoad are a LoadSavedListFile action's own properties.
type SavedListLoad struct {
	ListName                string `json:"listName,omitempty"`
	ListDescription         string `json:"listDescription,omitempty"`
	FolderID                int64  `json:"folderId,omitempty"`
	OverwriteExistingListID int64  `json:"overwriteExistingListId,omitempty"`
}

type wireSavedList struct {
	ListName                json.RawMessage `json:"listName"`
	ListDescription         json.RawMessage `json:"listDescription"`
	FolderID                json.RawMessage `json:"folderId"`
	OverwriteExistingListID json.RawMessage `json:"overwriteExistingListId"`
}

// VAN: "Must be fewer than 50 characters", "fewer than 250".
const (
	maxListName        = 49
	maxListDescription = 249
)

// checkSavedListAction applies VAN's LoadSavedListFile rules at
// submit time. Name uniqueness is checked again when the list is written.
func checkSavedListAction(ctx context.Context, p *problems, i int, wa wireAction, f File, cat Catalog, c Caller) Action {
	at := func(name string) string { return fmt.Sprintf("actions[%d].%s", i, name) }
	a := Action{ActionType: ActionSavedList}
	if name, ok := str(p, at("listName"), wa.ListName, true, 1<<10); ok {
		if utf8.RuneCountInString(name) > maxListName {
			p.add(at("listName"), fault.CodeOutOfRange, "must be fewer than 50 characters (it has %d)", utf8.RuneCountInString(name))
		}
		a.ListName = name
	}
	if d, ok := str(p, at("listDescription"), wa.ListDescription, false, 1<<12); ok {
		if utf8.RuneCountInString(d) > maxListDescription {
			p.add(at("listDescription"), fault.CodeOutOfRange, "must be fewer than 250 characters (it has %d)", utf8.RuneCountInString(d))
		}
		a.ListDescription = d
	}
	a.PersonIDType = checkPersonIDType(p, at("personIdType"), wa.PersonIDType, c, IDVANID, IDDWID)
	a.PersonIDColumn = checkPersonIDColumn(p, at("personIdColumn"), wa.PersonIDColumn, f)
	folderOK := false
	if id, ok := integer(p, at("folderId"), wa.FolderID); ok {
		a.FolderID = id
		folderOK = checkFolder(ctx, p, at("folderId"), cat, id, c)
	}
	if len(wa.OverwriteExistingListID) > 0 && string(wa.OverwriteExistingListID) != "null" {
		if id, ok := integer(p, at("overwriteExistingListId"), wa.OverwriteExistingListID); ok {
			a.OverwriteExistingListID = id
			checkOverwrite(ctx, p, at("overwriteExistingListId"), cat, id, c)
		}
	}
	if folderOK && a.ListName != "" && utf8.RuneCountInString(a.ListName) <= maxListName {
		taken, err := cat.SavedListNamed(ctx, a.FolderID, a.ListName)
		if err == nil && taken != 0 && taken != a.OverwriteExistingListID {
			p.add(at("listName"), fault.CodeInvalidValue, "folder %d already has a saved list named %q (saved list %d); names are unique within a folder", a.FolderID, a.ListName, taken)
		}
	}
	return a
}

func checkFolder(ctx context.Context, p *problems, field string, cat Catalog, id int64, c Caller) bool {
	fo, ok, err := cat.FolderOfKey(ctx, id, c.KeyID)
	switch {
	case err != nil:
		p.add(field, fault.CodeInvalidValue, "folder %d could not be checked; retry", id)
	case !ok:
		p.add(field, fault.CodeInvalidValue, "folder %d does not exist or is not shared with this API key", id)
	case !fo.APIWritable:
		p.add(field, fault.CodeInvalidValue, "folder %d is not API-writable; the folder's owner must mark it API-writable", id)
	default:
		return true
	}
	return false
}

func checkOverwrite(ctx context.Context, p *problems, field string, cat Catalog, id int64, c Caller) {
	l, ok, err := cat.SavedListOfKey(ctx, id, c.KeyID, c.DBMode)
	switch {
	case err != nil:
		p.add(field, fault.CodeInvalidValue, "saved list %d could not be checked; retry", id)
	case !ok:
		p.add(field, fault.CodeInvalidValue, "saved list %d does not exist or is not in a folder shared with this API key", id)
	case l.KeyID != c.KeyID:
		p.add(field, fault.CodeInvalidValue, "saved list %d was not created by this API key; a key may overwrite only the lists it created", id)
	}
}

// savedListRule validates a LoadSavedListFile row (its person id) and
// writes the list.
type savedListRule struct {
	index   int
	action  Action
	idCol   int
	valid   int64
	invalid int64
}

func newSavedListRule(i int, a Action, f File) *savedListRule {
	return &savedListRule{index: i, action: a, idCol: f.columnIndex(a.PersonIDColumn)}
}

func (r *savedListRule) actionIndex() int       { return r.index }
func (r *savedListRule) counts() (int64, int64) { return r.valid, r.invalid }

func (r *savedListRule) stage(rec []string) (stagedRow, string, string) {
	id := cell(rec, r.idCol)
	col := r.action.PersonIDColumn
	if id == "" {
		r.invalid++
		return stagedRow{}, col, "person id is blank"
	}
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil || n <= 0 {
		r.invalid++
		return stagedRow{}, col, fmt.Sprintf("%s %q is not a positive integer", r.action.PersonIDType, clip(id))
	}
	r.valid++
	return stagedRow{person: strconv.FormatInt(n, 10), id: n}, "", ""
}

// SavedListResult is VAN's savedList callback object.
type SavedListResult struct {
	SavedListID        int64 `json:"savedListId"`
	OriginalRowCount   int64 `json:"originalRowCount"`
	MatchedRowsCount   int64 `json:"matchedRowsCount"`
	UnmatchedRowsCount int64 `json:"unmatchedRowsCount"`
}

// apply creates the list, or replaces the name, description, folder and
// members of the list being overwritten, in tx, with the action's rows of
// fileload_stage. VAN's counts: originalRowCount is every data row;
// matchedRowsCount the distinct people loaded, after validation,
// duplicate removal and matching; unmatchedRowsCount the rest.
func (r *savedListRule) apply(ctx context.Context, tx *storage.Tx, jobID int64, fl *storage.FileLoad, rowsRead int64, log *slog.Logger) error {
	listID, err := r.writeList(ctx, tx, jobID, fl)
	if err != nil {
		return err
	}
	matched, err := tx.InsertStagedListMembers(ctx, listID, r.index, fl.DBMode, r.action.PersonIDType)
	if err != nil {
		return err
	}
	return r.finish(ctx, tx, jobID, rowsRead, listID, matched, log)
}

// writeList creates the list, or replaces the name, description and
// folder of the list being overwritten and removes its members, in tx,
// and returns its id. Access is checked again here: the folder or the
// list may have changed since the job was submitted.
func (r *savedListRule) writeList(ctx context.Context, tx *storage.Tx, jobID int64, fl *storage.FileLoad) (int64, error) {
	a := r.action
	stx := tx
	fo, ok, err := stx.FolderOfKey(ctx, a.FolderID, fl.KeyID)
	if err != nil {
		return 0, err
	}
	if !ok || !fo.APIWritable {
		return 0, fault.New(fault.Invalid, "actions[%d].folderId: folder %d is no longer shared with this API key or no longer API-writable", r.index, a.FolderID)
	}
	var desc *string
	if a.ListDescription != "" {
		desc = &a.ListDescription
	}
	var listID int64
	if a.OverwriteExistingListID != 0 {
		l, mine, lerr := stx.SavedListOfKey(ctx, a.OverwriteExistingListID, fl.KeyID, fl.DBMode)
		if lerr != nil {
			return 0, lerr
		}
		if !mine || l.KeyID != fl.KeyID {
			return 0, fault.New(fault.Invalid, "actions[%d].overwriteExistingListId: saved list %d is not a list this API key created", r.index, a.OverwriteExistingListID)
		}
		listID = l.ID
		err = stx.OverwriteSavedList(ctx, listID, a.ListName, desc, a.FolderID, jobID)
	} else {
		listID, err = stx.InsertSavedList(ctx, a.FolderID, fl.DBMode, fl.KeyID, a.ListName, desc, jobID)
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" {
		return 0, fault.New(fault.Invalid, "actions[%d].listName: folder %d already has a saved list named %q", r.index, a.FolderID, a.ListName)
	}
	if err != nil {
		return 0, fmt.Errorf("write saved list: %w", err)
	}
	return listID, nil
}

// finish records the action's result: matched distinct people were
// loaded into list listID.
func (r *savedListRule) finish(ctx context.Context, tx *storage.Tx, jobID, rowsRead, listID, matched int64, log *slog.Logger) error {
	res := SavedListResult{SavedListID: listID, OriginalRowCount: rowsRead, MatchedRowsCount: matched}
	res.UnmatchedRowsCount = rowsRead - res.MatchedRowsCount
	detail, _ := json.Marshal(map[string]any{"savedList": res})
	if err := tx.InsertActionResult(ctx, jobID, storage.ActionResult{ActionIndex: r.index, ActionType: ActionSavedList,
		RowsRead: rowsRead, RowsValid: r.valid, RowsInvalid: r.invalid, Matched: res.MatchedRowsCount, Unmatched: res.UnmatchedRowsCount,
		Result: detail}); err != nil {
		return err
	}
	log.Info("action applied", "action", r.index, "rows", r.valid, "matched", res.MatchedRowsCount, "saved_list_id", listID)
	return nil
}

// savedListNotice adds VAN's saved-list callback data to a
// successful load's notification: the savedList object and the message
// "Saved List File loaded".
func (r *Runner) savedListNotice(ctx context.Context, jobID int64, body map[string]any) error {
	if body["status"] != "Successful" {
		return nil
	}
	results, err := r.store.ActionResults(ctx, jobID)
	if err != nil {
		return err
	}
	for _, res := range results {
		if res.ActionType != ActionSavedList {
			continue
		}
		var d struct {
			SavedList SavedListResult `json:"savedList"`
		}
		if err := json.Unmarshal(res.Result, &d); err != nil {
			return err
		}
		body["savedList"] = d.SavedList
		body["message"] = "Saved List File loaded"
	}
	return nil
}
