package rocky

import (
	"encoding/json"
	"net/url"
	"testing"
	"time"

	"github.com/turnoutdev/turnout/storage"
)

// A report's status shows its callback deliveries with the fields report
// callers read: none of storage's own ids, a null status_code for a
// receiver that could not be reached, and [] before the first attempt.
func TestReportStatusShowsCallbackDeliveries(t *testing.T) {
	at := time.Date(2026, 3, 1, 9, 30, 0, 123456000, time.UTC)
	code, msg := 500, "receiver answered 500"
	pub, _ := url.Parse("https://turnout.example")
	h := &Reports{PublicURL: pub}
	cb := "https://user:secret@hooks.example/report"
	cases := []struct {
		deliveries []storage.ReportDelivery
		want       string
	}{
		{nil, `[]`},
		{[]storage.ReportDelivery{
			{ReportID: 1, JobID: 2, WebhookID: "wh", Attempt: 1, StatusCode: &code, Error: &msg, AttemptedAt: at},
			{ReportID: 1, JobID: 3, WebhookID: "wh", Attempt: 2, AttemptedAt: at},
		}, `[{"webhook_id":"wh","attempt":1,"status_code":500,"ok":false,"error":"receiver answered 500","attempted_at":"2026-03-01T09:30:00.123456Z"},` +
			`{"webhook_id":"wh","attempt":2,"status_code":null,"ok":false,"error":null,"attempted_at":"2026-03-01T09:30:00.123456Z"}]`},
	}
	for _, tc := range cases {
		body := h.statusBody(&storage.RegistrantReport{ID: 17, Status: storage.ReportComplete, CallbackURL: &cb,
			CallbackDeliveries: tc.deliveries})
		b, _ := json.Marshal(body["callback_deliveries"])
		if string(b) != tc.want {
			t.Errorf("callback_deliveries = %s, want %s", b, tc.want)
		}
	}
}
