package eventlog

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
)

// maxLine is the longest line the line-oriented formats accept; a longer
// line is a bad line, skipped without being held in memory.
const maxLine = 1 << 20

// lineReader reads lines without their line ending (\n or \r\n), counting
// them from 1.
type lineReader struct {
	br   *bufio.Reader
	buf  []byte
	line int
}

// next returns the next line and its number. The slice is valid until the
// next call. long reports a line longer than maxLine, of which nothing is
// returned. At the end of the input err is io.EOF.
func (lr *lineReader) next() (b []byte, n int, long bool, err error) {
	lr.buf = lr.buf[:0]
	for {
		chunk, err := lr.br.ReadSlice('\n')
		if !long {
			if len(lr.buf)+len(chunk) > maxLine+2 {
				long = true
				lr.buf = lr.buf[:0]
			} else if errors.Is(err, bufio.ErrBufferFull) || len(lr.buf) > 0 {
				lr.buf = append(lr.buf, chunk...)
				chunk = lr.buf
			}
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err != nil && err != io.EOF {
			return nil, 0, false, err
		}
		if err == io.EOF && len(chunk) == 0 && !long && len(lr.buf) == 0 {
			return nil, 0, false, io.EOF
		}
		lr.line++
		if long {
			return nil, lr.line, true, nil
		}
		chunk = bytes.TrimSuffix(chunk, []byte{'\n'})
		chunk = bytes.TrimSuffix(chunk, []byte{'\r'})
		if len(chunk) > maxLine {
			return nil, lr.line, true, nil
		}
		return chunk, lr.line, false, nil
	}
}

// eachLine calls fn with every line of br: its bytes (valid only during the
// call), its number, and whether it was longer than maxLine (then b holds
// nothing). It checks ctx and reports progress as it goes, and stops at the
// end of the input (returning nil) or at fn's first error.
func (r *reader) eachLine(ctx context.Context, name string, br *bufio.Reader, fn func(b []byte, line int, long bool) error) error {
	lr := lineReader{br: br}
	for {
		if err := r.tick(ctx, lr.line); err != nil {
			return err
		}
		b, line, long, err := lr.next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("read %s: %w", name, err)
		}
		if err := fn(b, line, long); err != nil {
			return err
		}
	}
}
