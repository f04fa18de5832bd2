package fileload

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"strconv"
	"time"

	"github.com/turnoutdev/turnout/internal/fault"
	"github.com/turnoutdev/turnout/jobs"
	"github.com/turnoutdev/turnout/storage"
)

// Notifier tells a load's listeners that it ended. body is VAN's
// notification object; Notify must be idempotent per load.
type Notifier interface {
	Notify(ctx context.Context, loadJobID int64, body any) error
}

// Options are a Runner's limits.
type Options struct {
	MaxFileBytes int64 // spooled source size cap (TURNOUT_MAX_FILE_BYTES)
	// Fetch bounds the download of the source in time
	// (TURNOUT_FETCH_IDLE_TIMEOUT, TURNOUT_FETCH_TIMEOUT).
	Fetch    FetchLimits
	Zip      ZipLimits
	CSV      CSVLimits // zero fields take the defaults
	SpoolDir string    // "" = os.TempDir()
	// MaxStoredErrors is how many row errors are kept queryable in
	// PostgreSQL; the error file has them all.
	MaxStoredErrors int
	// ProgressEvery is how many rows pass between progress updates.
	ProgressEvery int64
	// ChunkRows is how many valid rows a direct load (score, phones,
	// AV/EV) matches and stores at a time; SetBytes bounds each of its
	// in-memory id sets
	// (TURNOUT_FILELOAD_CHUNK_ROWS, TURNOUT_FILELOAD_SET_BYTES). The
	// phones, AV/EV and saved-list paths also end a chunk once its rows
	// hold about ChunkBytes in memory, so wide rows do not make chunks
	// large. Zero takes DefaultChunkRows, DefaultChunkBytes and
	// DefaultSetBytes.
	ChunkRows  int
	ChunkBytes int
	SetBytes   int64
}

// Runner is the fileload job handler.
type Runner struct {
	store    *storage.Store
	blobs    storage.Blobs
	fetchers Fetchers
	notifier Notifier
	opts     Options
	log      *slog.Logger
}

// NewRunner returns a Runner. notifier may be nil (no listeners notified).
func NewRunner(store *storage.Store, blobs storage.Blobs, fetchers Fetchers, notifier Notifier, opts Options, log *slog.Logger) *Runner {
	if opts.MaxFileBytes == 0 {
		opts.MaxFileBytes = 2 << 30
	}
	if opts.Zip.MaxUncompressed == 0 {
		opts.Zip.MaxUncompressed = 4 * opts.MaxFileBytes
	}
	if opts.Zip.MaxRatio == 0 {
		// CSV of ids and scores compresses 5-20:1; 200:1 is a bomb.
		opts.Zip.MaxRatio = 200
	}
	if opts.Zip.MaxEntries == 0 {
		opts.Zip.MaxEntries = DefaultMaxZipEntries
	}
	opts.CSV = opts.CSV.orDefaults()
	if opts.MaxStoredErrors == 0 {
		opts.MaxStoredErrors = 1000
	}
	if opts.ProgressEvery == 0 {
		opts.ProgressEvery = 50000
	}
	return &Runner{store: store, blobs: blobs, fetchers: fetchers, notifier: notifier, opts: opts, log: log}
}

// Result is a finished load's job result.
type Result struct {
	RowsRead     int64                  `json:"rowsRead"`
	ErrorCount   int64                  `json:"errorCount"`
	WarningCount int64                  `json:"warningCount"`
	Actions      []storage.ActionResult `json:"actions"`
}

// Run implements jobs.Handler: it runs the load (load), and when the job
// ends for good (success, bad input, or the last attempt) records the
// outcome and notifies the listeners (finish).
func (r *Runner) Run(ctx context.Context, job *storage.Job) (any, error) {
	fl, err := r.store.FileLoad(ctx, job.ID)
	if err != nil {
		return nil, err
	}
	log := r.log.With("job_id", job.ID)
	res, err := r.load(ctx, job, fl, log)
	final := err == nil || fault.Is(err, fault.Invalid) || job.Attempts >= job.MaxAttempts
	if !final {
		return nil, err
	}
	r.finish(context.WithoutCancel(ctx), job.ID, fl, res, err, log)
	if err != nil {
		return nil, err
	}
	return res, nil
}

