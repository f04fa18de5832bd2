package fileload

import (
	"cmp"
	"container/heap"
	"context"
	"fmt"
	"log/slog"
	"math"
	"math/big"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/turnoutdev/turnout/storage"
)

// The direct path. A load whose actions are all Score actions naming
// people by VANID or DWID (Parsons' upload_scores, and most score loads)
// skips the staging table: the database's person ids are read once into a
// sorted slice, each row is matched and de-duplicated as it is read, and
// the values are COPY'd straight into van_score_update_values. The
// statistics come from counters kept on the way, so a first load of a
// score costs about one COPY of its rows. Anything the counters cannot
// answer exactly (a person listed twice, more distinct values than the
// histogram keeps, a score that already has current values to compare
// with) is computed by PostgreSQL from the stored rows instead, so both
// paths give the same statistics.
//
// Memory is bounded by the database, not the file: 8 bytes per person of
// the key's database (16 for DWID) and 2 for the bucket table, one bit per
// person and action, and 8 bytes per unmatched row.

// maxHistogram is how many distinct values a range score's statistics are
// kept for in memory; past it PostgreSQL computes them.
const maxHistogram = 1 << 16

// personIndex is the sorted ids of one database mode's people: VANIDs, or
// DWIDs with the VANID each belongs to.
type personIndex struct {
	keys   []int64
	vanids []int64 // nil when keys are the VANIDs

	// A bucket table over the id range (see build): bucket b's ids are
	// keys[starts[b]:starts[b+1]]. A lookup is then a search among a few
	// ids instead of a binary search of millions, which in a file's random
	// order misses the cache at every step (9 ms vs 220 ms per million
	// lookups of sparse ids). nil: binary search.
	starts []int32
	shift  uint
}

// build makes the bucket table: about one bucket for every two people
// (2 bytes a person), each spanning a power-of-two run of ids.
func (x *personIndex) build() {
	n := len(x.keys)
	if n == 0 || n > math.MaxInt32 {
		return
	}
	lo, span := x.keys[0], uint64(x.keys[n-1]-x.keys[0])
	var shift uint
	for span>>shift > uint64(n/2) {
		shift++
	}
	buckets := int(span>>shift) + 1
	starts := make([]int32, buckets+1)
	b := 0
	for i, k := range x.keys {
		for kb := int(uint64(k-lo) >> shift); b <= kb; b++ {
			starts[b] = int32(i)
		}
	}
	for ; b <= buckets; b++ {
		starts[b] = int32(n)
	}
	x.starts, x.shift = starts, shift
}

// lookup returns the position of id in the index and the person's VANID.
func (x *personIndex) lookup(id int64) (int, int64, bool) {
	keys, base := x.keys, 0
	if x.starts != nil {
		if id < x.keys[0] || id > x.keys[len(x.keys)-1] {
			return 0, 0, false
		}
		b := uint64(id-x.keys[0]) >> x.shift
		base = int(x.starts[b])
		keys = x.keys[base:x.starts[b+1]]
	}
	i, ok := slices.BinarySearch(keys, id)
	if !ok {
		return 0, 0, false
	}
	i += base
	if x.vanids == nil {
		return i, id, true
	}
	return i, x.vanids[i], true
}

// loadPersonIndex reads the person ids of dbMode by idType.
func loadPersonIndex(ctx context.Context, conn *pgx.Conn, dbMode int16, idType string) (*personIndex, error) {
	q := fmt.Sprintf(`COPY (SELECT vanid FROM van_people WHERE db_mode = %d ORDER BY vanid) TO STDOUT`, dbMode)
	if idType == IDDWID {
		q = fmt.Sprintf(`COPY (SELECT dwid, vanid FROM van_people WHERE db_mode = %d AND dwid IS NOT NULL ORDER BY dwid) TO STDOUT`, dbMode)
	}
	var est float64
	if err := conn.QueryRow(ctx, `SELECT reltuples FROM pg_class WHERE oid = 'van_people'::regclass`).Scan(&est); err != nil {
		return nil, err
	}
	w := &idColumns{x: &personIndex{keys: make([]int64, 0, max(int(est), 0))}, pair: idType == IDDWID}
	if w.pair {
		w.x.vanids = make([]int64, 0, cap(w.x.keys))
	}
	if _, err := conn.PgConn().CopyTo(ctx, w, q); err != nil {
		return nil, fmt.Errorf("read person ids: %w", err)
	}
	w.x.build()
	return w.x, nil
}

