package fileload

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"slices"
	"strconv"
	"time"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
	"github.com/jackc/pgx/v5/pgconn"
	"golang.org/x/sync/errgroup"

	"github.com/turnoutdev/turnout/storage"
)

// The direct path. A load whose actions are all Score actions naming
// people by VANID or DWID (Parsons' upload_scores, and most score loads)
// skips the staging table. The file is read in chunks of ChunkRows valid
// rows; each chunk's ids are sorted and matched against van_people with
// one query per action, and its matched rows are COPY'd straight into
// van_score_update_values. The query is either a read of the people in
// the chunk's id range or an index lookup of each id, whichever the
// database's id density says is cheaper, so a load costs about what its
// file costs, whatever the size of the database. While one chunk is
// COPY'd the next is matched on a second connection, when the pool has
// one to spare. A file in no useful order (a chunk whose ids spread too
// wide for a range read) is sorted by id on disk from there on, in
// bounded runs merged at the end (directsort.go), so its chunks are dense
// again.
//
// A person listed twice keeps the file's last value. Within a chunk the
// sort puts a person's rows together and only the last is kept; a person
// already stored by an earlier chunk has the later value written to a
// temporary table, applied to the stored row when the file is done. The
// statistics come from counters kept on the way, so a first load of a
// score costs about one COPY of its rows. Anything the counters cannot
// answer exactly (a person listed in two chunks, more distinct values than
// the histogram keeps, a score that already has current values to compare
// with) is computed by PostgreSQL from the stored rows instead, so both
// paths give the same statistics.
//
// Memory is bounded by configuration, not by the file or the database: a
// few chunks of ChunkRows rows in flight (or one sorting run of four
// chunks' rows), and per action two compressed
// sets (roaring bitmaps) of at most SetBytes each: the VANIDs stored, to
// tell a person's first row from a later one, and the ids that match
// nobody, counted exactly for the duplicate and unmatched statistics.
// Past its bound the first stops growing and every later match goes
// through the temporary table; the second is written to a temporary table
// and emptied, and PostgreSQL counts the distinct ids at the end.

// maxHistogram is how many distinct values a range score's statistics are
// kept for in memory; past it PostgreSQL computes them.
const maxHistogram = 1 << 16

// Defaults of the direct path's limits (Options.ChunkRows, ChunkBytes,
// SetBytes).
const (
	DefaultChunkRows  = 1 << 16
	DefaultChunkBytes = 8 << 20
	DefaultSetBytes   = 8 << 20
)

// firstChunkRows is the size of a load's first chunk; each next one is
// twice the last, up to ChunkRows.
const firstChunkRows = 4096

// rangeFactor is how many people a range read may return per id of the
// chunk and still be chosen over index lookups: an index lookup of an id
// costs PostgreSQL about ten times reading one more id of a range (1.5 µs
// against 0.13 µs, ids in cache; more when they are not).
const rangeFactor = 8

// directScore is one Score action's state on the direct path.
type directScore struct {
	updateID int64
	slot     int // the action's rows in a chunk
	idType   string
	// seen is the VANIDs stored in van_score_update_values. full: it
	// reached its bound, so every match from then on is a later row.
	seen *idSet
	full bool
	// unmatched is the ids that match nobody and are not yet written to
	// fileload_unmatched (spilled: some are).
	unmatched *idSet
	spilled   bool
	sorted    bool  // the file was sorted by id on disk
	later     int64 // rows written to fileload_later
	matched   int64 // people stored
	nonNull   int64 // of those, with a value
	hist      map[string]int64
	// What the load did, for its log line: the queries that matched its
	// chunks and the people they returned.
	rangeReads, lookups, fullRanges int
	peopleRead                      int64
	chunks                          int64 // chunks of the file (matchEncodedInChunks)
}

// idSet is a set of ids in a roaring bitmap (compact for runs and
// clusters of ids, as VANIDs are) that knows about how much memory it
// holds.
type idSet struct {
	b         *roaring64.Bitmap
	n         uint64 // ids in the set
	nextCheck uint64 // n at which heapBytes is estimated again
}

