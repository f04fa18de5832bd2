package fileload

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/RoaringBitmap/roaring/v2/roaring64"

	"github.com/turnoutdev/turnout/internal/fault"
	"github.com/turnoutdev/turnout/storage"
)

// The saved-list direct path. A load whose only action is a
// LoadSavedListFile skips the staging table: the list is written first,
// then the file's valid rows are matched against van_people chunk by
// chunk (matchInChunks) and each chunk's people are COPY'd straight into
// van_saved_list_members, each person once: a set of the people written
// (a roaring bitmap bounded by Options.SetBytes) skips those listed again.
// Past its bound the set stops growing and the chunks' people go to a
// temporary table instead, inserted at the end without the ones already
// there. A list that cannot be written (its folder no longer shared or
// writable, its name taken) is reported after the pass, as the staged
// path reports it, so the file's row errors come first.

// directListLoader is the loader of a load whose only action is a
// LoadSavedListFile.
type directListLoader struct {
	job    loadJob
	rule   *savedListRule
	listID int64
	// failed is why the list could not be written; apply reports it.
	failed error
	// seen is the people written; full: it reached its bound, and the
	// people of every later chunk go to fileload_list_later.
	seen        *idSet
	full, later bool
	vanids      []int64
	buf         []byte
}

// directSavedList returns the load's LoadSavedListFile rule when it is
// the load's only action.
func directSavedList(rules []rule) *savedListRule {
	if len(rules) != 1 {
		return nil
	}
	r, _ := rules[0].(*savedListRule)
	return r
}

func newDirectListLoader(j loadJob, r *savedListRule) *directListLoader {
	return &directListLoader{job: j, rule: r, seen: &idSet{b: roaring64.New()}}
}

func (l *directListLoader) stage(ctx context.Context, tx *storage.Tx, st *stager) error {
	var err error
	l.listID, err = l.rule.writeList(ctx, tx, l.job.id, l.job.fl)
	if fault.Is(err, fault.Invalid) {
		// The pass still runs, for the row errors; the transaction is not
		// used again.
		l.failed = err
		for st.Next() {
		}
		return st.err
	}
	if err != nil {
		return err
	}
	t0 := time.Now()
	m, err := matchInChunks(ctx, tx, l.job, l.rule.action.PersonIDType, st, func(ctx context.Context, c *personChunk) error {
		return l.store(ctx, tx, c)
	})
	if err != nil {
		return err
	}
	l.job.log.Info("rows matched", "action", l.rule.index, "id_type", l.rule.action.PersonIDType, "range_reads", m.rangeReads,
		"index_lookups", m.lookups, "seen_bytes", l.seen.heapBytes(), "later", l.later, "duration_ms", time.Since(t0).Milliseconds())
	return nil
}

// store writes the people of c not written yet into the list, in VANID
// order.
func (l *directListLoader) store(ctx context.Context, tx *storage.Tx, c *personChunk) error {
	vanids := l.vanids[:0]
	for _, v := range c.vanids {
		if v != 0 {
			vanids = append(vanids, v)
		}
	}
	// By DWID the VANIDs come in no order; sorted, the members' primary
	// key grows at its end.
	if !slices.IsSorted(vanids) {
		slices.Sort(vanids)
	}
	l.vanids = vanids
	buf := append(l.buf[:0], copyHeader...)
	rows := 0
	stx := tx
	copyRows := stx.CopyListMembers
	if l.full {
		copyRows = stx.CopyLaterListMembers
		if !l.later {
			if err := stx.CreateLaterListMembers(ctx); err != nil {
				return err
			}
			l.later = true
		}
	}
	for _, v := range vanids {
		switch {
		case l.full:
			buf = appendInt8(append(buf, 0, 1), v)
		case l.seen.add(v):
			buf = appendInt8(appendInt8(append(buf, 0, 2), l.listID), v)
		default:
			continue // written already
		}
		rows++
	}
	l.buf = buf
	if rows > 0 {
		if err := copyRows(ctx, bytes.NewReader(append(buf, copyTrailer...))); err != nil {
			return fmt.Errorf("copy saved list members: %w", err)
		}
	}
	setBytes := uint64(l.job.opts.SetBytes)
	if setBytes == 0 {
		setBytes = DefaultSetBytes
	}
	if !l.full && l.seen.over(setBytes) {
		l.full = true
	}
	return nil
}

func (l *directListLoader) apply(ctx context.Context, tx *storage.Tx, rowsRead int64) error {
	r := l.rule
	if l.failed != nil {
		return fmt.Errorf("apply actions[%d]: %w", r.index, l.failed)
	}
	matched := int64(l.seen.n)
	if l.later {
		added, err := tx.InsertLaterListMembers(ctx, l.listID)
		if err != nil {
			return fmt.Errorf("apply actions[%d]: write saved list members: %w", r.index, err)
		}
		matched += added
	}
	if err := r.finish(ctx, tx, l.job.id, rowsRead, l.listID, matched, l.job.log); err != nil {
		return fmt.Errorf("apply actions[%d]: %w", r.index, err)
	}
	return nil
}

func (l *directListLoader) close() {}
