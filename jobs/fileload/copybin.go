package fileload

import "io"

// COPY's binary format: a signature, flags and header extension length,
// then tuples, then a -1 field count.
var (
	copyHeader  = []byte("PGCOPY\n\xff\r\n\x00\x00\x00\x00\x00\x00\x00\x00\x00")
	copyTrailer = []byte{0xff, 0xff}
)

// binaryCopy is an io.Reader of a whole COPY ... FROM STDIN (FORMAT
// binary) stream for pgconn's CopyFrom: the header, the tuples next
// appends (it reports false after its last ones, with an error if the
// rows could not be read), and the trailer.
type binaryCopy struct {
	next          func(e []byte) ([]byte, bool, error)
	pend, buf     []byte
	started, done bool
}

func (c *binaryCopy) Read(p []byte) (int, error) {
	n := 0
	for {
		if len(c.pend) > 0 {
			k := copy(p[n:], c.pend)
			n, c.pend = n+k, c.pend[k:]
			if len(c.pend) > 0 {
				return n, nil
			}
		}
		switch {
		case c.done:
			return n, io.EOF
		case n == len(p):
			return n, nil
		case !c.started:
			c.started, c.pend = true, copyHeader
			continue
		}
		e, more, err := c.next(c.buf[:0])
		if err != nil {
			return n, err
		}
		if !more {
			e, c.done = append(e, copyTrailer...), true
		}
		c.buf, c.pend = e, e
	}
}
