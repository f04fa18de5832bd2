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
// matcher), and the row of a person of the database who has no phones yet
// and is listed once in the file is COPY'd straight into van_phones: a
// single row has nothing to conflict with, so it needs neither the rules
// across rows nor an upsert. Every other row (an unmatched VANID, a person
// with phones, a person listed more than once) is written to a spool file
// in COPY's binary format and goes, after the pass, through the phone
// rules as set-based SQL over a narrow typed table (fileload_phones): the
// preferred-phone rule (storage's DemotePreferredPhones, the rule's one
// statement), then the upsert.
//
// A person's rows all take one way. Rows of one person in one chunk sit
// together once it is sorted, and are staged together. A person COPY'd
// straight from one chunk who turns up again in a later one has his later
// rows staged, and his straight row is moved back from van_phones into
// fileload_phones before the rules run, with its line, read back from a
// spool of the straight rows' (VANID, line) pairs; a person staged for
// being listed twice has his later rows staged too. So both ways give the
// same phones, warnings and statistics as the staging table.
//
// Memory is bounded by configuration, not by the file or the database: a
// few chunks of Options.ChunkRows rows, and three sets of VANIDs (those
// COPY'd straight, those staged for being listed twice, those COPY'd
// straight and listed again) of at most Options.SetBytes each. Once a set
// reaches its bound no row goes straight any more; the sets are still
// consulted, so every row already COPY'd straight is moved back if its
// person turns up again.

// directPhonesLoader is the loader of a load whose only action is
// phonesFile.
type directPhonesLoader struct {
	job  loadJob
	rule *phonesRule
	// some: the database mode had phones when the load began, so each
	// chunk's people are looked up in van_phones. full: a set reached its
	// bound, and every row is staged from then on.
	some, full bool
	// straight: the people whose row was COPY'd straight; twice: the
	// people staged for several rows in one chunk; again: the people
	// COPY'd straight who turned up again.
	straight, twice, again *idSet
	matcher                *directScore

	spool   *os.File // rows of fileload_phones
	w       *bufio.Writer
	spooled int64
	lines   *os.File // (VANID, line) of each row COPY'd straight
	lw      *bufio.Writer
	staging bool // fileload_phones exists

	direct, directPreferred int64 // rows straight in van_phones, still there
	withPhones              []int64
	buf, enc                []byte
}

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
		straight: &idSet{b: roaring64.New()}, twice: &idSet{b: roaring64.New()}, again: &idSet{b: roaring64.New()}}
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
	l.job.log.Info("phones copied", "direct", l.direct, "staged", l.spooled, "listed_again", l.again.n,
		"full_ranges", m.fullRanges, "range_reads", m.rangeReads, "index_lookups", m.lookups, "people_read", m.peopleRead,
		"sets_full", l.full, "duration_ms", time.Since(t0).Milliseconds())
	return settleWith(ctx, tx, l.rule.index, l, st)
}

