// Package report builds Rocky v4 registrant reports: CSV
// files of a partner's registrants, requested through the API and built by
// a job on queue reports.
//
// Guarantees:
//   - A build streams: PostgreSQL formats the rows (COPY ... TO STDOUT WITH
//     CSV), they flow through an io.Pipe into the blob store, and no more
//     than a buffer of them is ever in memory, whatever the report's size.
//   - A build is all or nothing and can run again: the file is written with
//     storage.Blobs.Put, which replaces the object atomically and discards
//     it if the copy fails, so a build killed half way leaves no partial
//     file, and the retry starts over (current_index back to 0) and writes
//     a fresh, complete one.
//   - current_index advances while the rows stream (every ProgressEvery
//     rows), so status polls see progress.
//   - Cells that a spreadsheet would run as a formula (text starting with
//     =, +, -, @, TAB or CR) get a leading single quote, the OWASP advice
//     for CSV injection: the value stays readable and is shown, not run.
//   - The report never contains the registrant's ID number (Rocky's CSV has
//     no such column either; Turnout's is encrypted).
//   - Files expire after the retention; Sweep deletes them and marks the
//     reports expired, and a download after expiry is refused.
package report

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/turnoutdev/turnout/internal/fault"
	"github.com/turnoutdev/turnout/internal/netguard"
	"github.com/turnoutdev/turnout/jobs"
	"github.com/turnoutdev/turnout/storage"
)

// Kind is the job kind of a report build (queue reports).
const Kind = "rocky.report"

// DefaultRetention is how long a complete report stays downloadable.
const DefaultRetention = 7 * 24 * time.Hour

type jobParams struct {
	ReportID int64 `json:"report_id"`
}

// Request is a report request as the API received it.
type Request struct {
	PartnerID  int64
	Since      string
	Before     string
	Email      string
	ReportType string
	// KeyID is the requesting key (its webhook secret signs the callback).
	KeyID int64
	// CallbackURL is the optional callback_url extension.
	CallbackURL string
}

// Service creates reports and answers for them; it is what the API calls.
type Service struct {
	Store    *storage.Store
	Blobs    storage.Blobs
	Enqueuer *jobs.Enqueuer
	// Guard refuses callback URLs naming internal addresses (nil: a guard
	// with no allow-listed networks).
	Guard *netguard.Guard
	Now   func() time.Time
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// ParseTime reads since and before as Rocky does: a date, or a date and
// time to the minute or second ("2026-01-31 05:06", "2026-01-31T05:06:07"),
// optionally with an offset ("+02:00", "-0500", "Z") or a zone
// abbreviation after a space ("UTC", or a US zone such as "EST", which
// Ruby's Time.parse knows). A time without a zone is UTC.
func ParseTime(field, s string) (*time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	loc := time.UTC
	// Zones by name only from the table: Go would read any other
	// abbreviation as a zone of offset 0, silently shifting the bound.
	if i := strings.LastIndexByte(s, ' '); i > 0 {
		if off, ok := zoneOffsets[strings.ToUpper(s[i+1:])]; ok {
			s, loc = s[:i], time.FixedZone(strings.ToUpper(s[i+1:]), off*3600)
		}
	}
	for _, layout := range []string{"2006-01-02 15:04:05 -0700", "2006-01-02 15:04:05Z07:00", time.RFC3339Nano,
		"2006-01-02T15:04Z07:00", "2006-01-02 15:04Z07:00", "2006-01-02T15:04:05", "2006-01-02 15:04:05",
		"2006-01-02T15:04", "2006-01-02 15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			if loc != time.UTC && t.Location() != loc {
				continue // an offset and a zone name both: ambiguous
			}
			t = t.UTC()
			return &t, nil
		}
	}
	return nil, fault.Validation(fault.FieldError{Field: field, Code: fault.CodeInvalidValue,
		Message: "Must be a UTC datetime such as 2026-01-31 00:00:00 UTC (or 2026-01-31T00:00:00Z, or 2026-01-31)"})
}

// zoneOffsets are the zone abbreviations since and before may end with,
// in hours east of UTC.
var zoneOffsets = map[string]int{"UTC": 0, "GMT": 0, "EST": -5, "EDT": -4, "CST": -6, "CDT": -5, "MST": -7,
	"MDT": -6, "PST": -8, "PDT": -7, "AKST": -9, "AKDT": -8, "HST": -10}

