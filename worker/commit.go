package worker

import (
	"context"
	"sync"
	"time"
)

// completer writes the outcomes of finished tasks behind them: a task is
// acknowledged as soon as its handler returns and its outcome joins the
// next batch, written after linger so that one statement carries every
// outcome of that moment (River's batch completer does the same). The
// price is a window in which Asynq has let go of a task whose row does not
// say so yet; if the worker dies in it, the reconciler finds the row
// unfinished and runs the job again — at least once, as always.
//
// A failed write is retried until it succeeds or the completer is closed;
// while it fails, outcomes pile up to maxPending and then hold their tasks
// back, so memory stays bounded and Asynq stops handing out work. A write
// the database refuses for what one outcome holds (rejected) is not
// retried as a whole: each outcome of the batch is written alone, and one
// refused alone goes to reject, so one bad outcome never holds the others.
type completer[T any] struct {
	write      func(ctx context.Context, batch []T) error
	linger     time.Duration
	max        int
	maxPending int
	log        func(msg string, args ...any)
	// rejected tells an error caused by the data of the batch from one of
	// the connection or the server; nil: every error is retried.
	rejected func(error) bool
	// reject settles an outcome that was refused alone (a fallback write,
	// a log line, a count).
	reject func(ctx context.Context, v T, err error)

	mu      sync.Mutex
	space   *sync.Cond
	queue   []T
	closed  bool
	kick    chan struct{}
	closing chan struct{}
	stopped chan struct{}
}

func newCompleter[T any](write func(context.Context, []T) error, linger time.Duration, log func(string, ...any)) *completer[T] {
	c := &completer[T]{write: write, linger: linger, max: 1000, maxPending: 10000, log: log,
		kick: make(chan struct{}, 1), closing: make(chan struct{}), stopped: make(chan struct{})}
	c.space = sync.NewCond(&c.mu)
	go c.run()
	return c
}

// add hands an outcome over; it blocks only while maxPending are waiting.
// After close it writes the outcome itself: a task cut off by shutdown may
// finish after the completer has stopped.
func (c *completer[T]) add(v T) error {
	c.mu.Lock()
	for !c.closed && len(c.queue) >= c.maxPending {
		c.space.Wait()
	}
	if c.closed {
		c.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return c.write(ctx, []T{v})
	}
	c.queue = append(c.queue, v)
	c.mu.Unlock()
	select {
	case c.kick <- struct{}{}:
	default:
	}
	return nil
}

// pending is how many outcomes wait to be written.
func (c *completer[T]) pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.queue)
}

// close writes what is pending (trying for up to 10 s) and stops.
func (c *completer[T]) close() {
	c.mu.Lock()
	c.closed = true
	c.space.Broadcast()
	c.mu.Unlock()
	close(c.closing)
	<-c.stopped
}

// writeEach writes the outcomes of a refused batch one by one; those
// refused alone go to reject. It fails only on an error that is not the
// data's, to be retried with the whole batch.
func (c *completer[T]) writeEach(ctx context.Context, batch []T) error {
	for i := range batch {
		err := c.write(ctx, batch[i:i+1])
		switch {
		case err == nil:
		case c.rejected(err):
			c.reject(ctx, batch[i], err)
		default:
			return err
		}
	}
	return nil
}

func (c *completer[T]) run() {
	defer close(c.stopped)
	var deadline time.Time // set once closed: how long to keep trying
	lingered := false      // the batch about to be written has waited linger
	backoff := 50 * time.Millisecond
	for {
		c.mu.Lock()
		closed, n := c.closed, len(c.queue)
		c.mu.Unlock()
		if closed && deadline.IsZero() {
			deadline = time.Now().Add(10 * time.Second)
		}
		if n == 0 {
			if closed {
				return
			}
			select {
			case <-c.kick:
			case <-c.closing:
			}
			continue
		}
		if n < c.max && !closed && !lingered {
			// Under steady load outcomes arrive while a batch is being
			// written; writing the next one at once would make batches of a
			// few. Waiting linger each time bounds the statements to one per
			// linger, whatever the rate.
			lingered = true
			select {
			case <-time.After(c.linger):
			case <-c.closing:
			}
			continue
		}
		lingered = false
		c.mu.Lock()
		batch := c.queue[:min(n, c.max):min(n, c.max)]
		c.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := c.write(ctx, batch)
		if err != nil && c.rejected != nil && c.rejected(err) {
			err = c.writeEach(ctx, batch)
		}
		cancel()
		if err == nil {
			backoff = 50 * time.Millisecond
			c.mu.Lock()
			c.queue = c.queue[len(batch):]
			c.space.Broadcast()
			c.mu.Unlock()
			continue
		}
		if closed && time.Now().After(deadline) {
			c.mu.Lock()
			lost := len(c.queue)
			c.queue = nil
			c.mu.Unlock()
			c.log("job outcomes not recorded at shutdown; the reconciler will run those jobs again", "jobs", lost, "err", err)
			return
		}
		c.log("recording job outcomes failed; retrying", "jobs", len(batch), "err", err)
		if closed {
			time.Sleep(max(min(backoff, time.Until(deadline)), 0))
		} else {
			select {
			case <-time.After(backoff):
			case <-c.closing: // from now on, against the deadline
			}
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}