// load runs one file load, step by step: the request's actions, the
// loader that takes its rows in (chosen once, before anything is read),
// the source fetched to a spool file, the data opened, then one
// transaction that validates every row, loads the valid ones and applies
// every action.
func (r *Runner) load(ctx context.Context, job *storage.Job, fl *storage.FileLoad, log *slog.Logger) (*Result, error) {
	var req Request
	if err := json.Unmarshal(fl.Request, &req); err != nil {
		return nil, fmt.Errorf("decode stored request: %w", err)
	}
	done, err := r.store.ActionResults(ctx, job.ID)
	if err != nil {
		return nil, err
	}
	if len(done) > 0 {
		// Every action committed on an earlier attempt; only the job's own
		// status was lost.
		return &Result{RowsRead: fl.RowsRead, ErrorCount: fl.ErrorCount, WarningCount: fl.WarningCount, Actions: done}, nil
	}
	rules, err := r.rules(ctx, req, fl)
	if err != nil {
		return nil, err
	}
	ld := chooseLoader(loadJob{id: job.ID, fl: fl, rules: rules, store: r.store, opts: r.opts, log: log})
	defer ld.close()

	spool, size, err := r.fetch(ctx, fl, log)
	if err != nil {
		return nil, err
	}
	defer os.Remove(spool.Name())
	defer spool.Close()
	data, err := openData(spool, size, req.File.FileName, r.opts.Zip)
	if err != nil {
		return nil, err
	}
	defer data.Close()

	errFile, err := os.CreateTemp(r.opts.SpoolDir, "turnout-fileload-errors-*")
	if err != nil {
		return nil, fmt.Errorf("create error file: %w", err)
	}
	defer os.Remove(errFile.Name())
	defer errFile.Close()
	st := r.newStager(ctx, job.ID, data, req.File, rules, errFile)
	if err := r.validateAndLoad(ctx, job.ID, rules, ld, st, errFile, log); err != nil {
		return nil, err
	}
	results, err := r.store.ActionResults(ctx, job.ID)
	if err != nil {
		return nil, err
	}
	return &Result{RowsRead: st.rowsRead, ErrorCount: st.errCount, WarningCount: st.warnCount, Actions: results}, nil
}

// rules builds every action's rule.
func (r *Runner) rules(ctx context.Context, req Request, fl *storage.FileLoad) ([]rule, error) {
	var rules []rule
	for i, a := range req.Actions {
		rule, err := r.newRule(ctx, i, a, req.File, fl)
		if err != nil {
			return nil, err
		}
		rules = append(rules, rule)
	}
	return rules, nil
}

// fetch downloads the load's source to a spool file (the caller removes
// it) and returns it with its size.
func (r *Runner) fetch(ctx context.Context, fl *storage.FileLoad, log *slog.Logger) (*os.File, int64, error) {
	u, err := url.Parse(fl.SourceURL)
	if err != nil {
		return nil, 0, fault.New(fault.Invalid, "file.sourceUrl: not a valid URL")
	}
	spool, err := os.CreateTemp(r.opts.SpoolDir, "turnout-fileload-*")
	if err != nil {
		return nil, 0, fmt.Errorf("create spool file: %w", err)
	}
	fail := func(err error) (*os.File, int64, error) {
		spool.Close()
		os.Remove(spool.Name())
		return nil, 0, err
	}
	if err := r.fetchers.fetchTo(ctx, u, spool, r.opts.MaxFileBytes, r.opts.Fetch); err != nil {
		return fail(err)
	}
	size, err := spool.Seek(0, io.SeekCurrent)
	if err != nil {
		return fail(err)
	}
	log.Info("source fetched", "bytes", size)
	if size == 0 {
		return fail(fault.New(fault.Invalid, "file: the file is empty"))
	}
	return spool, size, nil
}

