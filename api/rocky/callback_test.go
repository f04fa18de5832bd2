package rocky_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/turnoutdev/turnout/jobs"
	"github.com/turnoutdev/turnout/jobs/report"
	"github.com/turnoutdev/turnout/storage"
	"github.com/turnoutdev/turnout/webhook"
)

// startCallbacks is the report API plus a worker on queues reports and
// notify, as deployed: the API's guard checks callback URLs at request
// time, the worker's guarded client sends the webhooks. allow is the
// operator's TURNOUT_ALLOW_NETWORKS; without withWorker no worker runs.
func startCallbacks(t *testing.T, allow []netip.Prefix, withWorker bool) *reportStack {
	t.Helper()
	s := newReportStack(t, allow, true, map[string]int{jobs.QueueReports: 1, jobs.QueueNotify: 1})
	if withWorker {
		s.startWorker(time.Second)
	}
	return s
}

// partnerWithSecret creates a partner and returns its credentials and its
// key's webhook signing secret.
func (s *reportStack) partnerWithSecret(name string) (partnerCred, string) {
	s.t.Helper()
	p, err := s.store.CreateRockyPartner(context.Background(), &storage.RockyPartner{OrgName: name}, 0)
	if err != nil {
		s.t.Fatal(err)
	}
	return partnerCred{strconv.FormatInt(p.Partner.ID, 10), p.Key.Secret}, p.Key.WebhookSecret
}

// hit is one request the receiver got.
type hit struct {
	header http.Header
	body   []byte
}

// receiver is a webhook endpoint on 127.0.0.1 that answers 500 to its first
// fail requests, then 204.
type receiver struct {
	*httptest.Server
	mu   sync.Mutex
	hits []hit
}

func newReceiver(t *testing.T, fail int) *receiver {
	rc := &receiver{}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.hits = append(rc.hits, hit{r.Header.Clone(), body})
		n := len(rc.hits)
		rc.mu.Unlock()
		if r.Method != http.MethodPost || r.URL.Path != "/hook" || n <= fail {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) got() []hit {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]hit(nil), rc.hits...)
}

