package e2e

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// sseEvent is one event of a job's event stream, or a comment.
type sseEvent struct {
	ID, Name, Comment string
	Job               struct {
		ID                                          int64
		Status                                      string
		ProgressTotal, ProgressDone, ProgressFailed int64
		Attempts                                    int
	}
	Data string
	At   time.Time
}

// watchJob opens GET /service/jobs/{id}/events on base and returns its
// events as they come; the channel closes when the stream ends.
func watchJob(t *testing.T, base string, id int64, headers ...string) <-chan sseEvent {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/service/jobs/%d/events", base, id), nil)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET events of job %d: %v", id, err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		resp.Body.Close()
		t.Fatalf("GET events of job %d: %d %s, want 200 text/event-stream", id, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	out := make(chan sseEvent, 1000)
	go func() {
		defer close(out)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.Name != "" || ev.Comment != "" {
					ev.At = time.Now()
					out <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, ": "):
				ev.Comment = line[2:]
			case strings.HasPrefix(line, "id: "):
				ev.ID = line[4:]
			case strings.HasPrefix(line, "event: "):
				ev.Name = line[7:]
			case strings.HasPrefix(line, "data: "):
				ev.Data = line[6:]
				var j struct {
					ID                                          int64
					Status                                      string
					ProgressTotal, ProgressDone, ProgressFailed int64
					Attempts                                    int
				}
				_ = json.Unmarshal([]byte(ev.Data), &j)
				ev.Job.ID, ev.Job.Status, ev.Job.Attempts = j.ID, j.Status, j.Attempts
				ev.Job.ProgressTotal, ev.Job.ProgressDone, ev.Job.ProgressFailed = j.ProgressTotal, j.ProgressDone, j.ProgressFailed
			}
		}
	}()
	return out
}

// collect reads events until the stream ends, failing after within.
func collect(t *testing.T, events <-chan sseEvent, within time.Duration, logs *logBuffer) []sseEvent {
	t.Helper()
	var got []sseEvent
	deadline := time.After(within)
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				return got
			}
			got = append(got, ev)
		case <-deadline:
			t.Fatalf("the stream did not end in %s; events so far: %v\nlogs (tail):\n%s", within, names(got), tail(logs.String(), 3000))
		}
	}
}

func names(evs []sseEvent) []string {
	var out []string
	for _, e := range evs {
		if e.Name != "" {
			out = append(out, fmt.Sprintf("%s(%s %d)", e.Name, e.Job.Status, e.Job.ProgressDone))
		} else {
			out = append(out, ": "+e.Comment)
		}
	}
	return out
}

