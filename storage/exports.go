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

// ExportJob is a VAN export job: a saved list's people as a CSV file. Its
// job row (JobStatus) carries the lifecycle.
type ExportJob struct {
	JobID        int64      `db:"job_id"`
	GUID         string     `db:"guid"`
	KeyID        int64      `db:"key_id"`
	SavedListID  int64      `db:"saved_list_id"`
	DBMode       int16      `db:"db_mode"`
	Type         int        `db:"export_type"`
	WebhookURL   *string    `db:"webhook_url"` // unredacted: show only through netguard.RedactURL
	RecordCount  *int64     `db:"record_count"`
	Bytes        *int64     `db:"bytes"`
	BlobKey      *string    `db:"blob_key"`
	CompletedAt  *time.Time `db:"completed_at"`
	ExpiresAt    *time.Time `db:"expires_at"`
	ErrorCode    *string    `db:"error_code"`
	WebhookJobID *int64     `db:"webhook_job_id"`
	CreatedAt    time.Time  `db:"created_at"`
	JobStatus    string     `db:"job_status"`
}

const exportColumns = `e.job_id, e.guid::text AS guid, e.key_id, e.saved_list_id, e.db_mode, e.export_type, e.webhook_url,
	e.record_count, e.bytes, e.blob_key, e.completed_at, e.expires_at, e.error_code, e.webhook_job_id, e.created_at,
	j.status AS job_status`

// InsertExportJob inserts the export row of job e.JobID (in the
// transaction that inserts the job) and sets e.GUID and e.CreatedAt.
func (ex *executor) InsertExportJob(ctx context.Context, e *ExportJob) error {
	err := ex.q.QueryRow(ctx, `INSERT INTO van_export_jobs (job_id, key_id, saved_list_id, db_mode, export_type, webhook_url)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING guid::text, created_at`,
		e.JobID, e.KeyID, e.SavedListID, e.DBMode, e.Type, e.WebhookURL).Scan(&e.GUID, &e.CreatedAt)
	if err != nil {
		return fmt.Errorf("insert export job: %w", err)
	}
	return nil
}

// ExportJob returns an export job with its job's status (in a
// transaction, as that transaction sees it).
func (ex *executor) ExportJob(ctx context.Context, id int64) (*ExportJob, error) {
	rows, _ := ex.q.Query(ctx, `SELECT `+exportColumns+` FROM van_export_jobs e
		JOIN jobs j ON j.id = e.job_id WHERE e.job_id = $1`, id)
	e, err := pgx.CollectExactlyOneRow(rows, pgx.RowToAddrOfStructByName[ExportJob])
	if err != nil {
		return nil, notFound(err, "export job")
	}
	return e, nil
}

// StartExport readies an export for a build. A re-run after a final
// failure (the job retried by hand) forgets the failure and its webhook
// job, so the retry's outcome is notified too. False means the export is
// complete already, or its job was canceled.
func (ex *executor) StartExport(ctx context.Context, id int64) (bool, error) {
	tag, err := ex.q.Exec(ctx, `UPDATE van_export_jobs e SET error_code = NULL,
		webhook_job_id = CASE WHEN e.error_code IS NULL THEN e.webhook_job_id END
		FROM jobs j WHERE e.job_id = $1 AND j.id = e.job_id AND e.completed_at IS NULL AND j.status <> 'canceled'`, id)
	if err != nil {
		return false, fmt.Errorf("start export %d: %w", id, err)
	}
	return tag.RowsAffected() == 1, nil
}

// CompleteExport records an export's stored file; the retention clock
// starts now. False means nothing changed: the export was complete or
// failed already, or its job was canceled meanwhile.
func (ex *executor) CompleteExport(ctx context.Context, id, rows, bytes int64, key string, retention time.Duration) (bool, error) {
	tag, err := ex.q.Exec(ctx, `UPDATE van_export_jobs e SET record_count = $2, bytes = $3, blob_key = $4,
		completed_at = now(), expires_at = now() + $5::interval
		FROM jobs j WHERE e.job_id = $1 AND j.id = e.job_id AND e.completed_at IS NULL AND e.error_code IS NULL
		  AND j.status <> 'canceled'`, id, rows, bytes, key, retention)
	if err != nil {
		return false, fmt.Errorf("complete export %d: %w", id, err)
	}
	return tag.RowsAffected() == 1, nil
}

