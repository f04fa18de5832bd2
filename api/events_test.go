package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/turnoutdev/turnout/api"
	"github.com/turnoutdev/turnout/api/native"
	"github.com/turnoutdev/turnout/internal/testkit/apitest"
	"github.com/turnoutdev/turnout/internal/testkit/testenv"
	"github.com/turnoutdev/turnout/jobs"
	"github.com/turnoutdev/turnout/storage"
)

// eventsServer is an API server with its own job watcher, as each API
// process has.
type eventsServer struct {
	*apitest.Client
	watcher *native.Watcher
}

func newEventsServer(t *testing.T, heartbeat time.Duration) *eventsServer {
	t.Helper()
	return newEventsServerWith(t, heartbeat, native.WatchOptions{Linger: time.Millisecond})
}

func newEventsServerWith(t *testing.T, heartbeat time.Duration, opt native.WatchOptions) *eventsServer {
	t.Helper()
	env := testenv.Get(t)
	client := asynq.NewClient(env.AsynqConn)
	t.Cleanup(func() { client.Close() })
	w := native.NewWatcher(env.Store, quiet, opt)
	h := api.New(api.Deps{
		Store: env.Store, Redis: env.Redis, AsynqConn: env.AsynqConn,
		Enqueuer: jobs.NewEnqueuer(env.Store, client, quiet), Registry: prometheus.NewRegistry(), Log: quiet,
		Watcher: w, EventsHeartbeat: heartbeat,
	})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	t.Cleanup(w.Close)
	return &eventsServer{Client: &apitest.Client{T: t, BaseURL: srv.URL}, watcher: w}
}

// sseEvent is one event of a stream, or a comment (Comment set).
type sseEvent struct {
	ID, Name, Data, Comment string
	// At is when the event arrived.
	At time.Time
}

// sseStream reads a stream's events as they come.
type sseStream struct {
	t      *testing.T
	resp   *http.Response
	events chan sseEvent
	cancel context.CancelFunc
}

// openEvents opens GET /service/jobs/{id}/events and checks the answer
// starts a stream as the contract says.
func openEvents(t *testing.T, base string, id int64, headers ...string) *sseStream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req := apitest.NewRequest(t, http.MethodGet, fmt.Sprintf("%s/service/jobs/%d/events", base, id), "", headers...)
	req = req.WithContext(ctx)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatalf("GET events of job %d: %v", id, err)
	}
	apitest.Check(t, req, resp, nil)
	if resp.StatusCode != http.StatusOK {
		cancel()
		resp.Body.Close()
		t.Fatalf("GET events of job %d: status %d, want 200", id, resp.StatusCode)
	}
	for h, want := range map[string]string{"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"} {
		if got := resp.Header.Get(h); got != want {
			t.Errorf("%s: %q, want %q", h, got, want)
		}
	}
	s := &sseStream{t: t, resp: resp, events: make(chan sseEvent, 100), cancel: cancel}
	t.Cleanup(s.close)
	go func() {
		defer close(s.events)
		sc := bufio.NewScanner(resp.Body)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev != (sseEvent{}) {
					ev.At = time.Now()
					s.events <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, ":"):
				ev.Comment = strings.TrimSpace(line[1:])
			default:
				k, v, _ := strings.Cut(line, ": ")
				switch k {
				case "id":
					ev.ID = v
				case "event":
					ev.Name = v
				case "data":
					ev.Data = v
				default:
					s.events <- sseEvent{Comment: "unexpected line " + line}
				}
			}
		}
	}()
	return s
}

func (s *sseStream) close() {
	s.cancel()
	s.resp.Body.Close()
}

// next returns the next event (comments skipped unless comments is set),
// failing the test if none comes within d or the stream ends.
func (s *sseStream) next(d time.Duration, comments bool) sseEvent {
	s.t.Helper()
	deadline := time.After(d)
	for {
		select {
		case ev, ok := <-s.events:
			if !ok {
				s.t.Fatalf("the stream ended; want another event")
			}
			if ev.Comment != "" && !comments {
				continue
			}
			return ev
		case <-deadline:
			s.t.Fatalf("no event in %s", d)
		}
	}
}

