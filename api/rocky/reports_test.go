package rocky_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/turnoutdev/turnout/api"
	"github.com/turnoutdev/turnout/api/rocky"
	"github.com/turnoutdev/turnout/internal/config"
	"github.com/turnoutdev/turnout/internal/testkit/apitest"
	"github.com/turnoutdev/turnout/internal/testkit/testenv"
	"github.com/turnoutdev/turnout/internal/testkit/teststack"
	"github.com/turnoutdev/turnout/jobs"
	"github.com/turnoutdev/turnout/jobs/report"
	"github.com/turnoutdev/turnout/storage"
	"github.com/turnoutdev/turnout/worker"
	"github.com/turnoutdev/turnout/worker/wiring"
)

// reportStack is the API (report endpoints) and, unless noWorker, a worker
// serving queue reports (and notify, for callbacks), in-process over the
// package's PostgreSQL and Redis.
type reportStack struct {
	t      *testing.T
	client *apitest.Client
	store  *storage.Store
	db     *pgxpool.Pool // the test's own pool, for direct SQL
	blobs  storage.Blobs
	enq    *jobs.Enqueuer
	st     *teststack.Stack
	queues map[string]int
}

type partnerCred struct{ id, key string }

func startReports(t *testing.T, noWorker bool) *reportStack {
	t.Helper()
	s := newReportStack(t, nil, false, map[string]int{jobs.QueueReports: 1})
	if !noWorker {
		s.startWorker(time.Second)
	}
	return s
}

// newReportStack starts the API with the report endpoints; guarded, the
// API checks callback URLs against allow (the operator's
// TURNOUT_ALLOW_NETWORKS), as the worker's webhook client does. Workers
// started later serve queues.
func newReportStack(t *testing.T, allow []netip.Prefix, guarded bool, queues map[string]int) *reportStack {
	t.Helper()
	st := teststack.Start(t, teststack.Options{
		Log:      slog.New(slog.NewJSONHandler(io.Discard, nil)),
		Config:   func(c *config.Config) { c.AllowNetworks = allow },
		Wiring:   func(d *wiring.Deps) { d.ProgressEvery = 500 },
		NoWorker: true,
		API: func(d *api.Deps, st *teststack.Stack) {
			svc := &report.Service{Store: st.Env.Store, Blobs: st.Blobs, Enqueuer: st.Enqueuer}
			if guarded {
				svc.Guard = d.Guard
			}
			d.Reports = &rocky.Reports{Service: svc, PublicURL: st.Config.PublicURL}
		},
	})
	return &reportStack{t: t, client: st.API, store: st.Env.Store, db: st.Env.Pool, blobs: st.Blobs, enq: st.Enqueuer, st: st, queues: queues}
}

// startWorker runs a worker with two slots on the stack's queues; the
// returned func stops it (cancel its context, wait for it).
func (s *reportStack) startWorker(shutdown time.Duration) func() {
	return s.st.StartWorker(worker.Options{Queues: s.queues, Concurrency: 2, ShutdownTimeout: shutdown,
		RetryDelay: func(int, error, *asynq.Task) time.Duration { return 100 * time.Millisecond }})
}

func (s *reportStack) partner(name string) partnerCred {
	s.t.Helper()
	p, err := s.store.CreateRockyPartner(context.Background(), &storage.RockyPartner{OrgName: name}, 0)
	if err != nil {
		s.t.Fatal(err)
	}
	return partnerCred{strconv.FormatInt(p.Partner.ID, 10), p.Key.Secret}
}

// seed stores n registrants of p, created an hour apart from start.
func (s *reportStack) seed(p partnerCred, n int, start time.Time, edit func(i int, r *storage.Registrant)) {
	s.t.Helper()
	pid, _ := strconv.ParseInt(p.id, 10, 64)
	rows := make([]*storage.Registrant, n)
	for i := range rows {
		rows[i] = &storage.Registrant{UID: storage.NewRegistrantUID(), PartnerID: pid, Kind: "registration",
			Status: "complete", Locale: "en", EmailAddress: fmt.Sprintf("v%d@example.org", i), FirstName: fmt.Sprint("Voter ", i),
			LastName: "Doe", HomeStateID: "CA", PDFStatus: storage.PDFNone}
		if edit != nil {
			edit(i, rows[i])
		}
	}
	if _, err := s.store.CopyRegistrants(context.Background(), rows); err != nil {
		s.t.Fatal(err)
	}
	// The first id is read on its own: joined as a subquery, a planner
	// that has not yet seen the new rows could run it once per row (40,000²
	// row visits, minutes, whenever autovacuum is late).
	var first int64
	if err := s.db.QueryRow(context.Background(), `SELECT min(id) FROM rocky_registrants WHERE partner_id = $1`, pid).Scan(&first); err != nil {
		s.t.Fatal(err)
	}
	if _, err := s.db.Exec(context.Background(), `UPDATE rocky_registrants SET created_at = $2::timestamptz +
		(id - $3) * interval '1 hour' WHERE partner_id = $1`, pid, start, first); err != nil {
		s.t.Fatal(err)
	}
}

