package client_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/turnoutdev/turnout/api"
	"github.com/turnoutdev/turnout/api/native"
	"github.com/turnoutdev/turnout/client"
	"github.com/turnoutdev/turnout/internal/fault"
	"github.com/turnoutdev/turnout/internal/testkit/testenv"
	"github.com/turnoutdev/turnout/internal/testkit/teststack"
	"github.com/turnoutdev/turnout/jobs"
	"github.com/turnoutdev/turnout/storage"
)

func TestMain(m *testing.M) { testenv.Main(m) }

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// kindFail is a job kind of these tests whose every attempt fails at once
// with a caller-safe message.
const kindFail = "clienttest.fail"

const failMessage = "the input cannot be used"

// kindProgress is a job kind of these tests that counts 1,000 rows in ten
// steps, a tenth of a second apart.
const kindProgress = "clienttest.progress"

const progressRows = 1000

// stack is the API (behind front, when given: a proxy's behaviour) and a
// worker, in-process, over the package's PostgreSQL and Redis.
type stack struct {
	t     *testing.T
	url   string
	enq   *jobs.Enqueuer
	admin *storage.CreatedKey
	other *storage.CreatedKey
}

func newStack(t *testing.T, front func(http.Handler) http.Handler) *stack {
	t.Helper()
	env := testenv.Get(t)
	st := teststack.Start(t, teststack.Options{
		Log:   quiet,
		Front: front,
		API: func(d *api.Deps, st *teststack.Stack) {
			watcher := native.NewWatcher(st.Env.Store, quiet, native.WatchOptions{})
			t.Cleanup(watcher.Close)
			d.Watcher, d.EventsHeartbeat = watcher, 200*time.Millisecond
		},
		Handlers: map[string]jobs.Handler{
			kindFail: jobs.HandlerFunc(func(context.Context, *storage.Job) (any, error) {
				return nil, fault.New(fault.Invalid, failMessage)
			}),
			kindProgress: jobs.HandlerFunc(func(ctx context.Context, j *storage.Job) (any, error) {
				for done := int64(0); done <= progressRows; done += progressRows / 10 {
					if err := env.Store.SetProgress(ctx, j.ID, progressRows, done, 0); err != nil {
						return nil, err
					}
					select {
					case <-time.After(100 * time.Millisecond):
					case <-ctx.Done():
						return nil, ctx.Err()
					}
				}
				return nil, nil
			}),
		},
	})
	s := &stack{t: t, url: st.URL, enq: st.Enqueuer}
	s.admin = s.key(t.Name()+"-admin", storage.ScopeAdmin)
	s.other = s.key(t.Name()+"-other", storage.ScopeVAN)
	return s
}

func (s *stack) key(name string, scopes ...string) *storage.CreatedKey {
	s.t.Helper()
	k, err := testenv.Get(s.t).Store.CreateKey(context.Background(), storage.NewKey{Name: name, Scopes: scopes, RateLimit: 100000})
	if err != nil {
		s.t.Fatal(err)
	}
	return k
}

func (s *stack) client(k *storage.CreatedKey, opts ...client.Option) *client.Client {
	s.t.Helper()
	c, err := client.New(s.url, k.Secret, opts...)
	if err != nil {
		s.t.Fatal(err)
	}
	return c
}

// job commits a job of k's of the given kind.
func (s *stack) job(k *storage.CreatedKey, kind string) int64 {
	s.t.Helper()
	j, err := s.enq.Create(context.Background(), storage.NewJob{Kind: kind, Queue: jobs.QueueDefault, KeyID: &k.ID})
	if err != nil {
		s.t.Fatal(err)
	}
	return j.ID
}

