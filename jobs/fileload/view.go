package fileload

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/turnoutdev/turnout/internal/fault"
	"github.com/turnoutdev/turnout/storage"
)

// JobView is a file-loading job as GET /fileLoadingJobs/{jobId} shows it:
// the request (credentials redacted), VAN's status, the interval, per-action
// results, the first row errors and the first warnings (rows loaded, but
// not exactly as the file gave them). ErrorFile is set by the API to the
// URL of the file of every row error and warning, when there is one.
type JobView struct {
	JobID        int64              `json:"jobId"`
	Status       string             `json:"status"`
	Description  string             `json:"description"`
	Message      *string            `json:"message"`
	File         File               `json:"file"`
	Actions      []ActionView       `json:"actions"`
	Listeners    []Listener         `json:"listeners"`
	Interval     *string            `json:"interval"`
	DateCreated  string             `json:"dateCreated"`
	DateStarted  *string            `json:"dateStarted"`
	DateFinished *string            `json:"dateFinished"`
	Progress     Progress           `json:"progress"`
	RowsRead     int64              `json:"rowsRead"`
	ErrorCount   int64              `json:"errorCount"`
	Errors       []storage.RowError `json:"errors"`
	WarningCount int64              `json:"warningCount"`
	Warnings     []storage.RowError `json:"warnings"`
	ErrorFile    string             `json:"errorFileUrl,omitempty"`
	Deliveries   []storage.Delivery `json:"deliveries"`
}

// ActionView is one action of the request and, once applied, its results.
type ActionView struct {
	Action
	Results *ActionResults `json:"results"`
}

// ActionResults are an applied action's counts.
type ActionResults struct {
	RowsRead      int64  `json:"rowsRead"`
	RowsValid     int64  `json:"rowsValid"`
	RowsInvalid   int64  `json:"rowsInvalid"`
	Matched       int64  `json:"matchedRows"`
	Unmatched     int64  `json:"unmatchedRows"`
	ScoreUpdateID *int64 `json:"scoreUpdateId,omitempty"`
	LoadStatus    string `json:"loadStatus,omitempty"`
}

// Progress are the live counters of a running job.
type Progress struct {
	RowsTotal  int64 `json:"rowsTotal"`
	RowsDone   int64 `json:"rowsDone"`
	RowsFailed int64 `json:"rowsFailed"`
}

// VAN job statuses. Decision: VAN's documentation does not list them; these
// are the names its clients are known to compare against.
func vanStatus(s string) string {
	switch s {
	case storage.JobQueued:
		return "Pending"
	case storage.JobRunning, storage.JobRetrying:
		return "InProcess"
	case storage.JobSucceeded:
		return "Completed"
	case storage.JobCanceled:
		return "Canceled"
	}
	return "Error"
}

const vanTime = "2006-01-02T15:04:05.000Z"

func ts(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := t.UTC().Format(vanTime)
	return &s
}

// maxShownErrors is how many row errors, and how many warnings, the job
// view carries; the error file has them all.
const maxShownErrors = 100

// View returns keyID's job id as VAN shows it; another key's job is
// NotFound.
func View(ctx context.Context, store *storage.Store, id, keyID int64) (*JobView, error) {
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
	v := &JobView{
		JobID: id, Status: vanStatus(job.Status), Description: fl.Description, File: req.File,
		Listeners: req.Listeners, DateCreated: job.CreatedAt.UTC().Format(vanTime),
		DateStarted: ts(job.StartedAt), DateFinished: ts(job.FinishedAt),
		Progress: Progress{RowsTotal: job.ProgressTotal, RowsDone: job.ProgressDone, RowsFailed: job.ProgressFailed},
		RowsRead: fl.RowsRead, ErrorCount: fl.ErrorCount, WarningCount: fl.WarningCount, Message: fl.Message,
	}
	if v.Listeners == nil {
		v.Listeners = []Listener{}
	}
	if job.Error != nil && v.Message == nil {
		v.Message = job.Error
	}
	if job.StartedAt != nil && job.FinishedAt != nil {
		d := job.FinishedAt.Sub(*job.StartedAt).Round(time.Millisecond).String()
		v.Interval = &d
	}
	results, err := store.ActionResults(ctx, id)
	if err != nil {
		return nil, err
	}
	updates, err := store.ScoreUpdatesOfJob(ctx, id)
	if err != nil {
		return nil, err
	}
	for i, a := range req.Actions {
		av := ActionView{Action: a}
		for _, r := range results {
			if r.ActionIndex == i {
				av.Results = &ActionResults{RowsRead: r.RowsRead, RowsValid: r.RowsValid, RowsInvalid: r.RowsInvalid, Matched: r.Matched, Unmatched: r.Unmatched}
			}
		}
		for _, u := range updates {
			if u.ActionIndex == i && av.Results != nil {
				av.Results.ScoreUpdateID = &u.ID
				av.Results.LoadStatus = u.LoadStatus
			}
		}
		v.Actions = append(v.Actions, av)
	}
	if v.Errors, err = store.RowErrors(ctx, id, false, maxShownErrors); err != nil {
		return nil, err
	}
	if v.Warnings, err = store.RowErrors(ctx, id, true, maxShownErrors); err != nil {
		return nil, err
	}
	if v.Deliveries, err = store.Deliveries(ctx, id); err != nil {
		return nil, err
	}
	if fl.ErrorFileKey != nil {
		v.ErrorFile = *fl.ErrorFileKey
	}
	return v, nil
}

// transitions are the loadStatus changes a client may ask for. Approved is
// applied at once and ends Completed; Completed is final.
var transitions = map[string][]string{
	storage.LoadApproved:        {storage.LoadPendingApproval},
	storage.LoadDisapproved:     {storage.LoadPendingApproval},
	storage.LoadCanceled:        {storage.LoadPendingApproval, storage.LoadDisapproved},
	storage.LoadPendingApproval: {storage.LoadDisapproved},
}

// LoadStatusOf returns the canonical spelling of a score update status
// ("pending approval" and "approved" as Parsons spells them).
func LoadStatusOf(s string) (string, bool) {
	for _, st := range []string{storage.LoadPendingApproval, storage.LoadApproved, storage.LoadDisapproved,
		storage.LoadCanceled, storage.LoadCompleted} {
		if strings.EqualFold(st, strings.ReplaceAll(s, " ", "")) {
			return st, true
		}
	}
	return s, false
}

// ApprovalNote is the note on why the approval criteria of action
// actionIndex of job jobID did not apply ("" when they did or none were
// sent).
func ApprovalNote(ctx context.Context, store *storage.Store, jobID int64, actionIndex int) (string, error) {
	fl, err := store.FileLoad(ctx, jobID)
	if err != nil {
		return "", err
	}
	var req Request
	if err := json.Unmarshal(fl.Request, &req); err != nil {
		return "", err
	}
	if actionIndex < 0 || actionIndex >= len(req.Actions) {
		return "", nil
	}
	return req.Actions[actionIndex].ApprovalNote, nil
}

// SetLoadStatus changes keyID's score update id to status (VAN's PATCH
// /scoreUpdates/{id}).
func SetLoadStatus(ctx context.Context, store *storage.Store, keyID, id int64, status string) error {
	for to, from := range transitions {
		if strings.EqualFold(to, strings.ReplaceAll(status, " ", "")) {
			return store.TransitionScoreUpdate(ctx, id, keyID, from, to)
		}
	}
	return fault.Validation(fault.FieldError{Field: "loadStatus", Code: fault.CodeInvalidValue,
		Message: "must be one of Approved, Disapproved, Canceled or PendingApproval (Completed is set by the server)"})
}
