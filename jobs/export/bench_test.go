package export

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/turnoutdev/turnout/internal/testkit/testenv"
	"github.com/turnoutdev/turnout/jobs"
	"github.com/turnoutdev/turnout/storage"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// benchRows is the list's size: EXPORT_ROWS, default 1,000,000.
func benchRows(b *testing.B) int {
	n := 1_000_000
	if s := os.Getenv("EXPORT_ROWS"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v <= 0 {
			b.Fatalf("EXPORT_ROWS=%q: want a positive integer", s)
		}
		n = v
	}
	return n
}

// BenchmarkSavedListExport1M exports a saved list of 1,000,000 members
// (EXPORT_ROWS) with type 4 (the VANID column) and, interleaved with it in
// the same run, has psql \copy (SELECT ...) TO a file of the same column
// of the same list, three times each. It reports each side's median and
// spread (slowest minus fastest), the ratio of the medians, and the
// process's peak RSS and heap (the export streams: they stay flat).
//
//	go test -run '^$' -bench SavedListExport1M -benchtime 1x ./jobs/export/
//
// (bench/export.sh runs it.)
func BenchmarkSavedListExport1M(b *testing.B) {
	if _, err := exec.LookPath("psql"); err != nil {
		b.Fatal("psql is needed for the comparison: apt-get install postgresql-client")
	}
	n := benchRows(b)
	env := testenv.Get(b)
	ctx := context.Background()
	blobs, err := storage.OpenBlobs(ctx, "file://"+b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer blobs.Close()
	list, keyID := benchList(b, env, n)
	builder := &Builder{Store: env.Store, Blobs: blobs, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	// The baseline is the query a data engineer would write for the column.
	out := filepath.Join(b.TempDir(), "psql.csv")
	q := fmt.Sprintf(`\copy (SELECT vanid FROM van_saved_list_members WHERE list_id = %d ORDER BY vanid) TO '%s' WITH (FORMAT csv)`, list, out)

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
	const runs = 3
	var exports, copies []float64
	var size int64
	b.ResetTimer()
	for range b.N {
		for range runs {
			job := benchJob(b, env.Store, keyID, list)
			t0 := time.Now()
			if _, err := builder.Run(ctx, job); err != nil {
				b.Fatal(err)
			}
			exports = append(exports, time.Since(t0).Seconds())
			e, err := env.Store.ExportJob(ctx, job.ID)
			if err != nil || e.RecordCount == nil || *e.RecordCount != int64(n) {
				b.Fatalf("export %d: %+v, %v; want %d rows", job.ID, e, err, n)
			}
			size = *e.Bytes

			cmd := exec.Command("psql", env.DatabaseURL, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", q)
			t0 = time.Now()
			if msg, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("psql: %v: %s", err, msg)
			}
			copies = append(copies, time.Since(t0).Seconds())
		}
	}
	b.StopTimer()
	close(stop)
	st, err := os.Stat(out)
	if err != nil {
		b.Fatal(err)
	}
	// Same rows, same bytes: the export adds only its header line.
	if header := int64(len("VanID\n")); st.Size()+header != size {
		b.Errorf("psql wrote %d bytes, the export %d (header %d)", st.Size(), size, header)
	}
	em, es := medianSpread(exports)
	cm, cs := medianSpread(copies)
	b.ReportMetric(em, "export-s")
	b.ReportMetric(es, "export-spread-s")
	b.ReportMetric(cm, "psql-s")
	b.ReportMetric(cs, "psql-spread-s")
	b.ReportMetric(em/cm, "export/psql")
	b.ReportMetric(float64(peakRSS())/(1<<20), "peak-RSS-MB")
	b.ReportMetric(float64(peakHeap.Load())/(1<<20), "peak-heap-MB")
	b.ReportMetric(float64(size)/(1<<20), "file-MB")
	b.ReportMetric(float64(n), "rows")
}

// benchList seeds a key, a folder and a list of n members (VANIDs 7, 14,
// ...) server-side, so the Go process stays out of the seeding.
func benchList(b *testing.B, env *testenv.Env, n int) (list, keyID int64) {
	b.Helper()
	ctx := context.Background()
	mode := int16(0)
	k, err := env.Store.CreateKey(ctx, storage.NewKey{Name: "bench", Scopes: []string{storage.ScopeVAN}, VANApp: "bench-" + b.Name(), VANDBMode: &mode})
	if err != nil {
		b.Fatal(err)
	}
	f, err := env.Store.CreateFolder(ctx, "Bench", false, []int64{k.ID})
	if err != nil {
		b.Fatal(err)
	}
	if err := env.Pool.QueryRow(ctx, `INSERT INTO van_saved_lists (folder_id, db_mode, key_id, name) VALUES ($1, 0, $2, 'Bench')
		RETURNING id`, f.ID, k.ID).Scan(&list); err != nil {
		b.Fatal(err)
	}
	seed := time.Now()
	if _, err := env.Pool.Exec(ctx, `INSERT INTO van_saved_list_members (list_id, vanid)
		SELECT $1, i * 7 FROM generate_series(1, $2) AS i`, list, n); err != nil {
		b.Fatal(err)
	}
	if _, err := env.Pool.Exec(ctx, `ANALYZE van_saved_list_members`); err != nil {
		b.Fatal(err)
	}
	b.Logf("seeded a list of %d members in %s", n, time.Since(seed).Round(time.Millisecond))
	return list, k.ID
}

// benchJob commits an export job of list as the API does, without
// enqueueing it: the benchmark runs the builder itself.
func benchJob(b *testing.B, store *storage.Store, keyID, list int64) *storage.Job {
	b.Helper()
	ctx := context.Background()
	var job *storage.Job
	err := store.WithTx(ctx, func(tx *storage.Tx) error {
		var err error
		if job, err = tx.InsertJob(ctx, storage.NewJob{Kind: Kind, Queue: jobs.QueueReports, KeyID: &keyID}); err != nil {
			return err
		}
		return tx.InsertExportJob(ctx, &storage.ExportJob{JobID: job.ID, KeyID: keyID, SavedListID: list, Type: TypeSavedList})
	})
	if err != nil {
		b.Fatal(err)
	}
	return job
}

// medianSpread returns the median of vs and their spread (max - min).
func medianSpread(vs []float64) (median, spread float64) {
	s := slices.Clone(vs)
	slices.Sort(s)
	return s[len(s)/2], s[len(s)-1] - s[0]
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
