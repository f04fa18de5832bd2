package report

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/turnoutdev/turnout/internal/testkit/testenv"
)

// BenchmarkReport1M builds the registrants report of a partner with
// 1,000,000 registrants and, in the same run, has psql \copy the same
// SELECT (same columns, filter, order and time zone) to a file. It reports
// both durations, their ratio and the process's peak RSS and heap.
//
//	go test -run '^$' -bench Report1M -benchtime 1x ./jobs/report/
//
// (bench/report.sh runs it.)
func BenchmarkReport1M(b *testing.B) {
	if _, err := exec.LookPath("psql"); err != nil {
		b.Fatal("psql is needed for the comparison: apt-get install postgresql-client")
	}
	const n = 1_000_000
	f := newFixture(b)
	ctx := context.Background()
	seedStart := time.Now()
	// Server-side generation: the Go process stays out of the seeding, so
	// its RSS is the build's.
	if _, err := f.db.Exec(ctx, `INSERT INTO rocky_registrants (uid, partner_id, kind, status, locale,
		email_address, first_name, middle_name, last_name, name_title, home_address, home_city, home_state_id,
		home_zip_code, date_of_birth, us_citizen, party, phone, source_tracking_id, partner_tracking_id,
		survey_question_1, survey_answer_1, created_at)
		SELECT md5(i::text) || lpad(i::text, 8, '0'), $1, 'registration',
			CASE WHEN i % 3 = 0 THEN 'step_2' ELSE 'complete' END, CASE WHEN i % 2 = 0 THEN 'en' ELSE 'es' END,
			'voter' || i || '@example.org', 'First' || i, 'M', 'Last, "' || i || '"', 'Mr.', i || ' Main St',
			'Springfield', 'CA', '94110', date '1950-01-01' + (i % 18000), i % 7 <> 0, 'Democratic',
			'415-555-' || lpad((i % 10000)::text, 4, '0'), 'web', 'campaign-' || (i % 50),
			'Why vote?', CASE WHEN i % 100 = 0 THEN '=SUM(A1)' ELSE 'Because' END,
			timestamptz '2026-01-01' + i * interval '1 second'
		FROM generate_series(1, $2) AS i`, f.partner, n); err != nil {
		b.Fatal(err)
	}
	if _, err := f.db.Exec(ctx, `ANALYZE rocky_registrants`); err != nil {
		b.Fatal(err)
	}
	b.Logf("seeded %d registrants in %s", n, time.Since(seedStart).Round(time.Millisecond))

	var peakHeap atomic.Uint64
	stop := make(chan struct{})
	go func() {
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peakHeap.Load() {
				peakHeap.Store(ms.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	var build time.Duration
	var size int64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r, job := f.create(Request{})
		t0 := time.Now()
		if _, err := f.builder.Run(ctx, job); err != nil {
			b.Fatal(err)
		}
		build += time.Since(t0)
		got, _ := f.store.RegistrantReport(ctx, r.ID)
		if got.CurrentIndex != n {
			b.Fatalf("built %d rows", got.CurrentIndex)
		}
		size = *got.Bytes
	}
	b.StopTimer()
	close(stop)
	build /= time.Duration(b.N)

	out := filepath.Join(b.TempDir(), "psql.csv")
	q := fmt.Sprintf(`\copy (SELECT %s FROM rocky_registrants r WHERE partner_id = %d ORDER BY id) TO '%s' WITH (FORMAT csv)`,
		regexp.MustCompile(`\s+`).ReplaceAllString(SelectList(TypeStandard), " "), f.partner, out)
	cmd := exec.Command("psql", testenv.Get(b).DatabaseURL, "-X", "-q", "-v", "ON_ERROR_STOP=1",
		"-c", "SET TimeZone = 'America/New_York'", "-c", q)
	t0 := time.Now()
	if msg, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("psql: %v: %s", err, msg)
	}
	psql := time.Since(t0)
	st, err := os.Stat(out)
	if err != nil {
		b.Fatal(err)
	}
	// Same rows, same bytes (the report adds only its header line).
	if header := int64(len(csvLine(Header(TypeStandard)))); st.Size()+header != size {
		b.Errorf("psql wrote %d bytes, the report %d (header %d)", st.Size(), size, header)
	}
	b.ReportMetric(build.Seconds(), "build-s")
	b.ReportMetric(psql.Seconds(), "psql-s")
	b.ReportMetric(build.Seconds()/psql.Seconds(), "build/psql")
	b.ReportMetric(float64(peakRSS())/(1<<20), "peak-RSS-MB")
	b.ReportMetric(float64(peakHeap.Load())/(1<<20), "peak-heap-MB")
	b.ReportMetric(float64(size)/(1<<20), "file-MB")
}

// peakRSS is the process's high-water resident set (Linux VmHWM).
func peakRSS() int64 {
	fh, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}