// idColumns parses COPY's text output of one or two bigint columns as it
// arrives (a number may be split across writes).
type idColumns struct {
	x     *personIndex
	pair  bool
	cur   int64
	first int64
}

func (w *idColumns) Write(p []byte) (int, error) {
	for _, b := range p {
		switch {
		case b >= '0' && b <= '9':
			w.cur = w.cur*10 + int64(b-'0')
		case b == '\t':
			w.first, w.cur = w.cur, 0
		case b == '\n':
			if w.pair {
				w.x.keys, w.x.vanids = append(w.x.keys, w.first), append(w.x.vanids, w.cur)
			} else {
				w.x.keys = append(w.x.keys, w.cur)
			}
			w.cur = 0
		default:
			return 0, fmt.Errorf("unexpected byte %q in person ids", b)
		}
	}
	return len(p), nil
}

// lateIndex is the VANIDs being read on a second connection while the
// load's COPY already runs: reading a million ids takes about a quarter of
// the time of COPYing a million rows, and the COPY need not wait for it.
type lateIndex struct {
	done   chan struct{}
	x      *personIndex
	err    error
	cancel context.CancelFunc
}

// readLate starts reading the VANIDs of dbMode on a connection of its own,
// or returns nil when the pool has none to spare at once (the ids are then
// read on the load's connection before its COPY).
func readLate(ctx context.Context, pool *pgxpool.Pool, dbMode int16, log *slog.Logger) *lateIndex {
	actx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	conn, err := pool.Acquire(actx)
	cancel()
	if err != nil {
		return nil
	}
	lctx, cancel := context.WithCancel(ctx)
	l := &lateIndex{done: make(chan struct{}), cancel: cancel}
	go func() {
		defer close(l.done)
		defer conn.Release()
		t0 := time.Now()
		l.x, l.err = loadPersonIndex(lctx, conn.Conn(), dbMode, IDVANID)
		if l.err == nil {
			log.Info("person ids read", "id_type", IDVANID, "people", len(l.x.keys), "duration_ms", time.Since(t0).Milliseconds(), "concurrent", true)
		}
	}()
	return l
}

func (l *lateIndex) ready() bool {
	select {
	case <-l.done:
		return true
	default:
		return false
	}
}

// stop abandons the read if it is still running and waits for it.
func (l *lateIndex) stop() {
	l.cancel()
	<-l.done
}

// directScore is one Score action's state on the direct path.
type directScore struct {
	updateID  int64
	people    *personIndex      // nil until the late index is adopted
	late      *lateIndex        // the VANIDs being read, or nil
	backlog   chunks[pending]   // rows copied before the ids were read
	remove    []int64           // VANIDs copied that match nobody
	seen      []uint64          // by position in people: listed already
	dups      map[int64]*string // VANID → last value, for people listed twice
	unmatched chunks[int64]     // ids not found, with repeats
	matched   int64             // distinct people matched
	nonNull   int64             // of those, rows with a value
	hist      map[string]int64  // value → rows, range scores; nil once too big
	vanid     int64
	row       []any
}

// pending is a row copied before it could be matched.
type pending struct {
	id    int64
	value *string
}

// maxBacklog bounds the rows an action copies before its person ids are
// read (16 bytes each); past it the load waits for them.
const maxBacklog = 1 << 20

// maxDirectPeople caps the direct paths: they hold 8 to 16 bytes per person
// of the database (and a few bits per action), so past this many people a
// load is staged instead and the worker's memory stays within budget.
const maxDirectPeople = 10_000_000

// peopleFitInMemory tells whether van_people (by the planner's estimate,
// both database modes) is small enough for the direct paths.
func peopleFitInMemory(ctx context.Context, q storage.Querier) (bool, error) {
	var est float64
	if err := q.QueryRow(ctx, `SELECT reltuples FROM pg_class WHERE oid = 'van_people'::regclass`).Scan(&est); err != nil {
		return false, fmt.Errorf("estimate people: %w", err)
	}
	return est <= maxDirectPeople, nil
}