// maxIDBytes is the most one more id can add to heapBytes: a container of
// its own, in a bitmap of its own for its high 32 bits.
const maxIDBytes = 256

// add adds id and reports whether it was not in the set.
func (s *idSet) add(id int64) bool {
	if s.b.CheckedAdd(uint64(id)) {
		s.n++
		return true
	}
	return false
}

// heapBytes estimates the memory the set holds: its containers' contents
// twice (their slices grow by doubling) and 64 bytes of bookkeeping for
// each container (52 measured for a container of one id). The bitmap's
// own figure counts 2 bytes for that, which sparse ids make 25 times too
// little.
func (s *idSet) heapBytes() uint64 {
	return 2*s.b.GetSizeInBytes() + 64*s.b.Stats().Containers
}

// over reports whether the set holds more than bound bytes. Estimating
// takes a walk over every container, so it is done again only once the
// set has grown enough to possibly pass the bound.
func (s *idSet) over(bound uint64) bool {
	if s.n < s.nextCheck {
		return false
	}
	b := s.heapBytes()
	if b > bound {
		return true
	}
	s.nextCheck = s.n + (bound-b)/maxIDBytes + 1
	return false
}

func (s *idSet) contains(id int64) bool { return s.b.Contains(uint64(id)) }

func (s *idSet) clear() {
	s.b.Clear()
	s.n, s.nextCheck = 0, 0
}

// count records a stored row.
func (d *directScore) count(value *string) {
	d.matched++
	if value == nil {
		return
	}
	d.nonNull++
	if d.hist != nil {
		d.hist[*value]++
		if len(d.hist) > maxHistogram {
			d.hist = nil
		}
	}
}

// chunkRow is a valid row of a chunk: its person id, its position in the
// chunk (the file's order among rows of one id) and its value.
type chunkRow struct {
	id    int64
	pos   int32
	value *string
}

func byIDThenPos(a, b chunkRow) int {
	if c := cmp.Compare(a.id, b.id); c != 0 {
		return c
	}
	return cmp.Compare(a.pos, b.pos)
}

// scoreChunk is a piece of the file: each direct action's valid rows, and
// once looked up, their distinct ids and the person each belongs to.
type scoreChunk struct {
	seq    int64
	n      int
	first  int64        // the file position (among routed rows) of its first row
	sorted bool         // rows sorted and keys listed
	rows   [][]chunkRow // by action slot
	keys   [][]int64    // by slot: the distinct ids, ascending
	vanids [][]int64    // by slot, beside keys: the person's VANID, 0 for nobody
}

func (c *scoreChunk) reset(seq, first int64) {
	c.seq, c.n, c.first, c.sorted = seq, 0, first, false
	for s := range c.rows {
		c.rows[s], c.keys[s], c.vanids[s] = c.rows[s][:0], c.keys[s][:0], c.vanids[s][:0]
	}
}

// idRange is what the planner knows of one database mode's ids of a kind:
// the lowest, the highest and about how many there are.
type idRange struct {
	lo, hi int64
	people float64
}

// dense tells whether about every id of the range is someone's, as when a
// database numbers its people one after the other.
func (r idRange) dense() bool {
	return r.people >= 0.95*(float64(r.hi-r.lo)+1)
}

// within estimates the people whose ids are in [lo, hi], taking them as
// spread evenly over the range.
func (r idRange) within(lo, hi int64) float64 {
	lo, hi = max(lo, r.lo), min(hi, r.hi)
	if lo > hi || r.people <= 0 {
		return 0
	}
	return r.people * (float64(hi-lo) + 1) / (float64(r.hi-r.lo) + 1)
}

// peopleRange reads the id range of dbMode's people by idType from the
// primary key or the DWID index, and the index's row estimate (that of both
// modes: an overestimate only makes index lookups likelier).
func peopleRange(ctx context.Context, tx *storage.Tx, dbMode int16, idType string) (idRange, error) {
	lo, hi, estimate, err := tx.PersonIDRange(ctx, dbMode, idType == IDDWID)
	if err != nil || lo == nil {
		return idRange{}, err
	}
	r := idRange{lo: *lo, hi: *hi, people: estimate}
	if r.people < 0 {
		// Never analyzed: assume every id of the range is someone's, which
		// makes index lookups likelier, never a read of a huge range.
		r.people = float64(r.hi-r.lo) + 1
	}
	return r, nil
}

