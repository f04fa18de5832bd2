package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/turnoutdev/turnout/client"
)

// The progress line shows the share done, the rate over the recent
// samples and the time left at that rate, redrawn in place.
func TestProgressLineShowsRateAndETA(t *testing.T) {
	var out bytes.Buffer
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	now := t0
	p := &progressLine{w: &out, now: func() time.Time { return now }}
	job := client.Job{ID: 7, Status: client.StatusRunning, Attempts: 1, MaxAttempts: 3, ProgressTotal: 100000}

	p.event(client.Event{Name: client.EventStatus, Job: job})
	now = t0.Add(2 * time.Second)
	job.ProgressDone = 20000
	p.event(client.Event{Name: client.EventProgress, Job: job})
	line := out.String()[strings.LastIndex(out.String(), "\r"):]
	for _, want := range []string{"\r\x1b[Kjob 7 running", "[####....", " 20% 20000/100000 rows", " 10k rows/s", " ETA 8s", " attempt 1/3 2s"} {
		if !strings.Contains(line, want) {
			t.Errorf("line %q lacks %q", line, want)
		}
	}

	now = t0.Add(4 * time.Second)
	job.Status, job.ProgressDone, job.ProgressFailed = client.StatusSucceeded, 100000, 3
	p.event(client.Event{Name: client.EventEnd, Job: job})
	p.done()
	last := out.String()[strings.LastIndex(out.String(), "\r"):]
	if !strings.Contains(last, "[########################] 100%") || !strings.Contains(last, "(3 failed)") ||
		strings.Contains(last, "ETA") || !strings.HasSuffix(last, "\n") {
		t.Errorf("final line %q: want a full bar, the failed rows, no ETA, and a newline", last)
	}
	if n := strings.Count(out.String(), "\n"); n != 1 {
		t.Errorf("%d newlines, want the one after the final line (the rest redraw in place)", n)
	}
}

func TestPlainLineNamesEventStatusAndError(t *testing.T) {
	msg := "the source answered HTTP 404"
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	got := plainLine(at, client.Event{Name: client.EventEnd, Job: client.Job{ID: 9, Status: client.StatusFailed,
		Attempts: 1, MaxAttempts: 3, ProgressTotal: 10, ProgressDone: 4, Error: &msg}})
	want := "2026-05-01T12:00:00Z end      job 9 failed attempt 1/3 rows 4/10 failed 0 error: the source answered HTTP 404"
	if got != want {
		t.Errorf("plainLine =\n%q, want\n%q", got, want)
	}
}
