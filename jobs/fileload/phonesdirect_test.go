package fileload

import (
	"bytes"
	"cmp"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/turnoutdev/turnout/storage"
)

// phonesOutcome is what a phones load leaves: the phones of the database,
// the row errors and warnings, and the action's result.
type phonesOutcome struct {
	phones, errors []string
	result         string
}

// phonesFileOf is a phonesFile of rows (VANID, type, number, preferred):
// people listed once, in runs of consecutive rows and again far apart,
// VANIDs of nobody, invalid numbers, and rows marked preferred.
func phonesFileOf(rng *rand.Rand, n int) [][4]string {
	var rows [][4]string
	number := func() string { return fmt.Sprintf("612555%04d", rng.IntN(60)) }
	for len(rows) < n {
		vanid := fmt.Sprint(1 + rng.IntN(3000))
		switch k := rng.IntN(100); {
		case k < 10:
			vanid = fmt.Sprint(1 + rng.IntN(6)) // listed often, far apart
		case k < 20:
			vanid = fmt.Sprint(5000 + rng.IntN(40)) // nobody
		case k < 25:
			rows = append(rows, [4]string{vanid, "Cell", "1235550100", "1"}) // not a NANP number
			continue
		case k < 35:
			for range 1 + rng.IntN(3) { // consecutive rows of one person
				rows = append(rows, [4]string{vanid, []string{"Cell", "Home", "Work"}[rng.IntN(3)], number(), fmt.Sprint(rng.IntN(2))})
			}
		}
		rows = append(rows, [4]string{vanid, []string{"Cell", "Home"}[rng.IntN(2)], number(), fmt.Sprint(rng.IntN(2))})
	}
	return rows
}

// phonesBefore is what the database holds before a test load of phones.
type phonesBefore struct {
	name string
	// some: people with a VANID divisible by 10 have a phone (every other
	// one preferred).
	some bool
	// file: the phones of this file, loaded through the staging table.
	file []byte
}

// loadPhones runs a phonesFile load of data through the staging table or
// the direct path with opts, over the phones before, and rolls it back. It
// returns the direct path's loader too.
func (f *directFixture) loadPhones(t *testing.T, data []byte, direct bool, before phonesBefore, opts Options) (phonesOutcome, *directPhonesLoader) {
	t.Helper()
	ctx := context.Background()
	file := File{ColumnDelimiter: DelimCsv, HasHeader: true, HasQuotes: true}
	for _, c := range []string{"VANID", "PhoneType", "PhoneSource", "Phone", "PreferredPhone", "PhoneExt", "PhoneOptInStatus", "SonarScore"} {
		file.Columns = append(file.Columns, Column{Name: c})
	}
	r, err := newPhonesRule(ctx, f.env.Store, 0, file, 0)
	if err != nil {
		t.Fatal(err)
	}
	j := loadJob{id: f.fl.JobID, fl: f.fl, rules: []rule{r}, store: f.env.Store, opts: opts, log: slog.New(slog.DiscardHandler)}
	var ld loader = &stagedLoader{job: j}
	var dl *directPhonesLoader
	if direct {
		dl = newDirectPhonesLoader(j, r)
		ld = dl
	}
	defer ld.close()
	st := &stager{rd: newReader(bytes.NewReader(data), file, CSVLimits{}), rules: []rule{r}, header: true,
		errW: csv.NewWriter(io.Discard), maxErrs: 1000, progress: func(int64, int64) {}}
	var o phonesOutcome
	rollback := errors.New("rollback")
	err = f.env.Store.InTx(ctx, func(ptx pgx.Tx) error {
		tx := storage.TxOf(ptx)
		if before.some {
			if _, err := ptx.Exec(ctx, `INSERT INTO van_phones (db_mode, vanid, phone, phone_type, phone_source, preferred, opt_in_status, sonar_score)
				SELECT 0, vanid, '61255500' || lpad((vanid % 100)::text, 2, '0'), 'C', 'B', vanid % 20 = 0, 'U', 5
				FROM van_people WHERE db_mode = 0 AND vanid % 10 = 0`); err != nil {
				return err
			}
		}
		if before.file != nil {
			if err := f.loadPrior(ctx, ptx, file, before.file); err != nil {
				return err
			}
		}
		if err := ld.stage(ctx, tx, st); err != nil {
			return err
		}
		if err := ld.apply(ctx, tx, st.rowsRead); err != nil {
			return err
		}
		for _, e := range st.errs {
			o.errors = append(o.errors, fmt.Sprintf("%d %s %s %v", e.Line, e.Column, e.Message, e.Warning))
		}
		rows, err := ptx.Query(ctx, `SELECT concat_ws(' ', db_mode, vanid, phone, phone_type, phone_source, preferred, ext, opt_in_status, sonar_score)
			FROM van_phones ORDER BY db_mode, vanid, phone`)
		if err != nil {
			return err
		}
		if o.phones, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
			return err
		}
		if err := ptx.QueryRow(ctx, `SELECT result::text FROM van_file_load_actions WHERE job_id = $1`, f.fl.JobID).Scan(&o.result); err != nil {
			return err
		}
		return rollback
	})
	if !errors.Is(err, rollback) {
		t.Fatalf("load: %v", err)
	}
	return o, dl
}