// failingJob commits a job of k's that fails on its first attempt.
func (s *stack) failingJob(k *storage.CreatedKey) int64 {
	s.t.Helper()
	j, err := s.enq.Create(context.Background(), storage.NewJob{Kind: kindFail, Queue: jobs.QueueDefault, KeyID: &k.ID})
	if err != nil {
		s.t.Fatal(err)
	}
	return j.ID
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestCreateGetCancelRetryAgainstTheAPI(t *testing.T) {
	s := newStack(t, nil)
	c := s.client(s.admin)
	ctx := ctxFor(t, 30*time.Second)

	j, err := c.Create(ctx, client.CreateParams{SleepMS: 60000})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if j.ID == 0 || j.Kind != "noop" || j.Queue != "default" || j.Status != client.StatusQueued {
		t.Fatalf("Create = %+v, want a queued noop job on default", j)
	}
	got, history, err := c.GetWithHistory(ctx, j.ID)
	if err != nil || got.ID != j.ID || got.KeyName == nil || *got.KeyName != s.admin.Name || len(history) != 0 {
		t.Fatalf("GetWithHistory = %+v, %v, %v; want the job, its key's name, no history", got, history, err)
	}
	canceled, err := c.Cancel(ctx, j.ID)
	if err != nil || canceled.Status != client.StatusCanceled || canceled.CanceledBy == nil ||
		*canceled.CanceledBy != "key:"+s.admin.Name || !errors.Is(canceled.Err(), client.ErrJobCanceled) {
		t.Fatalf("Cancel = %+v, %v; want canceled by key:%s", canceled, err, s.admin.Name)
	}
	if _, err := c.Cancel(ctx, j.ID); !errors.Is(err, client.ErrConflict) {
		t.Errorf("Cancel of a canceled job: %v, want ErrConflict", err)
	}
	retried, err := c.Retry(ctx, j.ID)
	if err != nil || retried.Status != client.StatusQueued {
		t.Fatalf("Retry = %+v, %v; want queued again", retried, err)
	}
	if _, err := c.Cancel(ctx, j.ID); err != nil {
		t.Fatalf("Cancel after Retry: %v", err)
	}
	_, history, err = c.GetWithHistory(ctx, j.ID)
	var actions []string
	for _, h := range history {
		actions = append(actions, h.Action)
	}
	if err != nil || strings.Join(actions, ",") != "canceled,retried,canceled" {
		t.Errorf("history = %v (%v), want canceled,retried,canceled", actions, err)
	}

	batch, err := c.CreateBatch(ctx, []client.CreateParams{{}, {SleepMS: 1}})
	if err != nil || len(batch) != 2 {
		t.Fatalf("CreateBatch = %v, %v; want two jobs", batch, err)
	}
	for _, b := range batch {
		done, err := c.Wait(ctx, b.ID)
		if err != nil || done.Status != client.StatusSucceeded || done.Err() != nil {
			t.Errorf("Wait(%d) = %+v, %v; want succeeded", b.ID, done, err)
		}
	}
}

func TestErrorsCarryTheEnvelope(t *testing.T) {
	s := newStack(t, nil)
	ctx := ctxFor(t, 30*time.Second)
	admin, other := s.client(s.admin), s.client(s.other)
	j, err := admin.Create(ctx, client.CreateParams{SleepMS: 60000})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = admin.Cancel(context.Background(), j.ID) })

	type want struct {
		sentinel error
		status   int
		kind     client.Kind
		message  string
	}
	nobody, _ := client.New(s.url, "not-a-key")
	cases := []struct {
		name string
		call func() error
		want want
	}{
		{"another key's job", func() error { _, err := other.Get(ctx, j.ID); return err },
			want{client.ErrNotFound, 404, client.KindQuery, ""}},
		{"an unknown key", func() error { _, err := nobody.Get(ctx, j.ID); return err },
			want{client.ErrUnauthorized, 403, client.KindAuthorization, "invalid API key"}},
		{"create without the admin scope", func() error { _, err := other.Create(ctx, client.CreateParams{}); return err },
			want{client.ErrUnauthorized, 403, client.KindAuthorization, "not configured"}},
		{"an out-of-range parameter", func() error { _, err := admin.Create(ctx, client.CreateParams{SleepMS: 70000}); return err },
			want{client.ErrInvalid, 400, client.KindValidation, "sleepMs"}},
		{"a bad filter", func() error {
			_, err := admin.List(ctx, client.ListOptions{Status: []client.Status{"lost"}})
			return err
		},
			want{client.ErrInvalid, 400, client.KindQuery, "status must be"}},
		{"retry of a queued job", func() error { _, err := admin.Retry(ctx, j.ID); return err },
			want{client.ErrConflict, 409, client.KindQuery, ""}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			var e *client.Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %v, want a *client.Error", err)
			}
			if !errors.Is(err, tc.want.sentinel) || e.Status != tc.want.status || e.Kind != tc.want.kind ||
				!strings.Contains(e.Message, tc.want.message) || e.GatewayID == "" || !strings.HasPrefix(e.FunctionID, "service.jobs.") {
				t.Errorf("err = %#v, want %v, status %d, kind %q, a message with %q, a gateway and function id",
					e, tc.want.sentinel, tc.want.status, tc.want.kind, tc.want.message)
			}
		})
	}
	_, err = admin.Create(ctx, client.CreateParams{SleepMS: -1})
	var e *client.Error
	if !errors.As(err, &e) || len(e.Fields) != 1 || e.Fields[0].Field != "sleepMs" || e.Fields[0].Code != 2007 {
		t.Errorf("field errors of a bad sleepMs: %#v, want one on sleepMs with code 2007", e)
	}
}

