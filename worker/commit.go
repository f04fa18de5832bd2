package worker

import (
	"context"
	"sync"
	"time"
)

// groupCommit writes the job state changes of concurrent tasks together:
// while one batch is being written, the changes that arrive queue up and
// go in the next statement. A change that arrives alone is written at
// once, so nothing waits for a timer; under load N tasks cost one round
// trip and one commit instead of N. The caller waits until its change is
// committed, so a task is acknowledged to Asynq only after its row says so
// — the same guarantee as writing it alone.
type groupCommit[In, Out any] struct {
	write func(ctx context.Context, batch []In) ([]Out, error) // one Out per In
	max   int

	mu    sync.Mutex
	queue []commitCall[In, Out]
	busy  bool
}

type commitCall[In, Out any] struct {
	in   In
	done chan commitResult[Out]
}

type commitResult[Out any] struct {
	out Out
	err error
}

// do queues in and waits for its batch to be written. The write runs on
// its own deadline, not the task's: a change handed over is finished even
// when the task's context ends (shutdown), as a lone write would be.
func (g *groupCommit[In, Out]) do(in In) (Out, error) {
	c := commitCall[In, Out]{in: in, done: make(chan commitResult[Out], 1)}
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

func (g *groupCommit[In, Out]) run() {
	for {
		g.mu.Lock()
		n := min(len(g.queue), g.max)
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
		outs, err := g.write(ctx, ins)
		cancel()
		for i, c := range batch {
			var out Out
			if err == nil {
				out = outs[i]
			}
			c.done <- commitResult[Out]{out, err}
		}
	}
}
