package fileload

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/turnoutdev/turnout/storage"
)

// BenchmarkReadAndValidate measures the worker's own share of a load: CSV
// parsing and per-row validation for two Score actions, without PostgreSQL.
func BenchmarkReadAndValidate(b *testing.B) {
	const rows = 100000
	var buf bytes.Buffer
	buf.WriteString("id,a,b\n")
	for i := 1; i <= rows; i++ {
		fmt.Fprintf(&buf, "%d,%d,%d.5\n", i, i%101, i%99)
	}
	lo, hi := 0.0, 100.0
	score := &storage.Score{ID: 1, Type: storage.ScoreRange, MinValue: &lo, MaxValue: &hi}
	f := File{ColumnDelimiter: DelimCsv, HasHeader: true, HasQuotes: true, Columns: []Column{{"id"}, {"a"}, {"b"}}}
	actions := []Action{
		{ActionType: ActionScore, PersonIDColumn: "id", PersonIDType: IDVANID, ScoreColumn: "a"},
		{ActionType: ActionScore, PersonIDColumn: "id", PersonIDType: IDVANID, ScoreColumn: "b"},
	}
	b.SetBytes(int64(buf.Len()))
	b.ReportAllocs()
	for b.Loop() {
		rules := []rule{newScoreRule(0, actions[0], score, f), newScoreRule(1, actions[1], score, f)}
		st := &stager{rd: newReader(bytes.NewReader(buf.Bytes()), f, CSVLimits{}), rules: rules, header: true,
			progress: func(int64, int64) {}}
		n := 0
		for st.Next() {
			if _, err := st.Values(); err != nil {
				b.Fatal(err)
			}
			n++
		}
		if st.err != nil || n != 2*rows {
			b.Fatalf("staged %d rows, err %v", n, st.err)
		}
	}
	b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkReadChunkDirect is the worker's share of reading a direct-path
// load of one Score action: parsing, validation, gathering the rows in
// chunks and sorting each chunk's ids, without PostgreSQL.
func BenchmarkReadChunkDirect(b *testing.B) {
	const rows = 1000000
	var buf bytes.Buffer
	buf.WriteString("vanid,score\n")
	for i := 1; i <= rows; i++ {
		fmt.Fprintf(&buf, "%d,%d\n", (i*7919)%rows+1, (i*7919)%101)
	}
	lo, hi := 0.0, 100.0
	score := &storage.Score{ID: 1, Type: storage.ScoreRange, MinValue: &lo, MaxValue: &hi}
	f := File{ColumnDelimiter: DelimCsv, HasHeader: true, HasQuotes: true, Columns: []Column{{"vanid"}, {"score"}}}
	a := Action{ActionType: ActionScore, PersonIDColumn: "vanid", PersonIDType: IDVANID, ScoreColumn: "score"}
	b.SetBytes(int64(buf.Len()))
	b.ReportAllocs()
	for b.Loop() {
		r := newScoreRule(0, a, score, f)
		l := &directLoad{actions: []*directScore{{}}}
		c := &scoreChunk{rows: make([][]chunkRow, 1), keys: make([][]int64, 1), vanids: make([][]int64, 1)}
		n := 0
		sortChunk := func() {
			n += len(c.rows[0])
			l.sortKeys(c)
			c.reset(0, 0)
		}
		st := &stager{rd: newReader(bytes.NewReader(buf.Bytes()), f, CSVLimits{}), rules: []rule{r}, header: true,
			progress: func(int64, int64) {}, route: func(_ rule, _ int64, row stagedRow) ([]any, error) {
				c.rows[0] = append(c.rows[0], chunkRow{id: row.id, pos: int32(c.n), value: row.value})
				if c.n++; c.n == DefaultChunkRows {
					sortChunk()
				}
				return nil, nil
			}}
		for st.Next() {
		}
		sortChunk()
		if st.err != nil || n != rows {
			b.Fatalf("chunked %d rows, err %v", n, st.err)
		}
	}
	b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}
