package fileload

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/turnoutdev/turnout/internal/fault"
	"github.com/turnoutdev/turnout/storage"
)

// ActionPhones is VAN's phonesFile action type.
const ActionPhones = "phonesFile"

// VAN's phonesFile columns. They match case-insensitively and in any
// order (VAN, unlike for AVEVDataFile, fixes neither); columns the
// action does not know are left to the job's other actions.
// PhoneOptInStatus and SonarScore are optional.
var phoneRequired = []string{"VANID", "PhoneType", "PhoneSource", "Phone", "PreferredPhone", "PhoneExt"}

// nanp is VAN's pattern for Phone; rows are checked by isNANP, which
// accepts the same strings without a regular expression's cost per row.
var nanp = regexp.MustCompile(`^1?[2-9][0-8]\d[2-9]\d{6,6}$`)

// isNANP reports whether s matches nanp: an optional leading 1, then area
// code [2-9][0-8]\d and exchange [2-9] followed by six digits.
func isNANP(s string) bool {
	if len(s) == 11 && s[0] == '1' {
		s = s[1:]
	}
	if len(s) != 10 || s[0] < '2' || s[1] > '8' || s[3] < '2' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Indexes of a phonesFile row's staged fields (fileload_stage.fields,
// 1-based in SQL).
const (
	phNumber    = iota // 10 digits
	phType             // phoneType code
	phSource           // phoneSource code
	phPreferred        // "t" or "f"
	phExt              // "" = none
	phOptIn            // phoneOptInStatus code
	phSonar            // "" = none (My Campaign), else 1-5
	phFields
)

// checkPhonesAction checks a phonesFile action at submit time: the file
// must have every required column; the action has no properties.
func checkPhonesAction(p *problems, i int, f File) Action {
	for _, name := range phoneRequired {
		if f.columnIndex(name) < 0 && len(f.Columns) > 0 {
			p.add("file.columns", fault.CodeRequired, "actions[%d] (phonesFile) needs a %s column; the file has %s", i, name, f.columnNames())
		}
	}
	return Action{ActionType: ActionPhones}
}

// codeList resolves a phone code-list cell: by name (as files carry it)
// or code, case-insensitively.
type codeList struct {
	column string
	byKey  map[string]storage.TargetValue
	// exact holds every name and code as spelled, resolved as byKey
	// resolves its lower case: files spell them one way a million times,
	// and lowering each cell would allocate.
	exact map[string]storage.TargetValue
	def   storage.TargetValue
}

func loadCodeList(ctx context.Context, store *storage.Store, typeName, column, defName string) (*codeList, error) {
	t, err := store.TargetTypeByName(ctx, typeName)
	if err != nil {
		return nil, err
	}
	vals, err := store.TargetValues(ctx, t.ID, true)
	if err != nil {
		return nil, err
	}
	l := &codeList{column: column, byKey: map[string]storage.TargetValue{}}
	for _, v := range vals {
		l.byKey[strings.ToLower(v.Name)] = v
		l.byKey[strings.ToLower(v.Code)] = v
		if v.Name == defName {
			l.def = v
		}
	}
	if l.def.Code == "" {
		return nil, fmt.Errorf("code list %s has no value %q", typeName, defName)
	}
	l.exact = map[string]storage.TargetValue{}
	for _, v := range vals {
		l.exact[v.Name] = l.byKey[strings.ToLower(v.Name)]
		l.exact[v.Code] = l.byKey[strings.ToLower(v.Code)]
	}
	return l, nil
}

// resolve applies VAN's rule for the phone code lists, "blank or invalid
// values default": a blank cell takes the default silently; a cell the
// code list does not know, or knows only as a deactivated value, takes the
// default too and the row is loaded with a warning naming the cell. While
// the default itself is deactivated there is nothing to load such a row
// with: it is a row error.
func (l *codeList) resolve(cell string) (code, warning, problem string) {
	v, ok := l.exact[cell]
	if !ok && cell != "" {
		v, ok = l.byKey[strings.ToLower(cell)]
	}
	switch {
	case ok && v.Active:
		return v.Code, "", ""
	case cell == "":
	case ok:
		warning = fmt.Sprintf("%s %q is deactivated in the code list; loaded as %s", l.column, clip(cell), l.def.Name)
	default:
		warning = fmt.Sprintf("%s %q is not a value of the code list; loaded as %s", l.column, clip(cell), l.def.Name)
	}
	if !l.def.Active {
		return "", "", fmt.Sprintf("%s defaults to %s, which is deactivated", l.column, l.def.Name)
	}
	return l.def.Code, warning, ""
}

// phonesRule validates phonesFile rows and upserts the phones.
type phonesRule struct {
	index                                            int
	dbMode                                           int16
	vanid, typ, source, phone, pref, ext, opt, sonar int // columns; -1 = absent
	types, sources, optIns                           *codeList
	// notes are the warnings on the row parse last accepted; cur is the
	// row stage last accepted.
	notes []rowNote
	cur   phone

	valid, invalid int64
}

// phone is a valid phonesFile row.
type phone struct {
	vanid     int64
	number    string // 10 digits
	typ       string // phoneType code
	source    string // phoneSource code
	preferred bool
	ext       string // "" = none
	optIn     string // phoneOptInStatus code
	sonar     int16  // 0 = none (My Campaign)
}

func newPhonesRule(ctx context.Context, store *storage.Store, i int, f File, dbMode int16) (*phonesRule, error) {
	r := &phonesRule{index: i, dbMode: dbMode,
		vanid: f.columnIndex("VANID"), typ: f.columnIndex("PhoneType"), source: f.columnIndex("PhoneSource"),
		phone: f.columnIndex("Phone"), pref: f.columnIndex("PreferredPhone"), ext: f.columnIndex("PhoneExt"),
		opt: f.columnIndex("PhoneOptInStatus"), sonar: f.columnIndex("SonarScore")}
	if r.vanid < 0 || r.phone < 0 {
		return nil, fault.New(fault.Invalid, "actions[%d]: phonesFile needs VANID and Phone columns", i)
	}
	var err error
	if r.types, err = loadCodeList(ctx, store, storage.TargetTypePhoneType, "PhoneType", "Home"); err != nil {
		return nil, err
	}
	if r.sources, err = loadCodeList(ctx, store, storage.TargetTypePhoneSource, "PhoneSource", "Bulk"); err != nil {
		return nil, err
	}
	if r.optIns, err = loadCodeList(ctx, store, storage.TargetTypePhoneOptInStatus, "PhoneOptInStatus", "Unknown"); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *phonesRule) actionIndex() int       { return r.index }
func (r *phonesRule) counts() (int64, int64) { return r.valid, r.invalid }
func (r *phonesRule) warnings() []rowNote    { return r.notes }

// cell is a record's trimmed cell i; "" for an absent column (-1).
func cell(rec []string, i int) string {
	if i < 0 {
		return ""
	}
	return strings.TrimSpace(rec[i])
}

// stage validates a record; a valid row is r.cur, which stagedLoader
// turns into fileload_stage's fields and the phones direct path COPYs as
// it is.
func (r *phonesRule) stage(rec []string) (stagedRow, string, string) {
	var col, problem string
	r.cur, col, problem = r.parse(rec)
	tally(&r.valid, &r.invalid, problem)
	if problem != "" {
		return stagedRow{}, col, problem
	}
	return stagedRow{id: r.cur.vanid, phone: &r.cur}, "", ""
}

// fields are p as fileload_stage keeps it (phNumber...).
func (p *phone) fields() []string {
	f := make([]string, phFields)
	f[phNumber], f[phType], f[phSource], f[phExt], f[phOptIn] = p.number, p.typ, p.source, p.ext, p.optIn
	f[phPreferred] = "f"
	if p.preferred {
		f[phPreferred] = "t"
	}
	if p.sonar != 0 {
		f[phSonar] = strconv.Itoa(int(p.sonar))
	}
	return f
}

// parse validates a record, leaving its warnings in r.notes; it allocates
// nothing for a valid row without warnings.
func (r *phonesRule) parse(rec []string) (phone, string, string) {
	r.notes = r.notes[:0]
	id := cell(rec, r.vanid)
	if id == "" {
		return phone{}, "VANID", "VANID is blank"
	}
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil || n <= 0 {
		return phone{}, "VANID", fmt.Sprintf("VANID %q is not a positive integer", clip(id))
	}
	p := phone{vanid: n}
	ph := cell(rec, r.phone)
	if ph == "" {
		return phone{}, "Phone", "Phone is blank"
	}
	if !isNANP(ph) {
		return phone{}, "Phone", fmt.Sprintf(`Phone %q is not a valid NANP number (^1?[2-9][0-8]\d[2-9]\d{6,6}$)`, clip(ph))
	}
	p.number = ph[len(ph)-10:]
	var problem string
	if p.typ, problem = r.code(r.types, cell(rec, r.typ)); problem != "" {
		return phone{}, "PhoneType", problem
	}
	if p.source, problem = r.code(r.sources, cell(rec, r.source)); problem != "" {
		return phone{}, "PhoneSource", problem
	}
	switch pref := cell(rec, r.pref); pref {
	case "", "0":
	case "1":
		p.preferred = true
	default:
		switch l := strings.ToLower(pref); l {
		case "false":
		case "true":
			p.preferred = true
		default:
			return phone{}, "PreferredPhone", fmt.Sprintf("PreferredPhone %q must be 0, 1 or true", clip(l))
		}
	}
	p.ext = cell(rec, r.ext)
	if len(p.ext) > 6 && utf8.RuneCountInString(p.ext) > 6 {
		return phone{}, "PhoneExt", fmt.Sprintf("PhoneExt %q is longer than 6 characters", clip(p.ext))
	}
	if p.optIn, problem = r.code(r.optIns, cell(rec, r.opt)); problem != "" {
		return phone{}, "PhoneOptInStatus", problem
	}
	// VAN: phone quality scores are supported in voter file databases
	// only; in My Campaign the column is ignored.
	if r.dbMode == 0 {
		s := cell(rec, r.sonar)
		if s == "" {
			s = "5"
		}
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 || v > 5 {
			return phone{}, "SonarScore", fmt.Sprintf("SonarScore %q must be an integer from 1 to 5", clip(s))
		}
		p.sonar = int16(v)
	}
	return p, "", ""
}

// code resolves a cell of code list l, noting its warning.
func (r *phonesRule) code(l *codeList, cell string) (code, problem string) {
	code, warning, problem := l.resolve(cell)
	if warning != "" {
		r.notes = append(r.notes, rowNote{column: l.column, message: warning})
	}
	return code, problem
}

// The preferred-phone rule across rows. VAN allows one preferred phone per
// contact, and a file may mark several of a person's rows preferred: the
// last such row in the file keeps the mark, and every earlier preferred
// row for another number is loaded as not preferred, with a warning on
// that row (demotedWarning). Rows repeating the keeper's number are
// duplicates, not conflicts (the last row of each number is the one
// loaded). storage's DemotePreferredPhones states the rule, and
// demotePreferred runs it over the staged rows of either path:
// fileload_stage, or the phones direct path's fileload_phones, which holds
// every row of every person listed more than once.

// demotedWarning is the warning on a preferred row that loses the mark to
// line keeper, a later row of the same person for another number. It names
// lines, never numbers.
func demotedWarning(keeper int64) string {
	return fmt.Sprintf("line %d, a later row of this VANID, is marked preferred for another number; a contact has one preferred phone and the last preferred row keeps it, so this row's number is loaded as not preferred", keeper)
}

// demotePreferred applies the preferred-phone rule to the staged rows at
// in tx (storage.DemotePreferredPhones) and warns about each row it
// demotes. args are the parameters at's expressions use.
func (r *phonesRule) demotePreferred(ctx context.Context, tx *storage.Tx, at storage.StagedPhoneRows, warn func(line int64, column, message string), args ...any) error {
	demoted, err := tx.DemotePreferredPhones(ctx, at, args...)
	if err != nil {
		return err
	}
	for _, d := range demoted {
		warn(d.Line, "PreferredPhone", demotedWarning(d.Keeper))
	}
	return nil
}

// settle applies the preferred-phone rule across the file's rows.
func (r *phonesRule) settle(ctx context.Context, tx *storage.Tx, warn func(line int64, column, message string)) error {
	return r.demotePreferred(ctx, tx, storage.PhoneRowsOfStage, warn, r.index)
}

// PhoneStatistics are a phonesFile action's counts (the result row's
// detail, and GET /fileLoadingJobs/{jobId}/stats).
type PhoneStatistics struct {
	TotalRows        int64 `json:"totalRows"`
	ValidRows        int64 `json:"validRows"`
	InvalidRows      int64 `json:"invalidRows"`
	DuplicateRows    int64 `json:"duplicateRows"`
	MatchedRows      int64 `json:"matchedRows"`
	UnmatchedRows    int64 `json:"unmatchedRows"`
	PhonesAdded      int64 `json:"phonesAdded"`
	PhonesUpdated    int64 `json:"phonesUpdated"`
	PreferredSet     int64 `json:"preferredSet"`
	PreferredCleared int64 `json:"preferredCleared"`
}

// apply upserts the action's phones per (person, number) in tx. A person
// whose file rows name a preferred number loses the preferred mark on his
// other phones first, so the database never holds two.
func (r *phonesRule) apply(ctx context.Context, tx *storage.Tx, jobID int64, fl *storage.FileLoad, rowsRead int64, log *slog.Logger) error {
	stx := tx
	if err := stx.LockPhoneLoads(ctx, fl.DBMode); err != nil {
		return err
	}
	u, err := stx.UpsertStagedPhones(ctx, fl.DBMode, r.index)
	if err != nil {
		return err
	}
	st := PhoneStatistics{TotalRows: rowsRead, ValidRows: r.valid, InvalidRows: r.invalid,
		DuplicateRows: r.valid - u.Distinct, MatchedRows: u.Matched, UnmatchedRows: u.Distinct - u.Matched,
		PhonesAdded: u.Added, PhonesUpdated: u.Matched - u.Added, PreferredSet: u.Preferred, PreferredCleared: u.PreferredCleared}
	return r.finish(ctx, tx, jobID, rowsRead, st, log)
}

// finish records the action's result with its statistics.
func (r *phonesRule) finish(ctx context.Context, tx *storage.Tx, jobID, rowsRead int64, st PhoneStatistics, log *slog.Logger) error {
	detail, _ := json.Marshal(map[string]any{"phoneStatistics": st})
	if err := tx.InsertActionResult(ctx, jobID, storage.ActionResult{ActionIndex: r.index, ActionType: ActionPhones,
		RowsRead: rowsRead, RowsValid: r.valid, RowsInvalid: r.invalid, Matched: st.MatchedRows, Unmatched: st.UnmatchedRows, Result: detail}); err != nil {
		return err
	}
	log.Info("action applied", "action", r.index, "rows", r.valid, "matched", st.MatchedRows, "added", st.PhonesAdded)
	return nil
}

// PhoneStatsView is GET /fileLoadingJobs/{jobId}/stats: the job's VAN
// status and, once applied, its phonesFile statistics.
type PhoneStatsView struct {
	JobID      int64            `json:"jobId"`
	Status     string           `json:"status"`
	Statistics *PhoneStatistics `json:"statistics"`
}

// PhoneStats returns keyID's phone-loading job id's statistics. Another
// key's job, or a job without a phonesFile action, is NotFound: VAN keeps
// these statistics for phone loads only.
func PhoneStats(ctx context.Context, store *storage.Store, id, keyID int64) (*PhoneStatsView, error) {
	job, err := store.JobOfKey(ctx, id, keyID)
	if err != nil || job.Kind != Kind {
		return nil, fault.New(fault.NotFound, "file loading job %d not found", id)
	}
	fl, err := store.FileLoad(ctx, id)
	if err != nil {
		return nil, err
	}
	var req Request
	if err := json.Unmarshal(fl.Request, &req); err != nil {
		return nil, err
	}
	idx := -1
	for i, a := range req.Actions {
		if a.ActionType == ActionPhones {
			idx = i
		}
	}
	if idx < 0 {
		return nil, fault.New(fault.NotFound, "file loading job %d is not a phone-loading (phonesFile) job; statistics are kept for phonesFile jobs only", id)
	}
	v := &PhoneStatsView{JobID: id, Status: vanStatus(job.Status)}
	results, err := store.ActionResults(ctx, id)
	if err != nil {
		return nil, err
	}
	for _, r := range results {
		if r.ActionIndex != idx {
			continue
		}
		var d struct {
			PhoneStatistics *PhoneStatistics `json:"phoneStatistics"`
		}
		if err := json.Unmarshal(r.Result, &d); err != nil {
			return nil, err
		}
		v.Statistics = d.PhoneStatistics
	}
	return v, nil
}
