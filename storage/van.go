package storage

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"gorm.io/gorm"

	"github.com/turnoutdev/turnout/internal/fault"
)

// Score is a VAN score definition. Range scores have MinValue/MaxValue;
// value scores have Values (their allowed shortName values).
type Score struct {
	ID          int64    `json:"scoreId"`
	Name        string   `json:"name"`
	ShortName   string   `json:"shortName"`
	Description *string  `json:"description"`
	Type        string   `json:"-"` // "range" or "value"
	MinValue    *float64 `json:"minValue"`
	MaxValue    *float64 `json:"maxValue"`
	State       string   `json:"state"`
	Origin      string   `json:"origin"`
	Values      []string `json:"-"`
}

// Score types.
const (
	ScoreRange = "range"
	ScoreValue = "value"
)

// NewScore describes a score to create.
type NewScore struct {
	Name, ShortName, Description string
	Min, Max                     *float64
	Values                       []string
}

// CreateScore inserts a score definition.
func (s *Store) CreateScore(ctx context.Context, n NewScore) (*Score, error) {
	var fe []fault.FieldError
	if n.Name == "" {
		fe = append(fe, fault.FieldError{Field: "name", Code: fault.CodeRequired, Message: "is required"})
	}
	isRange := n.Min != nil || n.Max != nil
	switch {
	case isRange && len(n.Values) > 0:
		fe = append(fe, fault.FieldError{Field: "values", Code: fault.CodeInvalidValue, Message: "a score is either a range (--min/--max) or a list of values, not both"})
	case isRange && (n.Min == nil || n.Max == nil):
		fe = append(fe, fault.FieldError{Field: "max", Code: fault.CodeRequired, Message: "a range score needs both --min and --max"})
	case isRange && *n.Min >= *n.Max:
		fe = append(fe, fault.FieldError{Field: "max", Code: fault.CodeOutOfRange, Message: "must be greater than --min"})
	case !isRange && len(n.Values) == 0:
		fe = append(fe, fault.FieldError{Field: "values", Code: fault.CodeRequired, Message: "give --min and --max (range score) or --values (value score)"})
	}
	seen := map[string]bool{}
	for _, v := range n.Values {
		if v == "" || seen[v] {
			fe = append(fe, fault.FieldError{Field: "values", Code: fault.CodeInvalidValue, Message: fmt.Sprintf("value %q is empty or repeated", v)})
		}
		seen[v] = true
	}
	if len(fe) > 0 {
		return nil, fault.Validation(fe...)
	}
	if n.ShortName == "" {
		n.ShortName = n.Name
	}
	typ := ScoreRange
	if !isRange {
		typ = ScoreValue
	}
	var desc *string
	if n.Description != "" {
		desc = &n.Description
	}
	row := scoreRow{Name: n.Name, ShortName: n.ShortName, Description: desc, ScoreType: typ, MinValue: n.Min, MaxValue: n.Max}
	err := s.orm.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Create(&row).Error; err != nil {
			return err
		}
		if len(n.Values) == 0 {
			return nil
		}
		values := make([]scoreValueRow, len(n.Values))
		for i, v := range n.Values {
			values[i] = scoreValueRow{ScoreID: row.ID, ShortName: v}
		}
		return tx.Create(&values).Error
	})
	if err != nil {
		return nil, fmt.Errorf("create score: %w", err)
	}
	return s.Score(ctx, row.ID)
}

// scoreRow and scoreValueRow are the GORM models of a score definition and
// of one of its allowed values.
type scoreRow struct {
	ID          int64
	Name        string
	ShortName   string
	Description *string
	ScoreType   string
	MinValue    *float64
	MaxValue    *float64
}

func (scoreRow) TableName() string { return "van_scores" }

type scoreValueRow struct {
	ScoreID   int64
	ShortName string
}

func (scoreValueRow) TableName() string { return "van_score_values" }

const scoreSelect = `SELECT s.id, s.name, s.short_name, s.description, s.score_type, s.min_value::float8, s.max_value::float8,
	s.state, s.origin, coalesce((SELECT array_agg(v.short_name ORDER BY v.short_name) FROM van_score_values v WHERE v.score_id = s.id), '{}')
	FROM van_scores s`

