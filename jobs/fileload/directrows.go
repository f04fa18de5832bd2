package fileload

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	"golang.org/x/sync/errgroup"

	"github.com/turnoutdev/turnout/storage"
)

// The direct paths of the AVEVDataFile, LoadSavedListFile and phonesFile
// actions (avevdirect.go, savedlistdirect.go, phonesdirect.go) read the file in chunks of valid
// rows, as the direct score path does: each chunk's person ids are sorted
// and matched against van_people with the score path's matcher
// (directLoad.match: a read of the people in the chunk's id range, or an
// index lookup of each id), and the chunk is handed to the action, which
// writes its rows straight into the final table. The next chunk is read
// and validated while one is matched and written. Memory is a few chunks
// of at most Options.ChunkRows rows and Options.ChunkBytes bytes each,
// whatever the size of the file or the database, however wide its rows.

// personRow is a valid row of a chunk: the person id the file gives, the
// row's place among the action's valid rows, its line and either its
// validated fields or, when the action encodes its rows as they are read
// (matchEncodedInChunks), where the encoding lies in the chunk's data.
type personRow struct {
	id       int64
	pos      int64
	line     int64
	fields   []string
	from, to int
}

// personChunk is a piece of the file: its rows sorted by id (rows of one
// id in file order), the distinct ids ascending and, beside each, the
// VANID of its person (0 for nobody).
type personChunk struct {
	rows   []personRow
	data   []byte // the rows' encodings, when the action makes them
	keys   []int64
	vanids []int64
}

// last calls f with each distinct id of c, the VANID it matched (0 for
// nobody) and the file's last row of that id in the chunk.
func (c *personChunk) last(f func(id, vanid int64, row *personRow)) {
	k := 0
	for i := range c.rows {
		if i+1 < len(c.rows) && c.rows[i+1].id == c.rows[i].id {
			continue
		}
		f(c.rows[i].id, c.vanids[k], &c.rows[i])
		k++
	}
}

// groupStarts returns, in dst's memory, where the rows of each of c's
// distinct ids begin, and len(c.rows) after the last: the rows of keys[k]
// are rows[starts[k]:starts[k+1]].
func (c *personChunk) groupStarts(dst []int) []int {
	dst = dst[:0]
	for i := range c.rows {
		if i == 0 || c.rows[i].id != c.rows[i-1].id {
			dst = append(dst, i)
		}
	}
	return append(dst, len(c.rows))
}

// encoding is row's encoding in c's data.
func (c *personChunk) encoding(row *personRow) []byte { return c.data[row.from:row.to] }

func byPersonRow(a, b personRow) int {
	if c := cmp.Compare(a.id, b.id); c != 0 {
		return c
	}
	return cmp.Compare(a.pos, b.pos)
}

// matchInChunks makes the single pass over the file through st, whose
// rules are one action naming people by idType, and hands each chunk of
// its valid rows, matched, to store, in file order, in tx. It returns the
// matcher's state (its counts of range reads and index lookups).
func matchInChunks(ctx context.Context, tx *storage.Tx, j loadJob, idType string, st *stager, store func(context.Context, *personChunk) error) (*directScore, error) {
	return matchEncodedInChunks(ctx, tx, j, idType, st, nil, store)
}

