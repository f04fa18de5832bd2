package fileload

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/turnoutdev/turnout/internal/fault"
	"github.com/turnoutdev/turnout/storage"
)

// ActionAVEV is VAN's AVEVDataFile action type.
const ActionAVEV = "AVEVDataFile"

// avevKind says how a column's cells are checked.
type avevKind int

const (
	avevDate avevKind = iota
	avevParty
	avevCode // an id of a ballot code list
	avevText // a length-limited string
	avevState
	avevZip
	avevCountry
)

// avevColumn is one column of VAN's AV/EV table.
type avevColumn struct {
	name     string
	kind     avevKind
	required bool
	max      int    // avevText
	list     string // avevCode: the code list
}

// avevColumns are VAN's AV/EV columns after the person id (VanID or
// StateFileID), in VAN's order, which files must keep; avevColumns[k] is
// stored in storage.AVEVColumns[k].
var avevColumns = []avevColumn{
	{name: "RequestReceived", required: true},
	{name: "BallotMailed", required: true},
	{name: "BallotReceived", required: true},
	{name: "EarlyVoted", required: true},
	{name: "BallotParty", kind: avevParty, required: true},
	{name: "BallotCancelled", required: true},
	{name: "ApplicationMailed", required: true},
	{name: "GOTVVoted", required: true},
	{name: "DateApplicationReceived", required: true},
	{name: "BallotReturnStatus", kind: avevCode, list: storage.TargetTypeBallotReturnStatus},
	{name: "BallotType", kind: avevCode, list: storage.TargetTypeBallotType},
	{name: "BallotRequestType", kind: avevCode, list: storage.TargetTypeBallotRequestType},
	{name: "BallotAddress1", kind: avevText, max: 40},
	{name: "BallotAddress2", kind: avevText, max: 40},
	{name: "BallotAddress3", kind: avevText, max: 40},
	{name: "BallotCity", kind: avevText, max: 25},
	{name: "BallotState", kind: avevState},
	{name: "BallotZip9", kind: avevZip},
	{name: "BallotCountry", kind: avevCountry},
	{name: "BallotReissued"},
	{name: "BallotRejectionReason", kind: avevCode, list: storage.TargetTypeBallotRejectionReason},
	{name: "BallotApplicationRequested"},
	{name: "BallotRejected"},
}

// avevIDNames are the accepted spellings of the id columns: VAN's column
// table says VanID, its example VANID; both are accepted.
var avevIDNames = map[string]string{"VanID": IDVANID, "VANID": IDVANID, "StateFileID": IDStateFile}

// avevPosition is a column's place in VAN's order (0 = the id
// column), or -1 when the name (case-sensitive) is not an AV/EV column.
func avevPosition(name string) int {
	if _, ok := avevIDNames[name]; ok {
		return 0
	}
	for i, c := range avevColumns {
		if c.name == name {
			return i + 1
		}
	}
	return -1
}

func avevAllNames() string {
	names := []string{"VanID (or VANID)", "StateFileID"}
	for _, c := range avevColumns {
		names = append(names, c.name)
	}
	return strings.Join(names, ", ")
}

// checkAVEVAction applies VAN's file rules for AVEVDataFile at
// submit time: columns named exactly (case-sensitive), in VAN's
// order, every required one present, exactly one of VanID / StateFileID.
// Every problem is reported.
func checkAVEVAction(p *problems, i int, f File) Action {
	a := Action{ActionType: ActionAVEV}
	if len(f.Columns) == 0 {
		return a
	}
	var ids []string
	last, lastName := -1, ""
	present := map[string]bool{}
	for j, c := range f.Columns {
		field := fmt.Sprintf("file.columns[%d].name", j)
		pos := avevPosition(c.Name)
		if pos < 0 {
			hint := ""
			for _, known := range strings.Split(avevAllNames(), ", ") {
				known = strings.TrimSuffix(known, " (or VANID)")
				if strings.EqualFold(known, c.Name) {
					hint = fmt.Sprintf("; names are case-sensitive: %s", known)
				}
			}
			if hint == "" {
				hint = "; the columns are " + avevAllNames()
			}
			p.add(field, fault.CodeInvalidValue, "%q is not an AVEVDataFile column (actions[%d])%s", c.Name, i, hint)
			continue
		}
		if pos == 0 {
			ids = append(ids, c.Name)
			a.PersonIDColumn, a.PersonIDType = c.Name, avevIDNames[c.Name]
		}
		if pos < last {
			p.add(field, fault.CodeInvalidValue, "%s must come before %s: AVEVDataFile columns keep VAN's order (%s)", c.Name, lastName, avevAllNames())
		} else {
			last, lastName = pos, c.Name
		}
		present[c.Name] = true
	}
	switch {
	case len(ids) == 0:
		p.add("file.columns", fault.CodeRequired, "actions[%d] (AVEVDataFile) needs exactly one of VanID and StateFileID; the file has neither", i)
	case len(ids) > 1:
		p.add("file.columns", fault.CodeInvalidValue, "actions[%d] (AVEVDataFile) needs exactly one of VanID and StateFileID; the file has %s", i, strings.Join(ids, " and "))
	}
	for _, c := range avevColumns {
		if c.required && !present[c.name] {
			p.add("file.columns", fault.CodeRequired, "actions[%d] (AVEVDataFile) needs a %s column (its cells may be blank)", i, c.name)
		}
	}
	return a
}

