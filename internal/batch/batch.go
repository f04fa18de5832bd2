// Package batch runs the calls of concurrent goroutines as one: while a
// batch is in flight, the calls that arrive queue up and go together next.
package batch

import (
	"context"
	"sync"
	"time"
)

// Group runs the statements of concurrent callers together (the worker's
// reads of the jobs it takes, the API's inserts of new jobs): while one
// batch is in flight, the calls that arrive queue up and go in the next
// statement. A call that arrives alone goes at once, so nothing waits for
// a timer; under load N callers cost one round trip and one commit instead
// of N. Each caller waits for its own answer, so a batched write is as
// durable when Do returns as a lone one.
type Group[In, Out any] struct {
	// Write runs one batch and returns one Out per In.
	Write func(ctx context.Context, batch []In) ([]Out, error)
	// Max bounds a batch.
	Max int

	mu    sync.Mutex
	queue []call[In, Out]
	busy  bool
}

type call[In, Out any] struct {
	in   In
	done chan result[Out]
}

type result[Out any] struct {
	out Out
	err error
}

// Do queues in and waits for its batch. The batch runs on its own
// deadline, not the caller's: a change handed over is finished even when
// the caller's context ends (shutdown), as a lone write would be.
func (g *Group[In, Out]) Do(in In) (Out, error) {
	c := call[In, Out]{in: in, done: make(chan result[Out], 1)}
	g.mu.Lock()
	g.queue = append(g.queue, c)
	if !g.busy {
		g.busy = true
		go g.run()
	}
	g.mu.Unlock()
	r := <-c.done
	return r.out, r.err
}

func (g *Group[In, Out]) run() {
	for {
		g.mu.Lock()
		n := min(len(g.queue), g.Max)
		if n == 0 {
			g.busy = false
			g.mu.Unlock()
			return
		}
		batch := g.queue[:n:n]
		g.queue = g.queue[n:]
		g.mu.Unlock()

		ins := make([]In, n)
		for i, c := range batch {
			ins[i] = c.in
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		outs, err := g.Write(ctx, ins)
		cancel()
		for i, c := range batch {
			var out Out
			if err == nil {
				out = outs[i]
			}
			c.done <- result[Out]{out, err}
		}
	}
}