func scanScore(r pgx.Row) (*Score, error) {
	var sc Score
	err := r.Scan(&sc.ID, &sc.Name, &sc.ShortName, &sc.Description, &sc.Type, &sc.MinValue, &sc.MaxValue, &sc.State, &sc.Origin, &sc.Values)
	return &sc, err
}

// Score returns a score definition by id.
func (ex *executor) Score(ctx context.Context, id int64) (*Score, error) {
	sc, err := scanScore(ex.q.QueryRow(ctx, scoreSelect+` WHERE s.id = $1`, id))
	if err != nil {
		return nil, notFound(err, "score")
	}
	return sc, nil
}

// Scores returns a page of score definitions and the total count.
func (ex *executor) Scores(ctx context.Context, skip, top int) ([]Score, int64, error) {
	var total int64
	if err := ex.q.QueryRow(ctx, `SELECT count(*) FROM van_scores`).Scan(&total); err != nil {
		return nil, 0, err
	}
	rows, err := ex.q.Query(ctx, scoreSelect+` ORDER BY s.id OFFSET $1 LIMIT $2`, skip, top)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	out := []Score{}
	for rows.Next() {
		sc, err := scanScore(rows)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, *sc)
	}
	return out, total, rows.Err()
}

// FileLoad is the VAN-side record of a fileLoadingJobs job.
type FileLoad struct {
	JobID        int64
	KeyID        int64
	DBMode       int16
	Description  string
	Request      json.RawMessage // sourceUrl redacted
	SourceURL    string          // with credentials; never render
	Listeners    json.RawMessage // unredacted; for the notifier only
	RowsRead     int64
	ErrorCount   int64
	WarningCount int64
	ErrorFileKey *string
	Message      *string
	CreatedAt    time.Time
}

// sealedPrefix marks a source URL stored encrypted (base64 of the Ring's
// ciphertext, bound to the job id).
const sealedPrefix = "sealed:"