// ended waits for the stream to end.
func (s *sseStream) ended(d time.Duration) {
	s.t.Helper()
	deadline := time.After(d)
	for {
		select {
		case ev, ok := <-s.events:
			if !ok {
				return
			}
			if ev.Comment == "" {
				s.t.Fatalf("event %+v after the end", ev)
			}
		case <-deadline:
			s.t.Fatalf("the stream did not end in %s", d)
		}
	}
}

// expect reads the next event and checks its name and its job's status.
func (s *sseStream) expect(name, status string) (sseEvent, storage.JobListing) {
	s.t.Helper()
	ev := s.next(10*time.Second, false)
	var j storage.JobListing
	if err := json.Unmarshal([]byte(ev.Data), &j); err != nil {
		s.t.Fatalf("event %q: data is not a job: %v\n%s", ev.Name, err, ev.Data)
	}
	if ev.Name != name || j.Status != status {
		s.t.Fatalf("event %q with status %q, want %q with %q (data %s)", ev.Name, j.Status, name, status, ev.Data)
	}
	if ev.ID == "" {
		s.t.Errorf("event %q has no id", ev.Name)
	}
	return ev, j
}

func newJob(t *testing.T, key *storage.CreatedKey) int64 {
	t.Helper()
	j, err := testenv.Get(t).Store.InsertJob(context.Background(),
		storage.NewJob{Kind: jobs.KindNoop, Queue: jobs.QueueDefault, KeyID: &key.ID})
	if err != nil {
		t.Fatal(err)
	}
	return j.ID
}

func attempt(id int64, n int, started bool) storage.Attempt {
	return storage.Attempt{JobID: id, Number: n, Started: started, At: time.Now()}
}

