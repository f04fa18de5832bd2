// Command benchsse measures what open job event streams
// (GET /service/jobs/{id}/events) cost a running turnout-api: it creates
// one queued no-op job per stream (no worker runs, so every stream stays
// idle), reads the API's own /metrics with no stream open and then with
// every stream open, each over the same idle spell, and reports the
// difference per stream. Then it changes every watched job in one
// statement and times how long each stream takes to tell it, and closes
// the streams and checks the API frees them.
//
//	benchsse -url http://API -database postgres://... [-streams 1000] [-hold 60s]
//
// The key comes from the environment (BENCH_API_KEY, an admin key whose
// rate limit and batch size are out of the way), never from a flag.
// Output is Go benchmark lines, so bench/run.sh reads them like the others.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "benchsse:", err)
		os.Exit(1)
	}
}

func run() error {
	base := flag.String("url", "", "the API's base URL")
	dbURL := flag.String("database", "", "the API's database, to change the watched jobs")
	n := flag.Int("streams", 1000, "streams to open, one job each")
	hold := flag.Duration("hold", time.Minute, "how long CPU is measured, with no stream and with every stream open")
	flag.Parse()
	key := os.Getenv("BENCH_API_KEY")
	if *base == "" || *dbURL == "" || key == "" {
		return fmt.Errorf("give -url, -database and BENCH_API_KEY")
	}
	c := &client{base: *base, key: key, http: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 100}}}
	ids, err := c.createJobs(*n)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "%d queued jobs; measuring the API with no stream for %s…\n", len(ids), *hold)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// One stream opened and closed first, so the lazily started parts
	// (the listener's goroutines, the router's first use) count in both.
	warm := c.open(ctx, ids[0])
	if err := warm.waitFirst(30 * time.Second); err != nil {
		return err
	}
	warm.close()
	time.Sleep(2 * time.Second)
	idle0, err := c.metrics()
	if err != nil {
		return err
	}
	time.Sleep(*hold)
	idle1, err := c.metrics()
	if err != nil {
		return err
	}

	fmt.Fprintf(os.Stderr, "opening %d streams…\n", len(ids))
	t := time.Now()
	streams := make([]*stream, len(ids))
	sem := make(chan struct{}, 50)
	var wg sync.WaitGroup
	var openErr atomic.Value
	for i, id := range ids {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			streams[i] = c.open(ctx, id)
			if err := streams[i].waitFirst(time.Minute); err != nil {
				openErr.Store(err)
			}
		}()
	}
	wg.Wait()
	if err, ok := openErr.Load().(error); ok {
		return err
	}
	opened := time.Since(t)
	fmt.Fprintf(os.Stderr, "%d streams open in %s; measuring for %s…\n", len(ids), opened.Round(time.Millisecond), *hold)
	time.Sleep(5 * time.Second)
	open0, err := c.metrics()
	if err != nil {
		return err
	}
	time.Sleep(*hold)
	open1, err := c.metrics()
	if err != nil {
		return err
	}
	var pings int64
	for _, s := range streams {
		pings += s.pings.Load()
	}

	// One statement changes every watched job: how soon does each stream
	// tell it?
	db, err := pgx.Connect(ctx, *dbURL)
	if err != nil {
		return err
	}
	defer db.Close(context.Background())
	changed := time.Now()
	if _, err := db.Exec(ctx, `UPDATE jobs SET progress_total = 1, updated_at = now() WHERE id = ANY($1)`, ids); err != nil {
		return err
	}
	var lat []time.Duration
	for _, s := range streams {
		select {
		case at := <-s.progress:
			lat = append(lat, at.Sub(changed))
		case <-time.After(time.Minute):
			return fmt.Errorf("job %d: no progress event a minute after the change", s.id)
		}
	}
	slices.Sort(lat)
	burst, err := c.metrics()
	if err != nil {
		return err
	}

	for _, s := range streams {
		s.close()
	}
	freed := time.Now()
	var after map[string]float64
	for {
		if after, err = c.metrics(); err != nil {
			return err
		}
		if after["go_goroutines"] <= idle1["go_goroutines"]+2 || time.Since(freed) > 30*time.Second {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}

	per := func(v float64) float64 { return v / float64(len(ids)) }
	idleCPU := idle1["process_cpu_seconds_total"] - idle0["process_cpu_seconds_total"]
	openCPU := open1["process_cpu_seconds_total"] - open0["process_cpu_seconds_total"]
	perMinute := float64(time.Minute) / float64(*hold)
	fmt.Printf("BenchmarkIdleEventStreams/streams=%d\t1\t%.1f rss-KiB/stream\t%.1f heap-KiB/stream\t%.2f goroutines/stream\t%.1f cpu-us/stream/min\t%.0f api-rss-MiB-idle\t%.0f api-rss-MiB-open\t%.1f api-cpu-ms/min-idle\t%.1f api-cpu-ms/min-open\t%.0f open-ms\t%d pings\n",
		len(ids),
		per(open0["process_resident_memory_bytes"]-idle1["process_resident_memory_bytes"])/1024,
		per(open0["go_memstats_heap_inuse_bytes"]-idle1["go_memstats_heap_inuse_bytes"])/1024,
		per(open0["go_goroutines"]-idle1["go_goroutines"]),
		per((openCPU-idleCPU)*1e6)*perMinute,
		idle1["process_resident_memory_bytes"]/(1<<20), open0["process_resident_memory_bytes"]/(1<<20),
		idleCPU*1e3*perMinute, openCPU*1e3*perMinute,
		float64(opened.Milliseconds()), pings)
	fmt.Printf("BenchmarkEventFanOut/streams=%d\t1\t%.1f p50-ms\t%.1f p99-ms\t%.1f max-ms\t%.0f cpu-ms\n",
		len(ids), ms(lat[len(lat)/2]), ms(lat[len(lat)*99/100]), ms(lat[len(lat)-1]),
		(burst["process_cpu_seconds_total"]-open1["process_cpu_seconds_total"])*1e3)
	fmt.Printf("BenchmarkEventStreamsClosed/streams=%d\t1\t%.0f goroutines-left\t%.0f ms\n",
		len(ids), after["go_goroutines"]-idle1["go_goroutines"], float64(time.Since(freed).Milliseconds()))
	return nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

type client struct {
	base, key string
	http      *http.Client
}

// createJobs creates n queued no-op jobs, 50 a call.
func (c *client) createJobs(n int) ([]int64, error) {
	var ids []int64
	for len(ids) < n {
		k := min(50, n-len(ids))
		body := `{"jobs": [` + strings.TrimSuffix(strings.Repeat(`{"sleepMs": 0},`, k), ",") + `]}`
		req, _ := http.NewRequest(http.MethodPost, c.base+"/service/jobs/batch", strings.NewReader(body))
		req.Header.Set("X-API-Key", c.key)
		req.Header.Set("Content-Type", "application/json")
		resp, err := c.http.Do(req)
		if err != nil {
			return nil, err
		}
		var out struct{ Jobs []struct{ ID int64 } }
		err = json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusAccepted || len(out.Jobs) != k {
			return nil, fmt.Errorf("POST /service/jobs/batch: %d %v", resp.StatusCode, err)
		}
		for _, j := range out.Jobs {
			ids = append(ids, j.ID)
		}
	}
	return ids, nil
}

// metrics reads the API's /metrics samples that have no labels.
func (c *client) metrics() (map[string]float64, error) {
	resp, err := c.http.Get(c.base + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for sc.Scan() {
		name, v, ok := strings.Cut(sc.Text(), " ")
		if !ok || strings.HasPrefix(name, "#") || strings.Contains(name, "{") {
			continue
		}
		if f, err := strconv.ParseFloat(v, 64); err == nil {
			out[name] = f
		}
	}
	return out, sc.Err()
}

// stream is one open event stream, read until closed.
type stream struct {
	id       int64
	first    chan error
	progress chan time.Time
	pings    atomic.Int64
	cancel   context.CancelFunc
}

func (c *client) open(ctx context.Context, id int64) *stream {
	ctx, cancel := context.WithCancel(ctx)
	s := &stream{id: id, first: make(chan error, 1), progress: make(chan time.Time, 1), cancel: cancel}
	go func() {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/service/jobs/%d/events", c.base, id), nil)
		req.Header.Set("X-API-Key", c.key)
		resp, err := c.http.Do(req)
		if err != nil {
			s.first <- err
			return
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			s.first <- fmt.Errorf("GET events of job %d: %d", id, resp.StatusCode)
			return
		}
		sc := bufio.NewScanner(resp.Body)
		sawFirst := false
		for sc.Scan() {
			line := sc.Bytes()
			switch {
			case bytes.Equal(line, []byte(": ping")):
				s.pings.Add(1)
			case bytes.Equal(line, []byte("event: status")) && !sawFirst:
				sawFirst = true
				s.first <- nil
			case bytes.Equal(line, []byte("event: progress")):
				select {
				case s.progress <- time.Now():
				default:
				}
			}
		}
	}()
	return s
}

func (s *stream) waitFirst(d time.Duration) error {
	select {
	case err := <-s.first:
		return err
	case <-time.After(d):
		return fmt.Errorf("job %d: no first event in %s", s.id, d)
	}
}

func (s *stream) close() { s.cancel() }
