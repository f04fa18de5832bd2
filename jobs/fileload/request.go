package fileload

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/mail"
	"net/netip"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/turnoutdev/turnout/internal/fault"
	"github.com/turnoutdev/turnout/internal/netguard"
	"github.com/turnoutdev/turnout/storage"
)

// Kind is the job kind of a file load.
const Kind = "van.fileload"

// Limits of a request.
const (
	maxColumns   = 500
	maxActions   = 20
	maxListeners = 10
	maxURLLength = 2048
)

// Request is a POST /fileLoadingJobs body, normalised: enum values carry
// VAN's canonical spelling whatever casing the client used.
type Request struct {
	Description string     `json:"description"`
	File        File       `json:"file"`
	Actions     []Action   `json:"actions"`
	Listeners   []Listener `json:"listeners"`
}

// File describes the source file.
type File struct {
	FileName        string   `json:"fileName,omitempty"`
	HasHeader       bool     `json:"hasHeader"`
	HasQuotes       bool     `json:"hasQuotes"`
	SourceURL       string   `json:"sourceUrl"`
	ColumnDelimiter string   `json:"columnDelimiter"`
	Columns         []Column `json:"columns"`
}

// Column is one column of the file, in order.
type Column struct {
	Name string `json:"name"`
}

// Action is one action on the file. Only Score is implemented.
type Action struct {
	ActionType       string            `json:"actionType"`
	PersonIDColumn   string            `json:"personIdColumn,omitempty"`
	PersonIDType     string            `json:"personIdType,omitempty"`
	ScoreColumn      string            `json:"scoreColumn,omitempty"`
	ScoreID          int64             `json:"scoreId,omitempty"`
	ApprovalCriteria *ApprovalCriteria `json:"approvalCriteria,omitempty"`
	// ApprovalNote says why approval criteria that were sent will not
	// auto-approve the update (Turnout's addition; empty when they apply).
	ApprovalNote string `json:"approvalNote,omitempty"`
	SavedListLoad
}

// ApprovalCriteria auto-approves a range score update whose observed
// average is within Average ± Tolerance.
type ApprovalCriteria struct {
	Average   float64 `json:"average"`
	Tolerance float64 `json:"tolerance"`
}

// Listener is notified when the job ends.
type Listener struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

// Canonical enum spellings.
const (
	ActionScore  = "Score"
	IDVANID      = "VANID"
	IDDWID       = "DWID"
	IDStateFile  = "StateFileID"
	ListenURL    = "URL"
	ListenEmail  = "EMAIL"
	DelimCsv     = "Csv"
	DelimTab     = "Tab"
	DelimPipe    = "Pipe"
	otherActions = "AVEVDataFile, LoadSavedListFile and phonesFile"
)

// wire is the request as clients send it: Parsons sends hasHeader as the
// string "True" and ids as numbers or strings, so scalars are decoded
// leniently here and checked in Validate.
type wire struct {
	Description json.RawMessage `json:"description"`
	File        *struct {
		FileName        json.RawMessage `json:"fileName"`
		HasHeader       json.RawMessage `json:"hasHeader"`
		HasQuotes       json.RawMessage `json:"hasQuotes"`
		SourceURL       json.RawMessage `json:"sourceUrl"`
		ColumnDelimiter json.RawMessage `json:"columnDelimiter"`
		Columns         json.RawMessage `json:"columns"`
	} `json:"file"`
	Actions   json.RawMessage `json:"actions"`
	Listeners json.RawMessage `json:"listeners"`
}

type wireAction struct {
	ActionType       json.RawMessage `json:"actionType"`
	PersonIDColumn   json.RawMessage `json:"personIdColumn"`
	PersonIDType     json.RawMessage `json:"personIdType"`
	ScoreColumn      json.RawMessage `json:"scoreColumn"`
	ScoreID          json.RawMessage `json:"scoreId"`
	ApprovalCriteria json.RawMessage `json:"approvalCriteria"`
	wireSavedList
}