// matchEncodedInChunks is matchInChunks for an action that encodes each
// valid row as it is read: encode appends what store needs of the row to
// the chunk's data, and the chunk keeps those bytes instead of the row's
// fields (a few bytes a row instead of a string per column).
func matchEncodedInChunks(ctx context.Context, tx *storage.Tx, j loadJob, idType string, st *stager,
	encode func(e []byte, row stagedRow) []byte, store func(context.Context, *personChunk) error) (*directScore, error) {
	l := &directLoad{dbMode: j.fl.DBMode, ranges: map[string]idRange{}}
	r, err := peopleRange(ctx, tx, j.fl.DBMode, idType)
	if err != nil {
		return nil, err
	}
	l.ranges[idType] = r
	m := &directScore{idType: idType}
	chunkRows, chunkBytes := j.opts.ChunkRows, j.opts.ChunkBytes
	if chunkRows <= 0 {
		chunkRows = DefaultChunkRows
	}
	if chunkBytes <= 0 {
		chunkBytes = DefaultChunkBytes
	}

	// Three chunks at most: one being read, one matched and written, one
	// waiting between them.
	free := make(chan *personChunk, 3)
	for range cap(free) {
		free <- &personChunk{}
	}
	full := make(chan *personChunk)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		defer close(full)
		var cur *personChunk
		var chunks, pos int64
		limit, size := 0, 0 // the chunk's bound in rows, and its bytes
		send := func() error {
			select {
			case full <- cur:
				cur = nil
				return nil
			case <-gctx.Done():
				return errStopped
			}
		}
		st.route = func(_ rule, line int64, row stagedRow) ([]any, error) {
			if cur == nil {
				select {
				case cur = <-free:
				case <-gctx.Done():
					return nil, errStopped
				}
				cur.rows, cur.data = cur.rows[:0], cur.data[:0]
				// The first chunks are small, so writing starts early.
				limit, size = min(chunkRows, firstChunkRows<<min(chunks, 16)), 0
				chunks++
			}
			if encode != nil {
				from := len(cur.data)
				cur.data = encode(cur.data, row)
				cur.rows = append(cur.rows, personRow{id: row.id, pos: pos, line: line, from: from, to: len(cur.data)})
				size += personRowBytes + len(cur.data) - from
			} else {
				fields := row.stageFields()
				cur.rows = append(cur.rows, personRow{id: row.id, pos: pos, line: line, fields: fields})
				size += personRowBytes + fieldsBytes(fields)
			}
			pos++
			if len(cur.rows) >= limit || size >= chunkBytes {
				return nil, send()
			}
			return nil, nil
		}
		// route keeps every row, so Next reads the whole file.
		for st.Next() {
		}
		if st.err != nil {
			return st.err
		}
		m.chunks = chunks
		if cur != nil {
			return send()
		}
		return nil
	})
	g.Go(func() error {
		pm := tx.PeopleMatcher()
		for c := range full {
			c.sortKeys()
			if err := l.match(gctx, pm, m, c.keys, c.vanids); err != nil {
				return fmt.Errorf("match person ids: %w", err)
			}
			if err := store(gctx, c); err != nil {
				return err
			}
			free <- c
		}
		return nil
	})
	if err := pipelineErr(ctx, st, g.Wait()); err != nil {
		return nil, err
	}
	return m, nil
}

// personRowBytes is what a personRow holds beside its fields or
// encoding: its struct and its place in the sorted keys.
const personRowBytes = 64 + 16

// fieldsBytes is about what a row's fields hold in memory.
func fieldsBytes(fields []string) int {
	n := 24 + 16*len(fields)
	for _, f := range fields {
		n += len(f)
	}
	return n
}

// pipelineErr is the error a chunk pipeline over st ended with (err, from
// its errgroup): the stager stopped by a failing stage has no error of its
// own, and a canceled load reports its cancellation.
func pipelineErr(ctx context.Context, st *stager, err error) error {
	if errors.Is(st.err, errStopped) {
		st.err = nil // the failing stage's error is err
	}
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
	}
	return err
}

// sortKeys sorts c's rows by id, keeping the file's order among rows of
// one id, and lists the distinct ids.
func (c *personChunk) sortKeys() {
	if !slices.IsSortedFunc(c.rows, byPersonRow) {
		slices.SortFunc(c.rows, byPersonRow)
	}
	c.keys = c.keys[:0]
	for i, r := range c.rows {
		if i == 0 || r.id != c.rows[i-1].id {
			c.keys = append(c.keys, r.id)
		}
	}
	c.vanids = slices.Grow(c.vanids[:0], len(c.keys))[:len(c.keys)]
	clear(c.vanids)
}