// CheckType accepts the report types Turnout builds and refuses the others
// by name, listing what is supported.
func CheckType(t string) error {
	const supported = `supported report types are "" (blank: the registrants report) and "extended"`
	switch t {
	case TypeStandard, TypeExtended:
		return nil
	}
	if what, ok := unsupportedTypes[t]; ok {
		return fault.Validation(fault.FieldError{Field: "report_type", Code: fault.CodeInvalidValue,
			Message: fmt.Sprintf("report_type %q (%s) is not available: Turnout holds no data for it; %s", t, what, supported)})
	}
	return fault.Validation(fault.FieldError{Field: "report_type", Code: fault.CodeInvalidValue,
		Message: fmt.Sprintf("report_type %q is unknown; %s", t, supported)})
}

// Create validates a request, then commits the report (queued) and its
// build job in one transaction and enqueues the job. record_count is the
// count at request time; the build recounts from its own snapshot.
func (s *Service) Create(ctx context.Context, in Request) (*storage.RegistrantReport, error) {
	if err := CheckType(in.ReportType); err != nil {
		return nil, err
	}
	since, err := ParseTime("since", in.Since)
	if err != nil {
		return nil, err
	}
	before, err := ParseTime("before", in.Before)
	if err != nil {
		return nil, err
	}
	if since != nil && before != nil && !before.After(*since) {
		return nil, fault.Validation(fault.FieldError{Field: "before", Code: fault.CodeInvalidValue,
			Message: "Must be later than since"})
	}
	email := strings.TrimSpace(in.Email)
	if len(email) > 254 || (email != "" && !strings.Contains(email, "@")) {
		return nil, fault.Validation(fault.FieldError{Field: "email", Code: fault.CodeInvalidValue,
			Message: "Must be an e-mail address (name at domain)"})
	}
	callback := strings.TrimSpace(in.CallbackURL)
	if callback != "" {
		if err := CheckCallbackURL(callback, s.Guard); err != nil {
			return nil, err
		}
	}
	n, err := s.Store.CountRegistrants(ctx, storage.ReportFilter{PartnerID: in.PartnerID, Since: since, Before: before, Email: email})
	if err != nil {
		return nil, err
	}
	r := &storage.RegistrantReport{PartnerID: in.PartnerID, ReportType: in.ReportType, Since: since, Before: before,
		RecordCount: n}
	if email != "" {
		r.Email = &email
	}
	if in.KeyID != 0 {
		r.KeyID = &in.KeyID
	}
	if callback != "" {
		r.CallbackURL = &callback
	}
	var job *storage.Job
	err = s.Store.WithTx(ctx, func(tx *storage.Tx) error {
		if err := tx.InsertRegistrantReport(ctx, r); err != nil {
			return err
		}
		var err error
		// A build is cheap to redo and bad input never reaches it, so a few
		// attempts cover a worker dying or PostgreSQL blinking.
		job, err = tx.InsertJob(ctx, storage.NewJob{Kind: Kind, Queue: jobs.QueueReports,
			Params: jobParams{ReportID: r.ID}, MaxAttempts: 5})
		if err != nil {
			return err
		}
		r.JobID = &job.ID
		return tx.SetReportJob(ctx, r.ID, job.ID)
	})
	if err != nil {
		return nil, err
	}
	s.Enqueuer.EnqueueOrLog(ctx, job)
	return r, nil
}

// errNoReport is what a partner learns about a report that is not theirs
// or does not exist: the same answer as a bad key ("Invalid Partner or API
// key"), as Rocky answers, so report ids reveal nothing.
var errNoReport = fault.New(fault.Unauthorized, "Invalid Partner or API key")

