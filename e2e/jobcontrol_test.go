package e2e

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

type jobRow struct {
	Status     string
	Attempts   int
	CanceledBy *string
}

func readJob(t *testing.T, db *pgx.Conn, id int64) jobRow {
	t.Helper()
	var j jobRow
	if err := db.QueryRow(context.Background(), `SELECT status, attempts, canceled_by FROM jobs WHERE id = $1`, id).
		Scan(&j.Status, &j.Attempts, &j.CanceledBy); err != nil {
		t.Fatalf("read job %d: %v", id, err)
	}
	return j
}

// waitJob waits until the job's row satisfies ok.
func waitJob(t *testing.T, s *Stack, db *pgx.Conn, id int64, within time.Duration, what string, ok func(jobRow) bool) jobRow {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		j := readJob(t, db, id)
		if ok(j) {
			return j
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %d is %+v after %s, want %s; logs (tail):\n%s", id, j, within, what, tail(s.Logs.String(), 3000))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// reconcilePasses reads the worker's count of reconciler passes.
func (s *Stack) reconcilePasses(t *testing.T) int {
	t.Helper()
	resp, err := http.Get(s.WorkerHTTP + "/metrics")
	if err != nil {
		t.Fatalf("worker /metrics: %v", err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "turnout_reconcile_passes_total "); ok {
			n, _ := strconv.ParseFloat(v, 64)
			return int(n)
		}
	}
	return 0
}

// waitReconcilePasses waits until the reconciler has run n more passes.
func (s *Stack) waitReconcilePasses(t *testing.T, n int) {
	t.Helper()
	want := s.reconcilePasses(t) + n
	deadline := time.Now().Add(30 * time.Second)
	for s.reconcilePasses(t) < want {
		if time.Now().After(deadline) {
			t.Fatalf("the reconciler did not run %d passes in 30s", n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// A file load canceled by its owner while it runs stops at once, leaves no
// rows behind, and stays canceled: the reconciler does not bring it back.
func TestCancelLoadMidRunUndoesItAndStaysCanceled(t *testing.T) {
	if testing.Short() {
		t.Skip("loads 200,000 rows")
	}
	const rows = 200000
	s := StartStack(t, "TURNOUT_ALLOW_NETWORKS=127.0.0.0/8", "TURNOUT_LOG_LEVEL=info")
	dir := t.TempDir()
	s.CLI("gen", "people", "--count", fmt.Sprint(rows), "--seed", "3", "--out", filepath.Join(dir, "people.csv"))
	s.CLI("people", "import", "--db-mode", "0", filepath.Join(dir, "people.csv"))
	key := s.CreateKey("--name", "loader", "--scopes", "van", "--van-app", "loader", "--db-mode", "0")
	secret := key["secret"].(string)
	var score struct{ ScoreID int64 }
	_ = json.Unmarshal([]byte(s.CLI("scores", "create", "--name", "Cancel", "--min", "0", "--max", "100", "--json")), &score)
	sourceURL, _ := serveScores(t, rows)

	auth := "Basic " + base64.StdEncoding.EncodeToString([]byte("loader:"+secret+"|0"))
	code, _, out := s.Do("POST", "/v4/fileLoadingJobs", scoreLoad(sourceURL, score.ScoreID), "Authorization", auth)
	if code != 201 {
		t.Fatalf("POST /v4/fileLoadingJobs: %d %s", code, out)
	}
	var created struct{ JobID int64 }
	_ = json.Unmarshal(out, &created)
	db := s.db(t)
	waitMidLoad(t, db, created.JobID, rows, 2*time.Minute, "it could be canceled")

	code, _, out = s.Do("POST", fmt.Sprintf("/service/jobs/%d/cancel", created.JobID), "", "X-API-Key", secret)
	if code != 200 || !strings.Contains(string(out), `"status":"canceled"`) {
		t.Fatalf("POST /service/jobs/%d/cancel: %d %s, want 200 and the job canceled", created.JobID, code, out)
	}
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(s.Logs.String(), "job canceled; its attempt was stopped and undone") {
		if time.Now().After(deadline) {
			t.Fatalf("the worker never stopped the canceled run; logs (tail):\n%s", tail(s.Logs.String(), 3000))
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.waitReconcilePasses(t, 2)
	j := readJob(t, db, created.JobID)
	if j.Status != "canceled" || j.Attempts != 1 || j.CanceledBy == nil || *j.CanceledBy != "key:loader" {
		t.Errorf("after two reconciler passes the job is %+v, want canceled by key:loader after 1 attempt", j)
	}
	var updates, values, applied int64
	ctx := context.Background()
	_ = db.QueryRow(ctx, `SELECT count(*) FROM van_score_updates WHERE job_id = $1`, created.JobID).Scan(&updates)
	_ = db.QueryRow(ctx, `SELECT count(*) FROM van_score_update_values v JOIN van_score_updates u ON u.id = v.score_update_id
		WHERE u.job_id = $1`, created.JobID).Scan(&values)
	_ = db.QueryRow(ctx, `SELECT count(*) FROM van_person_scores WHERE score_id = $1`, score.ScoreID).Scan(&applied)
	if updates != 0 || values != 0 || applied != 0 {
		t.Errorf("the canceled load left %d score updates, %d values, %d person scores; want none", updates, values, applied)
	}
	// The owner sees who canceled it and when, in the job and its history.
	code, _, out = s.Do("GET", fmt.Sprintf("/service/jobs/%d", created.JobID), "", "X-API-Key", secret)
	if code != 200 || !strings.Contains(string(out), `"canceledBy":"key:loader"`) || !strings.Contains(string(out), `"action":"canceled"`) {
		t.Errorf("GET /service/jobs/%d: %d %s, want canceledBy and a canceled event", created.JobID, code, out)
	}
}

func scoreLoad(sourceURL string, scoreID int64) string {
	return fmt.Sprintf(`{"description": "load", "file": {"columnDelimiter": "Csv", "columns": [{"name": "vanid"}, {"name": "score"}],
	  "hasHeader": true, "sourceUrl": %q}, "actions": [{"actionType": "Score", "personIdColumn": "vanid", "personIdType": "VANID",
	  "scoreColumn": "score", "scoreId": %d}]}`, sourceURL, scoreID)
}

// A load whose source is missing fails; once the file is there, a retry
// from the CLI runs it again as a new attempt and it succeeds, the old
// error kept in its history.
func TestRetryFailedLoadAfterItsSourceIsFixed(t *testing.T) {
	s := StartStack(t, "TURNOUT_ALLOW_NETWORKS=127.0.0.0/8", "TURNOUT_RETRY_BASE=100ms")
	dir := t.TempDir()
	s.CLI("gen", "people", "--count", "100", "--seed", "3", "--out", filepath.Join(dir, "people.csv"))
	s.CLI("people", "import", "--db-mode", "0", filepath.Join(dir, "people.csv"))
	key := s.CreateKey("--name", "loader", "--scopes", "van", "--van-app", "loader", "--db-mode", "0")
	var score struct{ ScoreID int64 }
	_ = json.Unmarshal([]byte(s.CLI("scores", "create", "--name", "Retry", "--min", "0", "--max", "100", "--json")), &score)
	var fixed atomic.Bool
	files := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !fixed.Load() {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte("vanid,score\n1,50\n2,60\n"))
	}))
	t.Cleanup(files.Close)

	auth := "Basic " + base64.StdEncoding.EncodeToString([]byte("loader:"+key["secret"].(string)+"|0"))
	code, _, out := s.Do("POST", "/v4/fileLoadingJobs", scoreLoad(files.URL+"/scores.csv", score.ScoreID), "Authorization", auth)
	if code != 201 {
		t.Fatalf("POST /v4/fileLoadingJobs: %d %s", code, out)
	}
	var created struct{ JobID int64 }
	_ = json.Unmarshal(out, &created)
	db := s.db(t)
	failed := waitJob(t, s, db, created.JobID, 60*time.Second, "failed", func(j jobRow) bool { return j.Status == "failed" })

	fixed.Store(true)
	var retried struct{ Job struct{ Status string } }
	if err := json.Unmarshal([]byte(s.CLI("jobs", "retry", fmt.Sprint(created.JobID), "--json")), &retried); err != nil || retried.Job.Status != "queued" {
		t.Fatalf("jobs retry --json: %+v %v, want the job queued", retried, err)
	}
	done := waitJob(t, s, db, created.JobID, 30*time.Second, "succeeded", func(j jobRow) bool { return j.Status == "succeeded" })
	if done.Attempts != failed.Attempts+1 {
		t.Errorf("attempts after the retry: %d, want %d (the failed ones plus one)", done.Attempts, failed.Attempts+1)
	}
	var show struct {
		Job     struct{ Attempts int }
		History []struct{ Action, Actor string }
	}
	if err := json.Unmarshal([]byte(s.CLI("jobs", "show", fmt.Sprint(created.JobID), "--json")), &show); err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, ev := range show.History {
		actions = append(actions, ev.Action)
	}
	if len(actions) < 2 || actions[0] != "attempt_failed" || !strings.Contains(strings.Join(actions, ","), "retried") {
		t.Errorf("history %v, want the failed attempt(s) then the retry", actions)
	}
}

// Every key lists its own jobs and no one else's; admin lists them all;
// pages follow one another without gaps or repeats, newest first.
func TestJobListPagesAndOwnership(t *testing.T) {
	s := StartStack(t, "TURNOUT_ALLOW_NETWORKS=127.0.0.0/8")
	admin := s.CreateKey("--name", "ops", "--scopes", "admin", "--rate-limit", "10000")["secret"].(string)
	var score struct{ ScoreID int64 }
	_ = json.Unmarshal([]byte(s.CLI("scores", "create", "--name", "List", "--min", "0", "--max", "100", "--json")), &score)
	files := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(files.Close)
	van := s.CreateKey("--name", "vanuser", "--scopes", "van", "--van-app", "v", "--db-mode", "0", "--rate-limit", "10000")
	vanSecret := van["secret"].(string)
	noops := s.submitNoops(t, admin, 5, 0)
	auth := "Basic " + base64.StdEncoding.EncodeToString([]byte("v:"+vanSecret+"|0"))
	var loads []int64
	for range 2 {
		code, _, out := s.Do("POST", "/v4/fileLoadingJobs", scoreLoad(files.URL+"/x.csv", score.ScoreID), "Authorization", auth)
		var created struct{ JobID int64 }
		if code != 201 || json.Unmarshal(out, &created) != nil {
			t.Fatalf("POST /v4/fileLoadingJobs: %d %s", code, out)
		}
		loads = append(loads, created.JobID)
	}

	list := func(secret, query string) ([]int64, string) {
		t.Helper()
		code, _, out := s.Do("GET", "/service/jobs"+query, "", "X-API-Key", secret)
		var r struct {
			Jobs []struct {
				ID      int64
				KeyName string
			}
			NextCursor *string
			Error      any
		}
		if code != 200 || json.Unmarshal(out, &r) != nil || r.Error != nil {
			t.Fatalf("GET /service/jobs%s: %d %s", query, code, out)
		}
		var ids []int64
		for _, j := range r.Jobs {
			ids = append(ids, j.ID)
		}
		next := ""
		if r.NextCursor != nil {
			next = *r.NextCursor
		}
		return ids, next
	}
	if ids, _ := list(vanSecret, ""); fmt.Sprint(ids) != fmt.Sprint([]int64{loads[1], loads[0]}) {
		t.Errorf("the van key lists %v, want only its own loads %v, newest first", ids, []int64{loads[1], loads[0]})
	}
	var all []int64
	cursor, pages := "", 0
	for {
		q := "?limit=2"
		if cursor != "" {
			q += "&cursor=" + cursor
		}
		ids, next := list(admin, q)
		all = append(all, ids...)
		pages++
		if next == "" || pages > 10 {
			break
		}
		cursor = next
	}
	want := []int64{loads[1], loads[0], noops[4], noops[3], noops[2], noops[1], noops[0]}
	if fmt.Sprint(all) != fmt.Sprint(want) {
		t.Errorf("admin paged through %v in %d pages, want %v", all, pages, want)
	}
	if ids, _ := list(admin, "?kind=noop&limit=200"); len(ids) != 5 {
		t.Errorf("kind=noop lists %d jobs, want 5", len(ids))
	}
	if code, _, out := s.Do("GET", "/service/jobs?status=bogus", "", "X-API-Key", admin); code != 400 || !strings.Contains(string(out), "status") {
		t.Errorf("GET /service/jobs?status=bogus: %d %s, want 400 naming status", code, out)
	}
	// Another key's job is missing, to read and to cancel.
	for _, p := range []string{"GET /service/jobs/%d", "POST /service/jobs/%d/cancel", "POST /service/jobs/%d/retry"} {
		method, path, _ := strings.Cut(fmt.Sprintf(p, noops[0]), " ")
		if code, _, out := s.Do(method, path, "", "X-API-Key", vanSecret); code != 404 {
			t.Errorf("%s %s with another key: %d %s, want 404", method, path, code, out)
		}
	}
	// A finished job cannot be canceled; the answer says why.
	s.waitAll(t, admin, noops[:1], 30*time.Second)
	if code, _, out := s.Do("POST", fmt.Sprintf("/service/jobs/%d/cancel", noops[0]), "", "X-API-Key", admin); code != 409 ||
		!strings.Contains(string(out), "succeeded") {
		t.Errorf("cancel of a succeeded job: %d %s, want 409 naming its status", code, out)
	}
}

// The dashboard's own HTTP API acts on jobs as the native API does: Delete
// of a pending task and Cancel of an active one cancel the job (and the
// reconciler leaves it canceled), Run on a failed job's archived task
// retries it, and actions that would change Redis alone are refused with a
// message.
func TestDashboardActionsEndInTheRecordedState(t *testing.T) {
	s := StartStack(t, "TURNOUT_ALLOW_NETWORKS=127.0.0.0/8")
	admin := s.CreateKey("--name", "ops", "--scopes", "admin,van", "--van-app", "ops", "--db-mode", "0", "--rate-limit", "10000")
	secret := admin["secret"].(string)
	dash := func(method, path, body string) (int, []byte) {
		t.Helper()
		code, _, out := s.Do(method, "/monitoring/api"+path, body, "X-API-Key", secret)
		return code, out
	}
	db := s.db(t)

	// Every queue is listed, critical included, before any task.
	if code, out := dash("GET", "/queues", ""); code != 200 || !strings.Contains(string(out), `"queue":"critical"`) {
		t.Errorf("GET /monitoring/api/queues: %d %s, want every queue", code, out)
	}
	if code, _, out := s.Do("GET", "/monitoring/manifest.json", ""); code != 200 {
		t.Errorf("GET /monitoring/manifest.json without credentials: %d %s, want 200", code, out)
	}

	// Delete of a pending task (the queue is paused so it stays pending).
	if code, out := dash("POST", "/queues/default:pause", ""); code != 204 {
		t.Fatalf("pause default: %d %s", code, out)
	}
	pending := s.submitNoops(t, secret, 1, 0)[0]
	if code, out := dash("DELETE", fmt.Sprintf("/queues/default/pending_tasks/job:%d", pending), ""); code != 204 {
		t.Fatalf("dashboard delete of pending job:%d: %d %s, want 204", pending, code, out)
	}
	if code, out := dash("POST", "/queues/default:resume", ""); code != 204 {
		t.Fatalf("resume default: %d %s", code, out)
	}
	// Refused: these would change Redis alone.
	for _, r := range [][2]string{{"POST", "/queues/default/pending_tasks:archive_all"}, {"DELETE", "/queues/default"},
		{"DELETE", "/queues/default/pending_tasks:delete_all"}} {
		if code, out := dash(r[0], r[1], ""); code != 409 || !strings.Contains(string(out), "refused") {
			t.Errorf("%s /monitoring/api%s: %d %s, want 409 with a message", r[0], r[1], code, out)
		}
	}

	// Cancel of an active task.
	active := s.submitNoops(t, secret, 1, 60000)[0]
	waitJob(t, s, db, active, 20*time.Second, "running", func(j jobRow) bool { return j.Status == "running" })
	if code, out := dash("POST", fmt.Sprintf("/queues/default/active_tasks/job:%d:cancel", active), ""); code != 204 {
		t.Fatalf("dashboard cancel of active job:%d: %d %s, want 204", active, code, out)
	}
	s.waitReconcilePasses(t, 2)
	for _, id := range []int64{pending, active} {
		j := readJob(t, db, id)
		if j.Status != "canceled" || j.CanceledBy == nil || *j.CanceledBy != "dashboard:ops" {
			t.Errorf("job %d after the dashboard's action and two reconciler passes: %+v, want canceled by dashboard:ops", id, j)
		}
	}
	if j := readJob(t, db, pending); j.Attempts != 0 {
		t.Errorf("the deleted pending job ran %d times, want never", j.Attempts)
	}

	// Run on the archived task of a failed load retries the job.
	var fixed atomic.Bool
	files := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !fixed.Load() {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte("vanid,score\n1,50\n"))
	}))
	t.Cleanup(files.Close)
	dir := t.TempDir()
	s.CLI("gen", "people", "--count", "10", "--seed", "3", "--out", filepath.Join(dir, "people.csv"))
	s.CLI("people", "import", "--db-mode", "0", filepath.Join(dir, "people.csv"))
	var score struct{ ScoreID int64 }
	_ = json.Unmarshal([]byte(s.CLI("scores", "create", "--name", "Dash", "--min", "0", "--max", "100", "--json")), &score)
	auth := "Basic " + base64.StdEncoding.EncodeToString([]byte("ops:"+secret+"|0"))
	code, _, out := s.Do("POST", "/v4/fileLoadingJobs", scoreLoad(files.URL+"/s.csv", score.ScoreID), "Authorization", auth)
	var created struct{ JobID int64 }
	if code != 201 || json.Unmarshal(out, &created) != nil {
		t.Fatalf("POST /v4/fileLoadingJobs: %d %s", code, out)
	}
	waitJob(t, s, db, created.JobID, 60*time.Second, "failed", func(j jobRow) bool { return j.Status == "failed" })
	code, out = dash("GET", fmt.Sprintf("/queues/fileload/tasks/job:%d", created.JobID), "")
	if code != 200 || !strings.Contains(string(out), `\"status\":\"failed\"`) || !strings.Contains(string(out), `\"key\":\"ops\"`) {
		t.Errorf("the dashboard's view of the failed task: %d %s, want a summary with status and key", code, out)
	}
	fixed.Store(true)
	if code, out := dash("POST", fmt.Sprintf("/queues/fileload/archived_tasks/job:%d:run", created.JobID), ""); code != 204 {
		t.Fatalf("dashboard run of archived job:%d: %d %s, want 204", created.JobID, code, out)
	}
	waitJob(t, s, db, created.JobID, 30*time.Second, "succeeded", func(j jobRow) bool { return j.Status == "succeeded" })
}
