package export

import (
	"testing"
	"time"

	"github.com/turnoutdev/turnout/storage"
)

// TestStatusFollowsTheJobRow: VAN's status and errorCode come from the
// export's own record first and its job row (the common job machinery:
// queued, running, retried, cancelled) otherwise.
func TestStatusFollowsTheJobRow(t *testing.T) {
	now := time.Now()
	code := func(s string) *string { return &s }
	for _, tc := range []struct {
		name      string
		e         storage.ExportJob
		status    string
		errorCode string
	}{
		{"waiting for a worker", storage.ExportJob{JobStatus: storage.JobQueued}, StatusRequested, ""},
		{"running", storage.ExportJob{JobStatus: storage.JobRunning}, StatusPending, ""},
		{"between attempts", storage.ExportJob{JobStatus: storage.JobRetrying}, StatusPending, ""},
		{"file stored, job row not yet written", storage.ExportJob{JobStatus: storage.JobRunning, CompletedAt: &now}, StatusCompleted, ""},
		{"succeeded", storage.ExportJob{JobStatus: storage.JobSucceeded, CompletedAt: &now}, StatusCompleted, ""},
		{"failed for good", storage.ExportJob{JobStatus: storage.JobFailed, ErrorCode: code(ErrorFailed)}, StatusError, ErrorFailed},
		{"failed, settled before the job row", storage.ExportJob{JobStatus: storage.JobRunning, ErrorCode: code(ErrorFailed)}, StatusError, ErrorFailed},
		{"job failed without the export settled", storage.ExportJob{JobStatus: storage.JobFailed}, StatusError, ErrorFailed},
		{"cancelled", storage.ExportJob{JobStatus: storage.JobCanceled}, StatusError, ErrorCanceled},
		{"retried after a failure", storage.ExportJob{JobStatus: storage.JobQueued, ErrorCode: code(ErrorFailed)}, StatusRequested, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, gotCode := Status(&tc.e), ErrorCode(&tc.e)
			if got != tc.status || (gotCode == nil) != (tc.errorCode == "") || (gotCode != nil && *gotCode != tc.errorCode) {
				t.Fatalf("status %q errorCode %v; want %q %q", got, gotCode, tc.status, tc.errorCode)
			}
		})
	}
}