// newStager returns the pass over data: every record read once,
// validated for every action, its row errors and warnings written to
// errFile, progress recorded every Options.ProgressEvery rows.
func (r *Runner) newStager(ctx context.Context, jobID int64, data io.Reader, f File, rules []rule, errFile *os.File) *stager {
	st := &stager{
		rd: newReader(data, f, r.opts.CSV), rules: rules, header: f.HasHeader,
		errW: csv.NewWriter(errFile), maxErrs: r.opts.MaxStoredErrors,
	}
	_ = st.errW.Write([]string{"line", "actionIndex", "column", "message", "severity"})
	st.progress = func(read, failed int64) {
		if r.opts.ProgressEvery > 0 && read%r.opts.ProgressEvery == 0 {
			r.progress(ctx, jobID, 0, read, failed)
		}
	}
	return st
}

// validateAndLoad makes the single pass over the file through st and ld
// and applies every action, in one transaction: a crash anywhere rolls
// all of it back, and the result rows it commits make a later attempt skip
// the load, so a re-run never duplicates or half-applies data. A file
// read but with nothing to load keeps its row errors.
func (r *Runner) validateAndLoad(ctx context.Context, jobID int64, rules []rule, ld loader, st *stager, errFile *os.File, log *slog.Logger) error {
	var errKey *string
	err := r.store.WithTx(ctx, func(tx *storage.Tx) error {
		if err := tx.PlanForBulk(ctx); err != nil {
			return err
		}
		if err := ld.stage(ctx, tx, st); err != nil {
			if st.err != nil {
				return st.err
			}
			return fmt.Errorf("stage rows: %w", err)
		}
		var err error
		if errKey, err = r.checkPass(ctx, jobID, rules, st, errFile, log); err != nil {
			return err
		}
		if err := ld.apply(ctx, tx, st.rowsRead); err != nil {
			return err
		}
		// The row errors and counts commit with the data they describe.
		if err := tx.ReplaceRowErrors(ctx, jobID, st.errs); err != nil {
			return fmt.Errorf("store row errors: %w", err)
		}
		return tx.FinishFileLoad(ctx, jobID, st.rowsRead, st.errCount, st.warnCount, errKey)
	})
	if fault.Is(err, fault.Invalid) && st.sawRecord {
		// The file was read but nothing can be loaded: the row errors
		// explain why, so they are kept although the data is not.
		if serr := r.store.WithTx(ctx, func(tx *storage.Tx) error {
			if err := tx.ReplaceRowErrors(ctx, jobID, st.errs); err != nil {
				return err
			}
			return tx.FinishFileLoad(ctx, jobID, st.rowsRead, st.errCount, st.warnCount, errKey)
		}); serr != nil {
			return fmt.Errorf("store row errors: %w", serr)
		}
	}
	return err
}

// checkPass records the pass's progress and error file, and refuses a
// file with nothing to load: no rows, or no row valid for any action.
func (r *Runner) checkPass(ctx context.Context, jobID int64, rules []rule, st *stager, errFile *os.File, log *slog.Logger) (*string, error) {
	if !st.sawRecord {
		return nil, fault.New(fault.Invalid, "file: the file has no rows")
	}
	r.progress(ctx, jobID, st.rowsRead, st.rowsRead, st.rowsFailed)
	log.Info("rows staged", "rows", st.rowsRead, "errors", st.errCount, "warnings", st.warnCount)
	errKey, err := r.storeErrorFile(ctx, jobID, st, errFile)
	if err != nil {
		return nil, err
	}
	if st.rowsRead == 0 {
		return errKey, fault.New(fault.Invalid, "file: the file has a header but no data rows")
	}
	for _, rule := range rules {
		if valid, _ := rule.counts(); valid > 0 {
			return errKey, nil
		}
	}
	return errKey, fault.New(fault.Invalid, "file: none of the %d rows is valid for any action; first error: %s", st.rowsRead, withoutValues(st.firstError()))
}