// Catalog is what a request is checked against: score definitions, and
// the folders and saved lists the caller may write. *storage.Store is
// one.
type Catalog interface {
	Score(ctx context.Context, id int64) (*storage.Score, error)
	FolderOfKey(ctx context.Context, id, keyID int64) (storage.Folder, bool, error)
	SavedListOfKey(ctx context.Context, id, keyID int64, dbMode int16) (storage.SavedList, bool, error)
	SavedListNamed(ctx context.Context, folderID int64, name string) (int64, error)
}

// Caller is the key a request is validated for.
type Caller struct {
	KeyID          int64
	DBMode         int16
	MayAutoApprove bool
}

// supportedActions names the action types a request may use.
const supportedActions = "Score, AVEVDataFile, LoadSavedListFile, phonesFile"

// bodyProblem says why body is not a JSON object, naming the line and
// column of a syntax error.
func bodyProblem(body []byte, err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		line, col := position(body, se.Offset)
		return fmt.Sprintf("the request body is not valid JSON: %s at line %d, column %d", se.Error(), line, col)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		line, col := position(body, te.Offset)
		return fmt.Sprintf("%s must be a JSON %s, not %s (line %d, column %d)", te.Field, kindOf(te.Type.Kind().String()), te.Value, line, col)
	}
	return "the request body must be a JSON object"
}

func kindOf(k string) string {
	switch k {
	case "struct", "map":
		return "object"
	case "slice":
		return "array"
	}
	return k
}

