package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
)

// Registrant report statuses (Rocky's: "queued", or other
// current report status). expired is Turnout's: the retention passed.
const (
	ReportQueued   = "queued"
	ReportBuilding = "building"
	ReportComplete = "complete"
	ReportFailed   = "failed"
	ReportExpired  = "expired"
)

// RegistrantReport is one requested CSV of a partner's registrants.
type RegistrantReport struct {
	ID           int64      `db:"id"`
	PartnerID    int64      `db:"partner_id"`
	JobID        *int64     `db:"job_id"`
	ReportType   string     `db:"report_type"`
	Since        *time.Time `db:"filter_since"`
	Before       *time.Time `db:"filter_before"`
	Email        *string    `db:"filter_email"`
	Status       string     `db:"status"`
	RecordCount  int64      `db:"record_count"`
	CurrentIndex int64      `db:"current_index"`
	BlobKey      *string    `db:"blob_key"`
	Bytes        *int64     `db:"bytes"`
	Error        *string    `db:"error"`
	ExpiresAt    *time.Time `db:"expires_at"`
	CompletedAt  *time.Time `db:"completed_at"`
	CreatedAt    time.Time  `db:"created_at"`
	UpdatedAt    time.Time  `db:"updated_at"`
	// JobStatus is the status of the build job (jobs.status), so a build
	// the worker gave up on reads as failed even if the report row could
	// not be updated.
	JobStatus *string `db:"job_status"`
	// KeyID is the key that requested the report; its webhook secret
	// signs the callback.
	KeyID *int64 `db:"key_id"`
	// CallbackURL is the caller's callback_url, unredacted: never show it
	// without netguard.RedactURL.
	CallbackURL   *string `db:"callback_url"`
	CallbackJobID *int64  `db:"callback_job_id"`
	// CallbackDeliveries are the callback's delivery attempts, when loaded.
	CallbackDeliveries []ReportDelivery `db:"-"`
}

const reportColumns = `r.id, r.partner_id, r.job_id, r.report_type, r.filter_since, r.filter_before, r.filter_email,
	r.status, r.record_count, r.current_index, r.blob_key, r.bytes, r.error, r.expires_at, r.completed_at,
	r.created_at, r.updated_at, j.status AS job_status, r.key_id, r.callback_url, r.callback_job_id`

// ReportFilter selects a partner's registrants for a report.
type ReportFilter struct {
	PartnerID int64
	Since     *time.Time // created_at >= Since
	Before    *time.Time // created_at < Before
	Email     string     // email_address equal to this, ignoring case ("" = any)
}

// InsertRegistrantReport inserts r (queued; in a transaction, so the report
// and its build job commit together) and sets r.ID and the timestamps.
func (ex *executor) InsertRegistrantReport(ctx context.Context, r *RegistrantReport) error {
	err := ex.q.QueryRow(ctx, `INSERT INTO registrant_reports
		(partner_id, job_id, report_type, filter_since, filter_before, filter_email, record_count, key_id, callback_url)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id, status, created_at, updated_at`,
		r.PartnerID, r.JobID, r.ReportType, r.Since, r.Before, r.Email, r.RecordCount, r.KeyID, r.CallbackURL).
		Scan(&r.ID, &r.Status, &r.CreatedAt, &r.UpdatedAt)
	if err != nil {
		return fmt.Errorf("insert registrant report: %w", err)
	}
	return nil
}

// SetReportJob links a report to its build job.
func (ex *executor) SetReportJob(ctx context.Context, reportID, jobID int64) error {
	_, err := ex.q.Exec(ctx, `UPDATE registrant_reports SET job_id = $2 WHERE id = $1`, reportID, jobID)
	return err
}

// RegistrantReport returns a report by id with its job's status.
func (ex *executor) RegistrantReport(ctx context.Context, id int64) (*RegistrantReport, error) {
	rows, _ := ex.q.Query(ctx, `SELECT `+reportColumns+` FROM registrant_reports r
		LEFT JOIN jobs j ON j.id = r.job_id WHERE r.id = $1`, id)
	r, err := pgx.CollectExactlyOneRow(rows, pgx.RowToAddrOfStructByName[RegistrantReport])
	if err != nil {
		return nil, notFound(err, "report")
	}
	return r, nil
}

// CountRegistrants counts the registrants f selects.
func (ex *executor) CountRegistrants(ctx context.Context, f ReportFilter) (int64, error) {
	var n int64
	err := ex.q.QueryRow(ctx, `SELECT count(*) FROM rocky_registrants WHERE `+reportWhere,
		f.PartnerID, f.Since, f.Before, f.Email).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count registrants: %w", err)
	}
	return n, nil
}