// finish records the message of a load that ended for good (res, or
// err) and notifies its listeners. Neither step fails the load: it is
// done, and failing it now would run it again.
func (r *Runner) finish(ctx context.Context, jobID int64, fl *storage.FileLoad, res *Result, err error, log *slog.Logger) {
	status, message := "Successful", "success"
	if err != nil {
		status, message = "Failed", fault.As(err).Message
		if fault.KindOf(err) == fault.Internal {
			message = "the file could not be loaded; retry later or contact the operator"
		}
	} else if res.ErrorCount > 0 || res.WarningCount > 0 {
		message = fmt.Sprintf("success: %d rows read, %d row errors", res.RowsRead, res.ErrorCount)
		if res.WarningCount > 0 {
			message += fmt.Sprintf(", %d warnings", res.WarningCount)
		}
	}
	if uerr := r.store.SetFileLoadMessage(ctx, jobID, message); uerr != nil {
		log.Warn("record load message", "err", uerr)
	}
	if r.notifier == nil {
		return
	}
	body, nerr := r.notification(ctx, jobID, fl, status, message)
	if nerr == nil {
		nerr = r.notifier.Notify(ctx, jobID, body)
	}
	if nerr != nil {
		log.Error("schedule notification", "err", nerr)
	}
}

func (r *Runner) notification(ctx context.Context, jobID int64, fl *storage.FileLoad, status, message string) (map[string]any, error) {
	ups, err := r.store.ScoreUpdatesOfJob(ctx, jobID)
	if err != nil {
		return nil, err
	}
	var notes []map[string]any
	for _, u := range ups {
		notes = append(notes, map[string]any{"scoreUpdateId": u.ID, "scoreId": u.ScoreID, "loadStatus": u.LoadStatus, "updateStatistics": u.Statistics})
	}
	body := map[string]any{"jobId": jobID, "description": fl.Description, "message": message, "status": status}
	if notes != nil {
		body["scoreUpdates"] = notes
	}
	return body, r.savedListNotice(ctx, jobID, body)
}

// storeErrorFile writes the full list of row errors and warnings to the
// blob store and returns its key (nil when there are none).
func (r *Runner) storeErrorFile(ctx context.Context, jobID int64, st *stager, errFile *os.File) (*string, error) {
	if st.errCount == 0 && st.warnCount == 0 {
		return nil, nil
	}
	st.errW.Flush()
	if err := st.errW.Error(); err != nil {
		return nil, fmt.Errorf("write error file: %w", err)
	}
	if _, err := errFile.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	key := "fileload/" + strconv.FormatInt(jobID, 10) + "/errors.csv"
	if err := r.blobs.Put(ctx, key, errFile, "text/csv"); err != nil {
		return nil, fmt.Errorf("store error file: %w", err)
	}
	return &key, nil
}

// progress records the counters without ever waiting long for a pool
// connection: the load holds one for its transaction, and progress is
// worth less than not deadlocking a busy pool.
func (r *Runner) progress(ctx context.Context, jobID, total, done, failed int64) {
	if jobs.Started(ctx) != nil {
		return // the attempt is over: its context says why
	}
	pctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	_ = r.store.SetProgress(pctx, jobID, total, done, failed)
}

// stager is the pgx.CopyFromSource of the single pass: it reads records,
// validates each for every action, yields the staged rows and records the
// row errors.
type stager struct {
	rd        *reader
	rules     []rule
	header    bool
	sawRecord bool

	buf [][]any
	pos int

	rowsRead, rowsFailed int64
	// errs are the first maxErrs row errors and the first maxErrs
	// warnings, in the order found; errW takes every one of them.
	errs                []storage.RowError
	errCount, warnCount int64
	storedWarns         int
	maxErrs             int
	errW                *csv.Writer
	// warners are the rules that are warners, by position in rules.
	warners  []warner
	progress func(read, failed int64)
	err      error
	// route, when set, turns a valid row of an action into the row to
	// COPY (nil: none); unset, rows go to fileload_stage.
	route func(r rule, line int64, row stagedRow) ([]any, error)
}

