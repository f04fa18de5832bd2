package native

import (
	"encoding/json"
	"time"

	"github.com/turnoutdev/turnout/storage"
)

// Job is a job as the surface shows it: its kind, queue, status, progress
// and outcome. The owning key and the parameters are not shown.
type Job struct {
	ID             int64           `json:"id"`
	Kind           string          `json:"kind"`
	Queue          string          `json:"queue"`
	Status         string          `json:"status"`
	Result         json.RawMessage `json:"result,omitempty"`
	ProgressTotal  int64           `json:"progressTotal"`
	ProgressDone   int64           `json:"progressDone"`
	ProgressFailed int64           `json:"progressFailed"`
	Error          *string         `json:"error"`
	Attempts       int             `json:"attempts"`
	MaxAttempts    int             `json:"maxAttempts"`
	CreatedAt      time.Time       `json:"createdAt"`
	UpdatedAt      time.Time       `json:"updatedAt"`
	StartedAt      *time.Time      `json:"startedAt"`
	FinishedAt     *time.Time      `json:"finishedAt"`
	CanceledBy     *string         `json:"canceledBy,omitempty"`
	CanceledAt     *time.Time      `json:"canceledAt,omitempty"`
}

// JobListing is a job as lists, GET /service/jobs/{id} and the event
// streams show it: the job and its owning key's name (null for none).
type JobListing struct {
	Job
	KeyName *string `json:"keyName"`
}

// JobEvent is one entry of a job's history: an attempt or an operator's
// action.
type JobEvent struct {
	At      time.Time `json:"at"`
	Action  string    `json:"action"`
	Actor   string    `json:"actor,omitempty"`
	Attempt int       `json:"attempt"`
	Detail  *string   `json:"detail,omitempty"`
}

func jobOf(j *storage.Job) Job {
	return Job{ID: j.ID, Kind: j.Kind, Queue: j.Queue, Status: j.Status, Result: j.Result,
		ProgressTotal: j.ProgressTotal, ProgressDone: j.ProgressDone, ProgressFailed: j.ProgressFailed,
		Error: j.Error, Attempts: j.Attempts, MaxAttempts: j.MaxAttempts, CreatedAt: j.CreatedAt, UpdatedAt: j.UpdatedAt,
		StartedAt: j.StartedAt, FinishedAt: j.FinishedAt, CanceledBy: j.CanceledBy, CanceledAt: j.CanceledAt}
}

func jobsOf(js []*storage.Job) []Job {
	if js == nil {
		return nil
	}
	out := make([]Job, len(js))
	for i, j := range js {
		out[i] = jobOf(j)
	}
	return out
}

func jobListingOf(j *storage.JobListing) JobListing {
	return JobListing{Job: jobOf(&j.Job), KeyName: j.KeyName}
}

func jobListingsOf(js []storage.JobListing) []JobListing {
	out := make([]JobListing, len(js))
	for i := range js {
		out[i] = jobListingOf(&js[i])
	}
	return out
}

func jobEventsOf(es []storage.JobEvent) []JobEvent {
	if es == nil {
		return nil
	}
	out := make([]JobEvent, len(es))
	for i, e := range es {
		out[i] = JobEvent{At: e.At, Action: e.Action, Actor: e.Actor, Attempt: e.Attempt, Detail: e.Detail}
	}
	return out
}
