// Command benchhttp is the HTTP side of `make bench`: it times one file-loading
// job from its POST to its final status, drives a fixed number of concurrent
// clients against an endpoint for a fixed time, and serves the Echo baseline
// those clients are compared with.
//
//	benchhttp job  -url http://API/v4/fileLoadingJobs -body job.json [-poll 20ms] [-out final.json]
//	benchhttp load -url URL -body req.json [-clients 16] [-duration 10s] [-warmup 2s] [-status 201]
//	benchhttp echo -addr 127.0.0.1:PORT
//
// Credentials come from the environment, never from flags (flags show in the
// process list): BENCH_BASIC_AUTH="user:password".
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/labstack/echo/v4"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: benchhttp job|load|echo [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "job":
		err = jobCmd(os.Args[2:])
	case "load":
		err = loadCmd(os.Args[2:])
	case "echo":
		err = echoCmd(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q (want job, load or echo)", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchhttp:", err)
		os.Exit(1)
	}
}

// client sends requests with the credentials of BENCH_BASIC_AUTH (VAN) or
// BENCH_API_KEY (X-API-Key, the native API), if set.
type client struct {
	hc         *http.Client
	user, pass string
	apiKey     string
}

func newClient(conns int) *client {
	c := &client{hc: &http.Client{
		Timeout:   time.Minute,
		Transport: &http.Transport{MaxIdleConnsPerHost: conns, DisableCompression: true},
	}}
	if a := os.Getenv("BENCH_BASIC_AUTH"); a != "" {
		c.user, c.pass, _ = strings.Cut(a, ":")
	}
	c.apiKey = os.Getenv("BENCH_API_KEY")
	return c
}