// directPlan returns the rules of a load that can take the direct path, or
// nil when it must be staged: an action that is not a Score, or one naming
// people by StateFileID (text ids, better joined by PostgreSQL).
func directPlan(rules []rule) []*scoreRule {
	var out []*scoreRule
	for _, ru := range rules {
		sr, ok := ru.(*scoreRule)
		if !ok || sr.action.PersonIDType == IDStateFile {
			return nil
		}
		out = append(out, sr)
	}
	return out
}

// startLate starts reading the VANIDs a direct load needs, before its
// file is fetched, or returns nil (no VANID action, or no connection to
// spare: the ids are then read on the load's own connection).
func startLate(ctx context.Context, pool *pgxpool.Pool, rules []*scoreRule, dbMode int16, log *slog.Logger) *lateIndex {
	for _, r := range rules {
		if r.action.PersonIDType == IDVANID {
			return readLate(ctx, pool, dbMode, log)
		}
	}
	return nil
}

// copyDirect creates each action's score update, reads the person ids it
// still needs and COPYs the file's values into van_score_update_values,
// all in tx. late, when not nil, is the VANIDs being read elsewhere.
func copyDirect(ctx context.Context, tx pgx.Tx, late *lateIndex, jobID int64, fl *storage.FileLoad, rules []*scoreRule, st *stager, log *slog.Logger) error {
	indexes := map[string]*personIndex{}
	for _, r := range rules {
		d := &directScore{dups: map[int64]*string{}}
		if r.score.Type == storage.ScoreRange {
			d.hist = map[string]int64{}
		}
		var err error
		if d.updateID, err = insertScoreUpdate(ctx, tx, jobID, fl, r); err != nil {
			return err
		}
		r.direct = d
		typ := r.action.PersonIDType
		if typ == IDVANID && late != nil {
			d.late = late
			continue
		}
		x := indexes[typ]
		if x == nil {
			t0 := time.Now()
			if x, err = loadPersonIndex(ctx, tx.Conn(), fl.DBMode, typ); err != nil {
				return err
			}
			indexes[typ] = x
			log.Info("person ids read", "id_type", typ, "people", len(x.keys), "duration_ms", time.Since(t0).Milliseconds())
		}
		d.adoptIndex(x)
	}
	st.route = func(ru rule, _ int64, row stagedRow) ([]any, error) {
		return ru.(*scoreRule).direct.take(row)
	}
	_, err := tx.Conn().PgConn().CopyFrom(ctx, &binaryCopy{next: scoreValues(st)},
		`COPY van_score_update_values (score_update_id, vanid, value) FROM STDIN (FORMAT binary)`)
	return err
}

// scoreValues appends the direct path's next row (two *int64 and a
// *string) to e in COPY's binary format. pgx's CopyFrom would find an
// encode plan for every value of every row; these three columns need none
// of that, and the worker's CPU is better left to PostgreSQL's COPY.
func scoreValues(src pgx.CopyFromSource) func(e []byte) ([]byte, bool, error) {
	return func(e []byte) ([]byte, bool, error) {
		if !src.Next() {
			return e, false, src.Err()
		}
		row, _ := src.Values()
		e = append(e, 0, 3)
		e = appendInt8(e, *row[0].(*int64))
		e = appendInt8(e, *row[1].(*int64))
		if v := row[2].(*string); v == nil {
			e = append(e, 0xff, 0xff, 0xff, 0xff)
		} else {
			e = appendText(e, *v)
		}
		return e, true, nil
	}
}

func (d *directScore) adoptIndex(x *personIndex) {
	d.people, d.seen = x, make([]uint64, (len(x.keys)+63)/64)
}

// adopt waits for the late index and matches the rows copied before it.
func (d *directScore) adopt() error {
	<-d.late.done
	if d.late.err != nil {
		return d.late.err
	}
	d.adoptIndex(d.late.x)
	d.backlog.each(func(p pending) {
		if _, ok := d.match(p.id, p.value); !ok {
			if _, _, known := d.people.lookup(p.id); !known {
				d.remove = append(d.remove, p.id)
			}
		}
	})
	d.backlog = chunks[pending]{}
	return nil
}