// A stream tells a job's status first, then each change as it is
// committed: a start (status and attempt), progress (never two progress
// events closer than native.ProgressEvery), a failed attempt (status and
// error), and the final state as "end", after which it closes. Every
// event's data is the job exactly as GET /service/jobs/{id} shows it.
func TestJobEventsFollowAJobToItsEnd(t *testing.T) {
	srv := newEventsServer(t, 0)
	store := testenv.Get(t).Store
	ctx := context.Background()
	key := createKey(t, storage.NewKey{Scopes: []string{"metrics"}})
	id := newJob(t, key)

	s := openEvents(t, srv.BaseURL, id, "X-API-Key", key.Secret)
	first, j := s.expect("status", "queued")
	if j.ID != id || j.Attempts != 0 || j.KeyName == nil || *j.KeyName != key.Name {
		t.Errorf("first event: %s, want job %d with no attempt and key %q", first.Data, id, key.Name)
	}

	if _, err := store.StartJobs(ctx, []storage.Attempt{attempt(id, 1, false)}); err != nil {
		t.Fatal(err)
	}
	s.expect("status", "running")
	if _, j := s.expect("attempt", "running"); j.Attempts != 1 {
		t.Errorf("attempt event says %d attempts, want 1", j.Attempts)
	}

	// A load reporting progress far more often than a watcher needs.
	var arrivals []time.Time
	var last storage.JobListing
	for done := int64(1000); done <= 10000; done += 1000 {
		if err := store.SetProgress(ctx, id, 0, done, done/1000); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for last.ProgressDone != 10000 {
		var ev sseEvent
		ev, last = s.expect("progress", "running")
		arrivals = append(arrivals, ev.At)
	}
	if len(arrivals) < 2 || len(arrivals) > 5 {
		t.Errorf("%d progress events for 10 updates in 200 ms, want 2 to 5 (one per %s at most)", len(arrivals), native.ProgressEvery)
	}
	// The client sees the server's rate, give or take the delivery of the
	// first event and of the last.
	if n := len(arrivals); n > 1 {
		if span := arrivals[n-1].Sub(arrivals[0]); span < time.Duration(n-2)*native.ProgressEvery {
			t.Errorf("%d progress events in %s, want at most one every %s", n, span, native.ProgressEvery)
		}
	}
	if last.ProgressFailed != 10 {
		t.Errorf("last progress event: %d failed, want 10", last.ProgressFailed)
	}

	if err := store.FailAttempt(ctx, attempt(id, 1, true), "the source could not be read", false); err != nil {
		t.Fatal(err)
	}
	s.expect("status", "retrying")
	if _, j := s.expect("error", "retrying"); j.Error == nil || *j.Error != "the source could not be read" {
		t.Errorf("error event carries error %v", j.Error)
	}
	if _, err := store.StartJobs(ctx, []storage.Attempt{attempt(id, 2, false)}); err != nil {
		t.Fatal(err)
	}
	s.expect("status", "running")
	s.expect("attempt", "running")
	if err := store.SucceedJobs(ctx, []storage.Success{{Attempt: attempt(id, 2, true)}}); err != nil {
		t.Fatal(err)
	}
	end, _ := s.expect("end", "succeeded")
	s.ended(5 * time.Second)

	_, body := get(t, srv.Client, fmt.Sprintf("/service/jobs/%d", id), "X-API-Key", key.Secret)
	want, _ := json.Marshal(body["job"])
	var got map[string]any
	_ = json.Unmarshal([]byte(end.Data), &got)
	gotJSON, _ := json.Marshal(got)
	if string(gotJSON) != string(want) {
		t.Errorf("end event's data:\n%s\nwant the job of GET /service/jobs/%d:\n%s", gotJSON, id, want)
	}
}

// A client reconnecting after the job ended gets the final state at once,
// whatever it saw last; one reconnecting to an unfinished job is sent its
// state again only if it changed since the event it names.
func TestJobEventsReconnectWithLastEventID(t *testing.T) {
	srv := newEventsServer(t, 0)
	store := testenv.Get(t).Store
	ctx := context.Background()
	key := createKey(t, storage.NewKey{Scopes: []string{"metrics"}})
	id := newJob(t, key)

	s := openEvents(t, srv.BaseURL, id, "X-API-Key", key.Secret)
	queued, _ := s.expect("status", "queued")
	s.close()

	// Nothing changed: no status again, but the stream goes on.
	s = openEvents(t, srv.BaseURL, id, "X-API-Key", key.Secret, "Last-Event-ID", queued.ID)
	if _, err := store.StartJobs(ctx, []storage.Attempt{attempt(id, 1, false)}); err != nil {
		t.Fatal(err)
	}
	running, _ := s.expect("status", "running")
	s.expect("attempt", "running")
	s.close()

	// It changed since: the current state first.
	if err := store.SetProgress(ctx, id, 10, 5, 0); err != nil {
		t.Fatal(err)
	}
	s = openEvents(t, srv.BaseURL, id, "X-API-Key", key.Secret, "Last-Event-ID", running.ID)
	if _, j := s.expect("status", "running"); j.ProgressDone != 5 {
		t.Errorf("state sent on reconnect has %d done, want 5", j.ProgressDone)
	}
	if err := store.SucceedJobs(ctx, []storage.Success{{Attempt: attempt(id, 1, true)}}); err != nil {
		t.Fatal(err)
	}
	end, _ := s.expect("end", "succeeded")
	s.ended(5 * time.Second)

	// After the end, with the end's id, an older one, or none.
	for _, last := range []string{end.ID, queued.ID, "not-an-id-of-ours", ""} {
		headers := []string{"X-API-Key", key.Secret}
		if last != "" {
			headers = append(headers, "Last-Event-ID", last)
		}
		resp, body := srv.Do(apitest.NewRequest(t, http.MethodGet, fmt.Sprintf("/service/jobs/%d/events", id), "", headers...))
		want := fmt.Sprintf("id: %s\nevent: end\ndata: ", end.ID)
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(string(body), want) || strings.Count(string(body), "event:") != 1 {
			t.Errorf("Last-Event-ID %q after the end: %d\n%s\nwant only the end event, id %s", last, resp.StatusCode, body, end.ID)
		}
	}
}

// Only the owning key and admin keys may watch a job; any other key is
// told it does not exist, exactly as GET /service/jobs/{id} tells it.
// Refusals are ordinary native envelopes.
func TestJobEventsAreTheOwnersAndAdmins(t *testing.T) {
	srv := newEventsServer(t, 0)
	owner := createKey(t, storage.NewKey{Scopes: []string{"metrics"}})
	other := createKey(t, storage.NewKey{Scopes: []string{"metrics"}})
	admin := createKey(t, storage.NewKey{Scopes: []string{"admin"}})
	id := newJob(t, owner)
	path := fmt.Sprintf("/service/jobs/%d/events", id)

	resp, body := get(t, srv.Client, path, "X-API-Key", other.Secret)
	if resp.StatusCode != http.StatusNotFound || body["error"] != "Query Error: job not found" || body["function_id"] != "service.jobs.events" {
		t.Errorf("another key: %d %v, want 404 Query Error: job not found from service.jobs.events", resp.StatusCode, body)
	}
	_, asGet := get(t, srv.Client, fmt.Sprintf("/service/jobs/%d", id), "X-API-Key", other.Secret)
	if body["error"] != asGet["error"] {
		t.Errorf("another key: events say %v, GET says %v", body["error"], asGet["error"])
	}
	if resp, body := get(t, srv.Client, "/service/jobs/x1/events", "X-API-Key", owner.Secret); resp.StatusCode != http.StatusBadRequest ||
		!strings.HasPrefix(str(body["error"]), "Validation Error: ") {
		t.Errorf("bad id: %d %v, want 400 Validation Error", resp.StatusCode, body["error"])
	}
	if resp, body := get(t, srv.Client, path); resp.StatusCode != http.StatusForbidden || body["error"] != "Authorization Error: missing API key" {
		t.Errorf("no key: %d %v, want 403", resp.StatusCode, body["error"])
	}
	if resp, _ := get(t, srv.Client, "/service/jobs/999999999/events", "X-API-Key", admin.Secret); resp.StatusCode != http.StatusNotFound {
		t.Errorf("admin, no such job: %d, want 404", resp.StatusCode)
	}

	// HEAD tells what GET would answer, without a stream to wait on.
	resp, b := srv.Do(apitest.NewRequest(t, http.MethodHead, path, "", "X-API-Key", owner.Secret))
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" || len(b) != 0 {
		t.Errorf("HEAD: %d %q with %d bytes, want 200 text/event-stream and no body", resp.StatusCode, resp.Header.Get("Content-Type"), len(b))
	}

	s := openEvents(t, srv.BaseURL, id, "Authorization", "Bearer "+admin.Secret)
	s.expect("status", "queued")
	o := openEvents(t, srv.BaseURL, id, "X-API-Key", owner.Secret)
	o.expect("status", "queued")
}

