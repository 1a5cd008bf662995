package eventlog

import (
	"bufio"
	"bytes"
	"fmt"
	"io"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

var (
	gzipMagic = []byte{0x1f, 0x8b}
	zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}
)

// decompress returns a buffered reader of src's text, unwrapping gzip or
// zstd when src starts with their magic bytes, and a function that releases
// the decompressor.
func decompress(name string, src io.Reader) (*bufio.Reader, func(), error) {
	br := bufio.NewReaderSize(src, bufSize)
	magic, _ := br.Peek(len(zstdMagic))
	switch {
	case bytes.HasPrefix(magic, gzipMagic):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, nil, fmt.Errorf("read %s: gzip: %w", name, err)
		}
		return bufio.NewReaderSize(zr, bufSize), func() { zr.Close() }, nil
	case bytes.Equal(magic, zstdMagic):
		// One decoder goroutine and a bounded window: the log is read
		// line by line, so more concurrency buys little and costs memory.
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(1<<27))
		if err != nil {
			return nil, nil, fmt.Errorf("read %s: zstd: %w", name, err)
		}
		return bufio.NewReaderSize(zr, bufSize), zr.Close, nil
	}
	return br, func() {}, nil
}

// trimCompression removes a compression suffix from a lower-case file name.
func trimCompression(name string) string {
	for _, ext := range []string{".gz", ".zst", ".zstd"} {
		if n, ok := bytes.CutSuffix([]byte(name), []byte(ext)); ok {
			return string(n)
		}
	}
	return name
}

// Decompress returns the text of src, unwrapping gzip or zstd when src
// starts with their magic bytes, and a function that releases the
// decompressor. name is used in errors.
func Decompress(name string, src io.Reader) (io.Reader, func(), error) {
	return decompress(name, src)
}
