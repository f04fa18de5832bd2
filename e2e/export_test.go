package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/turnoutdev/turnout/internal/testkit/testenv"
	"github.com/turnoutdev/turnout/storage"
)

// TestSavedListExportThroughTheBinaries drives the binaries as Parsons'
// download_saved_list does: a 200,000-member list is exported by the
// worker within the POST's wait, the downloadUrl serves every VANID
// without credentials, and after the retention the worker's sweep deletes
// the file.
func TestSavedListExportThroughTheBinaries(t *testing.T) {
	if testing.Short() {
		t.Skip("drives the binaries over a 200,000-member list")
	}
	const n = 200_000
	s := StartStack(t, "TURNOUT_REPORT_RETENTION=4s")
	key := s.CreateKey("--name", "exports", "--scopes", "van", "--van-app", "exports", "--db-mode", "0")
	ctx := context.Background()
	store, err := storage.Open(ctx, s.env("TURNOUT_DATABASE_URL"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	db := testenv.OpenPool(t, s.env("TURNOUT_DATABASE_URL"))
	folder, err := store.CreateFolder(ctx, "Exports", false, []int64{int64(key["id"].(float64))})
	if err != nil {
		t.Fatal(err)
	}
	var list int64
	if err := db.QueryRow(ctx, `INSERT INTO van_saved_lists (folder_id, db_mode, key_id, name) VALUES ($1, 0, $2, 'Everyone')
		RETURNING id`, folder.ID, int64(key["id"].(float64))).Scan(&list); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, `INSERT INTO van_saved_list_members (list_id, vanid)
		SELECT $1, i * 7 FROM generate_series(1, $2) AS i`, list, n); err != nil {
		t.Fatal(err)
	}
	auth := "Basic " + base64.StdEncoding.EncodeToString([]byte("exports:"+key["secret"].(string)+"|0"))
	status, _, raw := s.Do("POST", "/v4/exportJobs", fmt.Sprintf(`{"savedListId": "%d", "type": "4", "webhookUrl": "https://www.nothing.com"}`, list),
		"Authorization", auth)
	var job struct {
		Status      string
		DownloadURL string
	}
	_ = json.Unmarshal(raw, &job)
	if status != 201 || job.Status != "Completed" || !strings.HasPrefix(job.DownloadURL, s.URL+"/v4/exportJobs/") {
		t.Fatalf("POST exportJobs: %d %s\n%s", status, raw, s.Logs)
	}
	path := strings.TrimPrefix(job.DownloadURL, s.URL)
	status, _, body := s.Do("GET", path, "")
	lines := bytes.Split(bytes.TrimSuffix(body, []byte("\n")), []byte("\n"))
	if status != 200 || len(lines) != n+1 || string(lines[0]) != "VanID" || string(lines[1]) != "7" || string(lines[n]) != fmt.Sprint(7*n) {
		t.Fatalf("download: %d, %d lines, first %q", status, len(lines), lines[:min(3, len(lines))])
	}
	// The retention passes; the sweep deletes the file.
	deadline := time.Now().Add(30 * time.Second)
	for {
		var key *string
		if err := db.QueryRow(ctx, `SELECT blob_key FROM van_export_jobs`).Scan(&key); err != nil {
			t.Fatal(err)
		}
		if key == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the export file was not swept 30s after its retention\n%s", s.Logs)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if status, _, body := s.Do("GET", path, ""); status != 404 {
		t.Fatalf("download after the retention: %d %s", status, body)
	}
}
