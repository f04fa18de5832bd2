package native

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"time"

	"github.com/turnoutdev/turnout/storage"
)

// ChangeFeed is where a Watcher learns that jobs changed and reads them.
type ChangeFeed interface {
	ListenJobChanges(ctx context.Context, ping time.Duration, listening func(), changed func(id int64)) error
	JobListings(ctx context.Context, ids []int64) ([]storage.JobListing, error)
}

// WatchOptions tune a Watcher; zero fields take the defaults.
type WatchOptions struct {
	// Coalesce is the least time between two reads of changed jobs: the
	// changes announced meanwhile are read together, in one statement
	// (default 100ms).
	Coalesce time.Duration
	// Recheck is how often every watched job is read even though no change
	// was announced, the safety net for a notification lost in a way the
	// listener could not notice (default 30s).
	Recheck time.Duration
	// Ping is how long the listening connection may stay quiet before it is
	// checked (default 30s).
	Ping time.Duration
	// Linger is how long the listening connection is kept after its last
	// watcher left, so watchers coming and going do not reconnect it each
	// time (default 10s).
	Linger time.Duration
}

func (o WatchOptions) withDefaults() WatchOptions {
	if o.Coalesce <= 0 {
		o.Coalesce = 100 * time.Millisecond
	}
	if o.Recheck <= 0 {
		o.Recheck = 30 * time.Second
	}
	if o.Ping <= 0 {
		o.Ping = 30 * time.Second
	}
	if o.Linger <= 0 {
		o.Linger = 10 * time.Second
	}
	return o
}

// Watcher tells the watchers of jobs when their jobs change. A process has
// one: while anyone watches it holds a single PostgreSQL connection
// listening for job changes (so every API process sees changes made by any
// worker or process), and it reads each changed job once for all of its
// watchers. An idle watcher costs a goroutine and a map entry; no
// connection and no polling of its own.
//
// Changes are never lost for good: when the listening connection comes up
// (the first time, or again after it failed) every watched job is read,
// and every Recheck they are read anyway.
type Watcher struct {
	feed ChangeFeed
	log  *slog.Logger
	opt  WatchOptions

	mu      sync.Mutex
	jobs    map[int64]*watched
	pending map[int64]bool
	wake    chan struct{}
	// reads counts the reads of changed jobs started so far.
	reads  uint64
	stop   context.CancelFunc // of the running feed; nil when stopped
	idle   *time.Timer        // stops the feed after Linger without watchers
	closed bool
}

// watched is one job's entry: its watches and the last read of it.
type watched struct {
	watches map[*Watch]struct{}
	job     *storage.JobListing
	data    []byte // job as the surface shows it, in JSON
	read    uint64 // the read that found them
}

// Watch is one watcher's subscription to a job's changes.
type Watch struct {
	w  *Watcher
	id int64
	// changed receives (without blocking its sender; one pending signal
	// stands for any number) when the job may have changed.
	changed chan struct{}
	// done is closed when the Watcher is closed.
	done chan struct{}
	// after is the last read started before the watcher read the job
	// itself (Mark): that read, and those before it, may have found an
	// older state than the watcher's own.
	after uint64
}

// NewWatcher returns a Watcher over feed; it connects on its first watch.
func NewWatcher(feed ChangeFeed, log *slog.Logger, opt WatchOptions) *Watcher {
	return &Watcher{feed: feed, log: log, opt: opt.withDefaults(), jobs: map[int64]*watched{},
		pending: map[int64]bool{}, wake: make(chan struct{}, 1)}
}

// Watch subscribes to job id's changes; Close the Watch when done.
func (w *Watcher) Watch(id int64) *Watch {
	wt := &Watch{w: w, id: id, changed: make(chan struct{}, 1), done: make(chan struct{})}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		close(wt.done)
		return wt
	}
	e := w.jobs[id]
	if e == nil {
		e = &watched{watches: map[*Watch]struct{}{}}
		w.jobs[id] = e
	}
	e.watches[wt] = struct{}{}
	if w.idle != nil {
		w.idle.Stop()
		w.idle = nil
	}
	if w.stop == nil {
		ctx, cancel := context.WithCancel(context.Background())
		w.stop = cancel
		go w.run(ctx)
	}
	return wt
}

// Changed receives when the job may have changed; Latest tells how.
func (wt *Watch) Changed() <-chan struct{} { return wt.changed }

// Done is closed when the Watcher is closed (the process shuts down).
func (wt *Watch) Done() <-chan struct{} { return wt.done }

// Mark records that the watcher has just read the job itself: Latest
// ignores reads started before, which may have found an older state.
func (wt *Watch) Mark() {
	wt.w.mu.Lock()
	wt.after = wt.w.reads
	wt.w.mu.Unlock()
}

// Latest returns the job as last read (after Mark), with its JSON
// encoding, and whether there is such a read; a job read and found
// missing (deleted) is returned as nil with ok true.
func (wt *Watch) Latest() (job *storage.JobListing, data []byte, ok bool) {
	wt.w.mu.Lock()
	defer wt.w.mu.Unlock()
	e := wt.w.jobs[wt.id]
	if e == nil || e.data == nil || e.read <= wt.after {
		return nil, nil, false
	}
	return e.job, e.data, true
}

