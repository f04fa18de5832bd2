package van

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/turnoutdev/turnout/jobs/fileload"
	"github.com/turnoutdev/turnout/storage"
)

// A file-loading job's JSON is what VAN clients parse: the same field
// names, nulls and omitted fields as always, and none of storage's own
// (delivery and job ids, the warning flag).
func TestFileLoadingJobJSONIsWhatClientsRead(t *testing.T) {
	at := time.Date(2026, 3, 1, 9, 30, 0, 123000000, time.UTC)
	ai, code, msg := 0, 502, "bad gateway"
	full := fileload.JobView{JobID: 5, Status: "Completed", Description: "load", RowsRead: 3, ErrorCount: 1, WarningCount: 1,
		DateCreated: "2026-03-01T09:30:00.000Z",
		Errors:      []storage.RowError{{Line: 2, ActionIndex: &ai, Column: "score", Message: "must be a number"}},
		Warnings:    []storage.RowError{{Line: 3, Message: "phone type defaulted to Home", Warning: true}},
		Deliveries: []storage.Delivery{{ID: 1, JobID: 6, LoadJobID: 5, Listener: 0, Kind: "URL", Target: "https://h.example/x",
			WebhookID: "w1", Attempt: 1, StatusCode: &code, Error: &msg, AttemptedAt: at}},
		ErrorFile: "http://x/v4/fileLoadingJobs/5/errors"}
	cases := []struct {
		name string
		v    fileload.JobView
		want string
	}{
		{"with errors, warnings and deliveries", full,
			`{"jobId":5,"status":"Completed","description":"load","message":null,"file":{"hasHeader":false,"hasQuotes":false,"sourceUrl":"","columnDelimiter":"","columns":null},"actions":null,"listeners":null,"interval":null,"dateCreated":"2026-03-01T09:30:00.000Z","dateStarted":null,"dateFinished":null,"progress":{"rowsTotal":0,"rowsDone":0,"rowsFailed":0},"rowsRead":3,"errorCount":1,"errors":[{"line":2,"actionIndex":0,"column":"score","message":"must be a number"}],"warningCount":1,"warnings":[{"line":3,"message":"phone type defaulted to Home"}],"errorFileUrl":"http://x/v4/fileLoadingJobs/5/errors","deliveries":[{"listener":0,"type":"URL","value":"https://h.example/x","webhookId":"w1","attempt":1,"statusCode":502,"ok":false,"error":"bad gateway","attemptedAt":"2026-03-01T09:30:00.123Z"}]}`},
		{"with none", fileload.JobView{JobID: 6},
			`{"jobId":6,"status":"","description":"","message":null,"file":{"hasHeader":false,"hasQuotes":false,"sourceUrl":"","columnDelimiter":"","columns":null},"actions":null,"listeners":null,"interval":null,"dateCreated":"","dateStarted":null,"dateFinished":null,"progress":{"rowsTotal":0,"rowsDone":0,"rowsFailed":0},"rowsRead":0,"errorCount":0,"errors":null,"warningCount":0,"warnings":null,"deliveries":null}`},
	}
	for _, tc := range cases {
		b, err := json.Marshal(fileLoadingJobOf(&tc.v))
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, b, tc.want)
		}
	}
}
