package van_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/turnoutdev/turnout/internal/crypt"
	"github.com/turnoutdev/turnout/jobs/fileload"
	"github.com/turnoutdev/turnout/jobs/notify"
	"github.com/turnoutdev/turnout/storage"
)

var loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}

// runVANExample runs VAN's two-score example from sourceURL and
// checks every observable outcome.
func runVANExample(t *testing.T, s *stack, sourceURL string, rows int) {
	t.Helper()
	a, b := s.rangeScore("Hat wearing", 0, 100), s.rangeScore("Needs another hat", 0, 100)
	listeners := fmt.Sprintf(`[{"type": "URL", "value": %q}, {"type": "EMAIL", "value": "hats@example.org"}]`, s.hooks.URL+"/listener")
	id := s.submit(exampleRequest(sourceURL, a, b, listeners))
	v := s.wait(id)
	if v.Status != "Completed" {
		t.Fatalf("job status %s (message %v), want Completed", v.Status, deref(v.Message))
	}
	if v.RowsRead != int64(rows) || v.ErrorCount != 0 {
		t.Errorf("rowsRead %d errorCount %d, want %d and 0", v.RowsRead, v.ErrorCount, rows)
	}
	if strings.Contains(v.File.SourceURL, "s3cret") {
		t.Errorf("sourceUrl shown with its password: %s", v.File.SourceURL)
	}
	want := []string{storage.LoadPendingApproval, storage.LoadApproved}
	for i, act := range v.Actions {
		if act.Results == nil || act.Results.LoadStatus != want[i] || act.Results.Matched != int64(rows) {
			t.Errorf("actions[%d].results = %+v, want %s with %d matched", i, act.Results, want[i], rows)
		}
	}
	// Only the auto-approved score is applied.
	var nA, nB int
	ctx := context.Background()
	_ = s.env.Pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE score_id = $1), count(*) FILTER (WHERE score_id = $2) FROM van_person_scores`, a, b).Scan(&nA, &nB)
	if nA != 0 || nB != rows {
		t.Errorf("current scores: %d of score A (pending), %d of score B (auto-approved); want 0 and %d", nA, nB, rows)
	}
	hooks := s.waitHooks(1)
	if hooks[0].Verified != nil {
		t.Errorf("webhook signature: %v", hooks[0].Verified)
	}
	if hooks[0].Body["description"] != "Load habberdasher score" || hooks[0].Body["message"] != "success" || hooks[0].Body["status"] != "Successful" {
		t.Errorf("webhook body = %v", hooks[0].Body)
	}
	if hooks[0].ID != notify.WebhookID(id, 0) {
		t.Errorf("webhook-id = %q, want %q", hooks[0].ID, notify.WebhookID(id, 0))
	}
	mails := s.smtp.WaitFor(t, 1)
	if mails[0].To[0] != "hats@example.org" || !strings.Contains(mails[0].Subject, fmt.Sprintf("File loading job %d: Successful", id)) {
		t.Errorf("email to %v subject %q", mails[0].To, mails[0].Subject)
	}
	// Approving the pending update applies it.
	pending := *v.Actions[0].Results.ScoreUpdateID
	resp, body := s.do(http.MethodPatch, fmt.Sprintf("/v4/scoreUpdates/%d", pending), `{"loadStatus":"Approved"}`)
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("PATCH approve: %d %s", resp.StatusCode, body)
	}
	_ = s.env.Pool.QueryRow(ctx, `SELECT count(*) FROM van_person_scores WHERE score_id = $1`, a).Scan(&nA)
	if nA != rows {
		t.Errorf("after approval %d people have score A, want %d", nA, rows)
	}
	resp, body = s.do(http.MethodGet, fmt.Sprintf("/v4/scoreUpdates/%d", pending), "")
	var su struct {
		LoadStatus       string
		UpdateStatistics fileload.Statistics
	}
	_ = json.Unmarshal(body, &su)
	if resp.StatusCode != 200 || su.LoadStatus != "Completed" || su.UpdateStatistics.MatchedRows != int64(rows) || su.UpdateStatistics.Added != int64(rows) {
		t.Errorf("score update after approval: %d %s", resp.StatusCode, body)
	}
	// Deliveries are visible on the job. The e-mail reaches the SMTP server
	// a moment before its attempt is recorded, so give the record time.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		v = s.wait(id)
		if len(v.Deliveries) >= 2 || time.Now().After(deadline) {
			break
		}
	}
	if len(v.Deliveries) < 2 {
		t.Errorf("deliveries on the job = %+v, want the webhook and the email", v.Deliveries)
	}
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

func TestVANExampleOverHTTP(t *testing.T) {
	s := newStack(t, options{allow: loopback})
	s.people(10, 0)
	u := s.serve("/haberdasher.csv.zip", zipOf(t, "haberdashery.csv", exampleCSV(10)))
	runVANExample(t, s, strings.Replace(u, "http://", "http://keep:s3cret@", 1), 10)
}

// More loads than the worker has connections: a load never waits for a
// second connection while it holds its transaction's, so none deadlocks.
func TestConcurrentLoadsOnASmallPool(t *testing.T) {
	s := newStack(t, options{allow: loopback, workerPool: 2})
	s.people(200, 0)
	a, b := s.rangeScore("A", 0, 100), s.rangeScore("B", 0, 100)
	u := s.serve("/h.zip", zipOf(t, "haberdashery.csv", exampleCSV(200)))
	var ids []int64
	for range 6 {
		ids = append(ids, s.submit(exampleRequest(u, a, b, "[]")))
	}
	for _, id := range ids {
		if v := s.wait(id); v.Status != "Completed" {
			t.Errorf("job %d: %s %s", id, v.Status, deref(v.Message))
		}
	}
}

// With an encryption key, a source URL's credentials are not in the
// database in clear; the worker still fetches with them. Without the key
// the stored job cannot be read, and says why.
func TestSourceCredentialsAreSealedAtRest(t *testing.T) {
	s := newStack(t, options{allow: loopback})
	ring, err := crypt.NewRing([][]byte{bytes.Repeat([]byte{7}, 32)})
	if err != nil {
		t.Fatal(err)
	}
	s.env.Store.Secrets = ring
	t.Cleanup(func() { s.env.Store.Secrets = nil })
	s.people(10, 0)
	u := s.serve("/sealed.zip", zipOf(t, "haberdashery.csv", exampleCSV(10)))
	runVANExample(t, s, strings.Replace(u, "http://", "http://keep:s3cret@", 1), 10)

	var stored string
	if err := s.env.Pool.QueryRow(context.Background(), `SELECT source_url FROM van_file_loads`).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(stored, "s3cret") || !strings.HasPrefix(stored, "sealed:") {
		t.Errorf("stored source_url = %q, want it sealed", stored)
	}
	var id int64
	_ = s.env.Pool.QueryRow(context.Background(), `SELECT job_id FROM van_file_loads`).Scan(&id)
	s.env.Store.Secrets = nil
	if _, err := s.env.Store.FileLoad(context.Background(), id); err == nil || !strings.Contains(err.Error(), "TURNOUT_ENCRYPTION_KEY") {
		t.Errorf("reading a sealed load without the key: %v, want an error naming TURNOUT_ENCRYPTION_KEY", err)
	}
}
