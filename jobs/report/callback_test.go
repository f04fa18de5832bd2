package report

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/turnoutdev/turnout/internal/fault"
	"github.com/turnoutdev/turnout/internal/netguard"
	"github.com/turnoutdev/turnout/jobs"
	"github.com/turnoutdev/turnout/storage"
)

func (f *fixture) callbackJobs(reportID int64) []*storage.Job {
	f.t.Helper()
	r, err := f.store.RegistrantReport(context.Background(), reportID)
	if err != nil {
		f.t.Fatal(err)
	}
	var n int
	if err := f.db.QueryRow(context.Background(), `SELECT count(*) FROM jobs WHERE kind = $1 AND (params->>'report_id')::bigint = $2`,
		KindCallback, reportID).Scan(&n); err != nil {
		f.t.Fatal(err)
	}
	if r.CallbackJobID == nil {
		if n != 0 {
			f.t.Fatalf("%d callback jobs but none claimed", n)
		}
		return nil
	}
	if n != 1 {
		f.t.Fatalf("%d callback jobs, want 1", n)
	}
	j, err := f.store.Job(context.Background(), *r.CallbackJobID)
	if err != nil {
		f.t.Fatal(err)
	}
	return []*storage.Job{j}
}

func TestOnlyTheLastFailedAttemptFailsTheReportAndSchedulesOneCallback(t *testing.T) {
	f := newFixture(t)
	f.seed(5_000, time.Now().Add(-30*24*time.Hour), nil)
	r, job := f.create(Request{CallbackURL: "https://hooks.example.org/turnout"})
	crash := func() error {
		ctx, kill := context.WithCancel(context.Background())
		var once sync.Once
		f.builder.onProgress = func(n int64) {
			if n >= 2_000 {
				once.Do(kill)
			}
		}
		_, err := f.builder.Run(ctx, job)
		return err
	}
	job.Attempts = 1
	if err := crash(); !errors.Is(err, context.Canceled) {
		t.Fatalf("first attempt: %v", err)
	}
	if got, _ := f.store.RegistrantReport(context.Background(), r.ID); got.Status != storage.ReportBuilding || len(f.callbackJobs(r.ID)) != 0 {
		t.Fatalf("after a failed attempt with attempts left: status %s", got.Status)
	}
	job.Attempts = job.MaxAttempts
	if err := crash(); !errors.Is(err, context.Canceled) {
		t.Fatalf("last attempt: %v", err)
	}
	got, _ := f.store.RegistrantReport(context.Background(), r.ID)
	if got.Status != storage.ReportFailed || got.Error == nil || !strings.Contains(*got.Error, "request a new one") {
		t.Fatalf("after the last attempt: status %s error %v", got.Status, got.Error)
	}
	cbs := f.callbackJobs(r.ID)
	if len(cbs) != 1 || cbs[0].Queue != "notify" {
		t.Fatalf("callback jobs %v", cbs)
	}
	var p callbackParams
	if err := json.Unmarshal(cbs[0].Params, &p); err != nil {
		t.Fatal(err)
	}
	var body map[string]any
	_ = json.Unmarshal([]byte(p.Body), &body)
	if body["status"] != "failed" || body["download_url"] != "" || body["report_id"] != float64(r.ID) ||
		!strings.HasSuffix(body["status_url"].(string), "/api/v4/registrant_reports/"+jsonNum(r.ID)) {
		t.Errorf("failed callback body %s", p.Body)
	}
	// A duplicate delivery of the build changes nothing and schedules nothing.
	if _, err := f.builder.Run(context.Background(), job); err != nil {
		t.Fatalf("re-run: %v", err)
	}
	if len(f.callbackJobs(r.ID)) != 1 {
		t.Fatal("second callback job")
	}
}

func jsonNum(n int64) string { b, _ := json.Marshal(n); return string(b) }

func TestACallbackResolvedToAnInternalAddressIsRefusedOnDelivery(t *testing.T) {
	f := newFixture(t)
	f.seed(10, time.Now().Add(-time.Hour), nil)
	var hits atomic.Int32
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { hits.Add(1) }))
	defer recv.Close()
	// The API's guard let it through (as it does a host name that later
	// resolves to an internal address); the worker's guard allows nothing.
	f.svc.Guard = netguard.New([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")})
	key, err := f.store.CreateKey(context.Background(), storage.NewKey{Name: "hooks " + t.Name(), Scopes: []string{"rocky"},
		RockyPartnerID: &f.partner})
	if err != nil {
		t.Fatal(err)
	}
	r, job := f.create(Request{CallbackURL: recv.URL + "/hook", KeyID: key.ID})
	if _, err := f.builder.Run(context.Background(), job); err != nil {
		t.Fatal(err)
	}
	cbs := f.callbackJobs(r.ID)
	if len(cbs) != 1 {
		t.Fatal("no callback job")
	}
	cb := &Callbacks{Store: f.store, Client: netguard.New(nil).HTTPClient(netguard.ClientOptions{}),
		Log: slog.New(slog.NewJSONHandler(io.Discard, nil))}
	cbs[0].Attempts = 1
	_, err = cb.Run(context.Background(), cbs[0])
	if !fault.Is(err, fault.Invalid) || !strings.Contains(err.Error(), "not allowed") {
		t.Fatalf("delivery to 127.0.0.1: %v, want a refusal that is not retried", err)
	}
	if hits.Load() != 0 {
		t.Fatal("the receiver was reached")
	}
	ds, _ := f.store.ReportDeliveries(context.Background(), r.ID)
	if len(ds) != 1 || ds[0].OK || ds[0].StatusCode != nil || ds[0].Error == nil || ds[0].WebhookID != WebhookID(r.ID) {
		t.Fatalf("recorded attempts %+v", ds)
	}
}

// A build the worker died on during its last attempt is settled by the
// reconciler through Abandon: the report fails and its callback is
// scheduled once, as if the attempt had returned.
func TestAbandonedBuildFailsTheReportAndSchedulesItsCallback(t *testing.T) {
	f := newFixture(t)
	f.seed(100, time.Now().Add(-30*24*time.Hour), nil)
	r, job := f.create(Request{CallbackURL: "https://hooks.example.org/turnout"})
	if _, ok := f.builder.Handlers()[Kind].(jobs.Abandoner); !ok {
		t.Fatal("the worker's report handler is not a jobs.Abandoner: the reconciler would not tell it")
	}
	if err := f.builder.Abandon(context.Background(), job, "last attempt failed: lease expired"); err != nil {
		t.Fatal(err)
	}
	got, _ := f.store.RegistrantReport(context.Background(), r.ID)
	if got.Status != storage.ReportFailed || got.Error == nil || !strings.Contains(*got.Error, "request a new one") {
		t.Fatalf("after Abandon: status %s error %v", got.Status, got.Error)
	}
	if cbs := f.callbackJobs(r.ID); len(cbs) != 1 {
		t.Fatalf("callback jobs %v, want one", cbs)
	}
	// Told twice (two reconcilers), it settles once.
	if err := f.builder.Abandon(context.Background(), job, "again"); err != nil {
		t.Fatal(err)
	}
	if cbs := f.callbackJobs(r.ID); len(cbs) != 1 {
		t.Fatalf("callback jobs after a second Abandon: %d", len(cbs))
	}
}
