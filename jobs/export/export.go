// Package export builds VAN export jobs: a saved list's people written as
// a CSV file to the blob store by a job on queue reports, downloadable
// from an unguessable URL until the retention passes.
//
// Guarantees:
//   - An export job is a Turnout job like any other: its row in jobs is
//     its lifecycle (listed, cancelled and retried with every other job),
//     and its van_export_jobs row says what VAN's export job object shows.
//   - A build streams (COPY ... TO STDOUT into the blob store through a
//     pipe, see report.Stream): memory stays flat whatever the list's size,
//     and a build that fails leaves no partial file.
//   - Cells a spreadsheet would run as a formula get a leading single quote.
//   - The download URL carries an HMAC-SHA256, keyed by the owning key's
//     webhook secret, of the job's id and random GUID: it cannot be guessed
//     or derived from another job's, it needs no credentials (clients fetch
//     it as a plain URL), it stops working when the key is revoked or the
//     file expires, and a request that presents another key's credentials
//     is answered 404.
//   - When the export completes or fails for good, a webhookUrl gets one
//     signed message (Standard Webhooks, the key's secret), inserted in the
//     transaction that settles the export and retried with backoff. It
//     never carries the download URL: a receiver reads it with GET
//     /v4/exportJobs/{id}.
package export

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/turnoutdev/turnout/internal/fault"
	"github.com/turnoutdev/turnout/internal/netguard"
	"github.com/turnoutdev/turnout/jobs"
	"github.com/turnoutdev/turnout/jobs/report"
	"github.com/turnoutdev/turnout/storage"
)

// Kind is the job kind of an export build (queue reports).
const Kind = "van.export"

// VAN's export job statuses.
const (
	StatusRequested = "Requested"
	StatusPending   = "Pending"
	StatusCompleted = "Completed"
	StatusError     = "Error"
)

// Error codes of failed exports.
const (
	ErrorFailed   = "ExportFailed"
	ErrorCanceled = "Canceled"
)

// jobParams name the export in job listings; the export's row holds the rest.
type jobParams struct {
	SavedListID int64 `json:"savedListId"`
	Type        int   `json:"type"`
}

// Request is an export job request as the API received it.
type Request struct {
	KeyID       int64
	DBMode      int16
	SavedListID int64
	Type        int
	WebhookURL  string
}