// waitStatus polls a report's status until ok accepts it.
func (s *reportStack) waitStatus(p partnerCred, id int64, what string, ok func(m map[string]any) bool) map[string]any {
	s.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, m, raw := s.do("GET", fmt.Sprintf("/api/v4/registrant_reports/%d.json?%s", id, creds(p)), "")
		if resp.StatusCode != 200 {
			s.t.Fatalf("status: %d %s", resp.StatusCode, raw)
		}
		if ok(m) {
			return m
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("report %d: no %s after 30s: %s", id, what, raw)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func deliveries(m map[string]any) []map[string]any {
	list, _ := m["callback_deliveries"].([]any)
	out := make([]map[string]any, len(list))
	for i, d := range list {
		out[i], _ = d.(map[string]any)
	}
	return out
}

func delivered(m map[string]any) bool {
	for _, d := range deliveries(m) {
		if d["ok"] == true {
			return true
		}
	}
	return false
}

func (s *reportStack) callbackJobs(reportID int64) int {
	s.t.Helper()
	var n int
	if err := s.db.QueryRow(context.Background(), `SELECT count(*) FROM jobs WHERE kind = $1 AND params->>'report_id' = $2`,
		report.KindCallback, strconv.FormatInt(reportID, 10)).Scan(&n); err != nil {
		s.t.Fatal(err)
	}
	return n
}

func TestReportCallbackArrivesOnceSigned(t *testing.T) {
	s := startCallbacks(t, []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, true)
	p, secret := s.partnerWithSecret("Hook Club")
	s.seed(p, 5, time.Now().Add(-24*time.Hour), nil)
	rc := newReceiver(t, 0)
	// Credentials in the URL are used but never shown.
	hook, _ := url.Parse(rc.URL + "/hook?token=tok3n-s3cret")
	hook.User = url.UserPassword("hooker", "pa55-s3cret")
	status, m := s.create(p, map[string]any{"callback_url": hook.String()})
	if status != 200 {
		t.Fatalf("create: %d %v", status, m)
	}
	id := int64(m["report_id"].(float64))
	if cb, _ := m["callback_url"].(string); strings.Contains(cb, "s3cret") || !strings.Contains(cb, "127.0.0.1") {
		t.Errorf("callback_url shown as %q", cb)
	}
	if d, ok := m["callback_deliveries"].([]any); !ok || len(d) != 0 {
		t.Errorf("new report's callback_deliveries = %v, want []", m["callback_deliveries"])
	}
	done := s.waitStatus(p, id, "delivered callback", delivered)
	if done["status"] != "complete" {
		t.Fatalf("delivered before complete: %v", done)
	}

	// A second build job for the same report (a retried or duplicated
	// build) finds it complete and schedules nothing.
	job, err := s.enq.Create(context.Background(), storage.NewJob{Kind: report.Kind, Queue: jobs.QueueReports,
		Params: map[string]int64{"report_id": id}})
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		j, err := s.store.Job(context.Background(), job.ID)
		if err != nil {
			t.Fatal(err)
		}
		if j.Finished() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("duplicate build job still %s", j.Status)
		}
	}
	if n := s.callbackJobs(id); n != 1 {
		t.Errorf("%d callback jobs, want 1", n)
	}

	hits := rc.got()
	if len(hits) != 1 {
		t.Fatalf("receiver got %d requests, want 1", len(hits))
	}
	v, err := webhook.NewVerifier(secret)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Verify(hits[0].header, hits[0].body); err != nil {
		t.Errorf("signature: %v", err)
	}
	if got, want := hits[0].header.Get("webhook-id"), fmt.Sprintf("msg_turnout_report_%d", id); got != want {
		t.Errorf("webhook-id %q, want %q", got, want)
	}
	if u, pw, ok := (&http.Request{Header: hits[0].header}).BasicAuth(); !ok || u != "hooker" || pw != "pa55-s3cret" {
		t.Errorf("the URL's credentials were not sent as basic auth")
	}
	var body map[string]any
	if err := json.Unmarshal(hits[0].body, &body); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"report_id": float64(id), "status": "complete", "record_count": float64(5),
		"download_url": done["download_url"], "status_url": done["status_url"]}
	if len(body) != len(want) {
		t.Errorf("body %s, want exactly %v", hits[0].body, want)
	}
	for k, w := range want {
		if body[k] != w {
			t.Errorf("body %s: %s = %v, want %v", hits[0].body, k, body[k], w)
		}
	}
	ds := deliveries(done)
	if len(ds) != 1 || ds[0]["attempt"] != float64(1) || ds[0]["status_code"] != float64(204) || ds[0]["error"] != nil ||
		ds[0]["webhook_id"] != fmt.Sprintf("msg_turnout_report_%d", id) {
		t.Errorf("callback_deliveries = %v", ds)
	}
	_, _, raw := s.do("GET", fmt.Sprintf("/api/v4/registrant_reports/%d.json?%s", id, creds(p)), "")
	if strings.Contains(string(raw), "s3cret") {
		t.Errorf("status echoes the callback URL's credentials: %s", raw)
	}
}

func TestReportCallbackRetriedWithTheSameWebhookID(t *testing.T) {
	s := startCallbacks(t, []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, true)
	p, secret := s.partnerWithSecret("Flaky Hook Club")
	s.seed(p, 3, time.Now().Add(-24*time.Hour), nil)
	rc := newReceiver(t, 2)
	status, m := s.create(p, map[string]any{"callback_url": rc.URL + "/hook"})
	if status != 200 {
		t.Fatalf("create: %d %v", status, m)
	}
	id := int64(m["report_id"].(float64))
	done := s.waitStatus(p, id, "delivered callback", delivered)
	ds := deliveries(done)
	if len(ds) != 3 {
		t.Fatalf("callback_deliveries = %v, want 3 attempts", ds)
	}
	for i, d := range ds {
		code, ok := float64(500), false
		if i == 2 {
			code, ok = 204, true
		}
		if d["attempt"] != float64(i+1) || d["status_code"] != code || d["ok"] != ok || (d["error"] == nil) == !ok ||
			d["webhook_id"] != fmt.Sprintf("msg_turnout_report_%d", id) {
			t.Errorf("attempt %d recorded as %v", i+1, d)
		}
		if _, err := time.Parse(time.RFC3339Nano, fmt.Sprint(d["attempted_at"])); err != nil {
			t.Errorf("attempted_at %v", d["attempted_at"])
		}
	}
	if e, _ := ds[0]["error"].(string); !strings.Contains(e, "500") {
		t.Errorf("first attempt's error %q does not name the answer", e)
	}
	hits := rc.got()
	if len(hits) != 3 {
		t.Fatalf("receiver got %d requests, want 3", len(hits))
	}
	v, _ := webhook.NewVerifier(secret)
	for i, h := range hits {
		if h.header.Get("webhook-id") != fmt.Sprintf("msg_turnout_report_%d", id) || string(h.body) != string(hits[0].body) {
			t.Errorf("request %d: webhook-id %q body %s; want the first's", i, h.header.Get("webhook-id"), h.body)
		}
		if err := v.Verify(h.header, h.body); err != nil {
			t.Errorf("request %d signature: %v", i, err)
		}
	}
	if n := s.callbackJobs(id); n != 1 {
		t.Errorf("%d callback jobs, want 1", n)
	}
}

