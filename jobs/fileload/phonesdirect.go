package fileload

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/RoaringBitmap/roaring/v2/roaring64"

	"github.com/turnoutdev/turnout/storage"
)

// The direct path of phonesFile. A load whose only action is a phonesFile
// action does not stage every row. Its valid rows are matched against
// van_people chunk by chunk (matchInChunks, with the direct score path's
// matcher), and the one row of a person of the database is settled at
// once when it can be:
//   - a person who has no phones yet has his row COPY'd straight into
//     van_phones: a single row has nothing to conflict with, so it needs
//     neither the rules across rows nor an upsert;
//   - a person whose row is one of his stored phones as it is (a re-load)
//     has nothing written: the upsert would leave that phone as it is, and
//     a stored preferred phone is its person's only one (van_phones'
//     unique index), so the preferred-phone rule has nothing to clear.
// Each chunk's people's phones are read (storage's PhonesOf) and compared
// with their rows in the worker. Every other row (an unmatched VANID, a
// changed or new phone of a person with phones, a person listed more than
// once) is written to a spool file in COPY's binary format and goes, after
// the pass, through the phone rules as set-based SQL over a narrow typed
// table (fileload_phones): the preferred-phone rule (storage's
// DemotePreferredPhones, the rule's one statement), then the upsert.
//
// A person's rows all take one way. Rows of one person in one chunk sit
// together once it is sorted, and are staged together. A person settled
// early from one chunk who turns up again in a later one has his later
// rows staged, and his settled row is staged again before the rules run,
// with its line, read back from a spool of the settled rows' (VANID,
// line, number): a row COPY'd straight is moved back from van_phones, a
// row found stored is copied from its phone. A person whose rows were
// staged has his later rows staged too. So both ways give the same
// phones, warnings and statistics as the staging table.
//
// Memory is bounded by configuration, not by the file or the database: a
// few chunks of Options.ChunkRows rows, and three sets of VANIDs (those
// settled early, those staged, those settled early and listed again) of
// at most Options.SetBytes each. Once a set reaches its bound no row is
// settled early any more; the sets are still consulted, so every row
// already settled is staged again if its person turns up again.

// directPhonesLoader is the loader of a load whose only action is
// phonesFile.
type directPhonesLoader struct {
	job  loadJob
	rule *phonesRule
	// some: the database mode had phones when the load began, so each
	// chunk's people's phones are read. full: a set reached its bound,
	// and every row is staged from then on.
	some, full bool
	// settled: the people whose row was settled early (COPY'd straight
	// or found stored); staged: the people of the database whose rows
	// were staged; again: the people settled early who turned up again.
	settled, staged, again *idSet
	matcher                *directScore

	spool   *os.File // rows of fileload_phones
	w       *bufio.Writer
	spooled int64
	lines   *os.File // (VANID, line, number) of each row settled early
	lw      *bufio.Writer
	staging bool // fileload_phones exists

	direct, directPreferred int64 // rows straight in van_phones, still there
	stored, storedPreferred int64 // rows found stored, still settled
	back                    storage.PhonesBack
	// Of the chunk's distinct ids, where each one's rows begin
	// (groupStarts) and what lookUpPhones found stored; the VANIDs it
	// looked up.
	known    []storedState
	people   []int64
	starts   []int
	buf, enc []byte
}

// storedState is what van_phones holds of a person of a chunk, as bits.
type storedState uint8

const (
	hasPhones storedState = 1 << iota
	rowStored             // his one row is one of his phones as it is
)

// directPhones returns a load's phonesFile rule when the load can take the
// direct path (its only action), nil otherwise.
func directPhones(rules []rule) *phonesRule {
	if len(rules) != 1 {
		return nil
	}
	r, _ := rules[0].(*phonesRule)
	return r
}

func newDirectPhonesLoader(j loadJob, r *phonesRule) *directPhonesLoader {
	return &directPhonesLoader{job: j, rule: r,
		settled: &idSet{b: roaring64.New()}, staged: &idSet{b: roaring64.New()}, again: &idSet{b: roaring64.New()}}
}