// loadPrior loads the phones of data through the staging table in ptx,
// as the load before the one under test, and leaves only its phones.
func (f *directFixture) loadPrior(ctx context.Context, ptx pgx.Tx, file File, data []byte) error {
	r, err := newPhonesRule(ctx, f.env.Store, 0, file, 0)
	if err != nil {
		return err
	}
	j := loadJob{id: f.fl.JobID, fl: f.fl, rules: []rule{r}, store: f.env.Store, log: slog.New(slog.DiscardHandler)}
	st := &stager{rd: newReader(bytes.NewReader(data), file, CSVLimits{}), rules: []rule{r}, header: true,
		errW: csv.NewWriter(io.Discard), maxErrs: 1000, progress: func(int64, int64) {}}
	prior := &stagedLoader{job: j}
	defer prior.close()
	tx := storage.TxOf(ptx)
	if err := prior.stage(ctx, tx, st); err != nil {
		return err
	}
	if err := prior.apply(ctx, tx, st.rowsRead); err != nil {
		return err
	}
	if _, err := ptx.Exec(ctx, `DELETE FROM van_file_load_actions WHERE job_id = $1`, f.fl.JobID); err != nil {
		return err
	}
	_, err = ptx.Exec(ctx, `DROP TABLE fileload_stage, fileload_phones_0`)
	return err
}

