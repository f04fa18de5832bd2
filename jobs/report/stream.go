package report

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/turnoutdev/turnout/storage"
)

// CSVFile describes a CSV file that Stream writes to the blob store.
type CSVFile struct {
	// Key is the blob key; an earlier object there is replaced only once
	// the new one is whole.
	Key string
	// Header is the first line, quoted the way PostgreSQL's CSV writer
	// quotes.
	Header []string
	// Copy writes the data rows (CSV, no header) to w and returns how many
	// it wrote; ctx is cancelled when the blob store gives up.
	Copy func(ctx context.Context, w io.Writer) (int64, error)
	// Progress, when set, hears the rows written so far every Every rows
	// (default 10,000); an error stops the file.
	Progress func(rows int64) error
	Every    int64
}

// Stream writes f to blobs: the rows flow from Copy through a 64 KiB
// buffer and an io.Pipe into Blobs.Put, so no more than that buffer and
// the store's own of them are ever in memory,
// whatever the file's size. It is all or nothing: when Copy or the store
// fails, the object is discarded and no partial file is left. It returns
// the rows Copy wrote and the bytes stored. Registrant reports and VAN
// export jobs are built with it.
func Stream(ctx context.Context, blobs storage.Blobs, f CSVFile) (rows, size int64, err error) {
	every := f.Every
	if every <= 0 {
		every = 10_000
	}
	progress := f.Progress
	if progress == nil {
		progress = func(int64) error { return nil }
	}
	pr, pw := io.Pipe()
	// Cancelling the copy (a failed copy, or Put giving up) unblocks the
	// other side of the pipe.
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	put := make(chan error, 1)
	counter := &byteCounter{}
	go func() {
		err := blobs.Put(cctx, f.Key, counter.bytesOf(pr), "text/csv")
		if err != nil {
			// Unblock the writer: Put stopped reading early.
			_ = pr.CloseWithError(fmt.Errorf("blob store: %w", err))
		}
		put <- err
	}()

	// PostgreSQL sends COPY's output a row per message, and each write to
	// a pipe waits for the reader: the buffer turns a million row-sized
	// hand-offs into a few hundred.
	buf := bufio.NewWriterSize(pw, 64<<10)
	w := &progressWriter{w: buf, every: every, next: every, report: progress}
	n, copyErr := func() (int64, error) {
		if _, err := io.WriteString(buf, csvLine(f.Header)); err != nil {
			return 0, err
		}
		n, err := f.Copy(cctx, w)
		if err == nil {
			err = buf.Flush()
		}
		return n, err
	}()
	if copyErr != nil {
		cancel() // discard the object: no partial file
		_ = pw.CloseWithError(copyErr)
		<-put
		return 0, 0, copyErr
	}
	_ = pw.Close()
	if err := <-put; err != nil {
		return 0, 0, fmt.Errorf("store %s: %w", f.Key, err)
	}
	if w.rows != n {
		return 0, 0, fmt.Errorf("copied %d rows but wrote %d", n, w.rows)
	}
	return n, counter.bytes, nil
}

// csvLine writes a header line the way PostgreSQL's CSV writer quotes:
// only fields that need it.
func csvLine(fields []string) string {
	var sb strings.Builder
	for i, f := range fields {
		if i > 0 {
			sb.WriteByte(',')
		}
		if strings.ContainsAny(f, ",\"\r\n") {
			sb.WriteString(`"` + strings.ReplaceAll(f, `"`, `""`) + `"`)
		} else {
			sb.WriteString(f)
		}
	}
	sb.WriteByte('\n')
	return sb.String()
}

// byteCounter counts the bytes that reach the blob store.
type byteCounter struct{ bytes int64 }

func (c *byteCounter) bytesOf(r io.Reader) io.Reader { return &countingReader{r: r, n: &c.bytes} }

type countingReader struct {
	r io.Reader
	n *int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	*c.n += int64(n)
	return n, err
}

// progressWriter passes COPY's CSV through and counts rows: a newline
// outside quotes ends a row (PostgreSQL quotes every field holding a
// newline and doubles quotes inside, so toggling on each quote tracks it).
type progressWriter struct {
	w      io.Writer
	rows   int64
	quoted bool
	every  int64
	next   int64
	report func(rows int64) error
}

func (p *progressWriter) Write(b []byte) (int, error) {
	for _, c := range b {
		switch c {
		case '"':
			p.quoted = !p.quoted
		case '\n':
			if !p.quoted {
				p.rows++
			}
		}
	}
	n, err := p.w.Write(b)
	if err != nil {
		return n, err
	}
	if p.rows >= p.next {
		p.next = (p.rows/p.every + 1) * p.every
		if err := p.report(p.rows); err != nil {
			return n, err
		}
	}
	return n, nil
}