// take returns a valid row as a van_score_update_values row, or nil when
// it is not copied (unmatched, or a person listed again).
func (d *directScore) take(row stagedRow) ([]any, error) {
	if d.people == nil {
		if !d.late.ready() && d.backlog.n < maxBacklog {
			// Copied now, matched once the ids are in; applyDirect removes
			// what matches nobody.
			d.backlog.add(pending{row.id, row.value})
			return d.rowOf(row.id, row.value), nil
		}
		if err := d.adopt(); err != nil {
			return nil, err
		}
	}
	vanid, ok := d.match(row.id, row.value)
	if !ok {
		return nil, nil
	}
	return d.rowOf(vanid, row.value), nil
}

// match records a row of person id and reports whether it is the first
// of a person of the database (the row to store); a later row of the same
// person replaces its value when the action is applied.
func (d *directScore) match(id int64, value *string) (int64, bool) {
	pos, vanid, ok := d.people.lookup(id)
	if !ok {
		d.unmatched.add(id)
		return 0, false
	}
	if d.seen[pos/64]&(1<<(pos%64)) != 0 {
		d.dups[vanid] = value
		return 0, false
	}
	d.seen[pos/64] |= 1 << (pos % 64)
	d.matched++
	if value != nil {
		d.nonNull++
		if d.hist != nil {
			d.hist[*value]++
			if len(d.hist) > maxHistogram {
				d.hist = nil
			}
		}
	}
	return vanid, true
}

// rowOf returns the COPY row. pgx encodes a row before it asks for the
// next, so one row per action is reused; pointers keep the ids from being
// boxed per row.
func (d *directScore) rowOf(vanid int64, value *string) []any {
	d.vanid = vanid
	if d.row == nil {
		d.row = []any{&d.updateID, &d.vanid, nil}
	}
	d.row[2] = value
	return d.row
}

// applyDirect settles the people listed twice (the last row wins) and
// finishes the update.
func applyDirect(ctx context.Context, tx pgx.Tx, jobID int64, fl *storage.FileLoad, r *scoreRule, rowsRead int64) (storage.ActionResult, *storage.ScoreUpdate, error) {
	d := r.direct
	if d.people == nil {
		if err := d.adopt(); err != nil {
			return storage.ActionResult{}, nil, err
		}
	}
	if len(d.dups) > 0 || len(d.remove) > 0 {
		vanids := make([]int64, 0, len(d.dups))
		values := make([]*string, 0, len(d.dups))
		for v, val := range d.dups {
			vanids, values = append(vanids, v), append(values, val)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM van_score_update_values WHERE score_update_id = $1 AND (vanid = ANY($2) OR vanid = ANY($3))`,
			d.updateID, vanids, d.remove); err != nil {
			return storage.ActionResult{}, nil, fmt.Errorf("settle rows copied twice or unmatched: %w", err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO van_score_update_values (score_update_id, vanid, value)
			SELECT $1, * FROM unnest($2::bigint[], $3::text[])`, d.updateID, vanids, values); err != nil {
			return storage.ActionResult{}, nil, fmt.Errorf("store the last value of people listed twice: %w", err)
		}
	}
	distinct := d.matched + distinctIDs(&d.unmatched)
	st := Statistics{TotalRows: rowsRead, OutOfRange: r.outOfRange, BadValues: r.badValues}
	current, err := hasCurrentValues(ctx, tx, fl.DBMode, r.score.ID)
	if err != nil {
		return storage.ActionResult{}, nil, err
	}
	if len(d.dups) > 0 || current || (r.score.Type == storage.ScoreRange && d.hist == nil) {
		if err := scanValueStatistics(ctx, tx, `SELECT vanid, value FROM van_score_update_values WHERE score_update_id = $3`,
			r, &st, fl.DBMode, r.score.ID, d.updateID); err != nil {
			return storage.ActionResult{}, nil, fmt.Errorf("score statistics: %w", err)
		}
	} else {
		st.MatchedRows, st.Added = d.matched, d.nonNull
		st.MaxValue, st.MinValue, st.AverageValue, st.MedianValue = histogramStatistics(d.hist)
	}
	return finishScore(ctx, tx, jobID, fl, r, d.updateID, st, distinct)
}

