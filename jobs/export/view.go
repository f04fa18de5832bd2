package export

import (
	"time"

	"github.com/turnoutdev/turnout/internal/netguard"
	"github.com/turnoutdev/turnout/storage"
)

// View is VAN's export job object. The write-only selections VAN takes
// (survey questions, activist codes, custom and district fields) are
// always null: Turnout holds no such data. canvassFileRequestId and
// canvassFileRequestGuid repeat the id and GUID under the older names VAN
// still answers with.
type View struct {
	ExportJobID            int64   `json:"exportJobId"`
	ExportJobGUID          string  `json:"exportJobGuid"`
	SavedListID            int64   `json:"savedListId"`
	WebhookURL             *string `json:"webhookUrl"`
	DownloadURL            *string `json:"downloadUrl"`
	Status                 string  `json:"status"`
	Type                   int     `json:"type"`
	DateExpired            *string `json:"dateExpired"`
	ErrorCode              *string `json:"errorCode"`
	SurveyQuestions        []any   `json:"surveyQuestions"`
	ActivistCodes          []any   `json:"activistCodes"`
	CustomFields           []any   `json:"customFields"`
	DistrictFields         []any   `json:"districtFields"`
	CanvassFileRequestID   int64   `json:"canvassFileRequestId"`
	CanvassFileRequestGUID string  `json:"canvassFileRequestGuid"`
}

// vanTime is how VAN writes dateExpired ("2017-01-04T12:00:00Z").
const vanTime = "2006-01-02T15:04:05Z"

// ViewOf renders e. downloadURL is shown only while the status is
// Completed; "" leaves it null (callers pass "" once the file expired). The webhook URL is shown redacted.
func ViewOf(e *storage.ExportJob, downloadURL string) View {
	v := View{ExportJobID: e.JobID, ExportJobGUID: e.GUID, SavedListID: e.SavedListID, Status: Status(e), Type: e.Type,
		ErrorCode: ErrorCode(e), CanvassFileRequestID: e.JobID, CanvassFileRequestGUID: e.GUID}
	if e.WebhookURL != nil {
		u := netguard.RedactURL(*e.WebhookURL)
		v.WebhookURL = &u
	}
	if v.Status == StatusCompleted && downloadURL != "" {
		v.DownloadURL = &downloadURL
	}
	if e.ExpiresAt != nil {
		d := e.ExpiresAt.UTC().Format(vanTime)
		v.DateExpired = &d
	}
	return v
}

// Downloadable reports whether e's file can be downloaded at now: the
// export is complete and its retention has not passed.
func Downloadable(e *storage.ExportJob, now time.Time) bool {
	return e.CompletedAt != nil && e.BlobKey != nil && e.ExpiresAt != nil && now.Before(*e.ExpiresAt)
}