// do sends one request and returns the status and the whole body, so the
// connection is reused.
func (c *client) do(ctx context.Context, method, url string, body []byte) (int, []byte, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, r)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.user != "" {
		req.SetBasicAuth(c.user, c.pass)
	}
	if c.apiKey != "" {
		req.Header.Set("X-API-Key", c.apiKey)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// jobCmd POSTs one file-loading job and polls its status every -poll until
// it is Completed or Error. It prints the seconds from the POST to the
// status change, so the figure is within one poll interval of the truth;
// the default 20 ms is small next to loads of seconds, and one status read
// every 20 ms costs the API and the database next to nothing.
func jobCmd(args []string) error {
	fs := flag.NewFlagSet("job", flag.ContinueOnError)
	url := fs.String("url", "", "the fileLoadingJobs collection URL")
	bodyFile := fs.String("body", "", "file holding the request body")
	poll := fs.Duration("poll", 20*time.Millisecond, "status poll interval")
	timeout := fs.Duration("timeout", 10*time.Minute, "give up after this long")
	out := fs.String("out", "", "write the final job JSON here")
	if err := fs.Parse(args); err != nil {
		return err
	}
	body, err := os.ReadFile(*bodyFile)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	c := newClient(1)

	t0 := time.Now()
	code, resp, err := c.do(ctx, http.MethodPost, *url, body)
	if err != nil {
		return fmt.Errorf("POST: %w", err)
	}
	if code != http.StatusCreated {
		return fmt.Errorf("POST: status %d: %s", code, resp)
	}
	var created struct{ JobID int64 }
	if err := json.Unmarshal(resp, &created); err != nil || created.JobID == 0 {
		return fmt.Errorf("POST: no jobId in %s", resp)
	}
	statusURL := fmt.Sprintf("%s/%d", strings.TrimRight(*url, "/"), created.JobID)
	tick := time.NewTicker(*poll)
	defer tick.Stop()
	for {
		code, resp, err = c.do(ctx, http.MethodGet, statusURL, nil)
		if err != nil {
			return fmt.Errorf("GET job %d: %w", created.JobID, err)
		}
		if code != http.StatusOK {
			return fmt.Errorf("GET job %d: status %d: %s", created.JobID, code, resp)
		}
		var st struct{ Status, Message string }
		if err := json.Unmarshal(resp, &st); err != nil {
			return fmt.Errorf("GET job %d: %w", created.JobID, err)
		}
		if st.Status == "Completed" || st.Status == "Error" {
			elapsed := time.Since(t0)
			if *out != "" {
				if err := os.WriteFile(*out, resp, 0o644); err != nil {
					return err
				}
			}
			if st.Status == "Error" {
				return fmt.Errorf("job %d ended in Error: %s", created.JobID, st.Message)
			}
			fmt.Printf("%.3f\n", elapsed.Seconds())
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("job %d still %s after %s", created.JobID, st.Status, *timeout)
		case <-tick.C:
		}
	}
}

// Result is what one load run prints, as one JSON object.
type Result struct {
	Clients  int     `json:"clients"`
	Seconds  float64 `json:"seconds"`
	Requests int     `json:"requests"`
	Errors   int     `json:"errors"`
	RPS      float64 `json:"rps"`
	P50ms    float64 `json:"p50_ms"`
	P99ms    float64 `json:"p99_ms"`
	Maxms    float64 `json:"max_ms"`
	// FirstError says what went wrong, when something did.
	FirstError string `json:"first_error,omitempty"`
}

func loadCmd(args []string) error {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	url := fs.String("url", "", "URL to POST to")
	bodyFile := fs.String("body", "", "file holding the request body")
	clients := fs.Int("clients", 16, "concurrent clients, each sending its next request when the last one is answered")
	duration := fs.Duration("duration", 10*time.Second, "measured time")
	warmup := fs.Duration("warmup", 2*time.Second, "unmeasured time before it (connections, caches, JIT of the database's plans)")
	status := fs.Int("status", http.StatusCreated, "the status a successful answer has")
	if err := fs.Parse(args); err != nil {
		return err
	}
	body, err := os.ReadFile(*bodyFile)
	if err != nil {
		return err
	}
	res := load(newClient(*clients), *url, body, *status, *clients, *warmup, *duration)
	if err := json.NewEncoder(os.Stdout).Encode(res); err != nil {
		return err
	}
	if res.Errors > 0 {
		return fmt.Errorf("%d of %d requests failed; first: %s", res.Errors, res.Requests+res.Errors, res.FirstError)
	}
	return nil
}

// load is a closed loop: each client sends its next POST as soon as the last
// is answered, so the server sets the pace. Only requests sent after the
// warm-up and answered before its end are timed.
func load(c *client, url string, body []byte, want, clients int, warmup, duration time.Duration) Result {
	start := time.Now()
	from, until := start.Add(warmup), start.Add(warmup+duration)
	ctx, cancel := context.WithDeadline(context.Background(), until.Add(30*time.Second))
	defer cancel()
	lat := make([][]time.Duration, clients)
	errs := make([]int, clients)
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	for i := range clients {
		wg.Go(func() {
			for {
				t0 := time.Now()
				if !t0.Before(until) {
					return
				}
				code, resp, err := c.do(ctx, http.MethodPost, url, body)
				d := time.Since(t0)
				if err == nil && code != want {
					err = fmt.Errorf("status %d: %.200s", code, resp)
				}
				if err != nil { // counted in the warm-up too: a failure is never noise
					errs[i]++
					once.Do(func() { firstErr = err })
					continue
				}
				if !t0.Before(from) && !t0.Add(d).After(until) {
					lat[i] = append(lat[i], d)
				}
			}
		})
	}
	wg.Wait()
	all := slices.Concat(lat...)
	slices.Sort(all)
	res := Result{Clients: clients, Seconds: duration.Seconds(), Requests: len(all)}
	for _, n := range errs {
		res.Errors += n
	}
	if firstErr != nil {
		res.FirstError = firstErr.Error()
	}
	if len(all) > 0 {
		res.RPS = float64(len(all)) / duration.Seconds()
		res.P50ms = ms(percentile(all, 50))
		res.P99ms = ms(percentile(all, 99))
		res.Maxms = ms(all[len(all)-1])
	}
	return res
}

// percentile is the nearest-rank percentile of sorted, non-empty d.
func percentile(d []time.Duration, p int) time.Duration {
	i := (len(d)*p + 99) / 100 // ceil(n·p/100), 1-based
	return d[max(i, 1)-1]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// echoCmd serves the baseline: an Echo app answering the same route with a
// constant, so the load run beside it measures what HTTP, JSON and the load
// generator cost on this machine, and the Turnout run what the API adds
// (authentication, rate limit, request validation, the job row, the enqueue).
func echoCmd(args []string) error {
	fs := flag.NewFlagSet("echo", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8099", "listen address")
	if err := fs.Parse(args); err != nil {
		return err
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.POST("/v4/fileLoadingJobs", func(c echo.Context) error {
		return c.JSON(http.StatusCreated, map[string]int64{"jobId": 1})
	})
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- e.Start(*addr) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := e.Shutdown(sctx); err != nil {
		return err
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