// hasCurrentValues tells whether people of dbMode have current values of
// score, which is so once one of its updates there was applied.
func hasCurrentValues(ctx context.Context, tx pgx.Tx, dbMode int16, score int64) (bool, error) {
	var ok bool
	err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM van_score_updates WHERE score_id = $1 AND db_mode = $2 AND load_status = 'Completed')`,
		score, dbMode).Scan(&ok)
	return ok, err
}

// histogramStatistics returns max, min, average and median of the values
// counted in h as PostgreSQL computes them over numeric: the average
// exactly, then rounded to float64; the median interpolated between the
// middle two values as percentile_cont does.
func histogramStatistics(h map[string]int64) (maxV, minV, avg, median *float64) {
	if len(h) == 0 {
		return nil, nil, nil, nil
	}
	type bucket struct {
		v float64
		n int64
	}
	buckets := make([]bucket, 0, len(h))
	sum, n := new(big.Rat), int64(0)
	for s, c := range h {
		f, _ := strconv.ParseFloat(s, 64)
		buckets = append(buckets, bucket{f, c})
		x, _ := new(big.Rat).SetString(s)
		sum.Add(sum, x.Mul(x, new(big.Rat).SetInt64(c)))
		n += c
	}
	slices.SortFunc(buckets, func(a, b bucket) int { return cmp.Compare(a.v, b.v) })
	lo, hi := buckets[0].v, buckets[len(buckets)-1].v
	a, _ := sum.Quo(sum, new(big.Rat).SetInt64(n)).Float64()
	// percentile_cont(0.5): the values at 0-based ranks floor and ceil of
	// (n-1)/2, interpolated.
	at := func(rank int64) float64 {
		for _, b := range buckets {
			if rank < b.n {
				return b.v
			}
			rank -= b.n
		}
		return buckets[len(buckets)-1].v
	}
	first, second := at((n-1)/2), at(n/2)
	m := first + (second-first)*(float64(n-1)/2-float64((n-1)/2))
	return &hi, &lo, &a, &m
}

// chunks is an append-only list kept in fixed-size pieces: it grows
// without copying what it holds, so a list of millions of ids costs its
// size and no more (a slice doubling would briefly need three times it).
type chunks[T any] struct {
	pieces [][]T
	n      int
}

const chunkLen = 1 << 16

func (c *chunks[T]) add(v T) {
	if k := len(c.pieces); k == 0 || len(c.pieces[k-1]) == chunkLen {
		c.pieces = append(c.pieces, make([]T, 0, chunkLen))
	}
	k := len(c.pieces) - 1
	c.pieces[k] = append(c.pieces[k], v)
	c.n++
}

func (c *chunks[T]) each(f func(T)) {
	for _, p := range c.pieces {
		for _, v := range p {
			f(v)
		}
	}
}

// distinctIDs counts the different ids in c, sorting its pieces in place
// and merging them.
func distinctIDs(c *chunks[int64]) int64 {
	h := make(idHeap, 0, len(c.pieces))
	for _, p := range c.pieces {
		slices.Sort(p)
		if p = slices.Compact(p); len(p) > 0 {
			h = append(h, p)
		}
	}
	heap.Init(&h)
	var n int64
	last, seen := int64(0), false
	for len(h) > 0 {
		v := h[0][0]
		if !seen || v != last {
			n, last, seen = n+1, v, true
		}
		if h[0] = h[0][1:]; len(h[0]) == 0 {
			heap.Pop(&h)
		} else {
			heap.Fix(&h, 0)
		}
	}
	return n
}

// idHeap orders sorted pieces by their first id.
type idHeap [][]int64

func (h idHeap) Len() int           { return len(h) }
func (h idHeap) Less(i, j int) bool { return h[i][0] < h[j][0] }
func (h idHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *idHeap) Push(x any)        { *h = append(*h, x.([]int64)) }
func (h *idHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
