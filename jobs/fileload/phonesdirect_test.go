package fileload

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/turnoutdev/turnout/internal/testkit/testenv"
)

// When nobody has phones, the direct path COPYs rows before the VANIDs are
// read and sorts them out once they are: a row for nobody goes back to the
// staged rows, a person listed again is moved back, a person with
// consecutive rows is staged. Wherever the VANIDs arrive, the phones, row
// errors and statistics are those of a load that had them from the start.
func TestPhonesCopiedBeforeTheIdsAreSortedOutAfter(t *testing.T) {
	env := testenv.Get(t)
	ctx := context.Background()
	if _, err := env.Store.Pool.Exec(ctx, `TRUNCATE van_people, van_phones CASCADE;
		INSERT INTO van_people (db_mode, vanid, first_name) SELECT 0, g, 'Person' FROM generate_series(1, 20) g`); err != nil {
		t.Fatal(err)
	}
	rows := []string{
		"1,Cell,Bulk,6125550101,1,,Opt In,4",
		"99,Cell,Bulk,6125550199,1,,,", // nobody
		"2,Home,Bulk,6125550102,0,,,",
		"3,Cell,Bulk,6125550103,1,,,", // consecutive rows of 3
		"3,Work,Bulk,6125550113,1,,,",
		"2,Cell,Bulk,6125550122,1,,,", // 2 again
		"99,Cell,Bulk,6125550198,1,,,",
		"4,Cell,Bulk,6125550104,1,,,",
		"3,Cell,Bulk,6125550103,0,,,", // 3 again, after its consecutive rows
		"5,Cell,Bulk,1235550100,0,,,", // bad area code
		"1,Cell,Bulk,6125550101,0,9,,",
		"98,Cell,Bulk,6125550198,0,,,", // nobody, once
		"6,Cell,Bulk,6125550106,1,,,",
	}
	file := "VANID,PhoneType,PhoneSource,Phone,PreferredPhone,PhoneExt,PhoneOptInStatus,SonarScore\n" + strings.Join(rows, "\n") + "\n"
	var f File
	for _, c := range strings.Split(strings.SplitN(file, "\n", 2)[0], ",") {
		f.Columns = append(f.Columns, Column{Name: c})
	}
	f.ColumnDelimiter, f.HasHeader, f.HasQuotes = DelimCsv, true, true
	conn, err := env.Store.Pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	people, err := loadPersonIndex(ctx, conn.Conn(), 0, IDVANID)
	conn.Release()
	if err != nil {
		t.Fatal(err)
	}

	type outcome struct {
		phones []string
		errors []string
		stats  PhoneStatistics
	}
	// load runs the direct path with the VANIDs arriving once `after` rows
	// are read (-1: before the COPY starts) and rolls it back.
	load := func(after int64) outcome {
		r, err := newPhonesRule(ctx, env.Store, 0, f, 0)
		if err != nil {
			t.Fatal(err)
		}
		fast := newPhonesFast(r)
		defer fast.close()
		late := &lateIndex{done: make(chan struct{}), x: people, cancel: func() {}}
		if after < 0 {
			close(late.done)
		}
		st := &stager{rd: newReader(bytes.NewReader([]byte(file)), f, CSVLimits{}), rules: []rule{r}, header: true,
			errW: csv.NewWriter(io.Discard), maxErrs: 100}
		st.progress = func(read, _ int64) {
			if read == after {
				close(late.done)
			}
		}
		var o outcome
		rollback := errors.New("rollback")
		err = env.Store.InTx(ctx, func(tx pgx.Tx) error {
			if err := copyPhones(ctx, tx, late, fast, st, t.TempDir(), slog.New(slog.DiscardHandler)); err != nil {
				return err
			}
			if after >= 0 && fast.direct == 0 {
				t.Errorf("VANIDs after %d rows: nothing was COPY'd straight", after)
			}
			if err := settleWith(ctx, tx, r.index, fast, st); err != nil {
				return err
			}
			if o.stats, err = fast.upsert(ctx, tx, st.rowsRead); err != nil {
				return err
			}
			for _, e := range st.errs {
				kind := "error"
				if e.Warning {
					kind = "warning"
				}
				o.errors = append(o.errors, fmt.Sprintf("%s %d %s %s", kind, e.Line, e.Column, e.Message))
			}
			prs, err := tx.Query(ctx, `SELECT concat_ws(' ', vanid, phone, phone_type, phone_source, preferred, ext, opt_in_status, sonar_score)
				FROM van_phones ORDER BY vanid, phone`)
			if err != nil {
				return err
			}
			o.phones, err = pgx.CollectRows(prs, pgx.RowTo[string])
			if err != nil {
				return err
			}
			return rollback
		})
		if !errors.Is(err, rollback) {
			t.Fatalf("VANIDs after %d rows: %v", after, err)
		}
		return o
	}

	want := load(-1)
	// Lines 3 and 5 lose the preferred mark (warnings; their numbers still
	// load), line 11 is invalid; 1's and 3's 6125550103 are listed twice;
	// 99 and 98 are nobody.
	wantStats := PhoneStatistics{TotalRows: 13, ValidRows: 12, InvalidRows: 1, DuplicateRows: 2, MatchedRows: 7, UnmatchedRows: 3,
		PhonesAdded: 7, PreferredSet: 4}
	if want.stats != wantStats {
		t.Errorf("VANIDs read first: statistics %+v, want %+v", want.stats, wantStats)
	}
	var warnings []string
	for _, e := range want.errors {
		if strings.HasPrefix(e, "warning ") {
			warnings = append(warnings, e)
		}
	}
	if len(want.errors) != 3 || len(warnings) != 2 || len(want.phones) != 7 {
		t.Errorf("VANIDs read first: errors and warnings %q, phones %q", want.errors, want.phones)
	}
	for after := int64(1); after <= int64(len(rows)); after++ {
		if got := load(after); !reflect.DeepEqual(got, want) {
			t.Errorf("VANIDs after %d rows:\n got %+v\nwant %+v", after, got, want)
		}
	}
}
