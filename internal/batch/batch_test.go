package batch

import (
	"context"
	"errors"
	"sync"
	"testing"
)

// Changes that arrive while a batch is being written go together in the
// next one; each caller gets its own answer, or the batch's error.
func TestGroupBatchesWhileBusyAndAnswersEachCaller(t *testing.T) {
	release := make(chan struct{})
	var mu sync.Mutex
	var sizes []int
	g := &Group[int, int]{Max: 100, Write: func(_ context.Context, batch []int) ([]int, error) {
		mu.Lock()
		sizes = append(sizes, len(batch))
		first := len(sizes) == 1
		mu.Unlock()
		if first {
			<-release // hold the first write so the others queue
		}
		for _, v := range batch {
			if v < 0 {
				return nil, errors.New("negative")
			}
		}
		out := make([]int, len(batch))
		for i, v := range batch {
			out[i] = v * 10
		}
		return out, nil
	}}
	results := make([]int, 21)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); results[0], _ = g.Do(0) }()
	for { // wait until the first write holds
		mu.Lock()
		n := len(sizes)
		mu.Unlock()
		if n == 1 {
			break
		}
	}
	for i := 1; i <= 20; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); results[i], _ = g.Do(i) }()
	}
	for { // all twenty queued behind the first
		g.mu.Lock()
		n := len(g.queue)
		g.mu.Unlock()
		if n == 20 {
			break
		}
	}
	close(release)
	wg.Wait()
	for i, r := range results {
		if r != i*10 {
			t.Errorf("caller %d got %d, want %d", i, r, i*10)
		}
	}
	if len(sizes) != 2 || sizes[0] != 1 || sizes[1] != 20 {
		t.Errorf("batch sizes %v, want [1 20]", sizes)
	}
	if _, err := g.Do(-1); err == nil {
		t.Error("a failed write must fail its callers")
	}
}
