package e2e

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/turnoutdev/turnout/internal/testkit/testenv"
	"github.com/turnoutdev/turnout/storage"
)

// TestReportSurvivesAWorkerStoppedMidBuildAndExpires drives the binaries:
// a report of 150,000 registrants starts building, the worker is stopped
// (SIGTERM with a 100ms grace, so the build is cut off), a new worker
// rebuilds it from the start, the CSV downloads whole, and after the
// retention the worker's sweep deletes the file.
func TestReportSurvivesAWorkerStoppedMidBuildAndExpires(t *testing.T) {
	const n = 150_000
	s := StartStack(t, "TURNOUT_SHUTDOWN_TIMEOUT=100ms", "TURNOUT_REPORT_RETENTION=3s")
	ctx := context.Background()
	store, err := storage.Open(ctx, s.env("TURNOUT_DATABASE_URL"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	db := testenv.OpenPool(t, s.env("TURNOUT_DATABASE_URL"))
	p, err := store.CreateRockyPartner(ctx, &storage.RockyPartner{OrgName: "E2E Club"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	// The test polls as fast as it can to catch the build mid-stream; on a
	// slow machine that is more calls than a partner's default budget.
	budget := 1_000_000
	if err := store.SetKeyLimits(ctx, p.Key.ID, &budget, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, `INSERT INTO rocky_registrants (uid, partner_id, kind, status, locale, email_address,
		first_name, last_name, created_at)
		SELECT md5(i::text) || lpad(i::text, 8, '0'), $1, 'registration', 'complete', 'en', 'v' || i || '@example.org',
			'First' || i, 'Last', timestamptz '2026-01-01' + i * interval '1 second'
		FROM generate_series(1, $2) AS i`, p.Partner.ID, n); err != nil {
		t.Fatal(err)
	}
	creds := fmt.Sprintf("partner_id=%d&partner_API_key=%s", p.Partner.ID, url.QueryEscape(p.Key.Secret))
	body := fmt.Sprintf(`{"partner_id": "%d", "partner_API_key": %q}`, p.Partner.ID, p.Key.Secret)
	status, _, raw := s.Do("POST", "/api/v4/registrant_reports.json", body)
	var created map[string]any
	_ = json.Unmarshal(raw, &created)
	if status != 200 || created["record_count"] != float64(n) {
		t.Fatalf("create: %d %s", status, raw)
	}
	id := int64(created["report_id"].(float64))
	statusPath := fmt.Sprintf("/api/v4/registrant_reports/%d?%s", id, creds)

	// Wait until rows stream, then stop the worker.
	deadline := time.Now().Add(60 * time.Second)
	for {
		_, _, raw := s.Do("GET", statusPath, "")
		var st map[string]any
		_ = json.Unmarshal(raw, &st)
		if st["status"] == "building" && st["current_index"].(float64) > 0 {
			break
		}
		if st["status"] == "complete" || time.Now().After(deadline) {
			t.Fatalf("could not catch the build streaming: %s", raw)
		}
		time.Sleep(5 * time.Millisecond)
	}
	_ = s.worker.Process.Signal(syscall.SIGTERM)
	_ = s.worker.Wait()
	blob := filepath.Join(strings.TrimPrefix(s.env("TURNOUT_BLOB_URL"), "file://"), "rocky", "reports", fmt.Sprintf("%d.csv", id))
	if _, err := os.Stat(blob); err == nil {
		t.Fatal("the interrupted build left a file")
	}
	_, _, raw = s.Do("GET", statusPath, "")
	if !strings.Contains(string(raw), `"status":"building"`) {
		t.Fatalf("after the stop: %s", raw)
	}

	s.worker = s.start("turnout-worker")
	var done map[string]any
	deadline = time.Now().Add(90 * time.Second)
	for done == nil {
		_, _, raw := s.Do("GET", statusPath, "")
		var st map[string]any
		_ = json.Unmarshal(raw, &st)
		if st["download_url"] != "" && st["download_url"] != nil {
			done = st
		} else if time.Now().After(deadline) || st["status"] == "failed" {
			t.Fatalf("the retried report did not complete: %s\n%s", raw, s.Logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
	u, _ := url.Parse(done["download_url"].(string))
	status, hdr, raw := s.Do("GET", u.Path+"?"+creds, "")
	if status != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "text/csv") {
		t.Fatalf("download: %d %s", status, hdr.Get("Content-Type"))
	}
	recs, err := csv.NewReader(strings.NewReader(string(raw))).ReadAll()
	if err != nil || len(recs) != n+1 {
		t.Fatalf("download: %d lines, %v", len(recs), err)
	}
	for i, rec := range recs[1:] {
		if want := fmt.Sprintf("First%d", i+1); rec[10] != want {
			t.Fatalf("row %d first name %q, want %q (rows missing, repeated or out of order)", i+1, rec[10], want)
		}
	}

	// Retention 3s: the worker's sweep deletes the file.
	deadline = time.Now().Add(30 * time.Second)
	for {
		status, _, raw := s.Do("GET", u.Path+"?"+creds, "")
		_, statErr := os.Stat(blob)
		if status == 410 && os.IsNotExist(statErr) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("report not expired and deleted 30s after a 3s retention: %d %s (file: %v)", status, raw, statErr)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
