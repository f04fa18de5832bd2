package e2e

import (
	"archive/zip"
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/turnoutdev/turnout/internal/testkit/testenv"
	"github.com/turnoutdev/turnout/jobs"
)

// vanTenant is a VAN key of its own with one range score, able to submit
// score loads of a two-column file (VANID, score).
type vanTenant struct {
	s     *Stack
	auth  string
	score float64
}

func newVANTenant(t *testing.T, s *Stack, name string) *vanTenant {
	t.Helper()
	k := s.CreateKey("--name", name, "--scopes", "van", "--van-app", name, "--db-mode", "0")
	var sc map[string]any
	_ = json.Unmarshal([]byte(s.CLI("scores", "create", "--name", name, "--min", "0", "--max", "100", "--json")), &sc)
	return &vanTenant{s: s, auth: "Basic " + base64.StdEncoding.EncodeToString([]byte(name+":"+k["secret"].(string)+"|0")), score: sc["scoreId"].(float64)}
}

// load submits a score load of the file at url and returns its job id.
func (v *vanTenant) load(t *testing.T, url string, hasQuotes bool, fileName string) int64 {
	t.Helper()
	body := fmt.Sprintf(`{"description":"hostile","file":{"columnDelimiter":"Csv","hasHeader":true,"hasQuotes":%v,"fileName":%q,"sourceUrl":%q,
		"columns":[{"name":"VANID"},{"name":"score"}]},
		"actions":[{"actionType":"Score","personIdColumn":"VANID","personIdType":"VANID","scoreColumn":"score","scoreId":%v}]}`,
		hasQuotes, fileName, url, v.score)
	code, _, resp := v.s.Do("POST", "/v4/fileLoadingJobs", body, "Authorization", v.auth)
	if code != 201 {
		t.Fatalf("POST /v4/fileLoadingJobs: %d %s", code, resp)
	}
	var created struct{ JobID int64 }
	_ = json.Unmarshal(resp, &created)
	return created.JobID
}