// An idle stream carries a comment every heartbeat, so that proxies keep
// it open.
func TestJobEventsHeartbeat(t *testing.T) {
	srv := newEventsServer(t, 50*time.Millisecond)
	key := createKey(t, storage.NewKey{Scopes: []string{"metrics"}})
	s := openEvents(t, srv.BaseURL, newJob(t, key), "X-API-Key", key.Secret)
	s.expect("status", "queued")
	for i := 0; i < 3; i++ {
		if ev := s.next(5*time.Second, true); ev.Comment != "ping" || ev.Name != "" {
			t.Fatalf("got %+v, want the comment \"ping\"", ev)
		}
	}
}

// Two API processes sharing the database each tell their watchers of a
// change made once, by neither of them.
func TestJobEventsReachEveryAPIProcess(t *testing.T) {
	a, b := newEventsServer(t, 0), newEventsServer(t, 0)
	key := createKey(t, storage.NewKey{Scopes: []string{"metrics"}})
	id := newJob(t, key)
	sa := openEvents(t, a.BaseURL, id, "X-API-Key", key.Secret)
	sb := openEvents(t, b.BaseURL, id, "X-API-Key", key.Secret)
	ea, _ := sa.expect("status", "queued")
	eb, _ := sb.expect("status", "queued")
	if ea.ID != eb.ID {
		t.Errorf("the same state has id %q on one process and %q on the other", ea.ID, eb.ID)
	}
	if _, err := testenv.Get(t).Store.CancelJob(context.Background(), id, nil, "test"); err != nil {
		t.Fatal(err)
	}
	ea, _ = sa.expect("end", "canceled")
	eb, _ = sb.expect("end", "canceled")
	if ea.ID != eb.ID || ea.Data != eb.Data {
		t.Errorf("the processes tell the end differently:\n%+v\n%+v", ea, eb)
	}
}

