package fileload

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"strconv"
	"time"

	"github.com/RoaringBitmap/roaring/v2/roaring64"

	"github.com/turnoutdev/turnout/storage"
)

// The AV/EV direct path. A load whose only action is an AVEVDataFile
// naming people by VANID skips the staging table: its valid rows are
// matched against van_people chunk by chunk (matchInChunks) and each
// chunk's last row of each matched person is COPY'd straight into
// van_avev. A person's record is replaced whole, so before a chunk is
// COPY'd the records it replaces are deleted: those of people this load
// already wrote from an earlier chunk (the file's later row wins), and,
// unless the database mode had no AV/EV records when the load began,
// every stored record of the chunk's people. The counts come from the way:
// a deleted record this load wrote is a person seen twice, any other is an
// update. Ids that match nobody are kept in a bounded set (spilled to a
// temporary table past Options.SetBytes) to count them once each.

// directAVEVLoader is the loader of a load whose only action is an
// AVEVDataFile by VANID.
type directAVEVLoader struct {
	job  loadJob
	rule *avevRule
	// empty: the database mode had no records when the load began, so
	// only people in seen can have one. full: seen reached its bound, and
	// every chunk's people are deleted first from then on.
	empty, full bool
	seen        *idSet
	// unmatched holds the ids that match nobody (the score path's set,
	// spilled the same way).
	unmatched        *directScore
	matched, updated int64
	buf              []byte
	del              []int64
}

// directAVEV returns the load's AVEVDataFile rule when it can take the
// direct path: it is the load's only action and names people by VANID.
func directAVEV(rules []rule) *avevRule {
	if len(rules) != 1 {
		return nil
	}
	r, ok := rules[0].(*avevRule)
	if !ok || r.idType != IDVANID {
		return nil
	}
	return r
}

func newDirectAVEVLoader(j loadJob, r *avevRule) *directAVEVLoader {
	return &directAVEVLoader{job: j, rule: r, seen: &idSet{b: roaring64.New()},
		unmatched: &directScore{idType: IDVANID, unmatched: &idSet{b: roaring64.New()}}}
}

func (l *directAVEVLoader) stage(ctx context.Context, tx *storage.Tx, st *stager) error {
	stx := tx
	if err := stx.LockAVEVLoads(ctx, l.job.fl.DBMode); err != nil {
		return err
	}
	var err error
	if l.empty, err = stx.HasNoAVEV(ctx, l.job.fl.DBMode); err != nil {
		return err
	}
	t0 := time.Now()
	m, err := matchEncodedInChunks(ctx, tx, l.job, IDVANID, st, l.appendRow, func(ctx context.Context, c *personChunk) error {
		return l.store(ctx, tx, c)
	})
	if err != nil {
		return err
	}
	l.job.log.Info("rows matched", "action", l.rule.index, "id_type", IDVANID, "range_reads", m.rangeReads, "index_lookups", m.lookups,
		"first_load", l.empty, "seen_bytes", l.seen.heapBytes(), "unmatched_spilled", l.unmatched.spilled, "duration_ms", time.Since(t0).Milliseconds())
	return nil
}

// store writes the last row of each matched person of c into van_avev,
// in place of the person's stored record, and notes the ids of nobody.
func (l *directAVEVLoader) store(ctx context.Context, tx *storage.Tx, c *personChunk) error {
	buf, del := append(l.buf[:0], copyHeader...), l.del[:0]
	rows := 0
	c.last(func(id, vanid int64, row *personRow) {
		if vanid == 0 {
			l.unmatched.unmatched.add(id)
			return
		}
		if !l.empty || l.full || !l.seen.add(vanid) {
			del = append(del, vanid)
		}
		buf = append(buf, c.encoding(row)...)
		rows++
	})
	l.buf, l.del = buf, del
	l.matched += int64(rows)
	stx := tx
	if len(del) > 0 {
		mine, stored, err := stx.DeleteAVEV(ctx, l.job.fl.DBMode, del, l.job.id)
		if err != nil {
			return err
		}
		// A record this load wrote is a person listed again: one match.
		l.matched -= mine
		l.updated += stored
	}
	if rows > 0 {
		if err := stx.CopyAVEV(ctx, bytes.NewReader(append(buf, copyTrailer...))); err != nil {
			return err
		}
	}
	setBytes := uint64(l.job.opts.SetBytes)
	if setBytes == 0 {
		setBytes = DefaultSetBytes
	}
	if l.empty && !l.full && l.seen.over(setBytes) {
		l.full = true
	}
	if l.unmatched.unmatched.over(setBytes) {
		return spillUnmatched(ctx, tx, l.unmatched)
	}
	return nil
}

// appendRow appends the van_avev row of a valid row in COPY's binary
// format: the database mode, the person (by VANID, the id the file
// gives), the action's columns and the job.
func (l *directAVEVLoader) appendRow(e []byte, row stagedRow) []byte {
	e = binary.BigEndian.AppendUint16(e, uint16(len(avevColumns)+3))
	e = binary.BigEndian.AppendUint16(append(e, 0, 0, 0, 2), uint16(l.job.fl.DBMode))
	e = appendInt8(e, row.id)
	for k, c := range avevColumns {
		v := row.fields[k]
		switch {
		case v == "":
			e = append(e, 0xff, 0xff, 0xff, 0xff)
		case c.kind == avevDate:
			e = appendDate(e, v)
		case c.kind == avevCode:
			n, _ := strconv.ParseInt(v, 10, 32)
			e = binary.BigEndian.AppendUint32(append(e, 0, 0, 0, 4), uint32(int32(n)))
		default:
			e = appendText(e, v)
		}
	}
	return appendInt8(e, l.job.id)
}

// pgEpochDays is 2000-01-01, PostgreSQL's day 0, in days since 1970-01-01.
const pgEpochDays = 10957

// appendDate appends a YYYY-MM-DD date (as check leaves it) in COPY's
// binary format: days since 2000-01-01.
func appendDate(e []byte, v string) []byte {
	t, _ := time.Parse(time.DateOnly, v)
	days := t.Unix()/86400 - pgEpochDays
	return binary.BigEndian.AppendUint32(append(e, 0, 0, 0, 4), uint32(int32(days)))
}

func (l *directAVEVLoader) apply(ctx context.Context, tx *storage.Tx, rowsRead int64) error {
	r := l.rule
	unmatched, err := distinctUnmatched(ctx, tx, l.unmatched)
	if err != nil {
		return fmt.Errorf("apply actions[%d]: count unmatched ids: %w", r.index, err)
	}
	st := AVEVStatistics{TotalRows: rowsRead, ValidRows: r.valid, InvalidRows: r.invalid,
		MatchedRows: l.matched, UnmatchedRows: unmatched, Added: l.matched - l.updated, Updated: l.updated}
	st.DuplicateRows = r.valid - l.matched - unmatched
	if err := r.finish(ctx, tx, l.job.id, rowsRead, st, l.job.log); err != nil {
		return fmt.Errorf("apply actions[%d]: %w", r.index, err)
	}
	return nil
}

func (l *directAVEVLoader) close() {}