// A 1,000,000-row score load watched from its start streams its progress
// while it runs (a few events a second, never going back), and ends with
// the final state; a client reconnecting afterwards gets that end at once.
func TestJobEventsStreamAMillionRowLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("loads 1,000,000 rows")
	}
	const rows = 1000000
	s := StartStack(t, "TURNOUT_ALLOW_NETWORKS=127.0.0.0/8")
	// No people are imported: every row is read, validated and counted
	// (as unmatched), which is all the progress there is to watch.
	key := s.CreateKey("--name", "loader", "--scopes", "van", "--van-app", "loader", "--db-mode", "0")
	secret := key["secret"].(string)
	var score struct{ ScoreID int64 }
	_ = json.Unmarshal([]byte(s.CLI("scores", "create", "--name", "Watched", "--min", "0", "--max", "100", "--json")), &score)

	// The source is served only once the stream is open, so the whole
	// load happens under watch.
	zipped := scoreZip(t, rows)
	open := make(chan struct{})
	files := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-open:
		case <-time.After(time.Minute):
		}
		_, _ = w.Write(zipped)
	}))
	t.Cleanup(files.Close)

	auth := "Basic " + base64.StdEncoding.EncodeToString([]byte("loader:"+secret+"|0"))
	code, _, out := s.Do("POST", "/v4/fileLoadingJobs", scoreLoad(files.URL+"/scores.zip", score.ScoreID), "Authorization", auth)
	if code != 201 {
		t.Fatalf("POST /v4/fileLoadingJobs: %d %s", code, out)
	}
	var created struct{ JobID int64 }
	_ = json.Unmarshal(out, &created)
	events := watchJob(t, s.URL, created.JobID, "X-API-Key", secret)
	var first sseEvent
	select {
	case first = <-events:
	case <-time.After(30 * time.Second):
		t.Fatal("no first event in 30s")
	}
	close(open)
	got := append([]sseEvent{first}, collect(t, events, 3*time.Minute, s.Logs)...)
	t.Logf("events: %v", names(got))

	if first.Name != "status" || first.Job.ID != created.JobID {
		t.Errorf("first event %s of job %d, want status of job %d", first.Name, first.Job.ID, created.JobID)
	}
	end := got[len(got)-1]
	if end.Name != "end" || end.Job.Status != "succeeded" || end.Job.ProgressDone != rows || end.Job.ProgressTotal != rows {
		t.Errorf("last event: %s %s %d/%d, want end succeeded with %d/%d rows", end.Name, end.Job.Status,
			end.Job.ProgressDone, end.Job.ProgressTotal, rows, rows)
	}
	var progress []sseEvent
	for _, ev := range got[:len(got)-1] {
		switch ev.Name {
		case "end":
			t.Errorf("an end event before the last one: %v", names(got))
		case "progress":
			progress = append(progress, ev)
		}
	}
	var midLoad bool
	for i, ev := range progress {
		midLoad = midLoad || (ev.Job.ProgressDone > 0 && ev.Job.ProgressDone < rows)
		if i == 0 {
			continue
		}
		if ev.Job.ProgressDone < progress[i-1].Job.ProgressDone {
			t.Errorf("progress went back from %d to %d", progress[i-1].Job.ProgressDone, ev.Job.ProgressDone)
		}
	}
	// The server sends at most one progress event every 250 ms; the client
	// sees that rate, give or take the delivery of the first and the last.
	if n := len(progress); n > 1 {
		if span := progress[n-1].At.Sub(progress[0].At); span < time.Duration(n-2)*250*time.Millisecond {
			t.Errorf("%d progress events in %s, want at most one every 250 ms", n, span)
		}
	}
	if !midLoad {
		t.Errorf("no progress event while the rows were read: %v", names(got))
	}

	// Reconnecting after the end, with any id seen, gets the end at once.
	for _, last := range []string{first.ID, end.ID} {
		again := collect(t, watchJob(t, s.URL, created.JobID, "X-API-Key", secret, "Last-Event-ID", last), 10*time.Second, s.Logs)
		if len(again) != 1 || again[0].Name != "end" || again[0].Data != end.Data || again[0].ID != end.ID {
			t.Errorf("reconnect with Last-Event-ID %s after the end: %v, want the same end event alone", last, names(again))
		}
	}
	other := s.CreateKey("--name", "other", "--scopes", "van", "--van-app", "other", "--db-mode", "0")
	code, _, out = s.Do("GET", fmt.Sprintf("/service/jobs/%d/events", created.JobID), "", "X-API-Key", other["secret"].(string))
	if code != http.StatusNotFound || !strings.Contains(string(out), `"error":"Query Error: job not found"`) {
		t.Errorf("another key: %d %s, want 404 job not found", code, out)
	}
}

// scoreZip is a zipped score file of rows people.
func scoreZip(t *testing.T, rows int) []byte {
	t.Helper()
	var csv bytes.Buffer
	csv.WriteString("vanid,score\n")
	for i := 1; i <= rows; i++ {
		fmt.Fprintf(&csv, "%d,%d\n", i, (i*7919)%101)
	}
	var zbuf bytes.Buffer
	zw := zip.NewWriter(&zbuf)
	w, _ := zw.Create("scores.csv")
	_, _ = w.Write(csv.Bytes())
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return zbuf.Bytes()
}