// When the listening connection is lost, the watcher connects again and
// reads every watched job, so a change made meanwhile still reaches the
// stream.
func TestJobEventsSurviveTheLossOfTheListener(t *testing.T) {
	srv := newEventsServer(t, 0)
	env := testenv.Get(t)
	ctx := context.Background()
	key := createKey(t, storage.NewKey{Scopes: []string{"metrics"}})
	id := newJob(t, key)
	s := openEvents(t, srv.BaseURL, id, "X-API-Key", key.Secret)
	s.expect("status", "queued")

	var killed int
	deadline := time.Now().Add(10 * time.Second)
	for killed == 0 {
		// The listener connects on the first watch; wait until it is there.
		err := env.Pool.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
			WHERE application_name = 'turnout-job-changes' AND datname = current_database()`).Scan(&killed)
		if err != nil {
			t.Fatal(err)
		}
		if killed == 0 && time.Now().After(deadline) {
			t.Fatal("no listening connection in pg_stat_activity")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := env.Store.SetProgress(ctx, id, 0, 42, 0); err != nil {
		t.Fatal(err)
	}
	if _, j := s.expect("progress", "queued"); j.ProgressDone != 42 {
		t.Errorf("progress after the listener came back: %d done, want 42", j.ProgressDone)
	}
}

// A change whose notification never came (here: made with triggers off for
// its session) still reaches the stream at the next periodic read.
func TestJobEventsRecheckCatchesAChangeNobodyAnnounced(t *testing.T) {
	srv := newEventsServerWith(t, 0, native.WatchOptions{Recheck: 200 * time.Millisecond})
	env := testenv.Get(t)
	ctx := context.Background()
	key := createKey(t, storage.NewKey{Scopes: []string{"metrics"}})
	id := newJob(t, key)
	s := openEvents(t, srv.BaseURL, id, "X-API-Key", key.Secret)
	s.expect("status", "queued")
	err := pgx.BeginFunc(ctx, env.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SET LOCAL session_replication_role = replica`); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE jobs SET progress_done = 7, updated_at = now() WHERE id = $1`, id)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, j := s.expect("progress", "queued"); j.ProgressDone != 7 {
		t.Errorf("progress after the recheck: %d done, want 7", j.ProgressDone)
	}
}

// A client that goes away leaves nothing behind: its watch ends, and with
// the last one the listening connection.
func TestJobEventsClientGoingAwayFreesItsWatch(t *testing.T) {
	srv := newEventsServer(t, 0)
	env := testenv.Get(t)
	key := createKey(t, storage.NewKey{Scopes: []string{"metrics"}})
	var streams []*sseStream
	for i := 0; i < 3; i++ {
		s := openEvents(t, srv.BaseURL, newJob(t, key), "X-API-Key", key.Secret)
		s.expect("status", "queued")
		streams = append(streams, s)
	}
	if jobs, watches := srv.watcher.Watching(); jobs != 3 || watches != 3 {
		t.Fatalf("watching %d jobs with %d watches, want 3 and 3", jobs, watches)
	}
	for _, s := range streams {
		s.close()
	}
	listeners := func() int {
		var n int
		_ = env.Pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
			WHERE application_name = 'turnout-job-changes' AND datname = current_database()`).Scan(&n)
		return n
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		jobs, watches := srv.watcher.Watching()
		if jobs == 0 && watches == 0 && listeners() == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("10s after the clients left: %d jobs, %d watches, %d listening connections; want none", jobs, watches, listeners())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Shutting the watcher down (as the API does on SIGTERM) ends every
// stream, so the server can drain; a stream asked for afterwards is
// refused with 503.
func TestJobEventsEndWhenTheServerShutsDown(t *testing.T) {
	srv := newEventsServer(t, 0)
	key := createKey(t, storage.NewKey{Scopes: []string{"metrics"}})
	id := newJob(t, key)
	s := openEvents(t, srv.BaseURL, id, "X-API-Key", key.Secret)
	s.expect("status", "queued")
	srv.watcher.Close()
	s.ended(5 * time.Second)
	resp, body := get(t, srv.Client, "/service/jobs/"+strconv.FormatInt(id, 10)+"/events", "X-API-Key", key.Secret)
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.HasPrefix(str(body["error"]), "Internal Error: ") {
		t.Errorf("after shutdown: %d %v, want 503", resp.StatusCode, body["error"])
	}
}
