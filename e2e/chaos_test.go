package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
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