// Close ends the subscription.
func (wt *Watch) Close() {
	w := wt.w
	w.mu.Lock()
	defer w.mu.Unlock()
	e := w.jobs[wt.id]
	if e == nil {
		return
	}
	delete(e.watches, wt)
	if len(e.watches) > 0 {
		return
	}
	delete(w.jobs, wt.id)
	delete(w.pending, wt.id)
	if len(w.jobs) == 0 && w.stop != nil && w.idle == nil {
		w.idle = time.AfterFunc(w.opt.Linger, w.stopIfIdle)
	}
}

func (w *Watcher) stopIfIdle() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.jobs) == 0 && w.stop != nil {
		w.stop()
		w.stop, w.idle = nil, nil
	}
}

// Close ends every watch (their streams end, and clients reconnect to
// another process) and stops the feed. Watches made afterwards are done at
// once.
func (w *Watcher) Close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closed = true
	for _, e := range w.jobs {
		for wt := range e.watches {
			close(wt.done)
		}
	}
	w.jobs = map[int64]*watched{}
	if w.idle != nil {
		w.idle.Stop()
		w.idle = nil
	}
	if w.stop != nil {
		w.stop()
		w.stop = nil
	}
}

// Watching reports how many jobs are watched, and by how many watches.
func (w *Watcher) Watching() (jobs, watches int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, e := range w.jobs {
		watches += len(e.watches)
	}
	return len(w.jobs), watches
}

// markAll marks every watched job to be read.
func (w *Watcher) markAll() {
	w.mu.Lock()
	for id := range w.jobs {
		w.pending[id] = true
	}
	w.mu.Unlock()
	w.poke()
}

// mark marks job id to be read, if anyone watches it.
func (w *Watcher) mark(id int64) {
	w.mu.Lock()
	_, ok := w.jobs[id]
	if ok {
		w.pending[id] = true
	}
	w.mu.Unlock()
	if ok {
		w.poke()
	}
}

func (w *Watcher) poke() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// run listens (reconnecting after a failure) and reads changed jobs until
// ctx is done.
func (w *Watcher) run(ctx context.Context) {
	go w.listen(ctx)
	recheck := time.NewTicker(w.opt.Recheck)
	defer recheck.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.wake:
		case <-recheck.C:
			w.markAll()
			continue // read at the wake that markAll sent
		}
		if !w.read(ctx) {
			w.wait(ctx, time.Second) // the database is away: try again soon
			w.poke()
			continue
		}
		w.wait(ctx, w.opt.Coalesce)
	}
}

func (w *Watcher) wait(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// listen keeps the listening connection up until ctx is done.
func (w *Watcher) listen(ctx context.Context) {
	backoff := 100 * time.Millisecond
	for {
		start := time.Now()
		err := w.feed.ListenJobChanges(ctx, w.opt.Ping, w.markAll, w.mark)
		if ctx.Err() != nil {
			return
		}
		if time.Since(start) > time.Minute {
			backoff = 100 * time.Millisecond
		}
		w.log.Warn("job changes listener stopped; reconnecting", "err", err, "retry_in", backoff.String())
		w.wait(ctx, backoff)
		backoff = min(backoff*2, 5*time.Second)
	}
}

// read reads the pending jobs in one statement and signals the watches of
// those that changed; it reports false when the read failed (the jobs stay
// pending).
func (w *Watcher) read(ctx context.Context) bool {
	w.mu.Lock()
	ids := make([]int64, 0, len(w.pending))
	for id := range w.pending {
		ids = append(ids, id)
	}
	clear(w.pending)
	if len(ids) == 0 {
		w.mu.Unlock()
		return true
	}
	w.reads++
	read := w.reads
	w.mu.Unlock()
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	found, err := w.feed.JobListings(rctx, ids)
	cancel()
	if err != nil {
		if ctx.Err() == nil {
			w.log.Warn("read watched jobs", "jobs", len(ids), "err", err)
		}
		w.mu.Lock()
		for _, id := range ids {
			if _, ok := w.jobs[id]; ok {
				w.pending[id] = true
			}
		}
		w.mu.Unlock()
		return false
	}
	byID := make(map[int64]*storage.JobListing, len(found))
	for i := range found {
		byID[found[i].ID] = &found[i]
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, id := range ids {
		e := w.jobs[id]
		if e == nil {
			continue // nobody watches it any more
		}
		j := byID[id]
		data := []byte("null")
		if j != nil {
			if data, err = json.Marshal(jobListingOf(j)); err != nil {
				w.log.Error("encode watched job", "job_id", id, "err", err)
				continue
			}
		}
		if bytes.Equal(data, e.data) {
			continue
		}
		e.job, e.data, e.read = j, data, read
		for wt := range e.watches {
			select {
			case wt.changed <- struct{}{}:
			default:
			}
		}
	}
	return true
}
