package client_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/turnoutdev/turnout/client"
	"github.com/turnoutdev/turnout/internal/testkit/testenv"
)

// A job's stream starts with its status, shows its progress as it moves
// and ends with the finished job; every event has an id.
func TestEventsFollowAJobToItsEnd(t *testing.T) {
	s := newStack(t, nil)
	ctx := ctxFor(t, 30*time.Second)
	c := s.client(s.other)
	id := s.job(s.other, kindProgress)
	var names []string
	var last client.Event
	var lastDone int64 = -1
	for ev, err := range c.Events(ctx, id) {
		if err != nil {
			t.Fatalf("Events after %v: %v", names, err)
		}
		if ev.ID == "" || ev.Job.ID != id {
			t.Errorf("event %+v: want an id and job %d", ev, id)
		}
		if ev.Name == client.EventProgress {
			if ev.Job.ProgressDone < lastDone || ev.Job.ProgressTotal != progressRows {
				t.Errorf("progress %d/%d after %d, want it to grow towards %d", ev.Job.ProgressDone, ev.Job.ProgressTotal, lastDone, progressRows)
			}
			lastDone = ev.Job.ProgressDone
		}
		names = append(names, ev.Name)
		last = ev
	}
	if names[0] != client.EventStatus || last.Name != client.EventEnd || last.Job.Status != client.StatusSucceeded ||
		last.Job.ProgressDone != progressRows || !strings.Contains(strings.Join(names, ","), client.EventProgress) {
		t.Errorf("events %v ending with %+v; want status first, progress, and end with the succeeded job", names, last.Job)
	}

	for _, err := range s.client(s.admin).Events(ctx, s.failingJob(s.other)) {
		if err != nil {
			t.Fatalf("Events as admin: %v", err)
		}
	}
	var errs []error
	for _, err := range s.client(s.key(t.Name()+"-third", "van")).Events(ctx, id) {
		errs = append(errs, err)
	}
	if len(errs) != 1 || !errors.Is(errs[0], client.ErrNotFound) {
		t.Errorf("another key's Events yielded %v, want one ErrNotFound", errs)
	}
}

// Wait follows the stream: with polling set to once an hour, only the
// stream can tell it the job ended.
func TestWaitFollowsTheStream(t *testing.T) {
	s := newStack(t, nil)
	ctx := ctxFor(t, 30*time.Second)
	c := s.client(s.admin, client.WithPollInterval(time.Hour))
	j, err := c.Create(ctx, client.CreateParams{SleepMS: 300})
	if err != nil {
		t.Fatal(err)
	}
	done, err := c.Wait(ctx, j.ID)
	if err != nil || done.Status != client.StatusSucceeded {
		t.Fatalf("Wait = %+v, %v; want succeeded", done, err)
	}
}

// droppingProxy passes the API through, except that it cuts the first
// event stream after its first event, and holds the reconnection back
// until the job is finished (a client offline while the job ended). It
// records the Last-Event-ID of every stream request.
type droppingProxy struct {
	t        *testing.T
	upstream string
	mu       sync.Mutex
	lastIDs  []string
}

func (p *droppingProxy) front(next http.Handler) http.Handler {
	api := httptest.NewServer(next)
	p.t.Cleanup(api.Close)
	p.upstream = api.URL
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/events") {
			next.ServeHTTP(w, r)
			return
		}
		p.mu.Lock()
		p.lastIDs = append(p.lastIDs, r.Header.Get("Last-Event-ID"))
		n := len(p.lastIDs)
		p.mu.Unlock()
		if n > 1 {
			p.waitFinished(r)
		}
		req, _ := http.NewRequestWithContext(r.Context(), r.Method, p.upstream+r.URL.Path, nil)
		req.Header = r.Header.Clone()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		rd := bufio.NewReader(resp.Body)
		for {
			line, err := rd.ReadString('\n')
			_, _ = io.WriteString(w, line)
			w.(http.Flusher).Flush()
			if err != nil || (n == 1 && line == "\n") {
				return // the first stream ends after its first event
			}
		}
	})
}

// waitFinished blocks until the job of the stream r asks for is finished.
func (p *droppingProxy) waitFinished(r *http.Request) {
	id := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/service/jobs/"), "/events")
	db := testenv.Get(p.t).Pool
	for r.Context().Err() == nil {
		var status string
		err := db.QueryRow(context.Background(), `SELECT status FROM jobs WHERE id = $1`, id).Scan(&status)
		if err == nil && (status == "succeeded" || status == "failed" || status == "canceled") {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A stream cut after its first event is opened again with Last-Event-ID;
// the job ended meanwhile, and the reconnection still gets the end event.
func TestEventsReconnectWithLastEventIDAndGetTheEnd(t *testing.T) {
	p := &droppingProxy{t: t}
	s := newStack(t, p.front)
	ctx := ctxFor(t, 30*time.Second)
	c := s.client(s.admin, client.WithReconnectDelay(20*time.Millisecond, 100*time.Millisecond))
	j, err := c.Create(ctx, client.CreateParams{SleepMS: 300})
	if err != nil {
		t.Fatal(err)
	}
	var evs []client.Event
	for ev, err := range c.Events(ctx, j.ID) {
		if err != nil {
			t.Fatalf("Events after %d events: %v", len(evs), err)
		}
		evs = append(evs, ev)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(evs) != 2 || evs[0].Name != client.EventStatus || evs[1].Name != client.EventEnd || evs[1].Job.Status != client.StatusSucceeded {
		t.Fatalf("events %+v, want the first status, then (after the reconnection) end with the succeeded job", evs)
	}
	if len(p.lastIDs) != 2 || p.lastIDs[0] != "" || p.lastIDs[1] != evs[0].ID {
		t.Errorf("stream requests carried Last-Event-ID %q, want none, then the first event's %q", p.lastIDs, evs[0].ID)
	}
}
