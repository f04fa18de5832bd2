package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestPercentileIsNearestRank(t *testing.T) {
	d := make([]time.Duration, 100)
	for i := range d {
		d[i] = time.Duration(i+1) * time.Millisecond
	}
	for _, c := range []struct {
		p    int
		want time.Duration
	}{{50, 50 * time.Millisecond}, {99, 99 * time.Millisecond}, {100, 100 * time.Millisecond}, {1, time.Millisecond}} {
		if got := percentile(d, c.p); got != c.want {
			t.Errorf("p%d of 1..100 ms = %s, want %s", c.p, got, c.want)
		}
	}
	if got := percentile([]time.Duration{7}, 99); got != 7 {
		t.Errorf("p99 of one sample = %s, want that sample", got)
	}
}

func TestLoadSendsTheBodyWithCredentialsAndCountsAnswers(t *testing.T) {
	var bad atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		b, _ := io.ReadAll(r.Body)
		if !ok || u != "bench" || p != "s3cret|0" || string(b) != `{"a":1}` || r.Method != http.MethodPost {
			bad.Add(1)
		}
		w.WriteHeader(http.StatusCreated)
	}))
	defer srv.Close()
	t.Setenv("BENCH_BASIC_AUTH", "bench:s3cret|0")
	res := load(newClient(4), srv.URL, []byte(`{"a":1}`), http.StatusCreated, 4, 50*time.Millisecond, 200*time.Millisecond)
	if res.Requests == 0 || res.Errors != 0 || bad.Load() != 0 {
		t.Fatalf("got %d timed requests, %d errors, %d malformed at the server; want some, none, none", res.Requests, res.Errors, bad.Load())
	}
	if res.P50ms > res.P99ms || res.P99ms > res.Maxms {
		t.Errorf("percentiles out of order: p50 %v, p99 %v, max %v", res.P50ms, res.P99ms, res.Maxms)
	}
}

func TestLoadCountsUnexpectedStatusesAsErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "rate limited", http.StatusTooManyRequests)
	}))
	defer srv.Close()
	res := load(newClient(2), srv.URL, []byte(`{}`), http.StatusCreated, 2, 0, 100*time.Millisecond)
	if res.Errors == 0 || res.Requests != 0 || !strings.Contains(res.FirstError, "429") {
		t.Fatalf("got %d errors (first %q) and %d successes; want every 429 counted as an error", res.Errors, res.FirstError, res.Requests)
	}
}
