package fileload

import (
	"bufio"
	"cmp"
	"container/heap"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
)

// chunker cuts the direct path's rows into chunks for matching. While the
// file comes in id order (or near it), each chunk's ids span a narrow
// range that one range read matches, and chunks go to matching as they
// fill. The first chunk whose ids are spread too wide for a range read
// shows a file in no useful order: from there on the rows are sorted by id
// on disk instead (sorted runs of a bounded size, merged at the end), so
// the chunks cut from the merge are dense again and the matching reads
// each part of the id range about once, instead of looking every id up in
// the index (about ten times the cost of a COPY of the row).
type chunker struct {
	l    *directLoad
	free chan *scoreChunk
	read chan<- *scoreChunk
	done <-chan struct{}
	dir  string // for the sorted runs; "" = os.TempDir()

	cur    *scoreChunk
	limit  int
	chunks int64 // chunks cut so far
	rows   int64 // rows routed so far: a row's position in the file
	sort   *runSorter
	merged bool // the chunks come from the merge: no more switching
}

// put adds a valid row of action slot to the current chunk, or to the
// sorted runs once the file proved to be in no useful order.
func (c *chunker) put(slot int, id int64, value *string) error {
	pos := c.rows
	c.rows++
	if c.sort != nil && !c.merged {
		return c.sort.add(sortRow{slot: int32(slot), id: id, pos: pos, value: value})
	}
	return c.append(slot, id, value)
}

func (c *chunker) append(slot int, id int64, value *string) error {
	if c.cur == nil {
		select {
		case c.cur = <-c.free:
		case <-c.done:
			return errStopped
		}
		c.cur.reset(c.chunks, c.rows-1)
		// The first chunks are small, so matching and storing start
		// early; then they grow to the configured size.
		c.limit = min(c.l.chunkRows, firstChunkRows<<min(c.chunks, 16))
		c.chunks++
	}
	c.cur.rows[slot] = append(c.cur.rows[slot], chunkRow{id: id, pos: int32(c.cur.n), value: value})
	if c.cur.n++; c.cur.n >= c.limit {
		return c.send()
	}
	return nil
}

// send passes the current chunk on to matching, unless it shows the file
// is in no useful order: then its rows start the sorted runs.
func (c *chunker) send() error {
	ch := c.cur
	if !c.merged {
		c.l.sortKeys(ch)
		if c.sparse(ch) {
			c.sort = &runSorter{dir: c.dir, max: max(4*c.l.chunkRows, 64)}
			for _, d := range c.l.actions {
				d.sorted = true
			}
			for s, rows := range ch.rows {
				for _, r := range rows {
					if err := c.sort.add(sortRow{slot: int32(s), id: r.id, pos: ch.first + int64(r.pos), value: r.value}); err != nil {
						return err
					}
				}
			}
			c.cur = nil
			c.free <- ch
			return nil
		}
	}
	select {
	case c.read <- ch:
		c.cur = nil
		return nil
	case <-c.done:
		return errStopped
	}
}

// sparse tells whether some action's ids in ch need index lookups.
func (c *chunker) sparse(ch *scoreChunk) bool {
	for s, d := range c.l.actions {
		if keys := ch.keys[s]; len(keys) > 0 && !c.l.ranged(d, keys) {
			return true
		}
	}
	return false
}

// finish sends the last chunk, or, when the rows were sorted, the chunks
// cut from the merged runs.
func (c *chunker) finish() error {
	if c.cur != nil && c.sort == nil {
		// This may still find the file in no useful order.
		if err := c.send(); err != nil {
			return err
		}
	}
	if c.sort == nil {
		return nil
	}
	c.merged = true
	if err := c.sort.merge(func(r sortRow) error {
		c.rows = r.pos + 1
		return c.append(int(r.slot), r.id, r.value)
	}); err != nil {
		return err
	}
	if c.cur != nil {
		return c.send()
	}
	return nil
}

// sortRow is a row held for sorting: its action slot, id, position in the
// file and value.
type sortRow struct {
	slot  int32
	id    int64
	pos   int64
	value *string
}

func bySlotIDPos(a, b sortRow) int {
	if c := cmp.Compare(a.id, b.id); c != 0 {
		return c
	}
	if c := cmp.Compare(a.slot, b.slot); c != 0 {
		return c
	}
	return cmp.Compare(a.pos, b.pos)
}