func (s *reportStack) do(method, path, body string) (*http.Response, map[string]any, []byte) {
	s.t.Helper()
	resp, raw := s.client.Do(apitest.NewRequest(s.t, method, path, body))
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return resp, m, raw
}

func creds(p partnerCred) string {
	return "partner_id=" + p.id + "&partner_API_key=" + url.QueryEscape(p.key)
}

// create posts a report request the way the Parsons connector does (JSON
// body with the credentials) plus extra fields.
func (s *reportStack) create(p partnerCred, extra map[string]any) (int, map[string]any) {
	s.t.Helper()
	body := map[string]any{"partner_id": p.id, "partner_API_key": p.key}
	for k, v := range extra {
		body[k] = v
	}
	b, _ := json.Marshal(body)
	resp, m, raw := s.do("POST", "/api/v4/registrant_reports.json", string(b))
	if resp.StatusCode != 200 {
		return resp.StatusCode, m
	}
	if m["status"] != "queued" || m["download_url"] != "" {
		s.t.Fatalf("new report: %s", raw)
	}
	return resp.StatusCode, m
}

// waitComplete polls the status_url (as Parsons does) until download_url
// is set.
func (s *reportStack) waitComplete(p partnerCred, statusURL string) map[string]any {
	s.t.Helper()
	u, _ := url.Parse(statusURL)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, m, raw := s.do("GET", u.Path+"?"+creds(p), "")
		if resp.StatusCode != 200 {
			s.t.Fatalf("status: %d %s", resp.StatusCode, raw)
		}
		if m["download_url"] != "" {
			if m["status"] != "complete" || m["current_index"] != m["record_count"] {
				s.t.Fatalf("download_url before completion: %s", raw)
			}
			return m
		}
		if m["status"] == "failed" {
			s.t.Fatalf("report failed: %s", raw)
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.t.Fatalf("report at %s not complete after 30s", statusURL)
	return nil
}

func (s *reportStack) download(p partnerCred, downloadURL string) [][]string {
	s.t.Helper()
	u, _ := url.Parse(downloadURL)
	resp, _, raw := s.do("GET", u.Path+"?"+creds(p), "")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") {
		s.t.Fatalf("download: %d %s %.300s", resp.StatusCode, resp.Header.Get("Content-Type"), raw)
	}
	recs, err := csv.NewReader(strings.NewReader(string(raw))).ReadAll()
	if err != nil {
		s.t.Fatalf("download is not CSV: %v", err)
	}
	return recs
}

func TestReportIsQueuedBuiltPolledAndDownloaded(t *testing.T) {
	s := startReports(t, false)
	p := s.partner("Vote Club")
	s.seed(p, 30, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), func(i int, r *storage.Registrant) {
		if i == 0 {
			r.FirstName = "=cmd|' /C calc'!A0"
		}
	})
	status, m := s.create(p, map[string]any{"report_type": "extended"})
	if status != 200 || m["record_count"] != float64(30) {
		t.Fatalf("create: %d %v", status, m)
	}
	id := int64(m["report_id"].(float64))
	statusURL := m["status_url"].(string)
	if !strings.HasSuffix(statusURL, "/api/v4/registrant_reports/"+strconv.FormatInt(id, 10)) {
		t.Fatalf("status_url %q must end with the report id", statusURL)
	}
	done := s.waitComplete(p, statusURL)
	if done["download_url"] != statusURL+"/download" || done["record_count"] != float64(30) {
		t.Fatalf("complete report: %v", done)
	}
	// The .json form answers the same.
	resp, m2, _ := s.do("GET", fmt.Sprintf("/api/v4/registrant_reports/%d.json?%s", id, creds(p)), "")
	if resp.StatusCode != 200 || m2["status"] != "complete" {
		t.Fatalf(".json status: %d %v", resp.StatusCode, m2)
	}
	recs := s.download(p, done["download_url"].(string))
	if len(recs) != 31 || recs[0][0] != "Registrant UID" || recs[0][1] != "Status" {
		t.Fatalf("report: %d lines, header %q", len(recs), recs[0])
	}
	if recs[1][11] != "'=cmd|' /C calc'!A0" {
		t.Errorf("formula cell = %q, want it quoted", recs[1][11])
	}
	// JSONP, as on the rest of the Rocky surface.
	resp, _, raw := s.do("GET", fmt.Sprintf("/api/v4/registrant_reports/%d.json?%s&callback=cb", id, creds(p)), "")
	if resp.StatusCode != 200 || !strings.HasPrefix(string(raw), "cb({") || !strings.HasSuffix(string(raw), "});") {
		t.Errorf("JSONP status: %d %s", resp.StatusCode, raw)
	}
}