// reportWhere selects registrants by ReportFilter's fields as $1-$4.
const reportWhere = `partner_id = $1 AND ($2::timestamptz IS NULL OR created_at >= $2)
	AND ($3::timestamptz IS NULL OR created_at < $3) AND ($4 = '' OR lower(email_address) = lower($4))`

// StartReportBuild moves a queued or building report (a re-run after a
// crash) to building with a fresh count; current_index restarts at 0
// because the file is always rebuilt whole. False means the report is no
// longer buildable (complete, failed or expired).
func (ex *executor) StartReportBuild(ctx context.Context, id, count int64) (bool, error) {
	tag, err := ex.q.Exec(ctx, `UPDATE registrant_reports SET status = 'building', record_count = $2,
		current_index = 0, error = NULL, updated_at = now() WHERE id = $1 AND status IN ('queued', 'building')`, id, count)
	if err != nil {
		return false, fmt.Errorf("start report %d: %w", id, err)
	}
	return tag.RowsAffected() == 1, nil
}

// SetReportProgress records how many rows a build has streamed.
func (ex *executor) SetReportProgress(ctx context.Context, id, index int64) error {
	_, err := ex.q.Exec(ctx, `UPDATE registrant_reports SET current_index = $2, updated_at = now()
		WHERE id = $1 AND status = 'building'`, id, index)
	return err
}

// CompleteReport records a stored file; the retention clock starts now.
// False means the report was not building (already complete, failed or
// expired), so nothing changed.
func (ex *executor) CompleteReport(ctx context.Context, id, rows, bytes int64, key string, retention time.Duration) (bool, error) {
	tag, err := ex.q.Exec(ctx, `UPDATE registrant_reports SET status = 'complete', record_count = $2, current_index = $2,
		bytes = $3, blob_key = $4, completed_at = now(), expires_at = now() + $5::interval, updated_at = now()
		WHERE id = $1 AND status = 'building'`, id, rows, bytes, key, retention)
	if err != nil {
		return false, fmt.Errorf("complete report %d: %w", id, err)
	}
	return tag.RowsAffected() == 1, nil
}

// FailReport marks a report failed for good with a caller-safe message;
// false means the report was no longer queued or building, so nothing
// changed.
func (ex *executor) FailReport(ctx context.Context, id int64, msg string) (bool, error) {
	tag, err := ex.q.Exec(ctx, `UPDATE registrant_reports SET status = 'failed', error = $2, updated_at = now()
		WHERE id = $1 AND status IN ('queued', 'building')`, id, msg)
	if err != nil {
		return false, fmt.Errorf("fail report %d: %w", id, err)
	}
	return tag.RowsAffected() == 1, nil
}

// ClaimReportCallback records jobID as the report's callback delivery job
// unless one is recorded already; it reports whether this call won.
func (ex *executor) ClaimReportCallback(ctx context.Context, reportID, jobID int64) (bool, error) {
	tag, err := ex.q.Exec(ctx, `UPDATE registrant_reports SET callback_job_id = $2
		WHERE id = $1 AND callback_job_id IS NULL AND callback_url IS NOT NULL`, reportID, jobID)
	if err != nil {
		return false, fmt.Errorf("claim report %d callback: %w", reportID, err)
	}
	return tag.RowsAffected() == 1, nil
}

// ReportDelivery is one attempt to deliver a report's callback.
type ReportDelivery struct {
	ReportID    int64     `json:"-"`
	JobID       int64     `json:"-"`
	WebhookID   string    `json:"webhook_id"`
	Attempt     int       `json:"attempt"`
	StatusCode  *int      `json:"status_code"`
	OK          bool      `json:"ok"`
	Error       *string   `json:"error"`
	AttemptedAt time.Time `json:"attempted_at"`
}

