package fileload

import (
	"encoding/csv"
	"errors"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/turnoutdev/turnout/internal/fault"
	"github.com/turnoutdev/turnout/storage"
)

var smallLimits = CSVLimits{MaxFieldBytes: 10, MaxRecordBytes: 24, MaxColumns: 4}

// Each limit stops the read with an error naming it, whether the record is
// one line or a quoted field spanning many, with or without hasQuotes, and
// however the reads split the bytes; records within the limits pass.
func TestRecordCapNamesTheLimitPassed(t *testing.T) {
	cases := []struct {
		name, in string
		quotes   bool
		want     string // part of the error; "" = reads to the end
	}{
		{"within limits", "a,b,c,d\n\"q,\nq\",x\n\n\n1234567890,y\n", true, ""},
		{"field over", "a,12345678901\n", true, "field 2 is longer than 10 bytes"},
		{"quoted field over, across lines", "a,\"1\n2\n3\n4\n5\n6\",b\n", true, "field 2 is longer than 10 bytes"},
		{"quoted field over, no hasQuotes", "a,\"1\n2\n3\n4\n5\n6\",b\n", false, "field 2 is longer than 10 bytes"},
		{"record over across lines", "\"12345\n\",\"12345\n\",\"12345\n\",\"12345\n\"\n", true, "line 1: the record starting there is longer than 24 bytes"},
		{"record over, no hasQuotes", "ok\n\"12345678\n\",\"12345678\n\",\"1234567\n\"\n", false, "line 2: the record starting there is longer than 24 bytes"},
		{"columns over", "a,b\n1,2,3,4,5\n", true, "line 2: the record has more than 4 fields"},
		{"escaped quotes stay in the field", "\"" + strings.Repeat(`""`, 11) + "\",b\n", true, "field 1 is longer than 10 bytes"},
		{"a bad quote ends the record at the line", "\"ab\"c,\"x\nyy,zz\n1,2\n", true, ""},
	}
	readers := map[string]func(io.Reader) io.Reader{
		"whole":    func(r io.Reader) io.Reader { return r },
		"one byte": iotest.OneByteReader,
		"halves":   iotest.HalfReader,
	}
	for _, c := range cases {
		for rname, wrap := range readers {
			f := File{ColumnDelimiter: DelimCsv, HasQuotes: c.quotes}
			r := newReader(wrap(strings.NewReader(c.in)), f, smallLimits)
			var err error
			for err == nil {
				_, _, err = r.next(true)
				if asRowError(err) != nil {
					err = nil
				}
			}
			if c.want == "" {
				if !errors.Is(err, io.EOF) {
					t.Errorf("%s, %s reads: %v, want the whole file read", c.name, rname, err)
				}
				continue
			}
			if !fault.Is(err, fault.Invalid) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%s, %s reads: %v, want an invalid-file error containing %q", c.name, rname, err, c.want)
			}
		}
	}
}

// Whatever the bytes, no record that encoding/csv returns through the cap
// is larger than the limits: a random mix of quotes, delimiters, CR and LF
// is read with and without the cap, and every record the capped read
// returns must fit.
func TestRecordCapBoundsEveryRecordEncodingCSVReturns(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte("ab,\"\"\r\n\n|")
	for i := range 3000 {
		b := make([]byte, rng.IntN(120))
		for j := range b {
			b[j] = alphabet[rng.IntN(len(alphabet))]
		}
		for _, lazy := range []bool{false, true} {
			cr := csv.NewReader(newRecordCap(strings.NewReader(string(b)), smallLimits, ',', lazy))
			cr.FieldsPerRecord, cr.LazyQuotes = -1, lazy
			for {
				rec, err := cr.Read()
				if rec != nil {
					size := 0
					for _, f := range rec {
						size += len(f)
						if len(f) > smallLimits.MaxFieldBytes {
							t.Fatalf("input %d %q (lazy %v): a %d-byte field passed the %d-byte limit", i, b, lazy, len(f), smallLimits.MaxFieldBytes)
						}
					}
					if size > smallLimits.MaxRecordBytes || len(rec) > smallLimits.MaxColumns {
						t.Fatalf("input %d %q (lazy %v): a record of %d bytes and %d fields passed the limits", i, b, lazy, size, len(rec))
					}
				}
				if err == io.EOF || fault.Is(err, fault.Invalid) {
					break
				}
			}
		}
	}
}

// A row error leaves the row-error store with line, column and rule only.
func TestWithoutValuesKeepsLineColumnAndRule(t *testing.T) {
	idx := 0
	cases := []struct {
		e    storage.RowError
		want string
	}{
		{storage.RowError{Line: 2, ActionIndex: &idx, Column: "VANID", Message: `VANID "Zelda \"Q\" 1944-03-06" is not a positive integer`},
			"line 2, column VANID: VANID is not a positive integer"},
		{storage.RowError{Line: 3, Column: "score", Message: `"abc" is not a number`}, "line 3, column score: is not a number"},
		{storage.RowError{Line: 4, Message: "has 3 fields, want 2 (file.columns); check the delimiter and quoting"},
			"line 4: has 3 fields, want 2 (file.columns); check the delimiter and quoting"},
	}
	for _, c := range cases {
		if got := withoutValues(c.e); got != c.want {
			t.Errorf("withoutValues(%q) = %q, want %q", c.e.Message, got, c.want)
		}
	}
}
