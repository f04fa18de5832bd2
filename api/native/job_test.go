package native

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/turnoutdev/turnout/storage"
)

// The JSON of a job is a contract with clients (the Go client, scripts,
// the event streams' ids): the same field names, order, nulls and omitted
// fields as the surface has always sent, whatever storage's models become.
// Fields only storage knows (the owning key's id, the parameters, the
// heartbeat) are never shown.
func TestJobJSONIsWhatClientsRead(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 9, 30, 0, 123456000, time.UTC)
	t1, t2, t3, t4 := t0.Add(time.Second), t0.Add(2*time.Second), t0.Add(3*time.Second), t0.Add(4*time.Second)
	kid := int64(7)
	msg, by, name, detail := "row 3: bad", "key:ops", "ops", "worker lost"
	full := storage.JobListing{Job: storage.Job{ID: 42, Kind: "noop", Queue: "default", Status: "canceled", KeyID: &kid,
		Params: json.RawMessage(`{"sleepMs":5}`), Result: json.RawMessage(`{"slept":5}`), ProgressTotal: 10, ProgressDone: 4,
		ProgressFailed: 1, Error: &msg, Attempts: 2, MaxAttempts: 5, CreatedAt: t0, UpdatedAt: t1, StartedAt: &t2, FinishedAt: &t3,
		HeartbeatAt: &t3, CanceledBy: &by, CanceledAt: &t4}, KeyName: &name}
	bare := storage.JobListing{Job: storage.Job{ID: 43, Kind: "noop", Queue: "default", Status: "queued", MaxAttempts: 3,
		CreatedAt: t0, UpdatedAt: t0}}
	cases := []struct {
		name string
		v    any
		want string
	}{
		{"a listed job with every field", jobListingOf(&full),
			`{"id":42,"kind":"noop","queue":"default","status":"canceled","result":{"slept":5},"progressTotal":10,"progressDone":4,"progressFailed":1,"error":"row 3: bad","attempts":2,"maxAttempts":5,"createdAt":"2026-03-01T09:30:00.123456Z","updatedAt":"2026-03-01T09:30:01.123456Z","startedAt":"2026-03-01T09:30:02.123456Z","finishedAt":"2026-03-01T09:30:03.123456Z","canceledBy":"key:ops","canceledAt":"2026-03-01T09:30:04.123456Z","keyName":"ops"}`},
		{"a listed job with nothing optional", jobListingOf(&bare),
			`{"id":43,"kind":"noop","queue":"default","status":"queued","progressTotal":0,"progressDone":0,"progressFailed":0,"error":null,"attempts":0,"maxAttempts":3,"createdAt":"2026-03-01T09:30:00.123456Z","updatedAt":"2026-03-01T09:30:00.123456Z","startedAt":null,"finishedAt":null,"keyName":null}`},
		{"a job with every field", jobOf(&full.Job),
			`{"id":42,"kind":"noop","queue":"default","status":"canceled","result":{"slept":5},"progressTotal":10,"progressDone":4,"progressFailed":1,"error":"row 3: bad","attempts":2,"maxAttempts":5,"createdAt":"2026-03-01T09:30:00.123456Z","updatedAt":"2026-03-01T09:30:01.123456Z","startedAt":"2026-03-01T09:30:02.123456Z","finishedAt":"2026-03-01T09:30:03.123456Z","canceledBy":"key:ops","canceledAt":"2026-03-01T09:30:04.123456Z"}`},
		{"a job with nothing optional", jobOf(&bare.Job),
			`{"id":43,"kind":"noop","queue":"default","status":"queued","progressTotal":0,"progressDone":0,"progressFailed":0,"error":null,"attempts":0,"maxAttempts":3,"createdAt":"2026-03-01T09:30:00.123456Z","updatedAt":"2026-03-01T09:30:00.123456Z","startedAt":null,"finishedAt":null}`},
		{"a history", jobEventsOf([]storage.JobEvent{{At: t0, Action: "cancel", Actor: "key:ops", Attempt: 2, Detail: &detail},
			{At: t0, Action: "attempt", Attempt: 1}}),
			`[{"at":"2026-03-01T09:30:00.123456Z","action":"cancel","actor":"key:ops","attempt":2,"detail":"worker lost"},{"at":"2026-03-01T09:30:00.123456Z","action":"attempt","attempt":1}]`},
		{"no history", jobEventsOf(nil), `null`},
		{"an empty page", jobListingsOf([]storage.JobListing{}), `[]`},
	}
	for _, tc := range cases {
		b, err := json.Marshal(tc.v)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if string(b) != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, b, tc.want)
		}
	}
}
