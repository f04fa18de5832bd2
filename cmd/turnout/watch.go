package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/turnoutdev/turnout/client"
)

// Exit codes of `turnout jobs watch` for a job that did not succeed; any
// other error (bad flags, a refused key, an unreachable API) exits 1.
const (
	exitJobFailed   = 2
	exitJobCanceled = 3
)

// exitError ends the CLI with its code after printing its message.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// defaultAPIURL is where `turnout-api` listens by default
// (TURNOUT_HTTP_ADDR ":8080").
const defaultAPIURL = "http://127.0.0.1:8080"

// jobsWatch follows one job over the API until it ends: a progress line
// redrawn in place on a terminal, one line per event otherwise, or one
// JSON object per event. It talks to the API (not the database) with an
// API key, so anyone holding the job's key can watch it.
func jobsWatch(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("jobs watch", flag.ContinueOnError)
	fs.SetOutput(e.errOut)
	api := fs.String("api", envOr("TURNOUT_API_URL", defaultAPIURL), "the API's base URL (default $TURNOUT_API_URL or "+defaultAPIURL+")")
	key := fs.String("key", os.Getenv("TURNOUT_API_KEY"), "the API key owning the job, or an admin key (default $TURNOUT_API_KEY)")
	poll := fs.Bool("poll", false, "read the job every --interval instead of following its event stream")
	interval := fs.Duration("interval", time.Second, "how often to read the job when polling")
	asJSON := fs.Bool("json", false, "print one JSON object per event")
	id, err := jobIDArg(parseInterspersed(fs, args))
	if err != nil {
		return err
	}
	if *key == "" {
		return errors.New("no API key: pass --key or set TURNOUT_API_KEY")
	}
	c, err := client.New(*api, *key, client.WithPollInterval(*interval), client.WithUserAgent("turnout-cli"))
	if err != nil {
		return err
	}
	events := c.Watch(ctx, id)
	if *poll {
		events = c.Poll(ctx, id)
	}
	var show func(client.Event)
	var out watchOutput
	switch {
	case *asJSON:
		enc := json.NewEncoder(e.out)
		show = func(ev client.Event) {
			_ = enc.Encode(struct {
				Event string     `json:"event"`
				ID    string     `json:"id,omitempty"`
				Job   client.Job `json:"job"`
			}{ev.Name, ev.ID, ev.Job})
		}
	case isTerminal(e.out):
		out = &progressLine{w: e.out, now: time.Now}
		show = out.event
	default:
		show = func(ev client.Event) { fmt.Fprintln(e.out, plainLine(time.Now(), ev)) }
	}
	for ev, err := range events {
		if err != nil {
			if out != nil {
				out.done()
			}
			return err
		}
		show(ev)
		if ev.Name != client.EventEnd {
			continue
		}
		if out != nil {
			out.done()
		}
		switch ev.Job.Status {
		case client.StatusFailed:
			return &exitError{exitJobFailed, ev.Job.Err()}
		case client.StatusCanceled:
			return &exitError{exitJobCanceled, ev.Job.Err()}
		}
		return nil
	}
	return errors.New("the job's events ended before the job did")
}

func envOr(name, dflt string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return dflt
}

// isTerminal reports whether w is a terminal that understands redrawing a
// line (not a file, a pipe or /dev/null, and TERM is not "dumb").
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && os.Getenv("TERM") != "dumb" && isTerminalFile(f)
}

// plainLine is one event as a line of text for logs and pipes.
func plainLine(now time.Time, ev client.Event) string {
	j := ev.Job
	var b strings.Builder
	fmt.Fprintf(&b, "%s %-8s job %d %s attempt %d/%d", now.UTC().Format(time.RFC3339), ev.Name, j.ID, j.Status, j.Attempts, j.MaxAttempts)
	if j.ProgressTotal > 0 || j.ProgressDone > 0 {
		fmt.Fprintf(&b, " rows %d/%d failed %d", j.ProgressDone, j.ProgressTotal, j.ProgressFailed)
	}
	if j.Error != nil && (ev.Name == client.EventError || j.Status == client.StatusFailed) {
		fmt.Fprintf(&b, " error: %s", *j.Error)
	}
	return b.String()
}

type watchOutput interface {
	event(client.Event)
	done()
}

// progressLine draws a job as one line redrawn in place: status, a bar,
// rows, the rate over the last rateWindow and the time left at that rate.
type progressLine struct {
	w       io.Writer
	now     func() time.Time
	start   time.Time
	samples []sample
	drawn   bool
}

type sample struct {
	at   time.Time
	done int64
}

// rateWindow is how far back the rate looks: long enough to smooth the
// bursts of a load's batches, short enough to follow a change of pace.
const rateWindow = 10 * time.Second

func (p *progressLine) event(ev client.Event) {
	now := p.now()
	if p.start.IsZero() {
		p.start = now
	}
	j := ev.Job
	p.samples = append(p.samples, sample{now, j.ProgressDone})
	for len(p.samples) > 2 && now.Sub(p.samples[1].at) >= rateWindow {
		p.samples = p.samples[1:]
	}
	fmt.Fprint(p.w, "\r\x1b[K"+p.render(j, now))
	p.drawn = true
}

// render is the line for job j at now.
func (p *progressLine) render(j client.Job, now time.Time) string {
	var b strings.Builder
	fmt.Fprintf(&b, "job %d %-9s", j.ID, j.Status)
	if j.ProgressTotal > 0 {
		frac := min(float64(j.ProgressDone)/float64(j.ProgressTotal), 1)
		const width = 24
		full := int(frac * width)
		fmt.Fprintf(&b, " [%s%s] %3.0f%% %d/%d rows", strings.Repeat("#", full), strings.Repeat(".", width-full),
			frac*100, j.ProgressDone, j.ProgressTotal)
		if j.ProgressFailed > 0 {
			fmt.Fprintf(&b, " (%d failed)", j.ProgressFailed)
		}
		if rate := p.rate(); rate > 0 {
			fmt.Fprintf(&b, " %s rows/s", humanRate(rate))
			if left := j.ProgressTotal - j.ProgressDone; left > 0 && !j.Finished() {
				fmt.Fprintf(&b, " ETA %s", (time.Duration(float64(left)/rate) * time.Second).Round(time.Second))
			}
		}
	}
	fmt.Fprintf(&b, " attempt %d/%d %s", j.Attempts, j.MaxAttempts, now.Sub(p.start).Round(time.Second))
	return b.String()
}

// rate is the rows per second between the oldest and newest samples.
func (p *progressLine) rate() float64 {
	if len(p.samples) < 2 {
		return 0
	}
	first, last := p.samples[0], p.samples[len(p.samples)-1]
	secs := last.at.Sub(first.at).Seconds()
	if secs <= 0 || last.done <= first.done {
		return 0
	}
	return float64(last.done-first.done) / secs
}

func humanRate(r float64) string {
	switch {
	case r >= 1e6:
		return fmt.Sprintf("%.1fM", r/1e6)
	case r >= 1e4:
		return fmt.Sprintf("%.0fk", r/1e3)
	}
	return fmt.Sprintf("%.0f", r)
}

func (p *progressLine) done() {
	if p.drawn {
		fmt.Fprintln(p.w)
	}
}
