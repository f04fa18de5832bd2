package van_test

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/turnoutdev/turnout/jobs/fileload"
	"github.com/turnoutdev/turnout/storage"
)

// A source that stops sending is cut off after the idle timeout on every
// transport, retried (a stall may pass), and the job's error names the
// rule. The HTTP source sends its header and one row, then nothing; the
// FTP and SFTP sources accept the connection and never speak.
func TestStalledSourcesStopAtTheIdleTimeout(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out the fetch idle timeout; runs in make test")
	}
	stall := make(chan struct{})
	t.Cleanup(func() { close(stall) })
	httpSrc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "hatWearerId,hatWearingScore,needsAnotherHatScore\n1,50,75\n")
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-stall:
		}
	}))
	t.Cleanup(httpSrc.Close)
	silent := silentServer(t, stall)

	s := newStack(t, options{allow: loopback, fetch: fileload.FetchLimits{Idle: 300 * time.Millisecond, Total: time.Minute}})
	s.people(1, 0)
	a, b := s.rangeScore("A", 0, 100), s.rangeScore("B", 0, 100)
	for _, src := range []string{httpSrc.URL + "/h.csv", "ftp://keep:s3cret@" + silent + "/h.csv", "sftp://keep:s3cret@" + silent + "/h.csv"} {
		t.Run(strings.SplitN(src, ":", 2)[0], func(t *testing.T) {
			start := time.Now()
			id := s.submit(exampleRequest(src, a, b, "[]"))
			v := s.wait(id)
			msg := deref(v.Message)
			if v.Status != "Error" || !strings.Contains(msg, "sent no data for 300ms (TURNOUT_FETCH_IDLE_TIMEOUT)") || strings.Contains(msg, "s3cret") {
				t.Fatalf("status %s message %q, want Error naming TURNOUT_FETCH_IDLE_TIMEOUT", v.Status, msg)
			}
			j, _ := s.env.Store.Job(t.Context(), id)
			if j.Attempts != j.MaxAttempts {
				t.Errorf("attempts %d, want all %d: a stall is retried", j.Attempts, j.MaxAttempts)
			}
			if took := time.Since(start); took > 20*time.Second {
				t.Errorf("%d attempts took %s; the idle timeout did not cut them short", j.Attempts, took)
			}
		})
	}
}

// A source that keeps sending a byte at a time, never idle, is stopped at
// the overall deadline, and the job fails at once: it would be as slow
// again.
func TestTricklingSourceStopsAtTheDeadline(t *testing.T) {
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) })
	src := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "hatWearerId,hatWearingScore,needsAnotherHatScore\n")
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-r.Context().Done():
				return
			case <-stop:
				return
			case <-tick.C:
				fmt.Fprint(w, "1")
				w.(http.Flusher).Flush()
			}
		}
	}))
	t.Cleanup(src.Close)
	s := newStack(t, options{allow: loopback, fetch: fileload.FetchLimits{Idle: time.Second, Total: 800 * time.Millisecond}})
	a, b := s.rangeScore("A", 0, 100), s.rangeScore("B", 0, 100)
	id := s.submit(exampleRequest(src.URL+"/h.csv", a, b, "[]"))
	v := s.wait(id)
	want := "file.sourceUrl: " + src.URL + "/h.csv: the download took longer than 800ms (TURNOUT_FETCH_TIMEOUT) and was stopped"
	if v.Status != "Error" || deref(v.Message) != want {
		t.Fatalf("status %s message %q, want Error %q", v.Status, deref(v.Message), want)
	}
	j, _ := s.env.Store.Job(t.Context(), id)
	if j.Attempts != 1 || j.Status != storage.JobFailed {
		t.Errorf("job %s after %d attempts, want failed after 1", j.Status, j.Attempts)
	}
}

// silentServer accepts TCP connections and never writes, until stop.
func silentServer(t *testing.T, stop <-chan struct{}) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				<-stop
			}()
		}
	}()
	return l.Addr().String()
}
