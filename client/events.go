package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// The names of job events. Every event carries the job as it is after the
// change.
const (
	// EventStatus: the job's status changed.
	EventStatus = "status"
	// EventAttempt: an attempt started.
	EventAttempt = "attempt"
	// EventProgress: the row counters moved (a few per second at most).
	EventProgress = "progress"
	// EventError: an attempt failed; Job.Error says why.
	EventError = "error"
	// EventEnd: the job is finished; the last event of a stream.
	EventEnd = "end"
)

// Event is one change of a job.
type Event struct {
	// ID is the stream's opaque event id; empty for polled events.
	ID string
	// Name is one of the Event* names.
	Name string
	// Job is the job after the change.
	Job Job
}

// ErrNotStreaming is the error of Events when the server (or a proxy in
// front of it) does not serve event streams; Watch and Wait poll instead.
var ErrNotStreaming = errors.New("turnout: the server does not stream job events")

var (
	errStalled   = errors.New("turnout: the event stream stayed silent past the stall timeout")
	errDropped   = errors.New("turnout: the event stream closed before the job ended")
	errMalformed = errors.New("turnout: malformed event")
)

// maxEventLine caps one line of the stream: an event's data is one job.
const maxEventLine = 4 << 20

// stream is what one Events iteration remembers across connections.
type stream struct {
	lastID  string
	retry   time.Duration // the server's reconnection delay ("retry:")
	events  int           // events received, over all connections
	ended   bool          // the end event arrived
	stopped bool          // the consumer stopped iterating
	// silenceEnds makes a stall before the first event end the stream
	// instead of reconnecting (Watch then polls).
	silenceEnds bool
}

// Events follows the job's event stream until its end event (included)
// or the first error that is not worth retrying (yielded, then the
// iteration stops). A connection that drops or stays silent past the
// stall timeout is opened again after a growing delay, with Last-Event-ID
// naming the last event seen, so no change is missed and the end event
// always arrives, even when the job ended while disconnected. A server
// that does not stream is ErrNotStreaming; a job that is not the key's is
// ErrNotFound.
func (c *Client) Events(ctx context.Context, id int64) iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		if err := c.follow(ctx, id, &stream{}, yield); err != nil {
			yield(Event{}, err)
		}
	}
}

// follow runs Events' connections; it returns the error that ended them,
// nil when the stream ended or the consumer stopped.
func (c *Client) follow(ctx context.Context, id int64, st *stream, yield func(Event, error) bool) error {
	var delay time.Duration
	for {
		before := st.events
		err := c.connect(ctx, id, st, yield)
		if st.ended || st.stopped {
			return nil
		}
		if errors.Is(err, ErrNotStreaming) || errors.Is(err, errMalformed) || !retryable(ctx, err) ||
			(st.silenceEnds && st.events == 0 && errors.Is(err, errStalled)) {
			return err
		}
		if st.events > before {
			delay = 0
		}
		delay = c.backoff.next(delay)
		if err := sleep(ctx, max(delay, st.retry, retryAfter(err))); err != nil {
			return err
		}
	}
}

func retryAfter(err error) time.Duration {
	var e *Error
	if errors.As(err, &e) {
		return e.RetryAfter
	}
	return 0
}