// Service creates export jobs and answers for them; the API calls it.
type Service struct {
	Store    *storage.Store
	Blobs    storage.Blobs
	Enqueuer *jobs.Enqueuer
	// Guard refuses webhook URLs naming internal addresses (nil: a guard
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

// Create validates a request, commits the export job (its job row and its
// export row in one transaction) and enqueues it.
func (s *Service) Create(ctx context.Context, in Request) (*storage.ExportJob, error) {
	if _, err := TypeOf(in.Type); err != nil {
		return nil, err
	}
	webhook := strings.TrimSpace(in.WebhookURL)
	if webhook != "" {
		if err := report.CheckWebhookURL("webhookUrl", webhook, s.Guard); err != nil {
			return nil, err
		}
	}
	// VAN: the saved list must be one the key can see with GET /savedLists.
	if _, ok, err := s.Store.SavedListOfKey(ctx, in.SavedListID, in.KeyID, in.DBMode); err != nil {
		return nil, err
	} else if !ok {
		return nil, fault.Validation(fault.FieldError{Field: "savedListId", Code: fault.CodeInvalidValue,
			Message: "saved list " + strconv.FormatInt(in.SavedListID, 10) + " is not available to this API key (see GET /v4/savedLists)"})
	}
	e := &storage.ExportJob{KeyID: in.KeyID, SavedListID: in.SavedListID, DBMode: in.DBMode, Type: in.Type}
	if webhook != "" {
		e.WebhookURL = &webhook
	}
	var job *storage.Job
	err := s.Store.WithTx(ctx, func(tx *storage.Tx) error {
		var err error
		// A build is cheap to redo and bad input never reaches it, so a few
		// attempts cover a worker dying or PostgreSQL blinking.
		job, err = tx.InsertJob(ctx, storage.NewJob{Kind: Kind, Queue: jobs.QueueReports, KeyID: &in.KeyID,
			Params: jobParams{SavedListID: in.SavedListID, Type: in.Type}, MaxAttempts: 5})
		if err != nil {
			return err
		}
		e.JobID = job.ID
		return tx.InsertExportJob(ctx, e)
	})
	if err != nil {
		return nil, err
	}
	e.JobStatus = job.Status
	s.Enqueuer.EnqueueOrLog(ctx, job)
	return e, nil
}

// Get returns the key's export job; another key's is not found, exactly
// like a missing one.
func (s *Service) Get(ctx context.Context, keyID, id int64) (*storage.ExportJob, error) {
	e, err := s.Store.ExportJob(ctx, id)
	if fault.Is(err, fault.NotFound) || (err == nil && e.KeyID != keyID) {
		return nil, fault.New(fault.NotFound, "export job %d not found", id)
	}
	return e, err
}

// Wait polls the key's export job until it is Completed or Error, or ctx
// ends. A job still running when ctx ends is not an error: the caller
// answers with its status.
func (s *Service) Wait(ctx context.Context, keyID, id int64) error {
	t := time.NewTicker(25 * time.Millisecond)
	defer t.Stop()
	for {
		e, err := s.Get(ctx, keyID, id)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if st := Status(e); st == StatusCompleted || st == StatusError {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Status is VAN's status of an export: Requested while its job waits for
// a worker (also after a retry), Pending while it runs, Completed once the
// file is stored, and Error when it failed or was cancelled.
func Status(e *storage.ExportJob) string {
	switch {
	case e.CompletedAt != nil:
		return StatusCompleted
	case e.JobStatus == storage.JobQueued:
		return StatusRequested
	case e.ErrorCode != nil:
		return StatusError
	case e.JobStatus == storage.JobRunning || e.JobStatus == storage.JobRetrying:
		return StatusPending
	}
	return StatusError
}

// ErrorCode is VAN's errorCode: nil unless the status is Error.
func ErrorCode(e *storage.ExportJob) *string {
	if Status(e) != StatusError {
		return nil
	}
	code := ErrorFailed
	switch {
	case e.ErrorCode != nil:
		code = *e.ErrorCode
	case e.JobStatus == storage.JobCanceled:
		code = ErrorCanceled
	}
	return &code
}

// DownloadToken is the secret part of a completed export's download URL,
// derived from its owner key's webhook secret.
func DownloadToken(owner *storage.APIKey, e *storage.ExportJob) string {
	m := hmac.New(sha256.New, []byte(owner.WebhookSecret))
	_, _ = io.WriteString(m, "turnout/van-export-download/v1:"+strconv.FormatInt(e.JobID, 10)+":"+e.GUID)
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// DownloadPath is the path of a completed export's file.
func DownloadPath(owner *storage.APIKey, e *storage.ExportJob) string {
	return "/v4/exportJobs/" + strconv.FormatInt(e.JobID, 10) + "/download/" + DownloadToken(owner, e) + ".csv"
}

// Open returns export id's file for a download with token. caller is the
// key whose credentials the request presented, or nil. Every refusal is
// the same NotFound (a wrong token, another key, a revoked owner, a file
// not ready), except an expired file, which says so.
func (s *Service) Open(ctx context.Context, id int64, token string, caller *storage.APIKey) (io.ReadCloser, *storage.ExportJob, error) {
	notFound := fault.New(fault.NotFound, "export file not found")
	e, err := s.Store.ExportJob(ctx, id)
	if fault.Is(err, fault.NotFound) {
		return nil, nil, notFound
	}
	if err != nil {
		return nil, nil, err
	}
	if caller != nil && caller.ID != e.KeyID {
		return nil, nil, notFound
	}
	owner, err := s.Store.Key(ctx, e.KeyID)
	if err != nil {
		return nil, nil, err
	}
	want := DownloadToken(owner, e)
	if owner.RevokedAt != nil || !hmac.Equal([]byte(token), []byte(want)) || e.CompletedAt == nil {
		return nil, nil, notFound
	}
	if !Downloadable(e, s.now()) {
		return nil, nil, fault.New(fault.NotFound, "export job %d's file has expired and was deleted; create a new export job", e.JobID)
	}
	rc, err := s.Blobs.Open(ctx, *e.BlobKey)
	if err != nil {
		return nil, nil, err
	}
	return rc, e, nil
}