// finished waits for the load to end and returns its job view as JSON.
func (v *vanTenant) finished(t *testing.T, id int64, within time.Duration) (status, message string, raw []byte) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		_, _, raw = v.s.Do("GET", fmt.Sprintf("/v4/fileLoadingJobs/%d", id), "", "Authorization", v.auth)
		var view struct {
			Status  string
			Message *string
		}
		_ = json.Unmarshal(raw, &view)
		if view.Status == "Completed" || view.Status == "Error" {
			if view.Message != nil {
				message = *view.Message
			}
			return view.Status, message, raw
		}
		if time.Now().After(deadline) {
			t.Fatalf("load %d not finished after %s: %s\n%s", id, within, raw, tail(v.s.Logs.String(), 3000))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// serveFiles serves dir over HTTP for the test's life.
func serveFiles(t *testing.T, dir string) string {
	t.Helper()
	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	t.Cleanup(srv.Close)
	return srv.URL
}

func (s *Stack) db(t *testing.T) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), s.env("TURNOUT_DATABASE_URL"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// A 17-byte score file with a NUL in its header fails its job at once
// with a readable error; a job whose row PostgreSQL refuses to write does
// not stop orphan recovery: after a Redis loss the reconciler of a fresh
// worker re-enqueues the other tenants' jobs, skipping that one (logged,
// counted) until it can be written.
func TestSecurityNULInAFileFailsOneJobAndRecoveryGoesOn(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "nul.csv"), []byte("VANID\x00,score\n1,5\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	files := serveFiles(t, dir)
	s := StartStack(t, "TURNOUT_ALLOW_NETWORKS=127.0.0.0/8")
	attacker := newVANTenant(t, s, "attacker")
	id := attacker.load(t, files+"/nul.csv", true, "")
	status, msg, raw := attacker.finished(t, id, 30*time.Second)
	if status != "Error" || !strings.Contains(msg, "the header row cannot be read: field 1 contains a NUL byte") || strings.ContainsRune(msg, 0) {
		t.Fatalf("NUL header: %s %q, want Error naming the header field without the NUL\n%s", status, msg, raw)
	}
	db := s.db(t)
	ctx := context.Background()
	var jobStatus string
	var attempts int
	_ = db.QueryRow(ctx, `SELECT status, attempts FROM jobs WHERE id = $1`, id).Scan(&jobStatus, &attempts)
	if jobStatus != "failed" || attempts != 1 {
		t.Fatalf("job row: %s after %d attempts, want failed after 1", jobStatus, attempts)
	}

	// The worker is down while jobs come in; then Redis loses the tasks of
	// two other tenants, and gives up on the attacker's next job, whose
	// row PostgreSQL refuses to write.
	if err := s.worker.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	_ = s.worker.Wait()
	poison := attacker.load(t, files+"/nul.csv", true, "")
	var others []int64
	for _, name := range []string{"tenant-b", "tenant-c"} {
		secret := s.CreateKey("--name", name, "--scopes", "admin")["secret"].(string)
		code, _, body := s.Do("POST", "/service/jobs", "", "X-API-Key", secret)
		if code != http.StatusAccepted {
			t.Fatalf("POST /service/jobs: %d %s", code, body)
		}
		var created struct{ Job struct{ ID int64 } }
		_ = json.Unmarshal(body, &created)
		others = append(others, created.Job.ID)
	}
	opt, _ := redis.ParseURL(testenv.Get(t).RedisURL)
	insp := asynq.NewInspector(asynq.RedisClientOpt{Addr: opt.Addr, DB: opt.DB, Password: opt.Password})
	defer insp.Close()
	if err := insp.ArchiveTask(jobs.QueueFileload, jobs.TaskID(poison)); err != nil {
		t.Fatalf("archive the poison job's task: %v", err)
	}
	for _, o := range others {
		if err := insp.DeleteTask(jobs.QueueDefault, jobs.TaskID(o)); err != nil {
			t.Fatalf("lose job %d's task: %v", o, err)
		}
	}
	// Past the reconciler's grace (one interval, 1 s here).
	if _, err := db.Exec(ctx, `UPDATE jobs SET updated_at = now() - interval '1 minute' WHERE id = ANY($1)`, append(others, poison)); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, fmt.Sprintf(`CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN RAISE EXCEPTION 'invalid byte sequence for encoding "UTF8": 0x00' USING ERRCODE = '22021'; END $$;
		CREATE TRIGGER refuse_poison BEFORE UPDATE ON jobs FOR EACH ROW WHEN (OLD.id = %d) EXECUTE FUNCTION refuse_poison()`, poison)); err != nil {
		t.Fatal(err)
	}
	s.worker = s.start("turnout-worker", "--http-addr", strings.TrimPrefix(s.WorkerHTTP, "http://"))
	deadline := time.Now().Add(60 * time.Second)
	for _, o := range others {
		for {
			_ = db.QueryRow(ctx, `SELECT status FROM jobs WHERE id = $1`, o).Scan(&jobStatus)
			if jobStatus == "succeeded" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("job %d of another tenant is %s, want re-enqueued and succeeded\n%s", o, jobStatus, tail(s.Logs.String(), 3000))
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	if want := fmt.Sprintf(`"job_id":%d`, poison); !strings.Contains(s.Logs.String(), "skipped until the next pass") || !strings.Contains(s.Logs.String(), want) {
		t.Errorf("the worker log does not name the skipped job (%s)", want)
	}
	if m := workerMetric(t, s, `turnout_job_item_failures_total{loop="reconcile"}`); m < 1 {
		t.Errorf("turnout_job_item_failures_total{loop=\"reconcile\"} = %v, want at least 1", m)
	}
	// Once the row can be written, the next pass fails the job for good.
	if _, err := db.Exec(ctx, `DROP TRIGGER refuse_poison ON jobs; DROP FUNCTION refuse_poison()`); err != nil {
		t.Fatal(err)
	}
	for {
		_ = db.QueryRow(ctx, `SELECT status FROM jobs WHERE id = $1`, poison).Scan(&jobStatus)
		if jobStatus == "failed" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("poison job is %s once writable, want failed", jobStatus)
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.Stop()
}

// workerMetric returns the value of one sample of the worker's /metrics.
func workerMetric(t *testing.T, s *Stack, sample string) float64 {
	t.Helper()
	resp, err := http.Get(s.WorkerHTTP + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, sample+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return 0
}

// A file's cells never leave the row-error store: the job's error, the
// worker's log, Redis (the task's last error) and the dashboard name line,
// column and rule only, for a row that fails validation and for a first
// row taken for a header. The caller's own row errors keep the value.
func TestSecurityFileContentsStayOutOfJobErrorsLogsAndRedis(t *testing.T) {
	const cell = "Zelda23692 Quux 1944-03-06 2186 Allen St"
	dir := t.TempDir()
	_ = os.WriteFile(filepath.Join(dir, "bad-rows.csv"), []byte("VANID,score\n"+cell+",5\n"+cell+"x,6\n"), 0o600)
	_ = os.WriteFile(filepath.Join(dir, "no-header.csv"), []byte(cell+",5\n1,6\n"), 0o600)
	files := serveFiles(t, dir)
	s := StartStack(t, "TURNOUT_ALLOW_NETWORKS=127.0.0.0/8", "TURNOUT_LOG_LEVEL=debug")
	v := newVANTenant(t, s, "leaky")
	admin := s.CreateKey("--name", "ops", "--scopes", "admin")["secret"].(string)

	cases := []struct{ file, want string }{
		{"bad-rows.csv", "first error: line 2, column VANID: VANID is not a positive integer"},
		{"no-header.csv", "field 1 of the header row is not VANID"},
	}
	var errorsShown []string
	for _, c := range cases {
		id := v.load(t, files+"/"+c.file, true, "")
		status, msg, raw := v.finished(t, id, 30*time.Second)
		if status != "Error" || !strings.Contains(msg, c.want) {
			t.Errorf("%s: %s %q, want Error with %q", c.file, status, msg, c.want)
		}
		errorsShown = append(errorsShown, msg)
		if c.file == "bad-rows.csv" && !strings.Contains(string(raw), `\"Zelda23692`) {
			t.Errorf("%s: the owner's row errors lost the value: %s", c.file, raw)
		}
	}
	ab := "Basic " + base64.StdEncoding.EncodeToString([]byte("ops:"+admin))
	_, _, dashboard := s.Do("GET", "/monitoring/api/queues/fileload/archived_tasks", "", "Authorization", ab)
	if !strings.Contains(string(dashboard), "line 2") {
		t.Errorf("the dashboard shows no archived task with its error; the check would prove nothing:\n%.1500s", dashboard)
	}
	s.Stop()
	places := map[string]string{
		"job errors":    strings.Join(errorsShown, "\n"),
		"worker log":    s.Logs.String(),
		"redis":         dumpRedis(t, testenv.Get(t).RedisURL),
		"dashboard API": string(dashboard),
	}
	for where, text := range places {
		if strings.Contains(text, "Zelda23692") {
			i := strings.Index(text, "Zelda23692")
			t.Errorf("%s quotes the file's cell: …%s…", where, text[max(i-200, 0):min(i+60, len(text))])
		}
	}
}

// The worker's peak memory is bounded by configuration, not by the file:
// a quoted field spanning 200 MB of lines (with and without hasQuotes), a
// record of a million columns and a zip of 100,000 entries, loaded at the
// same time, fail with errors naming the limit; a score file of 20
// million ids of nobody (each of the first million listed twice) loads,
// counting them exactly; and the worker's peak resident set stays under
// 200 MB.
func TestSecurityWorkerMemoryIsBoundedOnHostileFiles(t *testing.T) {
	if testing.Short() {
		t.Skip("writes and loads 400 MB of hostile files")
	}
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "quoted.csv"), func(w *bufio.Writer) {
		w.WriteString("VANID,score\n1,\"")
		line := strings.Repeat("x", 998) + "\n"
		for range 200 << 20 / 999 {
			w.WriteString(line)
		}
		w.WriteString("\"\n")
	})
	writeFile(t, filepath.Join(dir, "columns.csv"), func(w *bufio.Writer) {
		w.WriteString("VANID,score\n")
		for range 1_000_000 {
			w.WriteString("1,")
		}
		w.WriteString("1\n")
	})
	writeFile(t, filepath.Join(dir, "entries.zip"), func(w *bufio.Writer) {
		zw := zip.NewWriter(w)
		for i := range 100_000 {
			f, _ := zw.CreateHeader(&zip.FileHeader{Name: fmt.Sprintf("entry-%06d-%s.csv", i, strings.Repeat("n", 100)), Method: zip.Store})
			_, _ = f.Write([]byte("VANID,score\n1,5\n"))
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
	})
	// Distinct ids spread over a trillion (i times an odd number not a
	// multiple of 5, modulo 10^12), then the first million again.
	const nobody, again = 20_000_000, 1_000_000
	writeFile(t, filepath.Join(dir, "unmatched.csv"), func(w *bufio.Writer) {
		w.WriteString("VANID,score\n")
		var b []byte
		for i := range int64(nobody + again) {
			b = strconv.AppendInt(b[:0], 1_000_000_000+(i%nobody)*2654435761%1_000_000_000_000, 10)
			w.Write(append(b, ",5\n"...))
		}
	})
	files := serveFiles(t, dir)
	s := StartStack(t, "TURNOUT_ALLOW_NETWORKS=127.0.0.0/8")
	v := newVANTenant(t, s, "hungry")
	cases := []struct {
		file      string
		hasQuotes bool
		want      string
	}{
		{"quoted.csv", true, "the field limit"},
		{"quoted.csv", false, "the field limit"},
		{"columns.csv", true, "the column limit"},
		{"entries.zip", true, "the entry limit"},
	}
	ids := make([]int64, len(cases))
	for i, c := range cases {
		ids[i] = v.load(t, files+"/"+c.file, c.hasQuotes, "")
	}
	unmatched := v.load(t, files+"/unmatched.csv", false, "")
	for i, c := range cases {
		status, msg, _ := v.finished(t, ids[i], 3*time.Minute)
		if status != "Error" || !strings.Contains(msg, c.want) || len(msg) > 1000 {
			t.Errorf("%s (hasQuotes %v): %s %.300q (%d bytes), want a short Error naming %q", c.file, c.hasQuotes, status, msg, len(msg), c.want)
		}
	}
	status, _, raw := v.finished(t, unmatched, 5*time.Minute)
	var view struct {
		Actions []struct {
			Results *struct{ RowsValid, MatchedRows, UnmatchedRows int64 }
		}
	}
	_ = json.Unmarshal(raw, &view)
	if status != "Completed" || len(view.Actions) != 1 || view.Actions[0].Results == nil ||
		*view.Actions[0].Results != (struct{ RowsValid, MatchedRows, UnmatchedRows int64 }{nobody + again, 0, nobody}) {
		t.Errorf("unmatched.csv: %s %.500s, want Completed with %d valid rows, none matched, %d unmatched", status, raw, nobody+again, nobody)
	}
	peak := peakRSS(t, s.worker.Process.Pid)
	t.Logf("worker peak RSS after the hostile loads: %.1f MB", float64(peak)/1e6)
	if peak >= 200e6 {
		t.Errorf("worker peak RSS %.1f MB, want under 200 MB", float64(peak)/1e6)
	}
	s.Stop()
}

// writeFile streams a generated file to path.
func writeFile(t *testing.T, path string, gen func(w *bufio.Writer)) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	gen(w)
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// peakRSS is a process's peak resident set size (VmHWM), in bytes.
func peakRSS(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb * 1024
		}
	}
	t.Fatal("no VmHWM in /proc/PID/status")
	return 0
}
