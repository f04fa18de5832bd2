// Package e2e drives the built binaries like an operator and a client
// would: it builds turnout, turnout-api and turnout-worker, runs them
// against the test PostgreSQL and Redis, and talks to them over HTTP.
package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/turnoutdev/turnout/internal/testkit/testenv"
)

var binDir string

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		// Every test here builds and runs the binaries; make test runs them.
		fmt.Println("e2e: end-to-end tests of the built binaries are skipped with -short")
		os.Exit(0)
	}
	dir, err := os.MkdirTemp("", "turnout-e2e-bin")
	if err != nil {
		panic(err)
	}
	cmd := exec.Command("go", "build", "-o", dir+"/", "./cmd/turnout", "./cmd/turnout-api", "./cmd/turnout-worker",
		"./examples/webhook-receiver")
	cmd.Dir = ".."
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: build binaries:", err)
		os.Exit(1)
	}
	binDir = dir
	defer os.RemoveAll(dir)
	testenv.Main(m)
}

// Stack is a running API and worker with their configuration.
type Stack struct {
	t   *testing.T
	Env []string
	URL string
	// WorkerHTTP serves the worker's /healthz and /metrics.
	WorkerHTTP string
	api        *exec.Cmd
	worker     *exec.Cmd
	Logs       *logBuffer
}

// logBuffer collects the output of both processes. Each process's output is
// copied by its own goroutine, so writes must not interleave mid-line.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// StartStack migrates a fresh database and starts both binaries.
func StartStack(t *testing.T, extraEnv ...string) *Stack {
	t.Helper()
	env := testenv.Get(t)
	env.FlushRedis(t)
	addr := freeAddr(t)
	s := &Stack{t: t, URL: "http://" + addr, Logs: &logBuffer{}}
	s.Env = append(os.Environ(),
		"TURNOUT_DATABASE_URL="+testenv.NewDatabase(t),
		"TURNOUT_REDIS_URL="+env.RedisURL,
		"TURNOUT_HTTP_ADDR="+addr,
		"TURNOUT_PUBLIC_URL="+s.URL,
		"TURNOUT_BLOB_URL=file://"+t.TempDir(),
		"TURNOUT_SHUTDOWN_TIMEOUT=10s",
		"TURNOUT_RECONCILE_INTERVAL=1s",
	)
	s.Env = append(s.Env, extraEnv...)
	s.CLI("migrate", "up")
	s.api = s.start("turnout-api")
	s.WorkerHTTP = "http://" + freeAddr(t)
	s.worker = s.start("turnout-worker", "--http-addr", strings.TrimPrefix(s.WorkerHTTP, "http://"))
	s.waitReady()
	return s
}

func (s *Stack) waitReady() {
	s.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(s.URL + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.t.Fatalf("API not ready after 15s; logs:\n%s", s.Logs)
}

// env returns the value of a variable of the stack's environment.
func (s *Stack) env(name string) string {
	for i := len(s.Env) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(s.Env[i], name+"="); ok {
			return v
		}
	}
	return ""
}

func (s *Stack) start(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(binDir, name), args...)
	cmd.Env = s.Env
	cmd.Stdout, cmd.Stderr = s.Logs, s.Logs
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("start %s: %v", name, err)
	}
	s.t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return cmd
}

// CLI runs the operator CLI and returns its standard output.
func (s *Stack) CLI(args ...string) string {
	s.t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "turnout"), args...)
	cmd.Env = s.Env
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		s.t.Fatalf("turnout %s: %v\n%s", strings.Join(args, " "), err, errOut.String())
	}
	return out.String()
}

// CreateKey runs `turnout keys create ... --json`.
func (s *Stack) CreateKey(args ...string) map[string]any {
	s.t.Helper()
	out := s.CLI(append(append([]string{"keys", "create"}, args...), "--json")...)
	var k map[string]any
	if err := json.Unmarshal([]byte(out), &k); err != nil {
		s.t.Fatalf("keys create --json printed %q: %v", out, err)
	}
	if k["id"] == nil || k["secret"] == nil {
		s.t.Fatalf("keys create --json lacks id or secret: %s", out)
	}
	return k
}

// Do sends a request and returns status and body.
func (s *Stack) Do(method, path, body string, headers ...string) (int, http.Header, []byte) {
	s.t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, s.URL+path, r)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// Stop sends SIGTERM to both processes and waits for them to exit.
func (s *Stack) Stop() {
	s.t.Helper()
	for _, c := range []*exec.Cmd{s.api, s.worker} {
		_ = c.Process.Signal(syscall.SIGTERM)
	}
	for _, c := range []*exec.Cmd{s.api, s.worker} {
		done := make(chan error, 1)
		go func() { done <- c.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				s.t.Errorf("%s exited with %v after SIGTERM, want 0; logs:\n%s", filepath.Base(c.Path), err, s.Logs)
			}
		case <-time.After(20 * time.Second):
			s.t.Errorf("%s did not exit 20s after SIGTERM", filepath.Base(c.Path))
			_ = c.Process.Kill()
		}
	}
}

func TestStackServesOperatorsAndClients(t *testing.T) {
	stackServesOperatorsAndClients(t, StartStack(t))
}