// InsertFileLoad records a file load beside its job. A source
// URL with credentials (sftp://user:password@...) is stored encrypted when
// the store has a key ring, so a dump or a replica of the database does
// not hold the password.
func (ex *executor) InsertFileLoad(ctx context.Context, f FileLoad) error {
	src, err := ex.sealSource(f.JobID, f.SourceURL)
	if err != nil {
		return err
	}
	_, err = ex.q.Exec(ctx, `INSERT INTO van_file_loads (job_id, key_id, db_mode, description, request, source_url, listeners)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, f.JobID, f.KeyID, f.DBMode, ValidText(f.Description), validJSON(f.Request), src, validJSON(f.Listeners))
	if err != nil {
		return fmt.Errorf("insert file load: %w", err)
	}
	return nil
}

// mustSeal reports whether a source URL is stored encrypted: it carries
// credentials and the store has a key ring.
func (ex *executor) mustSeal(src string) bool {
	u, err := url.Parse(src)
	return err == nil && u.User != nil && (ex.store == nil || ex.store.Secrets.Enabled())
}

// sealSource returns the source URL as stored for job jobID.
func (ex *executor) sealSource(jobID int64, src string) (string, error) {
	if !ex.mustSeal(src) {
		return src, nil
	}
	if ex.store == nil {
		return "", errors.New("seal source URL: a transaction begun outside Store.WithTx has no key ring")
	}
	enc, err := ex.store.Secrets.Encrypt([]byte(src), fileLoadAD(jobID))
	if err != nil {
		return "", fmt.Errorf("seal source URL: %w", err)
	}
	return sealedPrefix + base64.RawStdEncoding.EncodeToString(enc), nil
}

// idsToSeal draws the job ids of ns ahead of their insert when one of them
// has a source URL to seal, whose seal is bound to its job id; otherwise
// it returns nils and the insert draws them.
func (ex *executor) idsToSeal(ctx context.Context, ns []NewJob) ([]*int64, error) {
	ids := make([]*int64, len(ns))
	if !slices.ContainsFunc(ns, func(n NewJob) bool { return n.FileLoad != nil && ex.mustSeal(n.FileLoad.SourceURL) }) {
		return ids, nil
	}
	rows, _ := ex.q.Query(ctx, `SELECT nextval(pg_get_serial_sequence('jobs', 'id')) FROM generate_series(1, $1)`, len(ns))
	drawn, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("draw %d job ids: %w", len(ns), err)
	}
	for i := range ids {
		ids[i] = &drawn[i]
	}
	return ids, nil
}

// fileLoadArrays are the file loads of a batch of new jobs, column by
// column; a job without one has a null key.
type fileLoadArrays struct {
	keys                  []*int64
	modes                 []int16
	descriptions, sources []string
	requests, listeners   [][]byte
}

// fileLoadColumns lays out the file loads of ns for one insert, sealing
// the source URLs that must be (ids are then drawn already).
func (ex *executor) fileLoadColumns(ns []NewJob, ids []*int64) (fileLoadArrays, error) {
	a := fileLoadArrays{
		keys: make([]*int64, len(ns)), modes: make([]int16, len(ns)), descriptions: make([]string, len(ns)),
		sources: make([]string, len(ns)), requests: make([][]byte, len(ns)), listeners: make([][]byte, len(ns)),
	}
	for i, n := range ns {
		f := n.FileLoad
		if f == nil {
			a.requests[i], a.listeners[i] = []byte("{}"), []byte("[]")
			continue
		}
		src := f.SourceURL
		if ids[i] != nil {
			var err error
			if src, err = ex.sealSource(*ids[i], src); err != nil {
				return a, err
			}
		}
		key := f.KeyID
		a.keys[i], a.modes[i], a.descriptions[i], a.sources[i] = &key, f.DBMode, ValidText(f.Description), src
		a.requests[i], a.listeners[i] = validJSON(f.Request), validJSON(f.Listeners)
	}
	return a, nil
}

// FileLoad returns the file load of a job.
func (ex *executor) FileLoad(ctx context.Context, jobID int64) (*FileLoad, error) {
	var f FileLoad
	err := ex.q.QueryRow(ctx, `SELECT job_id, key_id, db_mode, description, request, source_url, listeners, rows_read, error_count,
		warning_count, error_file_key, message, created_at FROM van_file_loads WHERE job_id = $1`, jobID).Scan(
		&f.JobID, &f.KeyID, &f.DBMode, &f.Description, &f.Request, &f.SourceURL, &f.Listeners, &f.RowsRead, &f.ErrorCount,
		&f.WarningCount, &f.ErrorFileKey, &f.Message, &f.CreatedAt)
	if err != nil {
		return nil, notFound(err, "file loading job")
	}
	if sealed, ok := strings.CutPrefix(f.SourceURL, sealedPrefix); ok {
		enc, err := base64.RawStdEncoding.DecodeString(sealed)
		if err != nil {
			return nil, fmt.Errorf("file load %d: sealed source URL: %w", jobID, err)
		}
		if !ex.store.Secrets.Enabled() {
			return nil, fmt.Errorf("file load %d: its source URL is encrypted and TURNOUT_ENCRYPTION_KEY is not set", jobID)
		}
		plain, err := ex.store.Secrets.Decrypt(enc, fileLoadAD(jobID))
		if err != nil {
			return nil, fmt.Errorf("file load %d: open source URL: %w", jobID, err)
		}
		f.SourceURL = string(plain)
	}
	return &f, nil
}

func fileLoadAD(jobID int64) []byte { return []byte("van_file_loads:" + strconv.FormatInt(jobID, 10)) }

// FinishFileLoad records the outcome of a load's pass over its file (in the
// transaction that writes the data, so the counts commit with it).
func (ex *executor) FinishFileLoad(ctx context.Context, jobID, rowsRead, errorCount, warningCount int64, errorFileKey *string) error {
	_, err := ex.q.Exec(ctx, `UPDATE van_file_loads SET rows_read = $2, error_count = $3, warning_count = $4, error_file_key = $5
		WHERE job_id = $1`, jobID, rowsRead, errorCount, warningCount, errorFileKey)
	return err
}

// RowError is one problem with one row of a loaded file: an error (the row,
// or its part for one action, was not loaded) or, when Warning is set, a
// note about a row that was loaded but not exactly as the file gave it.
type RowError struct {
	Line        int64  `json:"line"`
	ActionIndex *int   `json:"actionIndex,omitempty"`
	Column      string `json:"column,omitempty"`
	Message     string `json:"message"`
	Warning     bool   `json:"-"`
}

// ReplaceRowErrors stores the first row errors of a job,
// replacing those of an earlier attempt. Their text is made valid
// (ValidText): it is derived from the file.
func (ex *executor) ReplaceRowErrors(ctx context.Context, jobID int64, errs []RowError) error {
	if _, err := ex.q.Exec(ctx, `DELETE FROM van_file_load_errors WHERE job_id = $1`, jobID); err != nil {
		return err
	}
	_, err := ex.q.CopyFrom(ctx, pgx.Identifier{"van_file_load_errors"},
		[]string{"job_id", "seq", "line", "action_index", "column_name", "message", "warning"},
		pgx.CopyFromSlice(len(errs), func(i int) ([]any, error) {
			e := errs[i]
			var col *string
			if e.Column != "" {
				c := ValidText(e.Column)
				col = &c
			}
			return []any{jobID, i + 1, e.Line, e.ActionIndex, col, ClipText(ValidText(e.Message), MaxErrorText), e.Warning}, nil
		}))
	return err
}

// RowErrors returns the first stored row errors of a job, in file order,
// or its first warnings when warnings is set.
func (ex *executor) RowErrors(ctx context.Context, jobID int64, warnings bool, limit int) ([]RowError, error) {
	rows, err := ex.q.Query(ctx, `SELECT line, action_index, coalesce(column_name, ''), message, warning FROM van_file_load_errors
		WHERE job_id = $1 AND warning = $2 ORDER BY seq LIMIT $3`, jobID, warnings, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []RowError{}
	for rows.Next() {
		var e RowError
		if err := rows.Scan(&e.Line, &e.ActionIndex, &e.Column, &e.Message, &e.Warning); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// ActionResult is the applied outcome of one action of a file load.
type ActionResult struct {
	ActionIndex int             `json:"actionIndex"`
	ActionType  string          `json:"actionType"`
	RowsRead    int64           `json:"rowsRead"`
	RowsValid   int64           `json:"rowsValid"`
	RowsInvalid int64           `json:"rowsInvalid"`
	Matched     int64           `json:"matched"`
	Unmatched   int64           `json:"unmatched"`
	Result      json.RawMessage `json:"result"`
}

// ActionResults returns a load's applied actions in order.
func (ex *executor) ActionResults(ctx context.Context, jobID int64) ([]ActionResult, error) {
	rows, err := ex.q.Query(ctx, `SELECT action_index, action_type, rows_read, rows_valid, rows_invalid, matched, unmatched, result
		FROM van_file_load_actions WHERE job_id = $1 ORDER BY action_index`, jobID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []ActionResult{}
	for rows.Next() {
		var a ActionResult
		if err := rows.Scan(&a.ActionIndex, &a.ActionType, &a.RowsRead, &a.RowsValid, &a.RowsInvalid, &a.Matched, &a.Unmatched, &a.Result); err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// Delivery is one attempt to notify one listener of a file load.
type Delivery struct {
	ID          int64     `json:"-"`
	JobID       int64     `json:"-"`
	LoadJobID   int64     `json:"-"`
	Listener    int       `json:"listener"`
	Kind        string    `json:"type"`
	Target      string    `json:"value"`
	WebhookID   string    `json:"webhookId"`
	Attempt     int       `json:"attempt"`
	StatusCode  *int      `json:"statusCode"`
	OK          bool      `json:"ok"`
	Error       *string   `json:"error"`
	AttemptedAt time.Time `json:"attemptedAt"`
}

// RecordDelivery stores one delivery attempt.
func (ex *executor) RecordDelivery(ctx context.Context, d Delivery) error {
	_, err := ex.q.Exec(ctx, `INSERT INTO van_deliveries (job_id, load_job_id, listener, kind, target, webhook_id, attempt, status_code, ok, error)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`, d.JobID, d.LoadJobID, d.Listener, d.Kind, d.Target, d.WebhookID,
		d.Attempt, d.StatusCode, d.OK, d.Error)
	return err
}

// Deliveries returns every delivery attempt for a file load.
func (ex *executor) Deliveries(ctx context.Context, loadJobID int64) ([]Delivery, error) {
	rows, err := ex.q.Query(ctx, `SELECT id, job_id, load_job_id, listener, kind, target, webhook_id, attempt, status_code, ok, error, attempted_at
		FROM van_deliveries WHERE load_job_id = $1 ORDER BY id`, loadJobID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Delivery{}
	for rows.Next() {
		var d Delivery
		if err := rows.Scan(&d.ID, &d.JobID, &d.LoadJobID, &d.Listener, &d.Kind, &d.Target, &d.WebhookID, &d.Attempt, &d.StatusCode, &d.OK, &d.Error, &d.AttemptedAt); err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// DeliveredOK reports whether a listener of a load was already notified
// (a retried notify job must not send twice).
func (ex *executor) DeliveredOK(ctx context.Context, loadJobID int64, listener int) (bool, error) {
	var ok bool
	err := ex.q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM van_deliveries WHERE load_job_id = $1 AND listener = $2 AND ok)`,
		loadJobID, listener).Scan(&ok)
	return ok, err
}