// A key that is not admin lists its own jobs only.
func TestAllPagesThroughEveryJobNewestFirst(t *testing.T) {
	s := newStack(t, nil)
	ctx := ctxFor(t, 30*time.Second)
	c := s.client(s.other)
	var ids []int64
	for range 7 {
		j, err := s.enq.Create(ctx, storage.NewJob{Kind: jobs.KindNoop, Queue: jobs.QueueDefault, KeyID: &s.other.ID,
			Params: jobs.NoopParams{}})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, j.ID)
	}
	failed := s.failingJob(s.other)
	if j, err := c.Wait(ctx, failed); err != nil || j.Status != client.StatusFailed {
		t.Fatalf("Wait on the failing job = %+v, %v", j, err)
	}

	var got []int64
	for j, err := range c.All(ctx, client.ListOptions{Kind: "noop", Limit: 3}) {
		if err != nil {
			t.Fatalf("All: %v", err)
		}
		got = append(got, j.ID)
	}
	if len(got) != len(ids) {
		t.Fatalf("All over pages of 3 = %v, want the 7 noop jobs %v", got, ids)
	}
	for i, id := range got {
		if want := ids[len(ids)-1-i]; id != want {
			t.Fatalf("All = %v, want newest first %v", got, ids)
		}
	}

	page, err := c.List(ctx, client.ListOptions{Status: []client.Status{client.StatusFailed}, CreatedAfter: time.Now().Add(-time.Hour)})
	if err != nil || len(page.Jobs) != 1 || page.Jobs[0].ID != failed || page.NextCursor != "" ||
		page.Jobs[0].Error == nil || *page.Jobs[0].Error != failMessage {
		t.Errorf("List failed = %+v, %v; want only job %d with its message, and no next page", page, err, failed)
	}

	n := 0
	for _, err := range c.All(ctx, client.ListOptions{Limit: 2}) {
		if err != nil {
			t.Fatal(err)
		}
		if n++; n == 3 {
			break // stopping early must not fetch or yield more
		}
	}
	if n != 3 {
		t.Errorf("a loop that breaks after 3 jobs ran %d times", n)
	}
	for j, err := range s.client(s.key(t.Name()+"-third", storage.ScopeVAN)).All(ctx, client.ListOptions{}) {
		t.Errorf("a third key lists job %d (err %v), want none", j.ID, err)
	}
}

func TestWaitReportsAFailedJobWithItsMessage(t *testing.T) {
	s := newStack(t, nil)
	ctx := ctxFor(t, 30*time.Second)
	c := s.client(s.admin)
	id := s.failingJob(s.admin)
	j, err := c.Wait(ctx, id)
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	var je *client.JobError
	if j.Status != client.StatusFailed || !errors.As(j.Err(), &je) || !errors.Is(j.Err(), client.ErrJobFailed) ||
		!strings.Contains(j.Err().Error(), failMessage) {
		t.Errorf("Wait = %+v (Err %v), want failed with %q", j, j.Err(), failMessage)
	}
	if _, err := s.client(s.other).Wait(ctx, id); !errors.Is(err, client.ErrNotFound) {
		t.Errorf("Wait with another key: %v, want ErrNotFound", err)
	}
}

// noStream is a server (or proxy) without the event stream: it answers
// the events path as an unknown route.
func noStream(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/events") {
			http.NotFound(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// holdingProxy holds every event stream back: it answers nothing until
// the client gives up, as a proxy that buffers the response would.
func holdingProxy(held chan<- struct{}) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasSuffix(r.URL.Path, "/events") {
				select {
				case held <- struct{}{}:
				default:
				}
				<-r.Context().Done()
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

func TestWaitPollsWhenTheServerDoesNotStream(t *testing.T) {
	s := newStack(t, noStream)
	ctx := ctxFor(t, 30*time.Second)
	c := s.client(s.admin, client.WithPollInterval(50*time.Millisecond))
	j, err := c.Create(ctx, client.CreateParams{SleepMS: 300})
	if err != nil {
		t.Fatal(err)
	}
	done, err := c.Wait(ctx, j.ID)
	if err != nil || done.Status != client.StatusSucceeded || done.FinishedAt == nil {
		t.Fatalf("Wait = %+v, %v; want succeeded", done, err)
	}
	var errs []error
	for _, err := range c.Events(ctx, j.ID) {
		errs = append(errs, err)
	}
	if len(errs) != 1 || !errors.Is(errs[0], client.ErrNotStreaming) {
		t.Errorf("Events without a stream yielded %v, want one ErrNotStreaming", errs)
	}
}

func TestWaitPollsWhenAProxyHoldsTheStreamBack(t *testing.T) {
	held := make(chan struct{}, 1)
	s := newStack(t, holdingProxy(held))
	ctx := ctxFor(t, 30*time.Second)
	c := s.client(s.admin, client.WithPollInterval(50*time.Millisecond), client.WithStallTimeout(300*time.Millisecond))
	j, err := c.Create(ctx, client.CreateParams{SleepMS: 200})
	if err != nil {
		t.Fatal(err)
	}
	done, err := c.Wait(ctx, j.ID)
	if err != nil || done.Status != client.StatusSucceeded {
		t.Fatalf("Wait = %+v, %v; want succeeded", done, err)
	}
	select {
	case <-held:
	default:
		t.Error("Wait never tried the event stream")
	}
}

func TestPollYieldsTheStreamsEvents(t *testing.T) {
	s := newStack(t, nil)
	ctx := ctxFor(t, 30*time.Second)
	c := s.client(s.admin, client.WithPollInterval(20*time.Millisecond))
	id := s.failingJob(s.admin)
	var names []string
	var last client.Event
	for ev, err := range c.Poll(ctx, id) {
		if err != nil {
			t.Fatalf("Poll: %v", err)
		}
		names = append(names, ev.Name)
		last = ev
	}
	if len(names) == 0 || names[len(names)-1] != client.EventEnd || last.Job.Status != client.StatusFailed {
		t.Errorf("Poll events %v, last %+v; want them to end with end and the failed job", names, last.Job)
	}
}
