package native

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/turnoutdev/turnout/internal/fault"
	"github.com/turnoutdev/turnout/storage"
)

// Event names of GET /service/jobs/{id}/events. Every event's data is the
// job as GET /service/jobs/{id} shows it.
const (
	// EventStatus: the status changed; also the first event of a stream.
	EventStatus = "status"
	// EventAttempt: the attempts count changed.
	EventAttempt = "attempt"
	// EventProgress: the progress counters changed (at most one per
	// ProgressEvery).
	EventProgress = "progress"
	// EventError: the job's error was set while it is still unfinished
	// (an attempt failed and another will follow).
	EventError = "error"
	// EventEnd: the job is succeeded, failed or canceled; the stream ends.
	EventEnd = "end"
)

const (
	// DefaultHeartbeat is how often an idle stream carries a comment, so
	// that proxies and load balancers do not close it as idle.
	DefaultHeartbeat = 15 * time.Second
	// ProgressEvery is the least time between two progress events of a
	// stream: a load reports progress many times a second, a watcher needs
	// a few.
	ProgressEvery = 250 * time.Millisecond
	// writeWait bounds each write to a stream: a client that stops reading
	// without closing its connection is dropped rather than held forever.
	writeWait = time.Minute
)

// Events streams a job's changes as Server-Sent Events to its owning key or
// an admin key; another key's job is not found, as for Get. The first
// event is the job's status; then come its changes, and a final "end" when
// it is finished, after which the stream closes.
//
// Each event's id is derived from the job's state alone, so any API
// process can tell what a reconnecting client (Last-Event-ID) has seen: a
// finished job answers "end" at once; an unfinished one sends its status
// only if it changed since, then goes on.
func (h *Jobs) Events(c echo.Context) error {
	id, err := jobID(c)
	if err != nil {
		return err
	}
	if h.Watcher == nil {
		return fault.New(fault.Unavailable, "job events are not available")
	}
	// Watch before reading, so that no change after the read goes unseen.
	watch := h.Watcher.Watch(id)
	defer watch.Close()
	ctx := c.Request().Context()
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	j, err := h.Store.JobListingOf(rctx, id, owner(c))
	cancel()
	if err != nil {
		return err
	}
	watch.Mark()
	select {
	case <-watch.Done():
		return fault.New(fault.Unavailable, "the server is shutting down; reconnect")
	default:
	}
	data, err := json.Marshal(jobListingOf(j))
	if err != nil {
		return fmt.Errorf("encode job %d: %w", id, err)
	}
	resp := c.Response()
	hdr := resp.Header()
	hdr.Set(echo.HeaderContentType, "text/event-stream")
	hdr.Set(echo.HeaderCacheControl, "no-cache")
	hdr.Set("X-Accel-Buffering", "no")
	resp.WriteHeader(http.StatusOK)
	if c.Request().Method == http.MethodHead {
		return nil
	}
	heartbeat := h.Heartbeat
	if heartbeat <= 0 {
		heartbeat = DefaultHeartbeat
	}
	s := &stream{w: resp, rc: http.NewResponseController(resp)}
	return s.run(ctx, watch, j, data, c.Request().Header.Get("Last-Event-ID"), heartbeat)
}

// stream writes one client's events.
type stream struct {
	w  http.ResponseWriter
	rc *http.ResponseController
	// sent is the job as the client last saw it; shown the counters of the
	// last progress event (or of the first event).
	sent  *storage.JobListing
	shown [3]int64
	// shownAt is when the last progress event went.
	shownAt time.Time
}

func (s *stream) run(ctx context.Context, watch *Watch, j *storage.JobListing, data []byte, lastID string, heartbeat time.Duration) error {
	id := eventID(j, data)
	if j.Finished() {
		_ = s.send(EventEnd, id, data)
		return nil
	}
	if id != lastID {
		if s.send(EventStatus, id, data) != nil {
			return nil
		}
	} else if err := s.flush(); err != nil {
		return nil
	}
	s.sent, s.shown = j, progressOf(j)
	ping := time.NewTicker(heartbeat)
	defer ping.Stop()
	// later fires when a progress event held back by ProgressEvery is due.
	later := time.NewTimer(time.Hour)
	later.Stop()
	defer later.Stop()
	held := false
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-watch.Done():
			return nil
		case <-ping.C:
			if s.comment("ping") != nil {
				return nil
			}
			continue
		case <-later.C:
			held = false
		case <-watch.Changed():
		}
		cur, data, ok := watch.Latest()
		if !ok {
			continue
		}
		if cur == nil {
			return nil // the job was deleted: there is nothing more to tell
		}
		more, wait, err := s.changes(cur, data)
		if err != nil || !more {
			return nil
		}
		if wait > 0 && !held {
			later.Reset(wait)
			held = true
		}
	}
}

// changes sends the events that tell how cur differs from what the client
// saw. It reports whether the stream goes on and, when a progress event is
// held back by ProgressEvery, how long until it is due.
func (s *stream) changes(cur *storage.JobListing, data []byte) (more bool, wait time.Duration, err error) {
	id := eventID(cur, data)
	if cur.Finished() {
		return false, 0, s.send(EventEnd, id, data)
	}
	prev := s.sent
	var names []string
	if cur.Status != prev.Status {
		names = append(names, EventStatus)
	}
	if cur.Attempts != prev.Attempts {
		names = append(names, EventAttempt)
	}
	if cur.Error != nil && (prev.Error == nil || *prev.Error != *cur.Error) {
		names = append(names, EventError)
	}
	if p := progressOf(cur); p != s.shown {
		if since := time.Since(s.shownAt); since < ProgressEvery {
			wait = ProgressEvery - since
		} else {
			names = append(names, EventProgress)
			s.shown, s.shownAt = p, time.Now()
		}
	}
	for _, name := range names {
		if err := s.send(name, id, data); err != nil {
			return false, 0, err
		}
	}
	if len(names) > 0 {
		s.sent = cur
	}
	return true, wait, nil
}

func progressOf(j *storage.JobListing) [3]int64 {
	return [3]int64{j.ProgressTotal, j.ProgressDone, j.ProgressFailed}
}

// eventID names the state data describes: the same state gets the same id
// on every process, and a different state (practically always) another.
// The job's last update time leads, for people reading a stream.
func eventID(j *storage.JobListing, data []byte) string {
	h := fnv.New64a()
	_, _ = h.Write(data)
	return fmt.Sprintf("%d-%016x", j.UpdatedAt.UnixMicro(), h.Sum64())
}

// send writes one event. data is one line of JSON (encoding/json escapes
// line breaks inside strings).
func (s *stream) send(name, id string, data []byte) error {
	if _, err := fmt.Fprintf(s.w, "id: %s\nevent: %s\ndata: %s\n\n", id, name, data); err != nil {
		return err
	}
	return s.flush()
}

func (s *stream) comment(text string) error {
	if _, err := fmt.Fprintf(s.w, ": %s\n\n", text); err != nil {
		return err
	}
	return s.flush()
}

// flush sends what was written, and gives the next write writeWait: the
// stream itself has no overall deadline, whatever the server's
// WriteTimeout.
func (s *stream) flush() error {
	_ = s.rc.SetWriteDeadline(time.Now().Add(writeWait))
	return s.rc.Flush()
}