func (s *stager) addErr(line int64, action *int, column, msg string) {
	s.errCount++
	s.add(storage.RowError{Line: line, ActionIndex: action, Column: column, Message: msg}, len(s.errs)-s.storedWarns < s.maxErrs)
}

// addWarn records a warning: a note about a row that was loaded, though
// not exactly as the file gave it. It is no row error.
func (s *stager) addWarn(line int64, action *int, column, msg string) {
	s.warnCount++
	keep := s.storedWarns < s.maxErrs
	if keep {
		s.storedWarns++
	}
	s.add(storage.RowError{Line: line, ActionIndex: action, Column: column, Message: msg, Warning: true}, keep)
}

func (s *stager) add(e storage.RowError, keep bool) {
	if keep {
		s.errs = append(s.errs, e)
	}
	ai := ""
	if e.ActionIndex != nil {
		ai = strconv.Itoa(*e.ActionIndex)
	}
	severity := "Error"
	if e.Warning {
		severity = "Warning"
	}
	_ = s.errW.Write([]string{strconv.FormatInt(e.Line, 10), ai, e.Column, e.Message, severity})
}

// firstError is the first stored row error (not a warning).
func (s *stager) firstError() storage.RowError {
	for _, e := range s.errs {
		if !e.Warning {
			return e
		}
	}
	return storage.RowError{}
}

func (s *stager) Next() bool {
	if s.pos+1 < len(s.buf) {
		s.pos++
		return true
	}
	s.buf, s.pos = s.buf[:0], 0
	for len(s.buf) == 0 {
		if !s.fill() {
			return false
		}
	}
	return true
}

func (s *stager) Values() ([]any, error) { return s.buf[s.pos], nil }

func (s *stager) Err() error { return s.err }

// asRowError returns err's *rowError, if it is one; the check costs no
// allocation on the path every row takes.
func asRowError(err error) *rowError {
	if err == nil {
		return nil
	}
	var re *rowError
	if errors.As(err, &re) {
		return re
	}
	return nil
}

// fill reads one record; it returns false at the end or on a fatal error.
func (s *stager) fill() bool {
	rec, line, err := s.rd.next(s.header)
	if errors.Is(err, io.EOF) {
		return false
	}
	if re := asRowError(err); re != nil {
		s.sawRecord = true
		if s.header {
			s.err = fault.New(fault.Invalid, "file.hasHeader: the header row cannot be read: %s", re.message)
			return false
		}
		s.rowsRead++
		s.rowsFailed++
		s.addErr(re.line, nil, "", re.message)
		s.progress(s.rowsRead, s.rowsFailed)
		return true
	}
	if err != nil {
		s.err = err
		return false
	}
	s.sawRecord = true
	if s.header {
		s.header = false
		if err := checkHeader(rec, s.rd.file); err != nil {
			s.err = err
			return false
		}
		return true
	}
	s.rowsRead++
	if s.warners == nil {
		s.warners = make([]warner, len(s.rules))
		for i, r := range s.rules {
			s.warners[i], _ = r.(warner)
		}
	}
	bad := false
	for i, r := range s.rules {
		row, col, problem := r.stage(rec)
		if problem != "" {
			bad = true
			idx := r.actionIndex()
			s.addErr(line, &idx, col, problem)
			continue
		}
		if w := s.warners[i]; w != nil {
			for _, n := range w.warnings() {
				idx := r.actionIndex()
				s.addWarn(line, &idx, n.column, n.message)
			}
		}
		if s.route != nil {
			v, err := s.route(r, line, row)
			if err != nil {
				s.err = err
				return false
			}
			if v != nil {
				s.buf = append(s.buf, v)
			}
			continue
		}
		s.buf = append(s.buf, []any{int32(r.actionIndex()), line, row.personText(), row.value, row.stageFields()})
	}
	if bad {
		s.rowsFailed++
	}
	s.progress(s.rowsRead, s.rowsFailed)
	return true
}
