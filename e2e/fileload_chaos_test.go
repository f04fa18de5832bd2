//go:build chaos

package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestChaosWorkerKilledMidLoad SIGKILLs the worker while it is loading a large
// score file; a new worker picks the job up again and the data it leaves is
// exactly what one clean run produces: one score update, every person's
// score once, the values of the file.
func TestChaosWorkerKilledMidLoad(t *testing.T) {
	const rows = 400000
	s := StartStack(t, "TURNOUT_ALLOW_NETWORKS=127.0.0.0/8", "TURNOUT_LOG_LEVEL=info")
	dir := t.TempDir()
	s.CLI("gen", "people", "--count", fmt.Sprint(rows), "--seed", "3", "--out", filepath.Join(dir, "people.csv"))
	s.CLI("people", "import", "--db-mode", "0", filepath.Join(dir, "people.csv"))
	key := s.CreateKey("--name", "chaos", "--scopes", "van", "--van-app", "chaos", "--db-mode", "0")
	var score struct{ ScoreID int64 }
	_ = json.Unmarshal([]byte(s.CLI("scores", "create", "--name", "Chaos", "--min", "0", "--max", "100", "--json")), &score)

	sourceURL, wantSum := serveScores(t, rows)

	auth := "Basic " + base64.StdEncoding.EncodeToString([]byte("chaos:"+key["secret"].(string)+"|0"))
	body := fmt.Sprintf(`{"description": "chaos", "file": {"columnDelimiter": "Csv", "columns": [{"name": "vanid"}, {"name": "score"}],
	  "hasHeader": true, "sourceUrl": %q}, "actions": [{"actionType": "Score", "personIdColumn": "vanid", "personIdType": "VANID",
	  "scoreColumn": "score", "scoreId": %d}]}`, sourceURL, score.ScoreID)
	code, _, out := s.Do("POST", "/v4/fileLoadingJobs", body, "Authorization", auth)
	if code != 201 {
		t.Fatalf("POST: %d %s", code, out)
	}
	var created struct{ JobID int64 }
	_ = json.Unmarshal(out, &created)

	dbURL := ""
	for _, kv := range s.Env {
		if v, ok := strings.CutPrefix(kv, "TURNOUT_DATABASE_URL="); ok {
			dbURL = v
		}
	}
	ctx := context.Background()
	db, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(ctx)

	// Kill the worker once it has read part of the file.
	waitMidLoad(t, db, created.JobID, rows, 2*time.Minute, "the worker could be killed")
	if err := s.worker.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = s.worker.Wait()
	s.worker = s.start("turnout-worker")

	deadline := time.Now().Add(5 * time.Minute)
	var status string
	var attempts int
	for time.Now().Before(deadline) {
		_ = db.QueryRow(ctx, `SELECT status, attempts FROM jobs WHERE id = $1`, created.JobID).Scan(&status, &attempts)
		if status == "succeeded" || status == "failed" {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if status != "succeeded" || attempts < 2 {
		t.Fatalf("job %s after %d attempts, want succeeded after a retry; logs:\n%.3000s", status, attempts, s.Logs)
	}
	var updates, people, sum int64
	_ = db.QueryRow(ctx, `SELECT count(*) FROM van_score_updates WHERE job_id = $1`, created.JobID).Scan(&updates)
	_ = db.QueryRow(ctx, `SELECT count(*), coalesce(sum(value::numeric), 0)::bigint FROM van_score_update_values v
		JOIN van_score_updates u ON u.id = v.score_update_id WHERE u.job_id = $1`, created.JobID).Scan(&people, &sum)
	if updates != 1 || people != rows || sum != wantSum {
		t.Errorf("after the retry: %d score updates, %d values summing to %d; want 1, %d, %d", updates, people, sum, rows, wantSum)
	}
	_ = os.Remove(filepath.Join(dir, "people.csv"))
}
