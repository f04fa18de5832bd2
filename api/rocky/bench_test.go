package rocky_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// post sends a registration without the contract check (the check itself
// costs more than the request); tests cover the contract.
func (s *stack) post(hc *http.Client, body string) (string, error) {
	resp, err := hc.Post(s.url+"/api/v4/registrations.json", "application/json", strings.NewReader(body))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var m struct{ UID string }
	if err := jsonDecode(resp, &m); err != nil || resp.StatusCode != 200 {
		return "", fmt.Errorf("status %d: %v", resp.StatusCode, err)
	}
	return m.UID, nil
}

func (s *stack) ready(hc *http.Client, uid string) (bool, error) {
	resp, err := hc.Get(s.url + "/api/v4/registrations/pdf_ready?UID=" + uid)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	var m struct {
		PDFReady bool `json:"pdf_ready"`
	}
	return m.PDFReady, jsonDecode(resp, &m)
}

func (s *stack) benchBody() string {
	return registrationJSON(s.t, func(m map[string]any) {
		m["partner_id"] = s.partnerID
		m["send_confirmation_reminder_emails"] = false
	})
}

func (s *stack) readyCount() int {
	var n int
	_ = s.db.QueryRow(context.Background(), `SELECT count(*) FROM rocky_registrants WHERE pdf_status = 'ready'`).Scan(&n)
	return n
}

// BenchmarkRegistrationsWithPDF is end-to-end throughput: registrations
// POSTed as fast as the API takes them, counted when every PDF is stored
// (one in-process API and one worker with 8 slots, sharing the machine).
func BenchmarkRegistrationsWithPDF(b *testing.B) {
	s := start(b, options{workerConcurrency: 8})
	body := s.benchBody()
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	base := s.readyCount()
	b.ResetTimer()
	var failed atomic.Int64
	b.SetParallelism(8)
	t0 := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.post(hc, body); err != nil {
				failed.Add(1)
			}
		}
	})
	posted := time.Since(t0)
	for s.readyCount()-base < b.N-int(failed.Load()) {
		time.Sleep(5 * time.Millisecond)
	}
	b.StopTimer()
	if failed.Load() > 0 {
		b.Fatalf("%d registrations failed", failed.Load())
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "registrations+pdfs/s")
	b.ReportMetric(float64(b.N)/posted.Seconds(), "posts/s")
}

// BenchmarkLatencyAt100PerSecond offers a steady 100 registrations per
// second for 5 seconds and measures, per registration, the time from the
// POST to the first pdf_ready=true (polled every 10 ms). One round is one
// benchmark iteration: run it with -benchtime 1x.
func BenchmarkLatencyAt100PerSecond(b *testing.B) {
	s := start(b, options{workerConcurrency: 8})
	body := s.benchBody()
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	const rate, seconds = 100, 5
	for i := 0; i < b.N; i++ {
		var mu sync.Mutex
		var lat []time.Duration
		var wg sync.WaitGroup
		var errs atomic.Int64
		tick := time.NewTicker(time.Second / rate)
		for n := 0; n < rate*seconds; n++ {
			<-tick.C
			wg.Add(1)
			go func() {
				defer wg.Done()
				t0 := time.Now()
				uid, err := s.post(hc, body)
				if err != nil {
					errs.Add(1)
					return
				}
				for {
					ok, err := s.ready(hc, uid)
					if err != nil {
						errs.Add(1)
						return
					}
					if ok {
						break
					}
					time.Sleep(10 * time.Millisecond)
				}
				mu.Lock()
				lat = append(lat, time.Since(t0))
				mu.Unlock()
			}()
		}
		tick.Stop()
		wg.Wait()
		if errs.Load() > 0 {
			b.Fatalf("%d registrations failed", errs.Load())
		}
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)/2].Milliseconds()), "p50_ms")
		b.ReportMetric(float64(lat[len(lat)*99/100].Milliseconds()), "p99_ms")
		b.ReportMetric(float64(lat[len(lat)-1].Milliseconds()), "max_ms")
	}
}

func jsonDecode(resp *http.Response, v any) error { return json.NewDecoder(resp.Body).Decode(v) }

// BenchmarkPDFWorker measures the PDF job alone: b.N registrations are
// committed with no worker running, then one worker drains the queue. The
// CPU time of this process during the drain (it runs the worker and an
// idle API) gives PDFs per worker core; PostgreSQL and Redis run in their
// own processes and are not counted.
func BenchmarkPDFWorker(b *testing.B) {
	s := start(b, options{noWorker: true})
	body := s.benchBody()
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	base := s.readyCount()
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < b.N; i += 8 {
				if _, err := s.post(hc, body); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.ResetTimer()
	cpu0 := cpuTime()
	s.runWorker(8)
	for s.readyCount()-base < b.N {
		time.Sleep(2 * time.Millisecond)
	}
	b.StopTimer()
	cpu := cpuTime() - cpu0
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pdfs/s")
	b.ReportMetric(float64(b.N)/cpu.Seconds(), "pdfs/cpu-s")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