// stage takes the phone loads' lock, sees whether the database mode has
// phones, routes every row straight to van_phones or to the spool chunk by
// chunk, and settles the spooled rows (settle).
func (l *directPhonesLoader) stage(ctx context.Context, tx *storage.Tx, st *stager) error {
	stx := tx
	if err := stx.LockPhoneLoads(ctx, l.job.fl.DBMode); err != nil {
		return err
	}
	var err error
	if l.some, err = stx.HasPhones(ctx, l.job.fl.DBMode); err != nil {
		return err
	}
	if l.spool, err = os.CreateTemp(l.job.opts.SpoolDir, "turnout-fileload-phones-*"); err != nil {
		return fmt.Errorf("create phones spool file: %w", err)
	}
	l.w = bufio.NewWriterSize(l.spool, 256<<10)
	if l.lines, err = os.CreateTemp(l.job.opts.SpoolDir, "turnout-fileload-phones-*"); err != nil {
		return fmt.Errorf("create phones spool file: %w", err)
	}
	l.lw = bufio.NewWriterSize(l.lines, 64<<10)
	t0 := time.Now()
	if l.matcher, err = matchInChunks(ctx, tx, l.job, IDVANID, st, func(ctx context.Context, c *personChunk) error {
		return l.store(ctx, tx, c)
	}); err != nil {
		return err
	}
	if err := l.w.Flush(); err != nil {
		return fmt.Errorf("write phones spool file: %w", err)
	}
	if err := l.lw.Flush(); err != nil {
		return fmt.Errorf("write phones spool file: %w", err)
	}
	m := l.matcher
	l.job.log.Info("phones copied", "direct", l.direct, "stored", l.stored, "staged", l.spooled, "listed_again", l.again.n,
		"full_ranges", m.fullRanges, "range_reads", m.rangeReads, "index_lookups", m.lookups, "people_read", m.peopleRead,
		"sets_full", l.full, "duration_ms", time.Since(t0).Milliseconds())
	return settleWith(ctx, tx, l.rule.index, l, st)
}

// store routes the rows of chunk c, person by person: one row of a
// person of the database not seen before is COPY'd straight if he has no
// phones, or left alone if it is stored as it is; every other row is
// spooled for the rules across rows. The rows are encoded as the COPY
// sends them.
func (l *directPhonesLoader) store(ctx context.Context, tx *storage.Tx, c *personChunk) error {
	l.known = slices.Grow(l.known[:0], len(c.keys))[:len(c.keys)]
	clear(l.known)
	l.starts = c.groupStarts(l.starts)
	if l.some {
		if err := l.lookUpPhones(ctx, tx, c); err != nil {
			return err
		}
	}
	mode := binary.BigEndian.AppendUint16(nil, uint16(l.job.fl.DBMode))
	k := 0 // the key next
	next := func(e []byte) ([]byte, bool, error) {
		for n := 0; k < len(c.keys) && n < copyBatchRows; {
			group, vanid, known := c.rows[l.starts[k]:l.starts[k+1]], c.vanids[k], l.known[k]
			k++
			if vanid != 0 && len(group) == 1 && l.maySettle(vanid) {
				row := &group[0]
				switch {
				case known&hasPhones == 0:
					e = appendPhoneFields(appendInt8(append(append(e, 0, 9, 0, 0, 0, 2), mode...), vanid), row.fields)
					n++
					if err := l.settleEarly(vanid, row, ""); err != nil {
						return e, false, err
					}
					continue
				case known&rowStored != 0:
					if err := l.settleEarly(vanid, row, row.fields[phNumber]); err != nil {
						return e, false, err
					}
					continue
				}
			}
			switch {
			case vanid == 0:
			case l.settled.contains(vanid):
				l.again.add(vanid)
			case !l.full:
				l.staged.add(vanid)
			}
			for r := range group {
				if err := l.stageRow(&group[r]); err != nil {
					return e, false, err
				}
			}
		}
		return e, k < len(c.keys), nil
	}
	src := &binaryCopy{next: next, buf: l.buf[:0]}
	if err := tx.CopyPhones(ctx, src); err != nil {
		return fmt.Errorf("copy phones: %w", err)
	}
	l.buf = src.buf
	bound := uint64(l.job.opts.SetBytes)
	if bound == 0 {
		bound = DefaultSetBytes
	}
	if !l.full && (l.settled.over(bound) || l.staged.over(bound) || l.again.over(bound)) {
		l.full = true
	}
	return nil
}

// settleEarly records row, of person vanid, as settled early: COPY'd
// straight when number is "", else found stored with that number. It
// goes in settled, in the spool of lines, and in the counts.
func (l *directPhonesLoader) settleEarly(vanid int64, row *personRow, number string) error {
	l.settled.add(vanid)
	preferred := int64(0)
	if row.fields[phPreferred] == "t" {
		preferred = 1
	}
	if number == "" {
		l.direct++
		l.directPreferred += preferred
	} else {
		l.stored++
		l.storedPreferred += preferred
	}
	e := binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(l.enc[:0], uint64(vanid)), uint64(row.line))
	e = binary.BigEndian.AppendUint16(e, uint16(len(number)))
	l.enc = append(e, number...)
	if _, err := l.lw.Write(l.enc); err != nil {
		return fmt.Errorf("write phones spool file: %w", err)
	}
	return nil
}