// The phones direct path loads what the staging table loads (the same
// phones, row errors, preferred-phone warnings and statistics) for any
// chunk size and set bound, with and without phones in the database, for
// files in any order: people listed once, in runs of consecutive rows and
// again in later chunks, and VANIDs of nobody. With chunks and sets far
// smaller than the person table, it matches each chunk without reading
// the table whole.
func TestPhonesDirectLoadsAgreeWithStaged(t *testing.T) {
	f := newDirectFixture(t)
	const people = 3000
	if _, err := f.env.Pool.Exec(context.Background(), `TRUNCATE van_people CASCADE;
		INSERT INTO van_people (db_mode, vanid, first_name) SELECT 0, g, 'Person' FROM generate_series(1, `+strconv.Itoa(people)+`) g;
		INSERT INTO van_people (db_mode, vanid, first_name) SELECT 1, g, 'Other mode' FROM generate_series(1, 50) g;
		ANALYZE van_people`); err != nil {
		t.Fatal(err)
	}
	shuffled := phonesFileOf(rand.New(rand.NewPCG(5, 6)), 400)
	sorted := slices.Clone(shuffled)
	slices.SortStableFunc(sorted, func(a, b [4]string) int {
		x, _ := strconv.Atoi(a[0])
		y, _ := strconv.Atoi(b[0])
		return cmp.Compare(x, y)
	})
	configs := []struct {
		name    string
		opts    Options
		bounded bool
	}{
		{"defaults", Options{}, false},
		{"one row a chunk", Options{ChunkRows: 1}, true},
		{"16 rows a chunk", Options{ChunkRows: 16}, true},
		{"7 rows a chunk, sets of 1 byte", Options{ChunkRows: 7, SetBytes: 1}, true},
		{"chunks of 2 KiB", Options{ChunkBytes: 2048}, true},
	}
	var straight, stored, again, storedAgain, full, warned bool
	for _, file := range []struct {
		name string
		rows [][4]string
	}{{"shuffled", shuffled}, {"sorted", sorted}} {
		var b strings.Builder
		b.WriteString("VANID,PhoneType,PhoneSource,Phone,PreferredPhone,PhoneExt,PhoneOptInStatus,SonarScore\n")
		for _, r := range file.rows {
			fmt.Fprintf(&b, "%s,%s,Bulk,%s,%s,,Opt In,4\n", r[0], r[1], r[2], r[3])
		}
		data := []byte(b.String())
		// The file before, edited: a row in three of another type or
		// preference, and its last quarter not there yet.
		b.Reset()
		b.WriteString("VANID,PhoneType,PhoneSource,Phone,PreferredPhone,PhoneExt,PhoneOptInStatus,SonarScore\n")
		for i, r := range file.rows[:len(file.rows)*3/4] {
			switch i % 6 {
			case 0:
				r[1] = "Work"
			case 3:
				r[3] = map[string]string{"0": "1", "1": "0"}[r[3]]
			}
			fmt.Fprintf(&b, "%s,%s,Bulk,%s,%s,,Opt In,4\n", r[0], r[1], r[2], r[3])
		}
		befores := []phonesBefore{{name: "no phones"}, {name: "some phones", some: true},
			{name: "the same file", file: data}, {name: "an edited file", file: []byte(b.String())}}
		for _, before := range befores {
			want, _ := f.loadPhones(t, data, false, before, Options{})
			if !strings.Contains(want.result, `"duplicateRows"`) || len(want.phones) < 100 {
				t.Fatalf("the staged load proves nothing: %v", want)
			}
			for _, e := range want.errors {
				warned = warned || strings.Contains(e, "is marked preferred for another number")
			}
			for _, c := range configs {
				name := fmt.Sprintf("%s file over %s, %s", file.name, before.name, c.name)
				got, l := f.loadPhones(t, data, true, before, c.opts)
				if !slices.Equal(got.phones, want.phones) {
					t.Errorf("%s: phones differ:\n direct %q\n staged %q", name, got.phones, want.phones)
				}
				if !slices.Equal(got.errors, want.errors) {
					t.Errorf("%s: row errors differ:\n direct %q\n staged %q", name, got.errors, want.errors)
				}
				if got.result != want.result {
					t.Errorf("%s: results differ:\n direct %s\n staged %s", name, got.result, want.result)
				}
				if c.bounded && l.matcher.peopleRead >= people {
					t.Errorf("%s: the matcher read %d people of %d", name, l.matcher.peopleRead, people)
				}
				// A row holds at least personRowBytes and its 8 fields'
				// headers: 9 rows fill 2 KiB.
				if c.opts.ChunkBytes > 0 && l.matcher.chunks < (l.rule.valid+8)/9 {
					t.Errorf("%s: %d valid rows in %d chunks of %d bytes", name, l.rule.valid, l.matcher.chunks, c.opts.ChunkBytes)
				}
				straight, stored, full = straight || l.direct > 0, stored || l.stored > 0, full || l.full
				again, storedAgain = again || l.back.Straight > 0, storedAgain || l.back.Stored > 0
			}
		}
	}
	if !straight || !stored || !again || !storedAgain || !full || !warned {
		t.Errorf("a path went untried: rows COPY'd straight %v, found stored %v, moved back %v, staged again from a stored phone %v, sets full %v, preferred mark dropped %v",
			straight, stored, again, storedAgain, full, warned)
	}
}