// directLoad is the direct path's state for one load.
type directLoad struct {
	actions   []*directScore
	dbMode    int16
	ranges    map[string]idRange
	chunkRows int
	setBytes  uint64
	// Buffers reused from chunk to chunk: found by the looking-up stage,
	// the others by the storing one.
	found             [][2]int64
	copyBuf, laterBuf []byte
	laterTable        bool
	// holes: a range of VANIDs the database called dense proved not to
	// be full, so chunks are no longer counted first (fullRange).
	holes bool
}

// errStopped ends the reading of the file when another stage failed; the
// other stage's error is the one reported.
var errStopped = errors.New("direct load stopped")

// directScores returns the rules of a load that can take the direct path,
// or nil when it must be staged: an action that is not a Score, or one
// naming people by StateFileID (text ids, better joined by PostgreSQL).
func directScores(rules []rule) []*scoreRule {
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

// directScoreLoader is the loader of a load whose actions all take the
// direct path (directScores): stage matches and stores the file chunk by
// chunk (copyDirect), apply finishes each action's score update
// (applyDirect).
type directScoreLoader struct {
	job    loadJob
	rules  []*scoreRule
	states []*directScore // by position in rules
}

func (l *directScoreLoader) stage(ctx context.Context, tx *storage.Tx, st *stager) error {
	var err error
	l.states, err = copyDirect(ctx, tx, l.job.store, l.job.id, l.job.fl, l.rules, st, l.job.opts, l.job.log)
	return err
}

func (l *directScoreLoader) apply(ctx context.Context, tx *storage.Tx, rowsRead int64) error {
	for i, r := range l.rules {
		res, su, err := applyDirect(ctx, tx, l.job.id, l.job.fl, r, l.states[i], rowsRead)
		if err != nil {
			return fmt.Errorf("apply actions[%d]: %w", r.index, err)
		}
		logScoreApplied(l.job.log, res, su)
	}
	return nil
}

func (l *directScoreLoader) close() {}

// copyDirect creates each action's score update and reads the file in
// chunks: each is matched against van_people (on a connection of pool
// when one is free at once, else on tx's) and its rows stored in tx. It
// returns each action's state, by position in rules; rules are every
// action of the load, in order.
func copyDirect(ctx context.Context, tx *storage.Tx, store *storage.Store, jobID int64, fl *storage.FileLoad, rules []*scoreRule, st *stager, opts Options, log *slog.Logger) ([]*directScore, error) {
	l := &directLoad{dbMode: fl.DBMode, ranges: map[string]idRange{}, chunkRows: opts.ChunkRows, setBytes: uint64(opts.SetBytes)}
	if l.chunkRows <= 0 {
		l.chunkRows = DefaultChunkRows
	}
	if l.setBytes == 0 {
		l.setBytes = DefaultSetBytes
	}
	for i, r := range rules {
		d := &directScore{slot: i, idType: r.action.PersonIDType, seen: &idSet{b: roaring64.New()}, unmatched: &idSet{b: roaring64.New()}}
		if r.score.Type == storage.ScoreRange {
			d.hist = map[string]int64{}
		}
		var err error
		if d.updateID, err = insertScoreUpdate(ctx, tx, jobID, fl, r); err != nil {
			return nil, err
		}
		l.actions = append(l.actions, d)
		if _, ok := l.ranges[d.idType]; !ok {
			if l.ranges[d.idType], err = peopleRange(ctx, tx, fl.DBMode, d.idType); err != nil {
				return nil, err
			}
		}
	}

	t0 := time.Now()
	look, parallel := tx.PeopleMatcher(), false
	actx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	own, err := store.AcquirePeopleMatcher(actx)
	cancel()
	if err == nil {
		defer own.Release()
		look, parallel = own, true
	}

	// Three chunks at most: one being read, one looked up, one stored.
	free := make(chan *scoreChunk, 3)
	for range cap(free) {
		free <- &scoreChunk{rows: make([][]chunkRow, len(rules)), keys: make([][]int64, len(rules)), vanids: make([][]int64, len(rules))}
	}
	read, looked := make(chan *scoreChunk), make(chan *scoreChunk)
	g, gctx := errgroup.WithContext(ctx)
	ch := &chunker{l: l, free: free, read: read, done: gctx.Done(), dir: opts.SpoolDir}
	g.Go(func() error {
		defer close(read)
		defer func() { ch.sort.close() }()
		// Every action is a direct one, in order: an action's slot is its
		// index.
		st.route = func(ru rule, _ int64, row stagedRow) ([]any, error) {
			return nil, ch.put(ru.actionIndex(), row.id, row.value)
		}
		// route keeps every row, so Next reads the whole file.
		for st.Next() {
		}
		if st.err != nil {
			return st.err
		}
		return ch.finish()
	})
	stored := read
	if parallel {
		stored = looked
		g.Go(func() error {
			defer close(looked)
			for c := range read {
				if err := l.lookup(gctx, look, c); err != nil {
					return err
				}
				select {
				case looked <- c:
				case <-gctx.Done():
					return errStopped
				}
			}
			return nil
		})
	}
	g.Go(func() error {
		for c := range stored {
			if !parallel {
				if err := l.lookup(gctx, look, c); err != nil {
					return err
				}
			}
			if err := l.store(gctx, tx, c); err != nil {
				return err
			}
			free <- c
		}
		return nil
	})
	if err := pipelineErr(ctx, st, g.Wait()); err != nil {
		return nil, err
	}
	for _, d := range l.actions {
		log.Info("rows matched", "action", d.slot, "id_type", d.idType, "chunks", ch.chunks, "full_ranges", d.fullRanges, "range_reads", d.rangeReads, "index_lookups", d.lookups,
			"later_rows", d.later, "sorted_runs", ch.sort.runs(), "seen_bytes", d.seen.heapBytes(), "unmatched_spilled", d.spilled, "concurrent", parallel,
			"duration_ms", time.Since(t0).Milliseconds())
	}
	return l.actions, nil
}

// lookup finds the person of each distinct id of c's actions.
func (l *directLoad) lookup(ctx context.Context, pm *storage.PeopleMatcher, c *scoreChunk) error {
	if !c.sorted {
		l.sortKeys(c)
	}
	for s, d := range l.actions {
		if len(c.keys[s]) == 0 {
			continue
		}
		if err := l.match(ctx, pm, d, c.keys[s], c.vanids[s]); err != nil {
			return fmt.Errorf("match person ids: %w", err)
		}
	}
	return nil
}

// sortKeys sorts each action's rows of c by id, keeping the file's order
// among rows of one id, and lists the distinct ids.
func (l *directLoad) sortKeys(c *scoreChunk) {
	for s := range l.actions {
		rows := c.rows[s]
		if !slices.IsSortedFunc(rows, byIDThenPos) {
			slices.SortFunc(rows, byIDThenPos)
		}
		keys := c.keys[s][:0]
		for i, r := range rows {
			if i == 0 || r.id != rows[i-1].id {
				keys = append(keys, r.id)
			}
		}
		vanids := slices.Grow(c.vanids[s][:0], len(keys))[:len(keys)]
		clear(vanids)
		c.keys[s], c.vanids[s] = keys, vanids
	}
	c.sorted = true
}

// ranged tells whether d's keys (ascending) are best matched by a read of
// the people in their range rather than an index lookup of each.
func (l *directLoad) ranged(d *directScore, keys []int64) bool {
	return l.ranges[d.idType].within(keys[0], keys[len(keys)-1]) <= rangeFactor*float64(len(keys))
}

// match sets vanids[i] to the VANID of the person whose id (of d's type)
// is keys[i], with one query: the people of the keys' range, ascending,
// when there are few enough of them; else an index lookup of each key.
func (l *directLoad) match(ctx context.Context, pm *storage.PeopleMatcher, d *directScore, keys, vanids []int64) error {
	byDWID := d.idType == IDDWID
	lo, hi := keys[0], keys[len(keys)-1]
	var rr *pgconn.ResultReader
	ranged := l.ranged(d, keys)
	if ranged && !byDWID && !l.holes && l.ranges[IDVANID].dense() {
		n, err := pm.CountVANIDs(ctx, l.dbMode, lo, hi)
		if err != nil {
			return err
		}
		if n == hi-lo+1 {
			// Every VANID from lo to hi is a person's: every id of the
			// chunk matches itself, and one count, about a quarter of the
			// cost of reading the ids, says so.
			d.fullRanges++
			copy(vanids, keys)
			return nil
		}
		l.holes = true
	}
	if ranged {
		d.rangeReads++
		rr = pm.PeopleInRange(ctx, l.dbMode, byDWID, lo, hi)
	} else {
		d.lookups++
		rr = pm.PeopleWithIDs(ctx, l.dbMode, byDWID, keys)
	}
	// A range read comes in order and is merged as it comes; a lookup
	// returns at most one row per key, gathered and sorted first.
	found := l.found[:0]
	i := 0
	for rr.NextRow() {
		d.peopleRead++
		v := rr.Values()
		id := int64(binary.BigEndian.Uint64(v[0]))
		vanid := id
		if byDWID {
			vanid = int64(binary.BigEndian.Uint64(v[1]))
		}
		if !ranged {
			found = append(found, [2]int64{id, vanid})
			continue
		}
		for i < len(keys) && keys[i] < id {
			i++
		}
		if i < len(keys) && keys[i] == id {
			vanids[i] = vanid
		}
	}
	if _, err := rr.Close(); err != nil {
		return err
	}
	l.found = found
	if ranged {
		return nil
	}
	if !slices.IsSortedFunc(found, func(a, b [2]int64) int { return cmp.Compare(a[0], b[0]) }) {
		slices.SortFunc(found, func(a, b [2]int64) int { return cmp.Compare(a[0], b[0]) })
	}
	i = 0
	for _, p := range found {
		for i < len(keys) && keys[i] < p[0] {
			i++
		}
		if i < len(keys) && keys[i] == p[0] {
			vanids[i] = p[1]
		}
	}
	return nil
}

// store keeps, of each id of c, the row the file lists last: a person
// not stored yet is COPY'd into van_score_update_values, one already
// stored (or any, once seen is full) goes to fileload_later, an id of
// nobody to the unmatched set. Then the sets are held to their bound. The
// rows are encoded as the COPY sends them, so PostgreSQL stores the first
// while the last are still being encoded.
func (l *directLoad) store(ctx context.Context, tx *storage.Tx, c *scoreChunk) error {
	later := append(l.laterBuf[:0], copyHeader...)
	var laters int
	s, i, k := 0, 0, 0 // the action slot, its row and its key next
	next := func(e []byte) ([]byte, bool, error) {
		n := 0
		for ; s < len(l.actions); s, i, k = s+1, 0, 0 {
			d, all, vanids := l.actions[s], c.rows[s], c.vanids[s]
			for ; i < len(all); i++ {
				r := all[i]
				if i+1 < len(all) && all[i+1].id == r.id {
					continue // a later row of this id follows in the chunk
				}
				vanid := vanids[k]
				k++
				switch {
				case vanid == 0:
					d.unmatched.add(r.id)
				case !d.full && d.seen.add(vanid):
					e = appendValue(appendInt8(appendInt8(append(e, 0, 3), d.updateID), vanid), r.value)
					d.count(r.value)
					if n++; n == copyBatchRows {
						i++
						return e, true, nil
					}
				default:
					later = appendValue(appendInt8(appendInt8(appendInt8(append(later, 0, 4), d.updateID), c.seq), vanid), r.value)
					laters++
					d.later++
				}
			}
		}
		return e, false, nil
	}
	stx := tx
	src := &binaryCopy{next: next, buf: l.copyBuf[:0]}
	if err := stx.CopyScoreValues(ctx, src); err != nil {
		return fmt.Errorf("copy score values: %w", err)
	}
	l.copyBuf, l.laterBuf = src.buf, later
	if laters > 0 {
		if !l.laterTable {
			if err := stx.CreateLaterScoreValues(ctx); err != nil {
				return err
			}
			l.laterTable = true
		}
		if err := stx.CopyLaterScoreValues(ctx, bytes.NewReader(append(later, copyTrailer...))); err != nil {
			return fmt.Errorf("copy later values: %w", err)
		}
	}
	for _, d := range l.actions {
		if !d.full && d.seen.over(l.setBytes) {
			d.full = true
		}
		if d.unmatched.over(l.setBytes) {
			if err := spillUnmatched(ctx, tx, d); err != nil {
				return err
			}
		}
	}
	return nil
}

// copyBatchRows is how many rows store encodes at a time for its COPY.
const copyBatchRows = 1024

func appendValue(e []byte, v *string) []byte {
	if v == nil {
		return append(e, 0xff, 0xff, 0xff, 0xff)
	}
	return appendText(e, *v)
}

// spillUnmatched writes d's unmatched ids to fileload_unmatched and
// empties the set.
func spillUnmatched(ctx context.Context, tx *storage.Tx, d *directScore) error {
	if !d.spilled {
		// One table for every action of the load.
		if err := tx.CreateUnmatchedIDs(ctx); err != nil {
			return err
		}
	}
	it := d.unmatched.b.ManyIterator()
	ids := make([]uint64, 4096)
	if err := tx.CopyUnmatchedIDs(ctx, &binaryCopy{next: func(e []byte) ([]byte, bool, error) {
		n := it.NextMany(ids)
		for _, id := range ids[:n] {
			e = appendInt8(appendInt8(append(e, 0, 2), d.updateID), int64(id))
		}
		return e, n > 0, nil
	}}); err != nil {
		return fmt.Errorf("spill unmatched ids: %w", err)
	}
	d.unmatched.clear()
	d.spilled = true
	return nil
}

// distinctUnmatched counts the different ids of d that match nobody.
func distinctUnmatched(ctx context.Context, tx *storage.Tx, d *directScore) (int64, error) {
	if !d.spilled {
		return int64(d.unmatched.n), nil
	}
	if err := spillUnmatched(ctx, tx, d); err != nil {
		return 0, err
	}
	return tx.DistinctUnmatchedIDs(ctx, d.updateID)
}

// applyDirect applies the later rows of people listed in two chunks (the
// last row wins), and finishes the update of r, whose direct state is d.
func applyDirect(ctx context.Context, tx *storage.Tx, jobID int64, fl *storage.FileLoad, r *scoreRule, d *directScore, rowsRead int64) (storage.ActionResult, *storage.ScoreUpdate, error) {
	if d.later > 0 {
		// Every later row's person is stored already, unless seen was
		// full: those are inserted.
		if err := tx.ApplyLaterScoreValues(ctx, d.updateID); err != nil {
			return storage.ActionResult{}, nil, err
		}
	}
	st := Statistics{TotalRows: rowsRead, OutOfRange: r.outOfRange, BadValues: r.badValues}
	current, err := tx.HasCurrentScoreValues(ctx, fl.DBMode, r.score.ID)
	if err != nil {
		return storage.ActionResult{}, nil, err
	}
	if d.later > 0 || current || (r.score.Type == storage.ScoreRange && d.hist == nil) {
		vs, err := tx.ScoreValueStatistics(ctx, fl.DBMode, r.score.ID, d.updateID, r.score.Type == storage.ScoreRange)
		if err != nil {
			return storage.ActionResult{}, nil, fmt.Errorf("score statistics: %w", err)
		}
		setValueStatistics(&st, vs)
	} else {
		st.MatchedRows, st.Added = d.matched, d.nonNull
		st.MaxValue, st.MinValue, st.AverageValue, st.MedianValue = histogramStatistics(d.hist)
	}
	unmatched, err := distinctUnmatched(ctx, tx, d)
	if err != nil {
		return storage.ActionResult{}, nil, fmt.Errorf("count unmatched ids: %w", err)
	}
	return finishScore(ctx, tx, jobID, fl, r, d.updateID, st, st.MatchedRows+unmatched)
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