// maySettle tells whether the one row of vanid in a chunk may be settled
// early: no row of the person was routed before, and the sets are within
// their bound.
func (l *directPhonesLoader) maySettle(vanid int64) bool {
	return !l.full && !l.settled.contains(vanid) && !l.staged.contains(vanid)
}

// lookUpPhones sets known to what van_phones holds of each of c's people:
// whether he has phones (those COPY'd straight by this load included) and,
// when he has one row in c, whether it is stored as it is. store has set
// starts to c's.
func (l *directPhonesLoader) lookUpPhones(ctx context.Context, tx *storage.Tx, c *personChunk) error {
	l.people = l.people[:0]
	for _, v := range c.vanids {
		if v != 0 {
			l.people = append(l.people, v)
		}
	}
	k := 0 // the id of the phone's person; ids are VANIDs, ascending
	return tx.PhonesOf(ctx, l.job.fl.DBMode, l.people, func(vanid int64, cols [][]byte) error {
		for k < len(c.keys) && c.keys[k] < vanid {
			k++
		}
		if k == len(c.keys) || c.vanids[k] != vanid {
			return fmt.Errorf("look up people's phones: VANID %d is not in the chunk", vanid)
		}
		l.known[k] |= hasPhones
		if l.starts[k+1]-l.starts[k] != 1 {
			return nil
		}
		if row := &c.rows[l.starts[k]]; storedAs(row.fields, cols) {
			l.known[k] |= rowStored
		}
		return nil
	})
}

// storedAs tells whether a phone's stored values (phone to sonar_score, as
// PhonesOf gives them) are those a row's fields (phNumber...) would store.
func storedAs(f []string, cols [][]byte) bool {
	nullable := func(col []byte, v string) bool { return (col == nil) == (v == "") && string(col) == v }
	sonar := cols[6] == nil
	if f[phSonar] != "" {
		sonar = len(cols[6]) == 2 && int16(binary.BigEndian.Uint16(cols[6])) == int16(f[phSonar][0]-'0')
	}
	return string(cols[0]) == f[phNumber] && string(cols[1]) == f[phType] && string(cols[2]) == f[phSource] &&
		len(cols[3]) == 1 && (cols[3][0] == 1) == (f[phPreferred] == "t") &&
		nullable(cols[4], f[phExt]) && string(cols[5]) == f[phOptIn] && sonar
}

// stageRow spools a row of fileload_phones.
func (l *directPhonesLoader) stageRow(row *personRow) error {
	e := binary.BigEndian.AppendUint16(l.enc[:0], 9)
	e = appendInt8(e, row.line)
	e = appendInt8(e, row.id)
	l.enc = appendPhoneFields(e, row.fields)
	l.spooled++
	_, err := l.w.Write(l.enc)
	return err
}

// appendPhoneFields appends the columns van_phones and fileload_phones
// share, from phone to sonar_score, in COPY's binary format, from a row's
// fields (phNumber...).
func appendPhoneFields(e []byte, f []string) []byte {
	e = appendText(e, f[phNumber])
	e = appendText(e, f[phType])
	e = appendText(e, f[phSource])
	e = appendBool(e, f[phPreferred] == "t")
	if f[phExt] == "" {
		e = append(e, 0xff, 0xff, 0xff, 0xff)
	} else {
		e = appendText(e, f[phExt])
	}
	e = appendText(e, f[phOptIn])
	if f[phSonar] == "" {
		return append(e, 0xff, 0xff, 0xff, 0xff)
	}
	return append(e, 0, 0, 0, 2, 0, f[phSonar][0]-'0')
}

func appendInt8(e []byte, v int64) []byte {
	return binary.BigEndian.AppendUint64(append(e, 0, 0, 0, 8), uint64(v))
}

func appendBool(e []byte, v bool) []byte {
	if v {
		return append(e, 0, 0, 0, 1, 1)
	}
	return append(e, 0, 0, 0, 1, 0)
}

func appendText(e []byte, s string) []byte {
	return append(binary.BigEndian.AppendUint32(e, uint32(len(s))), s...)
}

// settle loads the spooled rows into fileload_phones, moves back the rows
// COPY'd straight of people who turned up again, and applies the
// preferred-phone rule to them all.
func (l *directPhonesLoader) settle(ctx context.Context, tx *storage.Tx, warn func(line int64, column, message string)) error {
	if l.spooled == 0 {
		return nil // nobody turns up again without a spooled row
	}
	l.staging = true
	stx := tx
	if err := stx.CreatePhoneStage(ctx); err != nil {
		return err
	}
	if _, err := l.spool.Seek(0, io.SeekStart); err != nil {
		return err
	}
	src := io.MultiReader(bytes.NewReader(copyHeader), bufio.NewReaderSize(l.spool, 256<<10), bytes.NewReader(copyTrailer))
	if err := stx.CopyPhoneStage(ctx, src); err != nil {
		return fmt.Errorf("stage phones: %w", err)
	}
	if l.again.n > 0 {
		if err := l.moveBack(ctx, tx); err != nil {
			return err
		}
	}
	// Statistics before the first query over the rows.
	if err := stx.AnalyzePhoneStage(ctx); err != nil {
		return err
	}
	return l.rule.demotePreferred(ctx, tx, storage.PhoneRowsOfPhoneStage, warn)
}