func TestReportFiltersThroughTheAPI(t *testing.T) {
	s := startReports(t, false)
	p := s.partner("Filter Club")
	start := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	s.seed(p, 48, start, func(i int, r *storage.Registrant) {
		if i%12 == 0 {
			r.EmailAddress = "twin@example.org"
		}
	})
	cases := []struct {
		name   string
		fields map[string]any
		want   int
	}{
		{"none", nil, 48},
		// The Parsons connector's format.
		{"since", map[string]any{"since": "2026-02-02 00:00:00 UTC"}, 24},
		{"before", map[string]any{"before": "2026-02-01 06:00:00 UTC"}, 6},
		{"since and before", map[string]any{"since": "2026-02-01T10:00:00Z", "before": "2026-02-01T20:00:00Z"}, 10},
		{"email", map[string]any{"email": "TWIN@example.org"}, 4},
		{"email and since", map[string]any{"email": "twin@example.org", "since": "2026-02-01T01:00:00Z"}, 3},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, m := s.create(p, c.fields)
			if status != 200 || m["record_count"] != float64(c.want) {
				t.Fatalf("create: %d %v, want %d records", status, m, c.want)
			}
			done := s.waitComplete(p, m["status_url"].(string))
			recs := s.download(p, done["download_url"].(string))
			if len(recs)-1 != c.want {
				t.Fatalf("%d rows, want %d", len(recs)-1, c.want)
			}
			for _, rec := range recs[1:] {
				if e, ok := c.fields["email"]; ok && !strings.EqualFold(rec[7], e.(string)) {
					t.Errorf("row with e-mail %q", rec[7])
				}
			}
		})
	}
}

func TestAnotherPartnerCannotSeeOrDownloadAReport(t *testing.T) {
	s := startReports(t, false)
	owner, other := s.partner("Owner"), s.partner("Other")
	s.seed(owner, 3, time.Now().Add(-time.Hour), nil)
	_, m := s.create(owner, nil)
	done := s.waitComplete(owner, m["status_url"].(string))
	id := int64(done["report_id"].(float64))
	bad := partnerCred{owner.id, "not-the-key"}
	for _, path := range []string{
		fmt.Sprintf("/api/v4/registrant_reports/%d.json?%s", id, creds(other)),
		fmt.Sprintf("/api/v4/registrant_reports/%d/download?%s", id, creds(other)),
		fmt.Sprintf("/api/v4/registrant_reports/%d/download?%s", id+1000, creds(owner)), // no such report
		fmt.Sprintf("/api/v4/registrant_reports/%d.json?%s", id+1000, creds(other)),
		fmt.Sprintf("/api/v4/registrant_reports/%d/download?%s", id, creds(bad)),
		fmt.Sprintf("/api/v4/registrant_reports/%d/download", id),
	} {
		resp, m, raw := s.do("GET", path, "")
		if resp.StatusCode != 400 || m["message"] != "Invalid Partner or API key" || len(m) != 1 {
			t.Errorf("GET %s: %d %s, want 400 Invalid Partner or API key", path, resp.StatusCode, raw)
		}
	}
}

func TestReportRequestErrorsNameTheField(t *testing.T) {
	s := startReports(t, true)
	p := s.partner("Strict Club")
	cases := []struct {
		fields  map[string]any
		field   string
		message string
	}{
		{map[string]any{"report_type": "abr_report"}, "report_type", `supported report types are "" (blank: the registrants report) and "extended"`},
		{map[string]any{"report_type": "lookup_report"}, "report_type", "Voter Status Lookup"},
		{map[string]any{"since": "last week"}, "since", "UTC datetime"},
		{map[string]any{"email": "nobody"}, "email", "e-mail"},
		{map[string]any{"home_state_id": "CA"}, "home_state_id", "Invalid parameter type"},
		{map[string]any{"since": map[string]any{"a": 1}}, "since", "Invalid parameter type"},
	}
	for _, c := range cases {
		status, m := s.create(p, c.fields)
		msg, _ := m["message"].(string)
		if status != 400 || m["field_name"] != c.field || !strings.Contains(msg, c.message) {
			t.Errorf("%v: %d %v, want 400 field %s with %q", c.fields, status, m, c.field, c.message)
		}
	}
}