// store routes the rows of chunk c, person by person: one row of a
// person of the database without phones, not seen before, is COPY'd
// straight; every other row is spooled for the rules across rows. The rows
// are encoded as the COPY sends them.
func (l *directPhonesLoader) store(ctx context.Context, tx *storage.Tx, c *personChunk) error {
	if l.some {
		if err := l.lookUpPhones(ctx, tx, c); err != nil {
			return err
		}
	}
	mode := binary.BigEndian.AppendUint16(nil, uint16(l.job.fl.DBMode))
	i, k := 0, 0 // the row and the key next
	next := func(e []byte) ([]byte, bool, error) {
		for n := 0; i < len(c.rows) && n < copyBatchRows; {
			j := i + 1
			for j < len(c.rows) && c.rows[j].id == c.rows[i].id {
				j++
			}
			group, vanid := c.rows[i:j], c.vanids[k]
			i, k = j, k+1
			if vanid != 0 && len(group) == 1 && l.mayGoStraight(vanid) {
				row := &group[0]
				e = appendPhoneFields(appendInt8(append(append(e, 0, 9, 0, 0, 0, 2), mode...), vanid), row.fields)
				n++
				if err := l.wentStraight(vanid, row); err != nil {
					return e, false, err
				}
				continue
			}
			switch {
			case vanid == 0:
			case l.straight.contains(vanid):
				l.again.add(vanid)
			case len(group) > 1 && !l.full:
				l.twice.add(vanid)
			}
			for r := range group {
				if err := l.stageRow(&group[r]); err != nil {
					return e, false, err
				}
			}
		}
		return e, i < len(c.rows), nil
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
	if !l.full && (l.straight.over(bound) || l.twice.over(bound) || l.again.over(bound)) {
		l.full = true
	}
	return nil
}

// wentStraight records row, of person vanid, as COPY'd straight: its
// person in straight, its line in the spool of lines, its counts.
func (l *directPhonesLoader) wentStraight(vanid int64, row *personRow) error {
	l.straight.add(vanid)
	l.direct++
	if row.fields[phPreferred] == "t" {
		l.directPreferred++
	}
	l.enc = binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(l.enc[:0], uint64(vanid)), uint64(row.line))
	if _, err := l.lw.Write(l.enc); err != nil {
		return fmt.Errorf("write phones spool file: %w", err)
	}
	return nil
}

// mayGoStraight tells whether the one row of vanid in a chunk may be
// COPY'd straight: the person has no phones, no row of his was routed
// before, and the sets are within their bound.
func (l *directPhonesLoader) mayGoStraight(vanid int64) bool {
	if l.full || l.straight.contains(vanid) || l.twice.contains(vanid) {
		return false
	}
	_, has := slices.BinarySearch(l.withPhones, vanid)
	return !has
}

// lookUpPhones sets withPhones to the VANIDs of c's people who have
// phones (those COPY'd straight by this load included), ascending.
func (l *directPhonesLoader) lookUpPhones(ctx context.Context, tx *storage.Tx, c *personChunk) error {
	people := l.withPhones[:0]
	for _, v := range c.vanids {
		if v != 0 {
			people = append(people, v)
		}
	}
	l.withPhones = people[:0]
	if len(people) == 0 {
		return nil
	}
	slices.Sort(people)
	has, err := tx.PeopleWithPhones(ctx, l.job.fl.DBMode, people)
	if err != nil {
		return err
	}
	l.withPhones = append(l.withPhones, has...)
	return nil
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

// moveBack moves the rows COPY'd straight of the people in again from
// van_phones to fileload_phones, each with its line.
func (l *directPhonesLoader) moveBack(ctx context.Context, tx *storage.Tx) error {
	stx := tx
	if err := stx.CreatePhonesBack(ctx); err != nil {
		return err
	}
	if _, err := l.lines.Seek(0, io.SeekStart); err != nil {
		return err
	}
	br := bufio.NewReaderSize(l.lines, 64<<10)
	var pair [16]byte
	if err := stx.CopyPhonesBack(ctx, &binaryCopy{next: func(e []byte) ([]byte, bool, error) {
		for range 1024 {
			if _, err := io.ReadFull(br, pair[:]); err == io.EOF {
				return e, false, nil
			} else if err != nil {
				return e, false, fmt.Errorf("read phones spool file: %w", err)
			}
			if vanid := int64(binary.BigEndian.Uint64(pair[:8])); l.again.contains(vanid) {
				e = appendInt8(appendInt8(append(e, 0, 2), vanid), int64(binary.BigEndian.Uint64(pair[8:])))
			}
		}
		return e, true, nil
	}}); err != nil {
		return fmt.Errorf("stage people listed again: %w", err)
	}
	moved, preferred, err := stx.MovePhonesBack(ctx, l.job.fl.DBMode)
	if err != nil {
		return err
	}
	l.direct -= moved
	l.directPreferred -= preferred
	return nil
}

// apply upserts the staged phones as the general path does and adds the
// rows COPY'd straight to the statistics: each is a phone added.
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
		MatchedRows: l.direct, PhonesAdded: l.direct, PreferredSet: l.directPreferred}
	distinct := l.direct
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