// ClaimNotify records notifyJobID as the load's notification job unless one
// is recorded already; it reports whether this call won.
func (ex *executor) ClaimNotify(ctx context.Context, loadJobID, notifyJobID int64) (bool, error) {
	tag, err := ex.q.Exec(ctx, `UPDATE van_file_loads SET notify_job_id = $2 WHERE job_id = $1 AND notify_job_id IS NULL`, loadJobID, notifyJobID)
	if err != nil {
		return false, err
	}
	return tag.RowsAffected() == 1, nil
}

// SetFileLoadMessage records the final message of a load (as ErrorText).
func (ex *executor) SetFileLoadMessage(ctx context.Context, jobID int64, message string) error {
	_, err := ex.q.Exec(ctx, `UPDATE van_file_loads SET message = $2 WHERE job_id = $1`, jobID, ErrorText(message))
	return err
}

// PersonColumns are the van_people columns an import may fill, in order.
var PersonColumns = []string{"vanid", "dwid", "statefileid", "first_name", "middle_name", "last_name",
	"date_of_birth", "address", "city", "state", "zip", "email", "phone"}

// ImportPeople COPYs people rows (values in PersonColumns order) into the
// database mode's people in one transaction: a person already there (same
// VANID) is updated, so importing a file twice leaves one copy. Within the
// source the last row of a VANID wins.
func (s *Store) ImportPeople(ctx context.Context, dbMode int16, src pgx.CopyFromSource) (int64, error) {
	var n int64
	err := s.WithTx(ctx, func(tx *Tx) error {
		if _, err := tx.q.Exec(ctx, `CREATE TEMP TABLE people_import ON COMMIT DROP AS SELECT `+joinCols()+` FROM van_people WITH NO DATA`); err != nil {
			return err
		}
		if _, err := tx.q.Exec(ctx, `ALTER TABLE people_import ADD COLUMN line bigserial`); err != nil {
			return err
		}
		if _, err := tx.q.CopyFrom(ctx, pgx.Identifier{"people_import"}, PersonColumns, src); err != nil {
			return err
		}
		set := ""
		for _, c := range PersonColumns[1:] {
			set += ", " + c + " = excluded." + c
		}
		tag, err := tx.q.Exec(ctx, `INSERT INTO van_people (db_mode, `+joinCols()+`)
			SELECT DISTINCT ON (vanid) $1, `+joinCols()+` FROM people_import ORDER BY vanid, line DESC
			ON CONFLICT (db_mode, vanid) DO UPDATE SET `+set[2:], dbMode)
		n = tag.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("import people: %w", err)
	}
	// Fresh statistics, so the first load's join is planned for the real
	// size; and a visibility map, so a load reads the people's ids from
	// the primary key alone (an index-only scan) rather than the table.
	if _, err := s.pool.Exec(ctx, `VACUUM (ANALYZE) van_people`); err != nil {
		return 0, fmt.Errorf("analyze people: %w", err)
	}
	return n, nil
}

func joinCols() string {
	out := ""
	for i, c := range PersonColumns {
		if i > 0 {
			out += ", "
		}
		out += c
	}
	return out
}