func TestDownloadBeforeCompletionAndAfterExpiry(t *testing.T) {
	s := startReports(t, true) // no worker: the report stays queued
	p := s.partner("Patient Club")
	s.seed(p, 2, time.Now().Add(-time.Hour), nil)
	_, m := s.create(p, nil)
	id := int64(m["report_id"].(float64))
	resp, body, raw := s.do("GET", fmt.Sprintf("/api/v4/registrant_reports/%d/download?%s", id, creds(p)), "")
	if resp.StatusCode != 409 || !strings.Contains(body["message"].(string), "not complete") {
		t.Fatalf("download while queued: %d %s", resp.StatusCode, raw)
	}

	// Build it, then let the retention pass.
	stop := s.startWorker(time.Second)
	s.waitComplete(p, m["status_url"].(string))
	stop()
	if _, err := s.db.Exec(context.Background(), `UPDATE registrant_reports SET expires_at = now() - interval '1 minute' WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	resp, body, raw = s.do("GET", fmt.Sprintf("/api/v4/registrant_reports/%d/download?%s", id, creds(p)), "")
	if resp.StatusCode != 410 || !strings.Contains(body["message"].(string), "expired") {
		t.Fatalf("download after expiry: %d %s", resp.StatusCode, raw)
	}
	_, st, _ := s.do("GET", fmt.Sprintf("/api/v4/registrant_reports/%d?%s", id, creds(p)), "")
	if st["status"] != "expired" || st["download_url"] != "" {
		t.Fatalf("status after expiry: %v", st)
	}
}

// TestWorkerKilledMidBuildIsRetriedToACorrectFile stops the worker (its
// context cancelled, no grace) while a report streams; the task goes back
// to the queue, and a new worker rebuilds the file from the start.
func TestWorkerKilledMidBuildIsRetriedToACorrectFile(t *testing.T) {
	if testing.Short() {
		t.Skip("kills a worker midway and waits for its retry; runs in make test")
	}
	s := startReports(t, true)
	p := s.partner("Big Club")
	s.seed(p, 40_000, time.Now().Add(-90*24*time.Hour), nil)
	stop := s.startWorker(10 * time.Millisecond)
	_, m := s.create(p, nil)
	id := int64(m["report_id"].(float64))
	deadline := time.Now().Add(30 * time.Second)
	for {
		r, err := s.store.RegistrantReport(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status == storage.ReportBuilding && r.CurrentIndex > 0 {
			break
		}
		if r.Status == storage.ReportComplete || time.Now().After(deadline) {
			t.Fatalf("the build finished (%s) before it could be interrupted", r.Status)
		}
		time.Sleep(2 * time.Millisecond)
	}
	stop() // the worker dies mid-build
	mid, _ := s.store.RegistrantReport(context.Background(), id)
	if mid.Status == storage.ReportComplete {
		t.Fatal("the build finished before the worker stopped")
	}
	if ok, _ := s.blobs.Exists(context.Background(), report.BlobKey(id)); ok {
		t.Fatal("an interrupted build left a file")
	}
	// A worker that dies mid-task can leave the task "active" in Redis until
	// Asynq's lease expires (minutes); the reconciler then re-enqueues the
	// job. Model that here without the wait: drop Redis's copy and enqueue
	// the job again, as the reconciler does.
	testenv.Get(t).FlushRedis(t)
	stop = s.startWorker(time.Second)
	defer stop()
	job, _ := s.store.Job(context.Background(), *mid.JobID)
	_ = s.enq.Enqueue(context.Background(), job)
	done := s.waitComplete(p, m["status_url"].(string))
	recs := s.download(p, done["download_url"].(string))
	if len(recs) != 40_001 {
		t.Fatalf("retried report has %d lines, want 40001", len(recs))
	}
	seen := map[string]bool{}
	for _, rec := range recs[1:] {
		if seen[rec[10]] {
			t.Fatalf("row %q twice", rec[10])
		}
		seen[rec[10]] = true
	}
}