// stackServesOperatorsAndClients is the smoke test of a running stack,
// whatever Redis and PostgreSQL it runs on.
func stackServesOperatorsAndClients(t *testing.T, s *Stack) {
	admin := s.CreateKey("--name", "ops", "--scopes", "admin,metrics", "--rate-limit", "100")
	secret := admin["secret"].(string)

	if code, _, body := s.Do("GET", "/readyz", ""); code != 200 || !strings.Contains(string(body), `"postgres":"ok"`) {
		t.Errorf("/readyz: %d %s", code, body)
	}

	// A job goes through API → Redis → worker → PostgreSQL.
	code, _, body := s.Do("POST", "/service/jobs", "", "X-API-Key", secret)
	if code != http.StatusAccepted {
		t.Fatalf("POST /service/jobs: %d %s", code, body)
	}
	var created struct{ Job struct{ ID int64 } }
	_ = json.Unmarshal(body, &created)
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, _, body = s.Do("GET", fmt.Sprintf("/service/jobs/%d", created.Job.ID), "", "X-API-Key", secret)
		if strings.Contains(string(body), `"status":"succeeded"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("job did not succeed in 15s: %s\nlogs:\n%s", body, s.Logs)
		}
		time.Sleep(50 * time.Millisecond)
	}

	code, _, body = s.Do("GET", "/status", "")
	if code != 200 || !strings.Contains(string(body), "operational") || !strings.Contains(string(body), "<td>fileload") {
		t.Errorf("/status: %d, want an operational page listing queues:\n%.800s", code, body)
	}

	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("ops:"+secret))
	if code, h, _ := s.Do("GET", "/monitoring/", ""); code != 401 || h.Get("WWW-Authenticate") == "" {
		t.Errorf("/monitoring/ without credentials: %d, want 401 with a Basic challenge", code)
	}
	if code, _, body := s.Do("GET", "/monitoring/", "", "Authorization", basic); code != 200 || !strings.Contains(string(body), "<html") {
		t.Errorf("/monitoring/ as operator: %d", code)
	}

	code, _, body = s.Do("GET", "/api/integration/ext/v1/metrics", "", "authToken", secret)
	if code != 200 || !strings.Contains(string(body), `"rateLimit":100`) || !strings.Contains(string(body), `"jobCreate":1`) {
		t.Errorf("metrics endpoint: %d %s", code, body)
	}
	code, _, body = s.Do("GET", "/metrics", "")
	if code != 200 || !strings.Contains(string(body), `turnout_queue_size{queue="default"}`) {
		t.Errorf("/metrics: %d, want queue metrics", code)
	}
	// The one worker serves every queue, so none would trip the alert for
	// a queue nobody serves.
	for _, q := range []string{"default", "fileload", "pdf", "reports", "notify", "critical"} {
		if want := fmt.Sprintf("turnout_queue_workers{queue=%q} 1\n", q); !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	resp, err := http.Get(s.WorkerHTTP + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	wm, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(wm), `turnout_job_attempts_total{kind="noop",outcome="succeeded"} 1`) ||
		!strings.Contains(string(wm), "\nturnout_job_outcomes_pending 0\n") {
		t.Errorf("worker /metrics lacks the succeeded noop attempt or the (empty) pending outcomes:\n%.1500s", wm)
	}

	// Keys are listed without secrets and revoked at once.
	list := s.CLI("keys", "list")
	if strings.Contains(list, secret) || !strings.Contains(list, "ops") {
		t.Errorf("keys list shows the secret or misses the key:\n%s", list)
	}
	s.CLI("keys", "revoke", fmt.Sprint(admin["id"]))
	if code, _, _ := s.Do("GET", "/api/integration/ext/v1/metrics", "", "authToken", secret); code != 401 {
		t.Errorf("revoked key: %d, want 401", code)
	}
	if out := s.CLI("migrate", "status"); !strings.Contains(out, "00001_foundation.sql") || strings.Contains(out, "pending") {
		t.Errorf("migrate status:\n%s", out)
	}

	s.Stop()
	if strings.Contains(s.Logs.String(), secret) {
		t.Error("a secret appeared in the logs")
	}
}

func TestBadConfigurationNamesTheVariable(t *testing.T) {
	cmd := exec.CommandContext(context.Background(), filepath.Join(binDir, "turnout-api"))
	cmd.Env = append(os.Environ(), "TURNOUT_REDIS_URL=http://nope", "TURNOUT_SHUTDOWN_TIMEOUT=soon")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatal("turnout-api started with a bad configuration")
	}
	for _, want := range []string{"TURNOUT_REDIS_URL", "TURNOUT_SHUTDOWN_TIMEOUT"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("error output does not name %s:\n%s", want, out)
		}
	}
}

func TestWorkerRefusesUnknownQueue(t *testing.T) {
	out, err := exec.Command(filepath.Join(binDir, "turnout-worker"), "--queues", "fileload,bogus").CombinedOutput()
	if err == nil || !strings.Contains(string(out), `unknown queue "bogus"`) {
		t.Fatalf("worker with a bogus queue: err=%v out=%s", err, out)
	}
}