// position is the 1-based line and column of byte offset off in b (the
// offset a JSON error reports is just past the offending byte).
func position(b []byte, off int64) (line, col int) {
	if off > int64(len(b)) {
		off = int64(len(b))
	}
	line, col = 1, 1
	for _, c := range b[:max(off-1, 0)] {
		if c == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return line, col
}

// problems collects every field problem of a request.
type problems []fault.FieldError

func (p *problems) add(field string, code int, format string, a ...any) {
	*p = append(*p, fault.FieldError{Field: field, Code: code, Message: fmt.Sprintf(format, a...)})
}

// Parse decodes and validates a whole request, reporting every problem at
// once as a fault.Validation error whose fields are VAN property paths
// ("file.sourceUrl", "actions[1].scoreId").
func Parse(ctx context.Context, body []byte, cat Catalog, c Caller, guard *netguard.Guard) (*Request, error) {
	var w wire
	if err := json.Unmarshal(body, &w); err != nil || bytes.Equal(bytes.TrimSpace(body), []byte("null")) {
		return nil, fault.Validation(fault.FieldError{Field: "body", Code: fault.CodeInvalidValue, Message: bodyProblem(body, err)})
	}
	var p problems
	r := &Request{}
	r.Description, _ = str(&p, "description", w.Description, false, 255)

	if w.File == nil {
		p.add("file", fault.CodeRequired, "is required")
	} else {
		f := w.File
		r.File.FileName, _ = str(&p, "file.fileName", f.FileName, false, 255)
		r.File.HasHeader = boolean(&p, "file.hasHeader", f.HasHeader, true)
		r.File.HasQuotes = boolean(&p, "file.hasQuotes", f.HasQuotes, true)
		if d, ok := str(&p, "file.columnDelimiter", f.ColumnDelimiter, false, 10); ok {
			r.File.ColumnDelimiter = DelimCsv
			if d != "" {
				r.File.ColumnDelimiter = oneOf(&p, "file.columnDelimiter", d, DelimCsv, DelimTab, DelimPipe)
			}
		}
		if u, ok := str(&p, "file.sourceUrl", f.SourceURL, true, maxURLLength); ok {
			r.File.SourceURL = u
			checkSourceURL(&p, u, guard)
		}
		checkColumns(&p, f.Columns, &r.File)
	}

	var actions []wireAction
	if len(w.Actions) == 0 || string(w.Actions) == "null" {
		p.add("actions", fault.CodeRequired, "at least one action is required")
	} else if err := json.Unmarshal(w.Actions, &actions); err != nil {
		p.add("actions", fault.CodeInvalidValue, "must be an array of action objects")
	} else if len(actions) == 0 {
		p.add("actions", fault.CodeRequired, "at least one action is required")
	} else if len(actions) > maxActions {
		p.add("actions", fault.CodeOutOfRange, "at most %d actions per job", maxActions)
	}
	seenScore := map[int64]int{}
	for i, wa := range actions {
		a := checkAction(ctx, &p, i, wa, r.File, cat, c)
		if a.ScoreID != 0 {
			if j, dup := seenScore[a.ScoreID]; dup {
				p.add(fmt.Sprintf("actions[%d].scoreId", i), fault.CodeInvalidValue, "score %d is already loaded by actions[%d]; one job loads a score once", a.ScoreID, j)
			}
			seenScore[a.ScoreID] = i
		}
		r.Actions = append(r.Actions, a)
	}
	r.Listeners = checkListeners(&p, w.Listeners)
	if len(p) > 0 {
		return nil, fault.Validation(p...)
	}
	return r, nil
}

func str(p *problems, field string, raw json.RawMessage, required bool, maxLen int) (string, bool) {
	if len(raw) == 0 || string(raw) == "null" {
		if required {
			p.add(field, fault.CodeRequired, "is required")
			return "", false
		}
		return "", true
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		p.add(field, fault.CodeInvalidValue, "must be a string")
		return "", false
	}
	s = strings.TrimSpace(s)
	if required && s == "" {
		p.add(field, fault.CodeRequired, "is required")
		return "", false
	}
	if len(s) > maxLen {
		p.add(field, fault.CodeOutOfRange, "must be at most %d characters", maxLen)
		return "", false
	}
	return s, true
}

// boolean accepts JSON booleans and the strings "true"/"false" in any case
// (Parsons' upload_scores sends "True").
func boolean(p *problems, field string, raw json.RawMessage, def bool) bool {
	if len(raw) == 0 || string(raw) == "null" {
		return def
	}
	var b bool
	if json.Unmarshal(raw, &b) == nil {
		return b
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if v, err := strconv.ParseBool(strings.ToLower(strings.TrimSpace(s))); err == nil {
			return v
		}
	}
	p.add(field, fault.CodeInvalidValue, "must be true or false")
	return def
}

// integer accepts a JSON number or a numeric string.
func integer(p *problems, field string, raw json.RawMessage) (int64, bool) {
	if len(raw) == 0 || string(raw) == "null" {
		p.add(field, fault.CodeRequired, "is required")
		return 0, false
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		s = string(raw)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n <= 0 {
		p.add(field, fault.CodeInvalidValue, "must be a positive integer")
		return 0, false
	}
	return n, true
}

func number(p *problems, field string, raw json.RawMessage) (float64, bool) {
	if len(raw) == 0 || string(raw) == "null" {
		p.add(field, fault.CodeRequired, "is required")
		return 0, false
	}
	var f float64
	if err := json.Unmarshal(raw, &f); err != nil {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			p.add(field, fault.CodeInvalidValue, "must be a number")
			return 0, false
		}
		if f, err = strconv.ParseFloat(strings.TrimSpace(s), 64); err != nil {
			p.add(field, fault.CodeInvalidValue, "must be a number")
			return 0, false
		}
	}
	return f, true
}

// oneOf matches v case-insensitively against the canonical values.
func oneOf(p *problems, field, v string, allowed ...string) string {
	for _, a := range allowed {
		if strings.EqualFold(a, v) {
			return a
		}
	}
	p.add(field, fault.CodeInvalidValue, "%q is not one of %s", v, strings.Join(allowed, ", "))
	return ""
}

func checkSourceURL(p *problems, raw string, guard *netguard.Guard) {
	const field = "file.sourceUrl"
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Opaque != "" {
		p.add(field, fault.CodeInvalidValue, "must be an absolute https, http, sftp or ftp URL")
		return
	}
	switch strings.ToLower(u.Scheme) {
	case "https", "http", "sftp", "ftp":
	default:
		p.add(field, fault.CodeInvalidValue, "scheme %q is not supported; use https, http, sftp or ftp", u.Scheme)
		return
	}
	if strings.ToLower(u.Scheme) == "sftp" && u.User == nil {
		p.add(field, fault.CodeRequired, "an sftp URL needs a user name (sftp://user:password@host/path)")
	}
	if u.Path == "" || u.Path == "/" {
		p.add(field, fault.CodeInvalidValue, "must name a file")
	}
	// A literal address is refused now; host names are checked again, on
	// the resolved address, when the worker connects.
	if a, err := netip.ParseAddr(strings.Trim(u.Hostname(), "[]")); err == nil && guard != nil {
		if err := guard.Check(a); err != nil {
			p.add(field, fault.CodeInvalidValue, "host %s is an internal, loopback, private or metadata address, which file loads may not reach", a)
		}
	}
}

func checkColumns(p *problems, raw json.RawMessage, f *File) {
	if len(raw) == 0 || string(raw) == "null" {
		p.add("file.columns", fault.CodeRequired, "is required: the file's columns, in order, as [{\"name\": ...}]")
		return
	}
	var cols []struct {
		Name json.RawMessage `json:"name"`
	}
	if err := json.Unmarshal(raw, &cols); err != nil {
		p.add("file.columns", fault.CodeInvalidValue, "must be an array of {\"name\": ...} objects")
		return
	}
	if len(cols) == 0 {
		p.add("file.columns", fault.CodeRequired, "at least one column is required")
	}
	if len(cols) > maxColumns {
		p.add("file.columns", fault.CodeOutOfRange, "at most %d columns", maxColumns)
		return
	}
	seen := map[string]int{}
	for i, c := range cols {
		field := fmt.Sprintf("file.columns[%d].name", i)
		name, ok := str(p, field, c.Name, true, 128)
		if !ok {
			continue
		}
		if j, dup := seen[strings.ToLower(name)]; dup {
			p.add(field, fault.CodeInvalidValue, "column %q repeats file.columns[%d]", name, j)
		}
		seen[strings.ToLower(name)] = i
		f.Columns = append(f.Columns, Column{Name: name})
	}
}

// columnIndex finds a column by name; names match case-insensitively, as
// VAN's do for personIdColumn.
func (f File) columnIndex(name string) int {
	for i, c := range f.Columns {
		if strings.EqualFold(c.Name, name) {
			return i
		}
	}
	return -1
}

func (f File) columnNames() string {
	var names []string
	for _, c := range f.Columns {
		names = append(names, c.Name)
	}
	return strings.Join(names, ", ")
}

func checkAction(ctx context.Context, p *problems, i int, wa wireAction, f File, cat Catalog, c Caller) Action {
	at := func(name string) string { return fmt.Sprintf("actions[%d].%s", i, name) }
	var a Action
	typ, ok := str(p, at("actionType"), wa.ActionType, true, 50)
	if !ok {
		return a
	}
	if a, ok := checkOtherAction(ctx, p, i, typ, wa, f, cat, c); ok {
		return a
	}
	if !strings.EqualFold(typ, ActionScore) {
		for _, other := range []string{"AVEVDataFile", "LoadSavedListFile", "phonesFile"} {
			if strings.EqualFold(typ, other) {
				p.add(at("actionType"), fault.CodeInvalidValue, "%s is a VAN action type this server does not support (only Score is)", other)
				return a
			}
		}
		p.add(at("actionType"), fault.CodeInvalidValue, "%q is not an action type; want one of %s", clip(typ), supportedActions)
		return a
	}
	a.ActionType = ActionScore
	a.PersonIDColumn = checkPersonIDColumn(p, at("personIdColumn"), wa.PersonIDColumn, f)
	a.PersonIDType = checkPersonIDType(p, at("personIdType"), wa.PersonIDType, c, IDVANID, IDDWID, IDStateFile)
	if col, ok := str(p, at("scoreColumn"), wa.ScoreColumn, true, 128); ok {
		if j := f.columnIndex(col); j < 0 && len(f.Columns) > 0 {
			p.add(at("scoreColumn"), fault.CodeInvalidValue, "%q is not one of file.columns (%s)", col, f.columnNames())
		} else if j >= 0 {
			col = f.Columns[j].Name
		}
		if strings.EqualFold(col, a.PersonIDColumn) {
			p.add(at("scoreColumn"), fault.CodeInvalidValue, "must differ from personIdColumn")
		}
		a.ScoreColumn = col
	}
	var score *storage.Score
	if id, ok := integer(p, at("scoreId"), wa.ScoreID); ok {
		a.ScoreID = id
		s, err := cat.Score(ctx, id)
		switch {
		case fault.Is(err, fault.NotFound):
			p.add(at("scoreId"), fault.CodeInvalidValue, "score %d does not exist", id)
		case err != nil:
			p.add(at("scoreId"), fault.CodeInvalidValue, "score %d could not be checked; retry", id)
		default:
			score = s
		}
	}
	if len(wa.ApprovalCriteria) > 0 && string(wa.ApprovalCriteria) != "null" {
		a.ApprovalCriteria, a.ApprovalNote = checkCriteria(p, at, wa.ApprovalCriteria, score, c)
	}
	return a
}

// checkPersonIDColumn checks an action's personIdColumn, at field: one
// of the file's columns, matched case-insensitively. It returns the
// column's name as the file spells it ("" when absent or not text).
func checkPersonIDColumn(p *problems, field string, raw json.RawMessage, f File) string {
	col, ok := str(p, field, raw, true, 128)
	if !ok {
		return ""
	}
	if j := f.columnIndex(col); j < 0 && len(f.Columns) > 0 {
		p.add(field, fault.CodeInvalidValue, "%q is not one of file.columns (%s)", col, f.columnNames())
	} else if j >= 0 {
		col = f.Columns[j].Name
	}
	return col
}

// checkPersonIDType checks an action's personIdType, at field: one of
// types, and DWID only in My Voters. It returns the canonical type (""
// when absent or not text).
func checkPersonIDType(p *problems, field string, raw json.RawMessage, c Caller, types ...string) string {
	t, ok := str(p, field, raw, true, 20)
	if !ok {
		return ""
	}
	idType := oneOf(p, field, t, types...)
	// DWIDs exist only in the voter file (My Voters, db mode 0).
	if idType == IDDWID && c.DBMode != 0 {
		p.add(field, fault.CodeInvalidValue, "DWID is only available in My Voters (database mode 0)")
	}
	return idType
}

// checkCriteria applies VAN's rules for Score Approval Criteria. Criteria
// that cannot apply are not an error: auto-approval is only available to
// keys with permission to approve scores, only for range scores, and only
// with an average and a tolerance; without them the scores still load and
// the update waits for approval, and the returned note says why. Values
// that are not numbers, an average outside the score's range and a
// tolerance of 10% of the range or more are errors.
func checkCriteria(p *problems, at func(string) string, raw json.RawMessage, score *storage.Score, c Caller) (*ApprovalCriteria, string) {
	var w struct {
		Average   json.RawMessage `json:"average"`
		Tolerance json.RawMessage `json:"tolerance"`
	}
	if err := json.Unmarshal(raw, &w); err != nil {
		p.add(at("approvalCriteria"), fault.CodeInvalidValue, "must be an object {average, tolerance}")
		return nil, ""
	}
	var missing []string
	for name, v := range map[string]json.RawMessage{"average": w.Average, "tolerance": w.Tolerance} {
		if len(v) == 0 || string(v) == "null" {
			missing = append(missing, name)
		}
	}
	sort.Strings(missing)
	avg, okA := optionalNumber(p, at("approvalCriteria.average"), w.Average)
	tol, okT := optionalNumber(p, at("approvalCriteria.tolerance"), w.Tolerance)
	switch {
	case score == nil:
		return nil, ""
	case !c.MayAutoApprove:
		return nil, notAutoApproved + "this API key may not automatically approve scores"
	case score.Type != storage.ScoreRange:
		return nil, fmt.Sprintf("%sscore %d is a value score; only range scores may be automatically approved", notAutoApproved, score.ID)
	case len(missing) > 0:
		return nil, notAutoApproved + "approvalCriteria has no " + strings.Join(missing, " or ")
	}
	lo, hi := *score.MinValue, *score.MaxValue
	if okA && (avg < lo || avg > hi) {
		p.add(at("approvalCriteria.average"), fault.CodeOutOfRange, "%v is outside score %d's range [%v, %v]", avg, score.ID, lo, hi)
	}
	// VAN: tolerance must be less than 10% of (max - min).
	if okT && (tol < 0 || tol >= 0.1*(hi-lo)) {
		p.add(at("approvalCriteria.tolerance"), fault.CodeOutOfRange, "must be at least 0 and less than 10%% of the score's range (%v)", 0.1*(hi-lo))
	}
	return &ApprovalCriteria{Average: avg, Tolerance: tol}, ""
}

// notAutoApproved starts every note on criteria that were not applied.
const notAutoApproved = "not automatically approved (the update waits for approval): "

// optionalNumber is number for a value that may be absent or null (ok is
// then false, and no problem is added).
func optionalNumber(p *problems, field string, raw json.RawMessage) (float64, bool) {
	if len(raw) == 0 || string(raw) == "null" {
		return 0, false
	}
	return number(p, field, raw)
}

func checkListeners(p *problems, raw json.RawMessage) []Listener {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var ws []struct {
		Type  json.RawMessage `json:"type"`
		Value json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(raw, &ws); err != nil {
		p.add("listeners", fault.CodeInvalidValue, "must be an array of {type, value} objects")
		return nil
	}
	if len(ws) > maxListeners {
		p.add("listeners", fault.CodeOutOfRange, "at most %d listeners", maxListeners)
		return nil
	}
	var out []Listener
	for i, w := range ws {
		field := fmt.Sprintf("listeners[%d]", i)
		t, ok := str(p, field+".type", w.Type, true, 10)
		if !ok {
			continue
		}
		t = oneOf(p, field+".type", t, ListenURL, ListenEmail)
		v, ok := str(p, field+".value", w.Value, false, maxURLLength)
		if !ok {
			continue
		}
		// Parsons sends {"type": "EMAIL", "value": null} when no address is
		// given; such a listener has nobody to notify and is dropped. A URL
		// listener without a URL is a mistake to report.
		if v == "" {
			if t == ListenURL {
				p.add(field+".value", fault.CodeRequired, "is required for a URL listener: the URL to notify")
			}
			continue
		}
		switch t {
		case ListenURL:
			u, err := url.Parse(v)
			if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
				p.add(field+".value", fault.CodeInvalidValue, "must be an absolute https or http URL")
				continue
			}
		case ListenEmail:
			a, err := mail.ParseAddress(v)
			if err != nil || a.Name != "" {
				p.add(field+".value", fault.CodeInvalidEmail, "%q is not an email address", v)
				continue
			}
		default:
			continue
		}
		out = append(out, Listener{Type: t, Value: v})
	}
	return out
}

// Redacted returns r as it may be shown: sourceUrl without its password
// and listener URLs without theirs.
func (r Request) Redacted() Request {
	c := r
	c.File.SourceURL = netguard.RedactURL(r.File.SourceURL)
	c.Listeners = make([]Listener, len(r.Listeners))
	for i, l := range r.Listeners {
		if l.Type == ListenURL {
			l.Value = netguard.RedactURL(l.Value)
		}
		c.Listeners[i] = l
	}
	return c
}