// connect reads one connection of the stream, yielding its events.
func (c *Client) connect(ctx context.Context, id int64, st *stream, yield func(Event, error) bool) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var stalled atomic.Bool
	watchdog := time.AfterFunc(c.stall, func() { stalled.Store(true); cancel() })
	defer watchdog.Stop()
	fail := func(err error) error {
		if stalled.Load() {
			return errStalled
		}
		return err
	}

	req, err := c.newRequest(ctx, http.MethodGet, jobPath(id, "events"), nil, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Cache-Control", "no-cache")
	if st.lastID != "" {
		req.Header.Set("Last-Event-ID", st.lastID)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fail(fmt.Errorf("client: GET events of job %d: %w", id, err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		e := errorFrom(resp, raw)
		if notStreaming(e) {
			return fmt.Errorf("%w (%w)", ErrNotStreaming, e)
		}
		return e
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "text/event-stream" {
		return fmt.Errorf("%w (the answer is %q)", ErrNotStreaming, mt)
	}

	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), maxEventLine)
	sc.Split(scanLines)
	var name, evID string
	var data bytes.Buffer
	hasID, first := false, true
	for sc.Scan() {
		watchdog.Reset(c.stall)
		line := sc.Text()
		if first {
			line, first = strings.TrimPrefix(line, "\uFEFF"), false
		}
		if line == "" {
			// An id counts even on an event without data.
			if hasID {
				st.lastID = evID
			}
			if data.Len() == 0 {
				name, hasID = "", false
				continue
			}
			ev := Event{ID: st.lastID, Name: name}
			if ev.Name == "" {
				ev.Name = "message"
			}
			if err := json.Unmarshal(bytes.TrimSuffix(data.Bytes(), []byte("\n")), &ev.Job); err != nil {
				return fmt.Errorf("%w %q of job %d: %v", errMalformed, ev.Name, id, err)
			}
			name, hasID = "", false
			data.Reset()
			st.events++
			if !yield(ev, nil) {
				st.stopped = true
				return nil
			}
			if ev.Name == EventEnd {
				st.ended = true
				return nil
			}
			continue
		}
		if line[0] == ':' {
			continue // a comment: the server's heartbeat
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "event":
			name = value
		case "data":
			data.WriteString(value)
			data.WriteByte('\n')
		case "id":
			if !strings.ContainsRune(value, 0) {
				evID, hasID = value, true
			}
		case "retry":
			if ms, err := strconv.Atoi(value); err == nil && ms >= 0 {
				st.retry = time.Duration(ms) * time.Millisecond
			}
		}
	}
	if err := sc.Err(); err != nil {
		return fail(fmt.Errorf("client: read events of job %d: %w", id, err))
	}
	return fail(errDropped)
}

// notStreaming reports whether an answer to the events request means the
// server has no such endpoint (an older server, or a proxy in front of it
// that refuses streams), as opposed to an answer about the job.
func notStreaming(e *Error) bool {
	switch e.Status {
	case http.StatusMethodNotAllowed, http.StatusNotAcceptable, http.StatusNotImplemented:
		return true
	case http.StatusNotFound:
		// A missing route answers in the envelope of no function; a missing
		// job, in the envelope of the events function.
		return e.Kind == "" || e.FunctionID == "service.unrouted"
	}
	return false
}

// scanLines splits a stream into lines ended by "\r\n", "\n" or "\r".
func scanLines(data []byte, atEOF bool) (int, []byte, error) {
	if atEOF && len(data) == 0 {
		return 0, nil, nil
	}
	if i := bytes.IndexAny(data, "\r\n"); i >= 0 {
		if data[i] == '\n' {
			return i + 1, data[:i], nil
		}
		if i+1 < len(data) {
			if data[i+1] == '\n' {
				return i + 2, data[:i], nil
			}
			return i + 1, data[:i], nil
		}
		if atEOF {
			return i + 1, data[:i], nil
		}
		return 0, nil, nil // a "\r" last: a "\n" may follow
	}
	if atEOF {
		return len(data), data, nil
	}
	return 0, nil, nil
}

// Poll follows a job by reading it every poll interval, yielding the same
// events a stream would (a status event first, then status, attempt,
// progress and error events for what changed between two reads, and end
// when it finished), without their ids. Reads that fail for a reason worth
// retrying are retried after a growing delay; any other error is yielded
// and ends the iteration. Changes between two reads are seen together.
func (c *Client) Poll(ctx context.Context, id int64) iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		var prev *Job
		var delay time.Duration
		for {
			j, err := c.Get(ctx, id)
			if err != nil {
				if !retryable(ctx, err) {
					yield(Event{}, err)
					return
				}
				delay = c.backoff.next(delay)
				if err := sleep(ctx, max(delay, retryAfter(err))); err != nil {
					yield(Event{}, err)
					return
				}
				continue
			}
			delay = 0
			for _, name := range changes(prev, j) {
				if !yield(Event{Name: name, Job: *j}, nil) {
					return
				}
			}
			if j.Finished() {
				return
			}
			prev = j
			if err := sleep(ctx, c.poll); err != nil {
				yield(Event{}, err)
				return
			}
		}
	}
}

// changes names the events between two reads of a job (prev is nil
// before the first).
func changes(prev, j *Job) []string {
	var out []string
	switch {
	case prev == nil:
		if !j.Finished() {
			out = append(out, EventStatus)
		}
	default:
		if j.Attempts != prev.Attempts {
			out = append(out, EventAttempt)
		}
		if j.ProgressTotal != prev.ProgressTotal || j.ProgressDone != prev.ProgressDone || j.ProgressFailed != prev.ProgressFailed {
			out = append(out, EventProgress)
		}
		if !j.Finished() && j.Error != nil && (prev.Error == nil || *prev.Error != *j.Error) {
			out = append(out, EventError)
		}
		if j.Status != prev.Status && !j.Finished() {
			out = append(out, EventStatus)
		}
	}
	if j.Finished() {
		out = append(out, EventEnd)
	}
	return out
}

// Watch follows a job like Events, and like Poll when the server does not
// stream: it answers that it has no such endpoint, or its stream stays
// silent past the stall timeout before the first event (a proxy that holds
// the stream back). It ends with the end event or the first error that is
// not worth retrying.
func (c *Client) Watch(ctx context.Context, id int64) iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		st := &stream{silenceEnds: true}
		err := c.follow(ctx, id, st, yield)
		if err == nil {
			return
		}
		if !errors.Is(err, ErrNotStreaming) && !(st.events == 0 && errors.Is(err, errStalled)) {
			yield(Event{}, err)
			return
		}
		for ev, err := range c.Poll(ctx, id) {
			if !yield(ev, err) {
				return
			}
		}
	}
}

// Wait blocks until the job is finished and returns it, following its
// events (or polling, see Watch). A job that failed or was canceled is
// returned with a nil error: check its Status, or its Err.
func (c *Client) Wait(ctx context.Context, id int64) (*Job, error) {
	for ev, err := range c.Watch(ctx, id) {
		if err != nil {
			return nil, err
		}
		if ev.Name == EventEnd {
			return &ev.Job, nil
		}
	}
	return nil, errDropped
}
