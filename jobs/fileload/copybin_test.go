package fileload

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

// The stream is the header, every tuple in order and the trailer, however
// small the reads; an error reading the rows ends it with that error.
func TestBinaryCopyStreamsHeaderTuplesTrailer(t *testing.T) {
	tuples := [][]byte{[]byte("first"), []byte("second tuple"), bytes.Repeat([]byte{7}, 100)}
	want := append(append([]byte{}, copyHeader...), bytes.Join(tuples, nil)...)
	want = append(want, copyTrailer...)
	for name, wrap := range map[string]func(io.Reader) io.Reader{
		"whole":    func(r io.Reader) io.Reader { return r },
		"one byte": iotest.OneByteReader,
		"halves":   iotest.HalfReader,
	} {
		i := 0
		c := &binaryCopy{next: func(e []byte) ([]byte, bool, error) {
			if i == len(tuples) {
				return e, false, nil
			}
			i++
			return append(e, tuples[i-1]...), true, nil
		}}
		got, err := io.ReadAll(wrap(c))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s reads: %q, %v; want %q", name, got, err, want)
		}
	}
	boom := errors.New("row source failed")
	c := &binaryCopy{next: func(e []byte) ([]byte, bool, error) { return e, false, boom }}
	if _, err := io.ReadAll(c); !errors.Is(err, boom) {
		t.Errorf("error from the rows: %v, want %v", err, boom)
	}
}
