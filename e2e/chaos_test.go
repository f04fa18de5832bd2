package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// redisServer is a Redis of the test's own (no persistence), so it can be
// flushed, killed and restarted without touching anyone else's.
type redisServer struct {
	t    *testing.T
	port int
	cmd  *exec.Cmd
}

func startRedis(t *testing.T, port int) *redisServer {
	t.Helper()
	if port == 0 {
		l, _ := net.Listen("tcp", "127.0.0.1:0")
		port = l.Addr().(*net.TCPAddr).Port
		l.Close()
	}
	r := &redisServer{t: t, port: port}
	r.cmd = exec.Command("redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	if err := r.cmd.Start(); err != nil {
		t.Fatalf("start redis-server: %v", err)
	}
	t.Cleanup(r.stop)
	for i := 0; i < 100; i++ {
		if c, err := net.Dial("tcp", r.addr()); err == nil {
			c.Close()
			return r
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("redis-server did not start")
	return nil
}

func (r *redisServer) addr() string { return "127.0.0.1:" + strconv.Itoa(r.port) }

func (r *redisServer) stop() {
	if r.cmd.ProcessState == nil {
		_ = r.cmd.Process.Kill()
		_ = r.cmd.Wait()
	}
}

func (r *redisServer) cli(args ...string) {
	out, err := exec.Command("redis-cli", append([]string{"-p", strconv.Itoa(r.port)}, args...)...).CombinedOutput()
	if err != nil {
		r.t.Fatalf("redis-cli %v: %v %s", args, err, out)
	}
}

type jobView struct {
	ID       int64
	Status   string
	Attempts int
}

func (s *Stack) submitNoops(t *testing.T, secret string, n, sleepMS int) []int64 {
	t.Helper()
	var ids []int64
	for i := 0; i < n; i++ {
		code, _, body := s.Do("POST", "/service/jobs", fmt.Sprintf(`{"sleepMs":%d}`, sleepMS), "X-API-Key", secret)
		if code != 202 {
			t.Fatalf("POST /service/jobs: %d %s", code, body)
		}
		var r struct{ Job jobView }
		_ = json.Unmarshal(body, &r)
		ids = append(ids, r.Job.ID)
	}
	return ids
}

// waitAll waits until every job succeeded and returns them.
func (s *Stack) waitAll(t *testing.T, secret string, ids []int64, within time.Duration) []jobView {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		var views []jobView
		pending := 0
		for _, id := range ids {
			_, _, body := s.Do("GET", fmt.Sprintf("/service/jobs/%d", id), "", "X-API-Key", secret)
			var r struct{ Job jobView }
			_ = json.Unmarshal(body, &r)
			views = append(views, r.Job)
			if r.Job.Status != "succeeded" {
				pending++
			}
		}
		if pending == 0 {
			return views
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d jobs unfinished after %s: %+v\nlogs (tail):\n%s", pending, len(ids), within, views, tail(s.Logs.String(), 3000))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// Redis is transport, PostgreSQL the truth: losing Redis's data (FLUSHALL)
// or Redis itself (a restart without persistence) while jobs are queued
// and running loses no job and runs none twice.
func TestChaosRedisLosesEverythingWhileJobsRun(t *testing.T) {
	r := startRedis(t, 0)
	s := StartStack(t, "TURNOUT_REDIS_URL=redis://"+r.addr()+"/0", "TURNOUT_WORKER_CONCURRENCY=4")
	secret := s.CreateKey("--name", "chaos", "--scopes", "admin", "--rate-limit", "100000")["secret"].(string)

	ids := s.submitNoops(t, secret, 30, 300)
	time.Sleep(700 * time.Millisecond) // some done, some running, most queued
	r.cli("FLUSHALL")
	views := s.waitAll(t, secret, ids, 60*time.Second)
	for _, v := range views {
		if v.Attempts != 1 {
			t.Errorf("job %d ran %d times after FLUSHALL, want once", v.ID, v.Attempts)
		}
	}

	// Redis goes away entirely; clients keep submitting (the rows are the
	// promise), and everything runs once Redis is back, empty.
	more := s.submitNoops(t, secret, 10, 200)
	time.Sleep(300 * time.Millisecond)
	r.stop()
	during := s.submitNoops(t, secret, 5, 0)
	time.Sleep(time.Second)
	startRedis(t, r.port)
	views = s.waitAll(t, secret, append(more, during...), 90*time.Second)
	for _, v := range views {
		if v.Attempts > 1 {
			t.Errorf("job %d ran %d times across a Redis restart, want once", v.ID, v.Attempts)
		}
	}
	if !strings.Contains(s.Logs.String(), "re-enqueued orphaned jobs") {
		t.Errorf("the reconciler never re-enqueued anything; the test did not exercise it")
	}
	s.Stop()
}

// SIGTERM under load: the API finishes every request it accepted (a client
// either gets a whole response or never reached the server — no job is
// created whose response was lost) and the worker's in-flight jobs finish
// or are retried by the next worker.
func TestChaosSIGTERMUnderLoad(t *testing.T) {
	s := StartStack(t, "TURNOUT_WORKER_CONCURRENCY=4")
	secret := s.CreateKey("--name", "load", "--scopes", "admin", "--rate-limit", "100000")["secret"].(string)

	var (
		mu       sync.Mutex
		accepted []int64
		failures int
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	hc := &http.Client{Timeout: 10 * time.Second}
	for c := 0; c < 4; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				req, _ := http.NewRequest("POST", s.URL+"/service/jobs", strings.NewReader(`{"sleepMs":30}`))
				req.Header.Set("X-API-Key", secret)
				resp, err := hc.Do(req)
				if err != nil {
					mu.Lock()
					failures++
					mu.Unlock()
					time.Sleep(20 * time.Millisecond)
					continue
				}
				var r struct{ Job jobView }
				body, rerr := io.ReadAll(resp.Body)
				resp.Body.Close()
				if rerr != nil || json.Unmarshal(body, &r) != nil {
					t.Errorf("a response was cut off: status %d, read error %v, body %q", resp.StatusCode, rerr, body)
					continue
				}
				if resp.StatusCode == 202 {
					mu.Lock()
					accepted = append(accepted, r.Job.ID)
					mu.Unlock()
				}
			}
		}()
	}
	time.Sleep(1500 * time.Millisecond)
	_ = s.api.Process.Signal(syscall.SIGTERM)
	_ = s.worker.Process.Signal(syscall.SIGTERM)
	if err := s.api.Wait(); err != nil {
		t.Errorf("API exit after SIGTERM: %v", err)
	}
	time.Sleep(200 * time.Millisecond) // clients now meet a closed port
	close(stop)
	wg.Wait()
	if err := s.worker.Wait(); err != nil {
		t.Errorf("worker exit after SIGTERM: %v", err)
	}
	if len(accepted) == 0 {
		t.Fatal("no request was accepted before SIGTERM; the test did not exercise anything")
	}

	// Every job in the database was answered with 202, and vice versa.
	db, err := pgx.Connect(context.Background(), s.env("TURNOUT_DATABASE_URL"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(context.Background())
	var rows int
	if err := db.QueryRow(context.Background(), `SELECT count(*) FROM jobs`).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != len(accepted) {
		t.Fatalf("%d jobs in the database, %d answered 202: a response was lost", rows, len(accepted))
	}

	// A new API and worker finish everything that was left.
	s.api = s.start("turnout-api")
	s.worker = s.start("turnout-worker")
	s.waitReady()
	views := s.waitAll(t, secret, accepted, 90*time.Second)
	for _, v := range views {
		if v.Attempts > 2 {
			t.Errorf("job %d took %d attempts", v.ID, v.Attempts)
		}
	}
	t.Logf("%d jobs accepted, %d client errors after the port closed", len(accepted), failures)
	s.Stop()
}