func TestReportCallbackURLIsCheckedAtRequestTime(t *testing.T) {
	s := startCallbacks(t, nil, false) // no allow-listed network
	p := s.partner("SSRF Club")
	for _, cb := range []string{
		"http://169.254.169.254/x",
		"http://127.0.0.1/x",
		"http://127.0.0.1:8080/hook",
		"https://[::1]/x",
		"http://[::ffff:10.0.0.1]/x",
		"http://localhost:9000/x",
		"http://user:hunter2-secret@10.1.2.3/x",
		"ftp://example.org/x",
		"file:///etc/passwd",
		"/relative/hook",
		"example.org/hook",
		"http://",
		"https://example.org/" + strings.Repeat("a", 2100),
	} {
		status, m := s.create(p, map[string]any{"callback_url": cb})
		msg, _ := m["message"].(string)
		if status != 400 || m["field_name"] != "callback_url" || msg == "" || len(m) != 2 {
			t.Errorf("callback_url %.60q: %d %v, want 400 field callback_url", cb, status, m)
		}
		if strings.Contains(msg, "hunter2") {
			t.Errorf("the error echoes the URL's password: %q", msg)
		}
	}
	// As a query parameter too (beside the JSONP callback).
	resp, m, raw := s.do("POST", "/api/v4/registrant_reports.json?"+creds(p)+"&callback_url="+
		url.QueryEscape("http://169.254.169.254/latest/meta-data"), "")
	if resp.StatusCode != 400 || m["field_name"] != "callback_url" {
		t.Errorf("query callback_url: %d %s", resp.StatusCode, raw)
	}
	var n int
	pid, _ := strconv.ParseInt(p.id, 10, 64)
	if err := s.db.QueryRow(context.Background(), `SELECT count(*) FROM registrant_reports WHERE partner_id = $1`, pid).Scan(&n); err != nil || n != 0 {
		t.Errorf("%d reports stored for refused requests (%v)", n, err)
	}
	// A public host name passes (it is checked again, resolved, on delivery).
	status, m := s.create(p, map[string]any{"callback_url": "https://hooks.example.org/turnout"})
	if status != 200 || m["callback_url"] != "https://hooks.example.org/turnout" {
		t.Errorf("public callback_url: %d %v", status, m)
	}
}

func TestReportWithoutCallbackSendsNothing(t *testing.T) {
	s := startCallbacks(t, []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, true)
	p := s.partner("Quiet Club")
	s.seed(p, 4, time.Now().Add(-24*time.Hour), nil)
	rc := newReceiver(t, 0)
	status, m := s.create(p, nil)
	if status != 200 {
		t.Fatalf("create: %d %v", status, m)
	}
	done := s.waitComplete(p, m["status_url"].(string))
	if _, has := done["callback_deliveries"]; has {
		t.Errorf("status of a report without callback_url: %v", done)
	}
	if _, has := done["callback_url"]; has {
		t.Errorf("status of a report without callback_url: %v", done)
	}
	id := int64(done["report_id"].(float64))
	if n := s.callbackJobs(id); n != 0 {
		t.Errorf("%d callback jobs for a report without callback_url", n)
	}
	if hits := rc.got(); len(hits) != 0 {
		t.Errorf("receiver got %d requests", len(hits))
	}
}
