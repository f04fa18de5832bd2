package worker_test

import (
	"testing"
	"time"

	"github.com/turnoutdev/turnout/worker"
)

func TestExponentialRetryDoublesWithJitterAndIsCapped(t *testing.T) {
	delay := worker.ExponentialRetry(250 * time.Millisecond)
	for n := 0; n < 64; n++ {
		want := 10 * time.Minute
		if n < 20 {
			want = min(250*time.Millisecond<<n, want)
		}
		for range 20 {
			got := delay(n, nil, nil)
			if got < want || got > want+want/4 || got > 10*time.Minute {
				t.Fatalf("retry %d waited %s, want %s to %s and never more than 10m", n, got, want, min(want+want/4, 10*time.Minute))
			}
		}
	}
}
