package fileload

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// A line may be exactly the cap long however the reads split it; one byte
// more is refused, whether it is the first, a middle or the last line.
func TestLineCapBoundsEveryLineAcrossReads(t *testing.T) {
	const max = 10
	ok := strings.Repeat("x", max)
	long := strings.Repeat("y", max+1)
	cases := []struct {
		name, in string
		fail     bool
	}{
		{"lines at the cap", ok + "\n" + ok + "\n" + ok, false},
		{"first line over", long + "\nab\n", true},
		{"middle line over", "ab\n" + long + "\ncd\n", true},
		{"last line over, no newline", "ab\n" + long, true},
		{"short lines", "a\nb\nc\n", false},
	}
	readers := map[string]func(io.Reader) io.Reader{
		"whole":    func(r io.Reader) io.Reader { return r },
		"one byte": iotest.OneByteReader,
		"halves":   iotest.HalfReader,
	}
	for _, c := range cases {
		for rname, wrap := range readers {
			lc := &lineCap{r: bufio.NewReaderSize(wrap(strings.NewReader(c.in)), 16), max: max}
			_, err := io.ReadAll(lc)
			if got := errors.Is(err, errLineTooLong); got != c.fail {
				t.Errorf("%s, %s reads: too long = %v, want %v (err %v)", c.name, rname, got, c.fail, err)
			}
			if !c.fail && lc.lines != int64(strings.Count(c.in, "\n")) {
				t.Errorf("%s, %s reads: %d lines counted, want %d", c.name, rname, lc.lines, strings.Count(c.in, "\n"))
			}
		}
	}
}