// runSorter sorts rows by id (then action, then file position) in runs of
// at most max rows in memory, each written sorted to an unlinked temporary
// file, and merges them.
type runSorter struct {
	dir   string
	max   int
	run   []sortRow
	files []*os.File
	nruns int // runs written
	buf   []byte
}

func (s *runSorter) runs() int {
	if s == nil {
		return 0
	}
	return s.nruns
}

func (s *runSorter) add(r sortRow) error {
	s.run = append(s.run, r)
	if len(s.run) >= s.max {
		return s.spill()
	}
	return nil
}

// spill writes the run, sorted, to a file of its own.
func (s *runSorter) spill() error {
	slices.SortFunc(s.run, bySlotIDPos)
	f, err := os.CreateTemp(s.dir, "turnout-fileload-run-*")
	if err != nil {
		return fmt.Errorf("create sorted run: %w", err)
	}
	// Unlinked at once: the run lives as long as the file is open.
	_ = os.Remove(f.Name())
	s.files = append(s.files, f)
	s.nruns++
	w := bufio.NewWriterSize(f, 64<<10)
	for _, r := range s.run {
		s.buf = binary.BigEndian.AppendUint32(s.buf[:0], uint32(r.slot))
		s.buf = binary.BigEndian.AppendUint64(s.buf, uint64(r.id))
		s.buf = binary.BigEndian.AppendUint64(s.buf, uint64(r.pos))
		if r.value == nil {
			s.buf = binary.BigEndian.AppendUint32(s.buf, nullLen)
		} else {
			s.buf = append(binary.BigEndian.AppendUint32(s.buf, uint32(len(*r.value))), *r.value...)
		}
		if _, err := w.Write(s.buf); err != nil {
			return fmt.Errorf("write sorted run: %w", err)
		}
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("write sorted run: %w", err)
	}
	s.run = s.run[:0]
	return nil
}

// nullLen marks a NULL value in a run file.
const nullLen = 1<<32 - 1

// merge calls f with every row, in order.
func (s *runSorter) merge(f func(sortRow) error) error {
	if len(s.files) == 0 {
		slices.SortFunc(s.run, bySlotIDPos)
		for _, r := range s.run {
			if err := f(r); err != nil {
				return err
			}
		}
		return nil
	}
	if len(s.run) > 0 {
		if err := s.spill(); err != nil {
			return err
		}
	}
	h := make(runHeap, 0, len(s.files))
	for _, file := range s.files {
		if _, err := file.Seek(0, io.SeekStart); err != nil {
			return err
		}
		rd := &runReader{r: bufio.NewReaderSize(file, 32<<10)}
		ok, err := rd.next()
		if err != nil {
			return err
		}
		if ok {
			h = append(h, rd)
		}
	}
	heap.Init(&h)
	for len(h) > 0 {
		rd := h[0]
		if err := f(rd.cur); err != nil {
			return err
		}
		ok, err := rd.next()
		if err != nil {
			return err
		}
		if ok {
			heap.Fix(&h, 0)
		} else {
			heap.Pop(&h)
		}
	}
	return nil
}

func (s *runSorter) close() {
	if s == nil {
		return
	}
	for _, f := range s.files {
		_ = f.Close()
	}
	s.files = nil
}

// runReader reads a sorted run back.
type runReader struct {
	r   *bufio.Reader
	hdr [24]byte
	cur sortRow
}

func (rd *runReader) next() (bool, error) {
	if _, err := io.ReadFull(rd.r, rd.hdr[:]); err != nil {
		if errors.Is(err, io.EOF) {
			return false, nil
		}
		return false, fmt.Errorf("read sorted run: %w", err)
	}
	rd.cur = sortRow{
		slot: int32(binary.BigEndian.Uint32(rd.hdr[0:])),
		id:   int64(binary.BigEndian.Uint64(rd.hdr[4:])),
		pos:  int64(binary.BigEndian.Uint64(rd.hdr[12:])),
	}
	n := binary.BigEndian.Uint32(rd.hdr[20:])
	if n == nullLen {
		return true, nil
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(rd.r, b); err != nil {
		return false, fmt.Errorf("read sorted run: %w", err)
	}
	v := string(b)
	rd.cur.value = &v
	return true, nil
}

// runHeap orders run readers by their current row.
type runHeap []*runReader

func (h runHeap) Len() int           { return len(h) }
func (h runHeap) Less(i, j int) bool { return bySlotIDPos(h[i].cur, h[j].cur) < 0 }
func (h runHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *runHeap) Push(x any)        { *h = append(*h, x.(*runReader)) }
func (h *runHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