// moveBack stages again the rows settled early of the people in again,
// each with its line: those COPY'd straight move from van_phones to
// fileload_phones, those found stored are copied.
func (l *directPhonesLoader) moveBack(ctx context.Context, tx *storage.Tx) error {
	if err := tx.CreatePhonesBack(ctx); err != nil {
		return err
	}
	if _, err := l.lines.Seek(0, io.SeekStart); err != nil {
		return err
	}
	br := bufio.NewReaderSize(l.lines, 64<<10)
	var head [18]byte
	var number []byte
	if err := tx.CopyPhonesBack(ctx, &binaryCopy{next: func(e []byte) ([]byte, bool, error) {
		for range 1024 {
			if _, err := io.ReadFull(br, head[:]); err == io.EOF {
				return e, false, nil
			} else if err != nil {
				return e, false, fmt.Errorf("read phones spool file: %w", err)
			}
			number = slices.Grow(number[:0], int(binary.BigEndian.Uint16(head[16:])))[:binary.BigEndian.Uint16(head[16:])]
			if _, err := io.ReadFull(br, number); err != nil {
				return e, false, fmt.Errorf("read phones spool file: %w", err)
			}
			vanid := int64(binary.BigEndian.Uint64(head[:8]))
			if !l.again.contains(vanid) {
				continue
			}
			e = appendInt8(appendInt8(append(e, 0, 3), vanid), int64(binary.BigEndian.Uint64(head[8:16])))
			if len(number) == 0 {
				e = append(e, 0xff, 0xff, 0xff, 0xff)
			} else {
				e = appendText(e, string(number))
			}
		}
		return e, true, nil
	}}); err != nil {
		return fmt.Errorf("stage people listed again: %w", err)
	}
	back, err := tx.MovePhonesBack(ctx, l.job.fl.DBMode)
	if err != nil {
		return err
	}
	l.direct -= back.Straight
	l.directPreferred -= back.StraightPreferred
	l.stored -= back.Stored
	l.storedPreferred -= back.StoredPreferred
	l.back = back
	return nil
}

// apply upserts the staged phones as the general path does and adds the
// rows settled early to the statistics: a row COPY'd straight is a phone
// added, a row found stored a phone updated (as the upsert counts it).
func (l *directPhonesLoader) apply(ctx context.Context, tx *storage.Tx, rowsRead int64) error {
	st, err := l.upsert(ctx, tx, rowsRead)
	if err != nil {
		return fmt.Errorf("apply actions[%d]: %w", l.rule.index, err)
	}
	if err := l.rule.finish(ctx, tx, l.job.id, rowsRead, st, l.job.log); err != nil {
		return fmt.Errorf("apply actions[%d]: %w", l.rule.index, err)
	}
	return nil
}

// close removes the spool files.
func (l *directPhonesLoader) close() {
	for _, fp := range []**os.File{&l.spool, &l.lines} {
		if *fp != nil {
			(*fp).Close()
			os.Remove((*fp).Name())
			*fp = nil
		}
	}
}

// upsert upserts the staged phones and returns the action's statistics.
func (l *directPhonesLoader) upsert(ctx context.Context, tx *storage.Tx, rowsRead int64) (PhoneStatistics, error) {
	r := l.rule
	st := PhoneStatistics{TotalRows: rowsRead, ValidRows: r.valid, InvalidRows: r.invalid,
		MatchedRows: l.direct + l.stored, PhonesAdded: l.direct, PreferredSet: l.directPreferred + l.storedPreferred}
	distinct := l.direct + l.stored
	if l.staging {
		u, err := tx.UpsertPhoneStage(ctx, l.job.fl.DBMode)
		if err != nil {
			return PhoneStatistics{}, err
		}
		distinct += u.Distinct
		st.MatchedRows += u.Matched
		st.PhonesAdded += u.Added
		st.PreferredSet += u.Preferred
		st.PreferredCleared = u.PreferredCleared
	}
	st.DuplicateRows = r.valid - distinct
	st.PhonesUpdated = st.MatchedRows - st.PhonesAdded
	st.UnmatchedRows = distinct - st.MatchedRows
	return st, nil
}