// Get returns the partner's report with its live status.
func (s *Service) Get(ctx context.Context, partnerID, id int64) (*storage.RegistrantReport, error) {
	r, err := s.Store.RegistrantReport(ctx, id)
	if fault.Is(err, fault.NotFound) || (err == nil && r.PartnerID != partnerID) {
		return nil, errNoReport
	}
	if err != nil {
		return nil, err
	}
	r.Status = Status(r, s.now())
	if r.CallbackURL != nil {
		if r.CallbackDeliveries, err = s.Store.ReportDeliveries(ctx, r.ID); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// Status is the status a client sees: a build the worker gave up on is
// failed even if the report row still says building, and a complete report
// past its expiry is expired before the sweep gets to it.
func Status(r *storage.RegistrantReport, now time.Time) string {
	switch {
	case (r.Status == storage.ReportQueued || r.Status == storage.ReportBuilding) &&
		r.JobStatus != nil && (*r.JobStatus == storage.JobFailed || *r.JobStatus == storage.JobCanceled):
		return storage.ReportFailed
	case r.Status == storage.ReportComplete && r.ExpiresAt != nil && !now.Before(*r.ExpiresAt):
		return storage.ReportExpired
	}
	return r.Status
}

// Open returns a complete report's CSV. A report that is not complete is a
// Conflict (poll status_url until download_url is set); an expired one is
// an Expired error.
func (s *Service) Open(ctx context.Context, partnerID, id int64) (io.ReadCloser, *storage.RegistrantReport, error) {
	r, err := s.Get(ctx, partnerID, id)
	if err != nil {
		return nil, nil, err
	}
	switch r.Status {
	case storage.ReportComplete:
	case storage.ReportExpired:
		return nil, r, &ExpiredError{ReportID: r.ID, ExpiredAt: *r.ExpiresAt}
	case storage.ReportFailed:
		return nil, r, fault.New(fault.Conflict, "report %d failed; request a new one", r.ID)
	default:
		return nil, r, fault.New(fault.Conflict, "report %d is not complete yet (status %s, %d of %d rows): poll its status_url until download_url is set",
			r.ID, r.Status, r.CurrentIndex, r.RecordCount)
	}
	rc, err := s.Blobs.Open(ctx, *r.BlobKey)
	if fault.Is(err, fault.NotFound) {
		// The sweep deleted it between our read and now.
		return nil, r, &ExpiredError{ReportID: r.ID, ExpiredAt: *r.ExpiresAt}
	}
	if err != nil {
		return nil, r, err
	}
	return rc, r, nil
}

// ExpiredError is a download of a report whose retention has passed.
type ExpiredError struct {
	ReportID  int64
	ExpiredAt time.Time
}

func (e *ExpiredError) Error() string {
	return fmt.Sprintf("report %d expired at %s and its file was deleted; request a new report",
		e.ReportID, e.ExpiredAt.UTC().Format(time.RFC3339))
}

// BlobKey is where a report's CSV is stored.
func BlobKey(id int64) string { return "rocky/reports/" + strconv.FormatInt(id, 10) + ".csv" }

// Builder runs report builds and the retention sweep.
type Builder struct {
	Store *storage.Store
	// Replica, when set, serves the registrant rows a report copies: a
	// long read kept off the primary. The report's own row (its state,
	// its progress) is always read and written on Store, so a build never
	// reads its own writes from a replica that may lag.
	Replica *storage.Store
	Blobs   storage.Blobs
	// Retention is how long a complete report stays downloadable.
	Retention time.Duration
	// ProgressEvery is how many rows pass between current_index updates
	// (default 10,000: a few updates a second at full speed).
	ProgressEvery int64
	// PublicURL is the API's public base URL, for the status_url and
	// download_url of callbacks.
	PublicURL *url.URL
	// Enqueuer enqueues callback jobs after their commit.
	Enqueuer *jobs.Enqueuer
	Log      *slog.Logger
	// onProgress, for tests, sees every progress update.
	onProgress func(rows int64)
}

// rows is where registrant rows are read from.
func (b *Builder) rows() *storage.Store {
	if b.Replica != nil {
		return b.Replica
	}
	return b.Store
}

// Handlers returns the job kind → handler map for the worker.
func (b *Builder) Handlers() map[string]jobs.Handler {
	// The Builder itself, not a HandlerFunc of Run: it is also the
	// jobs.Abandoner the reconciler looks for.
	return map[string]jobs.Handler{Kind: b}
}

// Run builds the report of job. It is idempotent: a report already
// complete is left alone, and any other re-run rebuilds the whole file.
func (b *Builder) Run(ctx context.Context, job *storage.Job) (any, error) {
	var p jobParams
	if err := json.Unmarshal(job.Params, &p); err != nil || p.ReportID <= 0 {
		return nil, fault.New(fault.Invalid, "job %d: bad params", job.ID)
	}
	r, err := b.Store.RegistrantReport(ctx, p.ReportID)
	if fault.Is(err, fault.NotFound) {
		return nil, fault.New(fault.Invalid, "report %d no longer exists", p.ReportID)
	}
	if err != nil {
		return nil, err
	}
	if r.Status != storage.ReportQueued && r.Status != storage.ReportBuilding {
		return map[string]any{"report_id": r.ID, "status": r.Status}, nil
	}
	rows, size, err := b.build(ctx, job.ID, r)
	if err != nil {
		// Failed for good: bad input, or the worker's last attempt. The
		// report says so (and its callback is scheduled) in one transaction.
		invalid := fault.Is(err, fault.Invalid)
		if invalid || (job.MaxAttempts > 0 && job.Attempts >= job.MaxAttempts) {
			msg := buildFailed
			if invalid {
				msg = fault.As(err).Message
			}
			wctx := context.WithoutCancel(ctx)
			if ferr := b.settle(wctx, r, storage.ReportFailed, r.RecordCount, func(tx *storage.Tx) (bool, error) {
				return tx.FailReport(wctx, r.ID, msg)
			}); ferr != nil {
				b.Log.Error("mark report failed", "job_id", job.ID, "report_id", r.ID, "err", ferr)
			}
		}
		return nil, err
	}
	b.Log.Info("report built", "job_id", job.ID, "report_id", r.ID, "rows", rows, "bytes", size)
	return map[string]any{"report_id": r.ID, "rows": rows, "bytes": size}, nil
}

// buildFailed is a failed build's message to the partner; the cause is in
// the worker's log.
const buildFailed = "the report could not be built; request a new one"

// Abandon marks the report of a job the worker died on during its last
// attempt failed, and schedules its callback, as Run does when the last
// attempt returns an error.
func (b *Builder) Abandon(ctx context.Context, job *storage.Job, _ string) error {
	var p jobParams
	if err := json.Unmarshal(job.Params, &p); err != nil || p.ReportID <= 0 {
		return fmt.Errorf("job %d: bad params", job.ID)
	}
	r, err := b.Store.RegistrantReport(ctx, p.ReportID)
	if err != nil {
		return err
	}
	if r.Status != storage.ReportQueued && r.Status != storage.ReportBuilding {
		return nil
	}
	return b.settle(ctx, r, storage.ReportFailed, r.RecordCount, func(tx *storage.Tx) (bool, error) {
		return tx.FailReport(ctx, r.ID, buildFailed)
	})
}

func (b *Builder) retention() time.Duration {
	if b.Retention <= 0 {
		return DefaultRetention
	}
	return b.Retention
}

// build streams the CSV into the blob store and marks the report complete.
// The job's own progress counters follow current_index, so the native
// job API and the dashboard show the build too.
func (b *Builder) build(ctx context.Context, jobID int64, r *storage.RegistrantReport) (rows, size int64, err error) {
	var total int64
	f := storage.ReportFilter{PartnerID: r.PartnerID, Since: r.Since, Before: r.Before}
	if r.Email != nil {
		f.Email = *r.Email
	}
	key := BlobKey(r.ID)
	n, size, err := Stream(ctx, b.Blobs, CSVFile{Key: key, Header: Header(r.ReportType), Every: b.ProgressEvery,
		Copy: func(cctx context.Context, w io.Writer) (int64, error) {
			return b.rows().CopyRegistrantsCSV(cctx, f, SelectList(r.ReportType), TimeZone, func(n int64) error {
				total = n
				ok, err := b.Store.StartReportBuild(ctx, r.ID, n)
				if err == nil && !ok {
					err = fault.New(fault.Invalid, "report %d is no longer buildable", r.ID)
				}
				return err
			}, w)
		},
		Progress: func(n int64) error {
			if b.onProgress != nil {
				b.onProgress(n)
			}
			if err := jobs.Started(ctx); err != nil {
				return err
			}
			if err := b.Store.SetReportProgress(ctx, r.ID, n); err != nil {
				return err
			}
			return b.Store.SetProgress(ctx, jobID, total, n, 0)
		},
	})
	if err != nil {
		return 0, 0, fmt.Errorf("build report %d: %w", r.ID, err)
	}
	if err := b.settle(ctx, r, storage.ReportComplete, n, func(tx *storage.Tx) (bool, error) {
		return tx.CompleteReport(ctx, r.ID, n, size, key, b.retention())
	}); err != nil {
		return 0, 0, fmt.Errorf("complete report %d: %w", r.ID, err)
	}
	if err := jobs.Started(ctx); err != nil {
		return 0, 0, err
	}
	if err := b.Store.SetProgress(ctx, jobID, n, n, 0); err != nil {
		return 0, 0, err
	}
	return n, size, nil
}

// Sweep deletes the files of reports past their retention and marks them
// expired. It is safe to run from several workers at once and after a
// crash: a report stays on the work list until its file is gone.
func (b *Builder) Sweep(ctx context.Context) (int, error) {
	done := 0
	for {
		list, err := b.Store.ExpireReports(ctx, 100)
		if err != nil {
			return done, err
		}
		if len(list) == 0 {
			return done, nil
		}
		for _, e := range list {
			if err := b.Blobs.Delete(ctx, e.BlobKey); err != nil {
				return done, fmt.Errorf("delete report %d: %w", e.ID, err)
			}
			if err := b.Store.ForgetReportFile(ctx, e.ID); err != nil {
				return done, err
			}
			done++
		}
	}
}

// SweepEvery runs Sweep every interval until ctx is done.
func (b *Builder) SweepEvery(ctx context.Context, interval time.Duration) {
	jobs.SweepEvery(ctx, b.Log, interval, "reports", b.Sweep)
}

// SweepInterval is how often a worker sweeps for a given retention: often
// enough that files outlive their retention by little, never busier than
// once a second nor lazier than every ten minutes.
func SweepInterval(retention time.Duration) time.Duration {
	return min(max(retention/10, time.Second), 10*time.Minute)
}