// avevDateLayouts are the date formats accepted in AV/EV files. Decision:
// VAN's bulk upload accepts US dates (M/D/YYYY, with or without leading
// zeros) and ISO dates (YYYY-MM-DD); nothing else, so 03/04/2024 is never
// read as 3 April.
var avevDateLayouts = []string{"1/2/2006", "2006-01-02"}

var (
	stateRE = regexp.MustCompile(`^[A-Z]{2}$`)
	zipRE   = regexp.MustCompile(`^[0-9]{5}(-?[0-9]{4})?$`)
)

// isoCountries are the ISO 3166-1 alpha-2 codes.
var isoCountries = func() map[string]bool {
	m := map[string]bool{}
	for _, c := range strings.Fields(`AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ
		CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR
		GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP
		KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT
		MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW
		SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG
		UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW`) {
		m[c] = true
	}
	return m
}()

// avevRule validates AVEVDataFile rows and upserts one record per person.
type avevRule struct {
	index   int
	idType  string
	idCol   int
	idName  string
	cols    []int                       // per avevColumns: file column or -1
	lists   map[string]*storage.CodeSet // code list name → codes
	party   *storage.CodeSet
	valid   int64
	invalid int64
}

func newAVEVRule(ctx context.Context, store *storage.Store, i int, a Action, f File) (*avevRule, error) {
	r := &avevRule{index: i, idType: a.PersonIDType, idName: a.PersonIDColumn, lists: map[string]*storage.CodeSet{}}
	r.idCol = -1
	for j, c := range f.Columns {
		if c.Name == a.PersonIDColumn {
			r.idCol = j
		}
	}
	if r.idCol < 0 {
		return nil, fault.New(fault.Invalid, "actions[%d]: AVEVDataFile needs a VanID or StateFileID column", i)
	}
	for _, c := range avevColumns {
		j := -1
		for k, fc := range f.Columns {
			if fc.Name == c.name {
				j = k
			}
		}
		r.cols = append(r.cols, j)
		if c.kind == avevCode && r.lists[c.list] == nil {
			set, err := store.CodeSet(ctx, c.list)
			if err != nil {
				return nil, err
			}
			r.lists[c.list] = set
		}
	}
	var err error
	if r.party, err = store.CodeSet(ctx, storage.TargetTypeParty); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *avevRule) actionIndex() int       { return r.index }
func (r *avevRule) counts() (int64, int64) { return r.valid, r.invalid }

func (r *avevRule) stage(rec []string) (stagedRow, string, string) {
	row, col, problem := r.check(rec)
	tally(&r.valid, &r.invalid, problem)
	return row, col, problem
}

func (r *avevRule) check(rec []string) (stagedRow, string, string) {
	id := cell(rec, r.idCol)
	var person string
	var vanid int64
	switch {
	case id == "":
		return stagedRow{}, r.idName, r.idName + " is blank"
	case r.idType == IDStateFile:
		if utf8.RuneCountInString(id) > 50 {
			return stagedRow{}, r.idName, "StateFileID is longer than 50 characters"
		}
		person = id
	default:
		n, err := strconv.ParseInt(id, 10, 64)
		if err != nil || n <= 0 {
			return stagedRow{}, r.idName, fmt.Sprintf("%s %q is not a positive integer", r.idName, clip(id))
		}
		person, vanid = strconv.FormatInt(n, 10), n
	}
	fields := make([]string, len(avevColumns))
	for k, c := range avevColumns {
		v := cell(rec, r.cols[k])
		if v == "" {
			continue
		}
		switch c.kind {
		case avevDate:
			d, ok := parseAVEVDate(v)
			if !ok {
				return stagedRow{}, c.name, fmt.Sprintf("%s %q is not a date (M/D/YYYY, MM/DD/YYYY or YYYY-MM-DD)", c.name, clip(v))
			}
			v = d
		case avevParty:
			v = strings.ToUpper(v)
			if utf8.RuneCountInString(v) > 2 {
				return stagedRow{}, c.name, fmt.Sprintf("%s %q must be a one- or two-character party code", c.name, clip(v))
			}
			if problem := codeProblem(r.party, c.name, v); problem != "" {
				return stagedRow{}, c.name, problem
			}
		case avevCode:
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return stagedRow{}, c.name, fmt.Sprintf("%s %q is not an integer id", c.name, clip(v))
			}
			v = strconv.Itoa(n)
			if problem := codeProblem(r.lists[c.list], c.name, v); problem != "" {
				return stagedRow{}, c.name, problem
			}
		case avevText:
			if utf8.RuneCountInString(v) > c.max {
				return stagedRow{}, c.name, fmt.Sprintf("%s is longer than %d characters", c.name, c.max)
			}
		case avevState:
			v = strings.ToUpper(v)
			if !stateRE.MatchString(v) {
				return stagedRow{}, c.name, fmt.Sprintf("%s %q is not a two-letter state code", c.name, clip(v))
			}
		case avevZip:
			if !zipRE.MatchString(v) {
				return stagedRow{}, c.name, fmt.Sprintf("%s %q is not a ZIP or ZIP+4 (12345, 12345-6789 or 123456789)", c.name, clip(v))
			}
		case avevCountry:
			v = strings.ToUpper(v)
			if !isoCountries[v] {
				return stagedRow{}, c.name, fmt.Sprintf("%s %q is not an ISO 3166-1 two-letter country code", c.name, clip(v))
			}
		}
		fields[k] = v
	}
	return stagedRow{person: person, id: vanid, fields: fields}, "", ""
}