// Two API processes over the same database and Redis both stream a change
// made once, by a worker; the same state has the same event id on both,
// and idle streams carry the configured heartbeat.
func TestJobEventsReachEveryAPIProcess(t *testing.T) {
	s := StartStack(t, "TURNOUT_EVENTS_HEARTBEAT=200ms")
	second := "http://" + freeAddr(t)
	api2 := exec.Command(filepath.Join(binDir, "turnout-api"))
	api2.Env = append(slices.Clone(s.Env), "TURNOUT_HTTP_ADDR="+strings.TrimPrefix(second, "http://"))
	api2.Stdout, api2.Stderr = s.Logs, s.Logs
	if err := api2.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if api2.ProcessState == nil {
			_ = api2.Process.Kill()
			_ = api2.Wait()
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get(second + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the second API is not ready; logs:\n%s", tail(s.Logs.String(), 3000))
		}
		time.Sleep(50 * time.Millisecond)
	}
	admin := s.CreateKey("--name", "ops", "--scopes", "admin")["secret"].(string)
	code, _, body := s.Do("POST", "/service/jobs", `{"sleepMs": 1500}`, "X-API-Key", admin)
	if code != http.StatusAccepted {
		t.Fatalf("POST /service/jobs: %d %s", code, body)
	}
	var created struct{ Job struct{ ID int64 } }
	_ = json.Unmarshal(body, &created)

	a := watchJob(t, s.URL, created.Job.ID, "X-API-Key", admin)
	b := watchJob(t, second, created.Job.ID, "Authorization", "Bearer "+admin)
	ea, eb := collect(t, a, time.Minute, s.Logs), collect(t, b, time.Minute, s.Logs)
	for name, evs := range map[string][]sseEvent{"first API": ea, "second API": eb} {
		var seen []string
		pinged := false
		for _, ev := range evs {
			if ev.Comment == "ping" {
				pinged = true
			} else {
				seen = append(seen, ev.Name+":"+ev.Job.Status)
			}
		}
		if !slices.Contains(seen, "status:running") || seen[len(seen)-1] != "end:succeeded" {
			t.Errorf("%s streamed %v, want status:running, then end:succeeded last", name, seen)
		}
		if !pinged {
			t.Errorf("%s sent no heartbeat during a 1.5 s job with TURNOUT_EVENTS_HEARTBEAT=200ms: %v", name, names(evs))
		}
	}
	if la, lb := ea[len(ea)-1], eb[len(eb)-1]; la.ID != lb.ID || la.Data != lb.Data {
		t.Errorf("the two APIs end differently:\n%s %s\n%s %s", la.ID, la.Data, lb.ID, lb.Data)
	}

	// An API shutting down ends its open streams (without end: clients
	// reconnect elsewhere) and exits well within its drain time.
	code, _, body = s.Do("POST", "/service/jobs", `{"sleepMs": 60000}`, "X-API-Key", admin)
	if code != http.StatusAccepted {
		t.Fatalf("POST /service/jobs: %d %s", code, body)
	}
	_ = json.Unmarshal(body, &created)
	long := watchJob(t, second, created.Job.ID, "X-API-Key", admin)
	if ev := <-long; ev.Name != "status" {
		t.Fatalf("first event %q, want status", ev.Name)
	}
	stopped := time.Now()
	_ = api2.Process.Signal(syscall.SIGTERM)
	rest := collect(t, long, 5*time.Second, s.Logs)
	for _, ev := range rest {
		if ev.Name == "end" {
			t.Errorf("the stream of an unfinished job told end on shutdown: %v", names(rest))
		}
	}
	if err := api2.Wait(); err != nil || time.Since(stopped) > 5*time.Second {
		t.Errorf("the second API exited with %v %s after SIGTERM, want 0 within 5s (TURNOUT_SHUTDOWN_TIMEOUT is 10s)", err, time.Since(stopped))
	}
}
