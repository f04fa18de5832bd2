package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/turnoutdev/turnout/internal/testkit/testenv"
)

// A queue with work waiting that no live worker serves makes /status
// degraded, naming the queue; the page also shows the version.
func TestStatusIsDegradedWhileAQueueIsUnserved(t *testing.T) {
	s := StartStack(t)
	secret := s.CreateKey("--name", "ops", "--scopes", "admin", "--rate-limit", "10000")["secret"].(string)
	// Replace the worker with one that serves fileload only.
	_ = s.worker.Process.Signal(syscall.SIGTERM)
	_ = s.worker.Wait()
	s.worker = s.start("turnout-worker", "--queues", "fileload")
	job := s.submitNoops(t, secret, 1, 0)[0]

	var st struct {
		Status   string
		Problems []string
		Version  string
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		code, _, out := s.Do("GET", "/status.json", "")
		_ = json.Unmarshal(out, &st)
		if code == 200 && st.Status == "degraded" && len(st.Problems) == 1 && strings.Contains(st.Problems[0], "queue default") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/status.json with default unserved: %d %s, want degraded naming queue default", code, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if st.Version == "" {
		t.Errorf("/status.json shows no version")
	}
	if _, _, page := s.Do("GET", "/status", ""); !bytes.Contains(page, []byte("queue default has")) {
		t.Errorf("the HTML status page does not name the unserved queue")
	}
	// Served again: the job runs and the page recovers.
	s.worker = s.start("turnout-worker")
	s.waitAll(t, secret, []int64{job}, 30*time.Second)
	deadline = time.Now().Add(20 * time.Second)
	for {
		_, _, out := s.Do("GET", "/status.json", "")
		_ = json.Unmarshal(out, &st)
		if st.Status == "operational" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/status.json after a worker serves default: %s, want operational", out)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// On a database that was never migrated, /readyz is 503 naming `turnout
// migrate up`, other calls are 503 saying the same, and both processes say
// so in the log and wait; once migrated, everything serves.
func TestReadyzNamesMigrateUpOnAnUnmigratedDatabase(t *testing.T) {
	env := testenv.Get(t)
	env.FlushRedis(t)
	addr := freeAddr(t)
	s := &Stack{t: t, URL: "http://" + addr, Logs: &logBuffer{}}
	s.Env = append(os.Environ(),
		"TURNOUT_DATABASE_URL="+emptyDatabase(t), "TURNOUT_REDIS_URL="+env.RedisURL,
		"TURNOUT_HTTP_ADDR="+addr, "TURNOUT_PUBLIC_URL="+s.URL, "TURNOUT_BLOB_URL=file://"+t.TempDir(),
		"TURNOUT_SHUTDOWN_TIMEOUT=10s", "TURNOUT_RECONCILE_INTERVAL=1s")
	s.api = s.start("turnout-api")
	s.WorkerHTTP = "http://" + freeAddr(t)
	s.worker = s.start("turnout-worker", "--http-addr", strings.TrimPrefix(s.WorkerHTTP, "http://"))

	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := httpGet(s.URL + "/readyz")
		if err == nil && resp.code == 503 && strings.Contains(resp.body, "turnout migrate up") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz on an unmigrated database: %+v %v, want 503 naming turnout migrate up; logs:\n%s", resp, err, s.Logs)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if code, _, out := s.Do("GET", "/service/jobs/1", "", "X-API-Key", "whatever"); code != 503 || !strings.Contains(string(out), "turnout migrate up") {
		t.Errorf("GET /service/jobs/1 on an unmigrated database: %d %s, want 503 naming turnout migrate up", code, out)
	}
	for strings.Count(s.Logs.String(), "run `turnout migrate up`") < 2 { // the API and the worker
		if time.Now().After(deadline) {
			t.Fatalf("the processes do not both say to run turnout migrate up; logs:\n%s", s.Logs)
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.CLI("migrate", "up")
	s.waitReady()
	secret := s.CreateKey("--name", "late", "--scopes", "admin")["secret"].(string)
	s.waitAll(t, secret, s.submitNoops(t, secret, 1, 0), 30*time.Second)
	s.Stop()
}

// emptyDatabase creates a database with no schema at all (the test
// databases are clones of a migrated template) and returns its URL.
func emptyDatabase(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	base := testenv.NewDatabase(t)
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	u, _ := url.Parse(base)
	name := strings.TrimPrefix(u.Path, "/") + "_empty"
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if c, err := pgx.Connect(ctx, base); err == nil {
			_, _ = c.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
			c.Close(ctx)
		}
	})
	u.Path = "/" + name
	return u.String()
}

type httpResult struct {
	code int
	body string
}

// httpGet is a GET that tolerates a server not listening yet.
func httpGet(url string) (httpResult, error) {
	resp, err := http.Get(url)
	if err != nil {
		return httpResult{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return httpResult{resp.StatusCode, string(b)}, err
}

// Every request leaves one JSON line with its route template, status and
// key id, and never the secret or the query string; every binary tells
// its version, and --help on a server prints usage and exits 0.
func TestAccessLogAndVersions(t *testing.T) {
	s := StartStack(t)
	key := s.CreateKey("--name", "ops", "--scopes", "admin")
	secret := key["secret"].(string)
	id := s.submitNoops(t, secret, 1, 0)[0]
	s.Do("GET", fmt.Sprintf("/service/jobs/%d?apiKey=%s", id, secret), "", "X-API-Key", secret)
	var line map[string]any
	deadline := time.Now().Add(5 * time.Second)
	for line == nil {
		for _, l := range strings.Split(s.Logs.String(), "\n") {
			var m map[string]any
			if json.Unmarshal([]byte(l), &m) == nil && m["msg"] == "request" && m["route"] == "/service/jobs/:id" {
				line = m
			}
		}
		if line == nil && time.Now().After(deadline) {
			t.Fatalf("no access log line for GET /service/jobs/:id; logs:\n%s", tail(s.Logs.String(), 3000))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if line["method"] != "GET" || line["status"] != float64(200) || line["key_id"] != key["id"] || line["request_id"] == "" || line["duration_ms"] == nil {
		t.Errorf("access log line %v, want method, status 200, key_id %v, request_id, duration_ms", line, key["id"])
	}
	if strings.Contains(s.Logs.String(), secret) {
		t.Errorf("the logs contain the key's secret")
	}
	for _, bin := range []string{"turnout", "turnout-api", "turnout-worker"} {
		out, err := exec.Command(filepath.Join(binDir, bin), "--version").Output()
		if err != nil || !strings.HasPrefix(string(out), bin+" ") || !strings.Contains(string(out), "revision") {
			t.Errorf("%s --version: %q %v, want the version and revision", bin, out, err)
		}
	}
	if out, err := exec.Command(filepath.Join(binDir, "turnout"), "version").Output(); err != nil || !strings.Contains(string(out), "revision") {
		t.Errorf("turnout version: %q %v", out, err)
	}
	for _, bin := range []string{"turnout-api", "turnout-worker"} {
		out, err := exec.Command(filepath.Join(binDir, bin), "--help").Output()
		if err != nil || !strings.Contains(string(out), "usage: "+bin) {
			t.Errorf("%s --help: %q %v, want usage and exit 0", bin, out, err)
		}
	}
	if _, _, out := s.Do("GET", "/metrics", "", "X-API-Key", secret); !bytes.Contains(out, []byte("turnout_build_info{")) {
		t.Errorf("/metrics lacks turnout_build_info")
	}
	s.Stop()
}
