package e2e

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// PostgreSQL crashes (an immediate shutdown: every connection dropped, no
// checkpoint) while a score file is being loaded, and comes back a few
// seconds later. Meanwhile every surface answers 503 in its own error shape,
// naming the database and nothing about it (no address, no driver error),
// /readyz says PostgreSQL is down, and neither process exits. Once the
// server is back the API serves again without a restart, and the load is
// retried and finishes once: one score update, every row's value once.
func TestChaosPostgresRestartsMidLoad(t *testing.T) {
	const rows = 300000
	pg := startPostgres(t)
	s := StartStack(t, "TURNOUT_DATABASE_URL="+pg.url("turnout"), "TURNOUT_ALLOW_NETWORKS=127.0.0.0/8",
		"TURNOUT_RETRY_BASE=500ms", "TURNOUT_LOG_LEVEL=info")
	dir := t.TempDir()
	s.CLI("gen", "people", "--count", fmt.Sprint(rows), "--seed", "5", "--out", filepath.Join(dir, "people.csv"))
	s.CLI("people", "import", "--db-mode", "0", filepath.Join(dir, "people.csv"))
	key := s.CreateKey("--name", "chaos", "--scopes", "van,admin,targets,metrics", "--van-app", "chaos", "--db-mode", "0",
		"--rate-limit", "100000")
	secret := key["secret"].(string)
	var score struct{ ScoreID int64 }
	_ = json.Unmarshal([]byte(s.CLI("scores", "create", "--name", "Chaos", "--min", "0", "--max", "100", "--json")), &score)

	sourceURL, wantSum := serveScores(t, rows)

	vanAuth := "Basic " + base64.StdEncoding.EncodeToString([]byte("chaos:"+secret+"|0"))
	load := fmt.Sprintf(`{"description": "chaos", "file": {"columnDelimiter": "Csv", "columns": [{"name": "vanid"}, {"name": "score"}],
	  "hasHeader": true, "sourceUrl": %q}, "actions": [{"actionType": "Score", "personIdColumn": "vanid", "personIdType": "VANID",
	  "scoreColumn": "score", "scoreId": %d}]}`, sourceURL, score.ScoreID)
	code, _, out := s.Do("POST", "/v4/fileLoadingJobs", load, "Authorization", vanAuth)
	if code != 201 {
		t.Fatalf("POST /v4/fileLoadingJobs: %d %s", code, out)
	}
	var created struct{ JobID int64 }
	_ = json.Unmarshal(out, &created)

	// Crash the server once the worker is part way through the file.
	ctx := context.Background()
	db, err := pgx.Connect(ctx, pg.url("turnout"))
	if err != nil {
		t.Fatal(err)
	}
	waitMidLoad(t, db, created.JobID, rows, 30*time.Second, "PostgreSQL could be stopped")
	db.Close(ctx)
	pg.crash()

	// Every surface, in its own error shape: 503, Retry-After, a message
	// that names the database and nothing about where or what it is.
	outage := []struct {
		surface, method, path, body string
		headers                     []string
		shape                       func(map[string]any) bool
	}{
		{"VAN", "GET", fmt.Sprintf("/v4/fileLoadingJobs/%d", created.JobID), "", []string{"Authorization", vanAuth}, vanShape},
		{"VAN", "POST", "/v4/fileLoadingJobs", load, []string{"Authorization", vanAuth}, vanShape},
		{"native", "GET", fmt.Sprintf("/service/jobs/%d", created.JobID), "", []string{"X-API-Key", secret}, nativeShape},
		{"native", "POST", "/service/jobs", "", []string{"X-API-Key", secret}, nativeShape},
		{"targets", "GET", "/api/targettypes", "", []string{"X-API-Key", secret}, func(m map[string]any) bool {
			return m["status"] == float64(503) && m["requestId"] != nil
		}},
		{"Salsa", "GET", "/api/integration/ext/v1/metrics", "", []string{"authToken", secret}, func(m map[string]any) bool {
			errs, _ := m["errors"].([]any)
			return len(errs) == 1 && errs[0].(map[string]any)["code"] == float64(503)
		}},
		{"Rocky", "GET", "/api/v4/registrations/pdf_ready?UID=0123456789abcdef", "", nil, func(m map[string]any) bool {
			return len(m) == 1
		}},
	}
	for _, p := range outage {
		code, h, body := s.Do(p.method, p.path, p.body, p.headers...)
		var m map[string]any
		_ = json.Unmarshal(body, &m)
		switch {
		case code != http.StatusServiceUnavailable && code != http.StatusGatewayTimeout:
			t.Errorf("%s %s %s with PostgreSQL down: %d %s, want 503", p.surface, p.method, p.path, code, body)
		case !strings.Contains(string(body), "database is unavailable"):
			t.Errorf("%s %s %s: %s, want a message naming the database as unavailable", p.surface, p.method, p.path, body)
		case !p.shape(m):
			t.Errorf("%s %s %s: %s is not the surface's error shape", p.surface, p.method, p.path, body)
		case h.Get("Retry-After") == "":
			t.Errorf("%s %s %s: 503 without Retry-After", p.surface, p.method, p.path)
		}
		for _, leak := range []string{"127.0.0.1", fmt.Sprint(pg.port), "postgres", "SQLSTATE", "dial", "EOF", "goroutine", secret} {
			if strings.Contains(string(body), leak) {
				t.Errorf("%s %s %s: the answer reveals %q: %s", p.surface, p.method, p.path, leak, body)
			}
		}
	}
	// The pod stays in service: readiness is about the process.
	if code, _, body := s.Do("GET", "/readyz", ""); code != 200 || !strings.Contains(string(body), `"postgres":"unavailable"`) ||
		!strings.Contains(string(body), `"redis":"ok"`) {
		t.Errorf("/readyz with PostgreSQL down: %d %s, want 200 naming postgres as unavailable", code, body)
	}
	time.Sleep(2 * time.Second) // down for a while, as a restart or a failover is
	s.assertRunning(t)
	pg.start()

	// The same processes serve again on their own.
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, _, body := s.Do("GET", fmt.Sprintf("/v4/fileLoadingJobs/%d", created.JobID), "", "Authorization", vanAuth)
		if code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("API still answers %d %s 30s after PostgreSQL came back", code, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if code, _, body := s.Do("GET", "/readyz", ""); code != 200 {
		t.Errorf("/readyz after PostgreSQL came back: %d %s", code, body)
	}
	noop := s.submitNoops(t, secret, 1, 0)

	deadline = time.Now().Add(40 * time.Second)
	for {
		_, _, body := s.Do("GET", fmt.Sprintf("/v4/fileLoadingJobs/%d", created.JobID), "", "Authorization", vanAuth)
		if strings.Contains(string(body), `"status":"Completed"`) {
			break
		}
		if strings.Contains(string(body), `"status":"Error"`) || time.Now().After(deadline) {
			t.Fatalf("the interrupted load did not complete: %s\nlogs (tail):\n%s", body, tail(s.Logs.String(), 4000))
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.waitAll(t, secret, noop, 20*time.Second)
	s.assertRunning(t)

	db, err = pgx.Connect(ctx, pg.url("turnout"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(ctx)
	var attempts int
	var updates, values, sum int64
	_ = db.QueryRow(ctx, `SELECT attempts FROM jobs WHERE id = $1`, created.JobID).Scan(&attempts)
	_ = db.QueryRow(ctx, `SELECT count(*) FROM van_score_updates WHERE job_id = $1`, created.JobID).Scan(&updates)
	_ = db.QueryRow(ctx, `SELECT count(*), coalesce(sum(value::numeric), 0)::bigint FROM van_score_update_values v
		JOIN van_score_updates u ON u.id = v.score_update_id WHERE u.job_id = $1`, created.JobID).Scan(&values, &sum)
	if attempts < 2 {
		t.Errorf("the load took %d attempt(s); PostgreSQL went down during the first, so it must have been retried", attempts)
	}
	if updates != 1 || values != rows || sum != wantSum {
		t.Errorf("after the restart: %d score updates, %d values summing to %d; want 1, %d, %d", updates, values, sum, rows, wantSum)
	}
	t.Logf("load of %d rows finished after %d attempts", rows, attempts)
	s.Stop()
}

func vanShape(m map[string]any) bool {
	errs, _ := m["errors"].([]any)
	if len(errs) != 1 {
		return false
	}
	e, _ := errs[0].(map[string]any)
	return e["code"] == "SERVICE_UNAVAILABLE" && e["referenceCode"] != nil
}

func nativeShape(m map[string]any) bool {
	msg, _ := m["error"].(string)
	return msg != "" && m["gateway_id"] != nil && m["input"] != nil
}

// assertRunning fails the test if the API or the worker has exited.
func (s *Stack) assertRunning(t *testing.T) {
	t.Helper()
	for _, c := range []*exec.Cmd{s.api, s.worker} {
		// Nobody waits for the processes, so one that exited is a zombie:
		// signal 0 would still reach it, its state says Z.
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", c.Process.Pid))
		if _, after, _ := strings.Cut(string(stat), ") "); err != nil || strings.HasPrefix(after, "Z") {
			t.Fatalf("%s exited; logs (tail):\n%s", filepath.Base(c.Path), tail(s.Logs.String(), 3000))
		}
	}
	resp, err := http.Get(s.WorkerHTTP + "/healthz")
	if err != nil {
		t.Fatalf("worker /healthz: %v", err)
	}
	resp.Body.Close()
}

// serveScores serves a zipped score file of rows people (vanid i scores
// (i*7919) mod 101) over HTTP for the test's life, and returns its URL and
// the sum of its scores.
func serveScores(t *testing.T, rows int) (string, int64) {
	t.Helper()
	var csv bytes.Buffer
	csv.WriteString("vanid,score\n")
	var sum int64
	for i := 1; i <= rows; i++ {
		v := (i * 7919) % 101
		sum += int64(v)
		fmt.Fprintf(&csv, "%d,%d\n", i, v)
	}
	var zbuf bytes.Buffer
	zw := zip.NewWriter(&zbuf)
	w, _ := zw.Create("scores.csv")
	_, _ = w.Write(csv.Bytes())
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	files := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(zbuf.Bytes()) }))
	t.Cleanup(files.Close)
	return files.URL + "/scores.zip", sum
}

// waitMidLoad waits until job has read part of its rows-row file, so the
// test can break something in the middle of the load.
func waitMidLoad(t *testing.T, db *pgx.Conn, job int64, rows int, within time.Duration, what string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		var status string
		var done int64
		_ = db.QueryRow(context.Background(), `SELECT status, progress_done FROM jobs WHERE id = $1`, job).Scan(&status, &done)
		if status == "running" && done > 0 && done < int64(rows) {
			return
		}
		if status == "succeeded" || time.Now().After(deadline) {
			t.Fatalf("job %s with %d rows done before %s mid-load", status, done, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// The API and the worker started while PostgreSQL is down (services coming
// up together in any order) wait for it, saying so in the log, and serve
// once it answers: no exit, no restart policy needed.
func TestChaosServicesStartedBeforePostgreSQLWaitForIt(t *testing.T) {
	pg := startPostgres(t)
	s := StartStack(t, "TURNOUT_DATABASE_URL="+pg.url("turnout"))
	key := s.CreateKey("--name", "early", "--scopes", "admin")
	s.Stop()
	pg.crash()

	s.api = s.start("turnout-api")
	s.worker = s.start("turnout-worker", "--http-addr", strings.TrimPrefix(s.WorkerHTTP, "http://"))
	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(s.Logs.String(), `"msg":"waiting for PostgreSQL"`) < 4 { // two each
		if time.Now().After(deadline) {
			t.Fatalf("no process says it waits for PostgreSQL; logs (tail):\n%s", tail(s.Logs.String(), 3000))
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, c := range []*exec.Cmd{s.api, s.worker} {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", c.Process.Pid))
		if _, after, _ := strings.Cut(string(stat), ") "); err != nil || strings.HasPrefix(after, "Z") {
			t.Fatalf("%s exited while PostgreSQL was down; logs (tail):\n%s", filepath.Base(c.Path), tail(s.Logs.String(), 3000))
		}
	}

	pg.start()
	s.waitReady()
	s.waitAll(t, key["secret"].(string), s.submitNoops(t, key["secret"].(string), 3, 0), 20*time.Second)
	s.assertRunning(t)
	s.Stop()
}
