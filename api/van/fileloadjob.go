package van

import (
	"time"

	"github.com/turnoutdev/turnout/jobs/fileload"
	"github.com/turnoutdev/turnout/storage"
)

// FileLoadingJob is GET /v4/fileLoadingJobs/{jobId}'s answer: VAN's job
// object, with Turnout's progress, row errors, warnings, error file and
// listener deliveries beside it.
type FileLoadingJob struct {
	JobID        int64                 `json:"jobId"`
	Status       string                `json:"status"`
	Description  string                `json:"description"`
	Message      *string               `json:"message"`
	File         fileload.File         `json:"file"`
	Actions      []fileload.ActionView `json:"actions"`
	Listeners    []fileload.Listener   `json:"listeners"`
	Interval     *string               `json:"interval"`
	DateCreated  string                `json:"dateCreated"`
	DateStarted  *string               `json:"dateStarted"`
	DateFinished *string               `json:"dateFinished"`
	Progress     fileload.Progress     `json:"progress"`
	RowsRead     int64                 `json:"rowsRead"`
	ErrorCount   int64                 `json:"errorCount"`
	Errors       []RowError            `json:"errors"`
	WarningCount int64                 `json:"warningCount"`
	Warnings     []RowError            `json:"warnings"`
	ErrorFile    string                `json:"errorFileUrl,omitempty"`
	Deliveries   []Delivery            `json:"deliveries"`
}

// RowError is a problem with one row of the file: its line, the action
// (absent for the whole row) and column concerned, and what was wrong.
type RowError struct {
	Line        int64  `json:"line"`
	ActionIndex *int   `json:"actionIndex,omitempty"`
	Column      string `json:"column,omitempty"`
	Message     string `json:"message"`
}

// Delivery is one attempt to notify one of the job's listeners: which one
// (its index, type and value), the webhook id (the same on every retry),
// the status it answered (null when unreachable) and the error, if any.
type Delivery struct {
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

func fileLoadingJobOf(v *fileload.JobView) FileLoadingJob {
	return FileLoadingJob{JobID: v.JobID, Status: v.Status, Description: v.Description, Message: v.Message, File: v.File,
		Actions: v.Actions, Listeners: v.Listeners, Interval: v.Interval, DateCreated: v.DateCreated,
		DateStarted: v.DateStarted, DateFinished: v.DateFinished, Progress: v.Progress, RowsRead: v.RowsRead,
		ErrorCount: v.ErrorCount, Errors: rowErrorsOf(v.Errors), WarningCount: v.WarningCount,
		Warnings: rowErrorsOf(v.Warnings), ErrorFile: v.ErrorFile, Deliveries: deliveriesOf(v.Deliveries)}
}

func rowErrorsOf(es []storage.RowError) []RowError {
	if es == nil {
		return nil
	}
	out := make([]RowError, len(es))
	for i, e := range es {
		out[i] = RowError{Line: e.Line, ActionIndex: e.ActionIndex, Column: e.Column, Message: e.Message}
	}
	return out
}

func deliveriesOf(ds []storage.Delivery) []Delivery {
	if ds == nil {
		return nil
	}
	out := make([]Delivery, len(ds))
	for i, d := range ds {
		out[i] = Delivery{Listener: d.Listener, Kind: d.Kind, Target: d.Target, WebhookID: d.WebhookID, Attempt: d.Attempt,
			StatusCode: d.StatusCode, OK: d.OK, Error: d.Error, AttemptedAt: d.AttemptedAt}
	}
	return out
}
