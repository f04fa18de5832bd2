package e2e

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// watchCmd is `turnout jobs watch` against the stack's API.
func (s *Stack) watchCmd(key string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(binDir, "turnout"), append([]string{"jobs", "watch"}, args...)...)
	cmd.Env = append(append([]string{}, s.Env...), "TURNOUT_API_URL="+s.URL, "TURNOUT_API_KEY="+key)
	return cmd
}

// watch runs `turnout jobs watch` to its end and returns its exit code and
// output.
func (s *Stack) watch(t *testing.T, key string, args ...string) (int, string, string) {
	t.Helper()
	cmd := s.watchCmd(key, args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatalf("jobs watch %v: %v", args, err)
		}
		return cmd.ProcessState.ExitCode(), out.String(), errOut.String()
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("jobs watch %v did not end in 60s; output:\n%s\n%s", args, out.String(), errOut.String())
	}
	return 0, "", ""
}

func (s *Stack) noop(t *testing.T, key string, sleepMS int) int64 {
	t.Helper()
	code, _, body := s.Do("POST", "/service/jobs", fmt.Sprintf(`{"sleepMs": %d}`, sleepMS), "X-API-Key", key)
	if code != http.StatusAccepted {
		t.Fatalf("POST /service/jobs: %d %s", code, body)
	}
	var created struct{ Job struct{ ID int64 } }
	_ = json.Unmarshal(body, &created)
	return created.Job.ID
}

type watchedEvent struct {
	Event string
	// ID is set on events of the stream, not on polled ones.
	ID  string
	Job struct {
		ID     int64
		Status string
		Error  *string
	}
}

// `turnout jobs watch` follows a job over the API until it ends and exits
// 0 when it succeeded, 2 when it failed (printing its error) and 3 when it
// was canceled; output that is not a terminal gets plain lines, --json one
// object per event.
func TestJobsWatchExitsByTheJobsOutcome(t *testing.T) {
	s := StartStack(t, "TURNOUT_ALLOW_NETWORKS=127.0.0.0/8")
	admin := s.CreateKey("--name", "watcher", "--scopes", "admin", "--rate-limit", "100000")["secret"].(string)

	t.Run("succeeded, plain lines", func(t *testing.T) {
		id := s.noop(t, admin, 300)
		code, out, errOut := s.watch(t, admin, fmt.Sprint(id))
		lines := strings.Split(strings.TrimSpace(out), "\n")
		last := lines[len(lines)-1]
		if code != 0 || strings.Contains(out, "\r") || !strings.Contains(last, fmt.Sprintf(" end      job %d succeeded", id)) {
			t.Errorf("exit %d, output:\n%s\nstderr: %s\nwant 0 and plain lines ending with the end event", code, out, errOut)
		}
	})

	t.Run("succeeded, polling, JSON", func(t *testing.T) {
		id := s.noop(t, admin, 300)
		code, out, errOut := s.watch(t, admin, fmt.Sprint(id), "--poll", "--interval", "50ms", "--json")
		var evs []watchedEvent
		sc := bufio.NewScanner(strings.NewReader(out))
		for sc.Scan() {
			var ev watchedEvent
			if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
				t.Fatalf("--json printed a line that is not JSON: %q", sc.Text())
			}
			evs = append(evs, ev)
		}
		if code != 0 || len(evs) < 2 || evs[0].Event != "status" || evs[len(evs)-1].Event != "end" ||
			evs[len(evs)-1].Job.ID != id || evs[len(evs)-1].Job.Status != "succeeded" {
			t.Errorf("exit %d, events %+v (stderr %s); want 0, status first, end of the succeeded job last", code, evs, errOut)
		}
	})

	t.Run("failed", func(t *testing.T) {
		people := filepath.Join(t.TempDir(), "people.csv")
		if err := os.WriteFile(people, []byte("VANID,FirstName\n1,Ada\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		s.CLI("people", "import", "--db-mode", "0", people)
		key := s.CreateKey("--name", "loader", "--scopes", "van", "--van-app", "loader", "--db-mode", "0")
		var score struct{ ScoreID int64 }
		_ = json.Unmarshal([]byte(s.CLI("scores", "create", "--name", "Watch", "--min", "0", "--max", "100", "--json")), &score)
		missing := httptest.NewServer(http.NotFoundHandler())
		t.Cleanup(missing.Close)
		auth := "Basic " + base64.StdEncoding.EncodeToString([]byte("loader:"+key["secret"].(string)+"|0"))
		code, _, body := s.Do("POST", "/v4/fileLoadingJobs", scoreLoad(missing.URL+"/scores.csv", score.ScoreID), "Authorization", auth)
		if code != 201 {
			t.Fatalf("POST /v4/fileLoadingJobs: %d %s", code, body)
		}
		var created struct{ JobID int64 }
		_ = json.Unmarshal(body, &created)
		code, out, errOut := s.watch(t, key["secret"].(string), fmt.Sprint(created.JobID))
		if code != 2 || !strings.Contains(errOut, fmt.Sprintf("turnout: job %d failed: ", created.JobID)) ||
			!strings.Contains(errOut, "404") || !strings.Contains(out, "failed") {
			t.Errorf("exit %d, stdout:\n%s\nstderr: %s\nwant 2 and the job's error on stderr", code, out, errOut)
		}
		if code, _, errOut := s.watch(t, admin+"x", fmt.Sprint(created.JobID)); code != 1 || !strings.Contains(errOut, "403") {
			t.Errorf("watch with a bad key: exit %d, stderr %s; want 1 and the refusal", code, errOut)
		}
	})

	// Without --poll, watch follows the event stream: its events have ids.
	t.Run("canceled", func(t *testing.T) {
		id := s.noop(t, admin, 60000)
		cmd := s.watchCmd(admin, fmt.Sprint(id), "--json")
		stdout, _ := cmd.StdoutPipe()
		var errOut bytes.Buffer
		cmd.Stderr = &errOut
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill() })
		sc := bufio.NewScanner(stdout)
		if !sc.Scan() {
			t.Fatalf("watch printed nothing before the cancel; stderr %s", errOut.String())
		}
		if code, _, body := s.Do("POST", fmt.Sprintf("/service/jobs/%d/cancel", id), "", "X-API-Key", admin); code != 200 {
			t.Fatalf("cancel: %d %s", code, body)
		}
		var last watchedEvent
		for sc.Scan() {
			_ = json.Unmarshal(sc.Bytes(), &last)
		}
		err := cmd.Wait()
		if cmd.ProcessState.ExitCode() != 3 || last.Event != "end" || last.ID == "" || last.Job.Status != "canceled" ||
			!strings.Contains(errOut.String(), fmt.Sprintf("job %d canceled by key:watcher", id)) {
			t.Errorf("exit %v, last event %+v, stderr %s; want 3 after the stream's end event of the canceled job", err, last, errOut.String())
		}
	})
}
