package worker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/turnoutdev/turnout/storage"
)

// Outcomes that arrive within linger go in one write; a failed write is
// retried with the same outcomes; close writes what is pending, and an
// outcome handed over after close is written at once.
func TestCompleterBatchesRetriesAndFlushesOnClose(t *testing.T) {
	var mu sync.Mutex
	var writes [][]int
	fail := 1 // the second write fails once
	c := newCompleter(func(_ context.Context, batch []int) error {
		mu.Lock()
		defer mu.Unlock()
		writes = append(writes, append([]int(nil), batch...))
		if len(writes) == 2 && fail > 0 {
			fail--
			return errors.New("database restarting")
		}
		return nil
	}, 50*time.Millisecond, func(string, ...any) {})
	for i := range 5 {
		if err := c.add(i); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(writes) == 1 })
	for i := 5; i < 8; i++ {
		_ = c.add(i)
	}
	waitFor(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(writes) == 3 })
	_ = c.add(8)
	c.close()
	if err := c.add(9); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	want := "[[0 1 2 3 4] [5 6 7] [5 6 7] [8] [9]]"
	if got := fmt.Sprint(writes); got != want {
		t.Fatalf("writes %s, want %s", got, want)
	}
}

// While a write is stuck, outcomes pile up to maxPending and then hold
// their callers back until it goes through.
func TestCompleterHoldsCallersBackWhenFull(t *testing.T) {
	release := make(chan struct{})
	c := newCompleter(func(context.Context, []int) error { <-release; return nil }, 0, func(string, ...any) {})
	c.maxPending = 2
	_ = c.add(1)
	_ = c.add(2) // the writer takes [1] or [1 2]; either way two are pending
	added := make(chan struct{})
	go func() { _ = c.add(3); close(added) }()
	select {
	case <-added:
		t.Fatal("add returned with maxPending outcomes waiting")
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	select {
	case <-added:
	case <-time.After(5 * time.Second):
		t.Fatal("add still blocked after the write went through")
	}
	c.close()
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A batch the database refuses for one outcome's data is written outcome
// by outcome: the others are recorded, the bad one goes to reject, and the
// completer does not retry the batch forever.
func TestCompleterIsolatesAnOutcomeTheDatabaseRefuses(t *testing.T) {
	var mu sync.Mutex
	written := map[int]bool{}
	var rejected []int
	c := newCompleter(func(_ context.Context, batch []int) error {
		mu.Lock()
		defer mu.Unlock()
		for _, v := range batch {
			if v == 3 {
				return &pgconn.PgError{Code: "22P05", Message: "unsupported Unicode escape sequence"}
			}
		}
		for _, v := range batch {
			written[v] = true
		}
		return nil
	}, 50*time.Millisecond, func(string, ...any) {})
	c.rejected = storage.IsRejectedData
	c.reject = func(_ context.Context, v int, _ error) { mu.Lock(); rejected = append(rejected, v); mu.Unlock() }
	for i := range 6 {
		_ = c.add(i)
	}
	waitFor(t, func() bool { return c.pending() == 0 })
	c.close()
	mu.Lock()
	defer mu.Unlock()
	if len(written) != 5 || written[3] || fmt.Sprint(rejected) != "[3]" {
		t.Fatalf("written %v, rejected %v; want 0-2 and 4-5 written and 3 rejected once", written, rejected)
	}
}