// FailExport marks an export failed for good with code; false means it
// was complete or failed already.
func (ex *executor) FailExport(ctx context.Context, id int64, code string) (bool, error) {
	tag, err := ex.q.Exec(ctx, `UPDATE van_export_jobs SET error_code = $2
		WHERE job_id = $1 AND completed_at IS NULL AND error_code IS NULL`, id, code)
	if err != nil {
		return false, fmt.Errorf("fail export %d: %w", id, err)
	}
	return tag.RowsAffected() == 1, nil
}

// ClaimExportWebhook records jobID as the export's webhook delivery job
// unless one is recorded already; it reports whether this call won.
func (ex *executor) ClaimExportWebhook(ctx context.Context, id, jobID int64) (bool, error) {
	tag, err := ex.q.Exec(ctx, `UPDATE van_export_jobs SET webhook_job_id = $2
		WHERE job_id = $1 AND webhook_job_id IS NULL AND webhook_url IS NOT NULL`, id, jobID)
	if err != nil {
		return false, fmt.Errorf("claim export %d webhook: %w", id, err)
	}
	return tag.RowsAffected() == 1, nil
}

// ExpiredExport is an export whose file the retention sweep must delete.
type ExpiredExport struct {
	ID      int64
	BlobKey string
}

// ExpiredExports returns up to limit exports past their expiry whose file
// is not yet known to be deleted. Downloads check the expiry themselves,
// so none starts once an export is on this list.
func (ex *executor) ExpiredExports(ctx context.Context, limit int) ([]ExpiredExport, error) {
	rows, _ := ex.q.Query(ctx, `SELECT job_id, blob_key FROM van_export_jobs
		WHERE blob_key IS NOT NULL AND expires_at <= now() ORDER BY expires_at LIMIT $1`, limit)
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (ExpiredExport, error) {
		var e ExpiredExport
		return e, row.Scan(&e.ID, &e.BlobKey)
	})
	if err != nil {
		return nil, fmt.Errorf("list expired exports: %w", err)
	}
	return out, nil
}

// ForgetExportFile records that an expired export's file is deleted.
func (ex *executor) ForgetExportFile(ctx context.Context, id int64) error {
	_, err := ex.q.Exec(ctx, `UPDATE van_export_jobs SET blob_key = NULL WHERE job_id = $1 AND expires_at <= now()`, id)
	return err
}

// SavedListExport selects what CopySavedListCSV writes: the members of a
// list, joined to the people of its database mode.
type SavedListExport struct {
	ListID int64
	DBMode int16
	// Columns is the SQL select list over van_saved_list_members m LEFT
	// JOIN van_people p (p is NULL for a member Turnout holds no row of).
	Columns string
}

// CopySavedListCSV streams a saved list's members as CSV rows (no header),
// ordered by VANID, into w with COPY (SELECT ...) TO STDOUT, from one
// REPEATABLE READ snapshot; count is called with the number of rows before
// the first one is written. PostgreSQL formats the rows and pgx hands them
// to w as they arrive, so memory stays flat whatever the list's size. The
// list id and mode are integers formatted here, never caller text.
func (s *Store) CopySavedListCSV(ctx context.Context, x SavedListExport, count func(n int64) error, w io.Writer) (int64, error) {
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return 0, fmt.Errorf("begin export: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	var n int64
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM van_saved_list_members WHERE list_id = $1`, x.ListID).Scan(&n); err != nil {
		return 0, fmt.Errorf("count saved list members: %w", err)
	}
	if err := count(n); err != nil {
		return 0, err
	}
	list, mode := strconv.FormatInt(x.ListID, 10), strconv.Itoa(int(x.DBMode))
	// The join is on van_people's primary key, so the planner drops it when
	// the select list reads nothing of p.
	tag, err := tx.Conn().PgConn().CopyTo(ctx, w, `COPY (SELECT `+x.Columns+` FROM van_saved_list_members m
		LEFT JOIN van_people p ON p.db_mode = `+mode+` AND p.vanid = m.vanid
		WHERE m.list_id = `+list+` ORDER BY m.vanid) TO STDOUT WITH (FORMAT csv)`)
	if err != nil {
		return 0, fmt.Errorf("copy saved list members: %w", err)
	}
	if tag.RowsAffected() != n {
		return 0, errors.New("copy saved list members: row count changed inside one snapshot")
	}
	return n, nil
}