// RecordReportDelivery stores one callback delivery attempt.
func (ex *executor) RecordReportDelivery(ctx context.Context, d ReportDelivery) error {
	_, err := ex.q.Exec(ctx, `INSERT INTO report_callback_deliveries (report_id, job_id, webhook_id, attempt, status_code, ok, error)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, d.ReportID, d.JobID, d.WebhookID, d.Attempt, d.StatusCode, d.OK, d.Error)
	if err != nil {
		return fmt.Errorf("record report %d callback delivery: %w", d.ReportID, err)
	}
	return nil
}

// ReportDeliveries returns every callback delivery attempt of a report,
// oldest first.
func (ex *executor) ReportDeliveries(ctx context.Context, reportID int64) ([]ReportDelivery, error) {
	rows, _ := ex.q.Query(ctx, `SELECT report_id, job_id, webhook_id, attempt, status_code, ok, error, attempted_at
		FROM report_callback_deliveries WHERE report_id = $1 ORDER BY id`, reportID)
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (ReportDelivery, error) {
		var d ReportDelivery
		return d, row.Scan(&d.ReportID, &d.JobID, &d.WebhookID, &d.Attempt, &d.StatusCode, &d.OK, &d.Error, &d.AttemptedAt)
	})
	if err != nil {
		return nil, fmt.Errorf("list report %d callback deliveries: %w", reportID, err)
	}
	return out, nil
}

// ExpiredReport is a report whose file the retention sweep must delete.
type ExpiredReport struct {
	ID      int64
	BlobKey string
}

// ExpireReports marks up to limit complete reports past their expiry as
// expired (clearing the e-mail filter, which is personal data) and returns
// every expired report whose file is not yet known to be deleted. Marking
// comes first, so a download never serves a file the sweep is deleting.
func (ex *executor) ExpireReports(ctx context.Context, limit int) ([]ExpiredReport, error) {
	if _, err := ex.q.Exec(ctx, `UPDATE registrant_reports SET status = 'expired', filter_email = NULL, updated_at = now()
		WHERE id IN (SELECT id FROM registrant_reports WHERE status = 'complete' AND expires_at <= now()
			ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED)`, limit); err != nil {
		return nil, fmt.Errorf("expire reports: %w", err)
	}
	rows, _ := ex.q.Query(ctx, `SELECT id, blob_key FROM registrant_reports
		WHERE status = 'expired' AND blob_key IS NOT NULL ORDER BY id LIMIT $1`, limit)
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (ExpiredReport, error) {
		var e ExpiredReport
		return e, row.Scan(&e.ID, &e.BlobKey)
	})
	if err != nil {
		return nil, fmt.Errorf("list expired reports: %w", err)
	}
	return out, nil
}

// ForgetReportFile records that an expired report's file is deleted.
func (ex *executor) ForgetReportFile(ctx context.Context, id int64) error {
	_, err := ex.q.Exec(ctx, `UPDATE registrant_reports SET blob_key = NULL, updated_at = now()
		WHERE id = $1 AND status = 'expired'`, id)
	return err
}

// CopyRegistrantsCSV streams the registrants f selects as CSV rows (no
// header) into w with COPY (SELECT columns ...) TO STDOUT, ordered by id,
// from one REPEATABLE READ snapshot: count (called before the first row)
// gets the number of rows the copy will write. The server formats the
// rows and pgx hands them to w as they arrive, so memory stays flat
// whatever the size. COPY takes no bind parameters: the filter travels in
// transaction-local settings (set_config), never spliced into the SQL.
// timeZone is the session time zone for formatting timestamps.
func (s *Store) CopyRegistrantsCSV(ctx context.Context, f ReportFilter, columns, timeZone string,
	count func(n int64) error, w io.Writer) (int64, error) {
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return 0, fmt.Errorf("begin report: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	ts := func(t *time.Time) string {
		if t == nil {
			return ""
		}
		return t.UTC().Format(time.RFC3339Nano)
	}
	if _, err := tx.Exec(ctx, `SELECT set_config('TimeZone', $1, true), set_config('turnout.r_partner', $2, true),
		set_config('turnout.r_since', $3, true), set_config('turnout.r_before', $4, true),
		set_config('turnout.r_email', $5, true)`,
		timeZone, strconv.FormatInt(f.PartnerID, 10), ts(f.Since), ts(f.Before), f.Email); err != nil {
		return 0, fmt.Errorf("report settings: %w", err)
	}
	var n int64
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM rocky_registrants WHERE `+reportWhere,
		f.PartnerID, f.Since, f.Before, f.Email).Scan(&n); err != nil {
		return 0, fmt.Errorf("count registrants: %w", err)
	}
	if err := count(n); err != nil {
		return 0, err
	}
	// nullif before the cast: an unset bound must not be cast at all.
	where := `partner_id = current_setting('turnout.r_partner')::bigint
		AND created_at >= coalesce(nullif(current_setting('turnout.r_since'), '')::timestamptz, '-infinity')
		AND created_at < coalesce(nullif(current_setting('turnout.r_before'), '')::timestamptz, 'infinity')
		AND (current_setting('turnout.r_email') = '' OR lower(email_address) = lower(current_setting('turnout.r_email')))`
	tag, err := tx.Conn().PgConn().CopyTo(ctx, w,
		`COPY (SELECT `+columns+` FROM rocky_registrants r WHERE `+where+` ORDER BY id) TO STDOUT WITH (FORMAT csv)`)
	if err != nil {
		return 0, fmt.Errorf("copy registrants: %w", err)
	}
	if tag.RowsAffected() != n {
		return 0, errors.New("copy registrants: row count changed inside one snapshot")
	}
	return n, nil
}