// parseAVEVDate returns s as YYYY-MM-DD.
func parseAVEVDate(s string) (string, bool) {
	for _, l := range avevDateLayouts {
		if t, err := time.Parse(l, s); err == nil && t.Year() >= 1900 {
			return t.Format("2006-01-02"), true
		}
	}
	return "", false
}

// AVEVStatistics are an AVEVDataFile action's counts.
type AVEVStatistics struct {
	TotalRows     int64 `json:"totalRows"`
	ValidRows     int64 `json:"validRows"`
	InvalidRows   int64 `json:"invalidRows"`
	DuplicateRows int64 `json:"duplicateRows"`
	MatchedRows   int64 `json:"matchedRows"`
	UnmatchedRows int64 `json:"unmatchedRows"`
	Added         int64 `json:"added"`
	Updated       int64 `json:"updated"`
}

// apply upserts one AV/EV record per matched person in tx; the last row
// of a person wins, and it replaces the person's whole record.
func (r *avevRule) apply(ctx context.Context, tx *storage.Tx, jobID int64, fl *storage.FileLoad, rowsRead int64, log *slog.Logger) error {
	stx := tx
	if err := stx.LockAVEVLoads(ctx, fl.DBMode); err != nil {
		return err
	}
	st := AVEVStatistics{TotalRows: rowsRead, ValidRows: r.valid, InvalidRows: r.invalid}
	distinct, err := stx.DistinctStagedPersonIDs(ctx, r.index)
	if err != nil {
		return err
	}
	st.DuplicateRows = r.valid - distinct
	if st.MatchedRows, st.Added, err = stx.UpsertStagedAVEV(ctx, fl.DBMode, r.index, jobID, r.idType); err != nil {
		return err
	}
	st.Updated = st.MatchedRows - st.Added
	st.UnmatchedRows = distinct - st.MatchedRows
	return r.finish(ctx, tx, jobID, rowsRead, st, log)
}

// finish records the action's result with its statistics.
func (r *avevRule) finish(ctx context.Context, tx *storage.Tx, jobID, rowsRead int64, st AVEVStatistics, log *slog.Logger) error {
	detail, _ := json.Marshal(map[string]any{"avevStatistics": st})
	if err := tx.InsertActionResult(ctx, jobID, storage.ActionResult{ActionIndex: r.index, ActionType: ActionAVEV,
		RowsRead: rowsRead, RowsValid: r.valid, RowsInvalid: r.invalid, Matched: st.MatchedRows, Unmatched: st.UnmatchedRows, Result: detail}); err != nil {
		return err
	}
	log.Info("action applied", "action", r.index, "rows", r.valid, "matched", st.MatchedRows, "added", st.Added)
	return nil
}

// codeProblem checks a cell against a code list. A deactivated value
// behaves as an unknown one does: VAN gives the AV/EV code columns no
// default to load instead (unlike the phone code lists), so either is a
// row error, each with its own message.
func codeProblem(set *storage.CodeSet, column, code string) string {
	v, ok := set.Lookup(code)
	switch {
	case !ok:
		return fmt.Sprintf("%s %q is not a value of the %s code list", column, clip(code), set.Type)
	case !v.Active:
		return fmt.Sprintf("%s %q (%s) is deactivated in the %s code list", column, code, v.Name, set.Type)
	}
	return ""
}
