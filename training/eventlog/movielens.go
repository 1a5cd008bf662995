package eventlog

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math"
	"strconv"
)

// MovieLensType is the event type of every MovieLens rating.
const MovieLensType = "rating"

// readMovieLens reads the MovieLens u.data format: no header, one rating a
// line as user, item, rating and Unix timestamp separated by tabs (u.data of
// ML-100K) or by "::" (ratings.dat of ML-1M and ML-10M).
func (r *reader) readMovieLens(ctx context.Context, name string, br *bufio.Reader) error {
	s := &r.stats
	var fields [][]byte
	return r.eachLine(ctx, name, br, func(b []byte, line int, long bool) error {
		if long {
			s.Lines++
			r.bad(name, line, fmt.Sprintf("line longer than %d bytes", maxLine))
			return nil
		}
		if len(bytes.TrimSpace(b)) == 0 {
			return nil
		}
		s.Lines++
		sep := []byte{'\t'}
		if bytes.IndexByte(b, '\t') < 0 && bytes.Contains(b, []byte("::")) {
			sep = []byte("::")
		}
		fields = splitInto(fields[:0], b, sep)
		if len(fields) != 4 {
			r.bad(name, line, fmt.Sprintf("%d fields, want 4: user, item, rating, timestamp", len(fields)))
			return nil
		}
		user := string(bytes.TrimSpace(fields[0]))
		item := string(bytes.TrimSpace(fields[1]))
		rs := string(bytes.TrimSpace(fields[2]))
		ts := string(bytes.TrimSpace(fields[3]))
		switch {
		case user == "":
			r.bad(name, line, "empty user")
			return nil
		case item == "":
			r.bad(name, line, "empty item")
			return nil
		}
		rating, err := strconv.ParseFloat(rs, 32)
		if err != nil || math.IsNaN(rating) || math.IsInf(rating, 0) {
			r.bad(name, line, fmt.Sprintf("rating %s is not a number", quote(rs)))
			return nil
		}
		w := float32(1)
		if r.opts.RatingWeights {
			if rating <= 0 {
				r.bad(name, line, fmt.Sprintf("rating %s is not positive, so it cannot be a weight", quote(rs)))
				return nil
			}
			w = float32(rating)
		}
		if !isDigits(ts) {
			r.bad(name, line, fmt.Sprintf("timestamp %s is not Unix seconds", quote(ts)))
			return nil
		}
		t, ok := parseTime(ts)
		if !ok {
			r.bad(name, line, fmt.Sprintf("timestamp %s is not Unix seconds", quote(ts)))
			return nil
		}
		if err := r.emit(name, line, Event{Time: t, User: user, Item: item, Type: MovieLensType, Weight: w}); err != nil {
			return err
		}
		return nil
	})
}

// splitInto appends the sep-separated fields of b to dst.
func splitInto(dst [][]byte, b, sep []byte) [][]byte {
	for {
		k := bytes.Index(b, sep)
		if k < 0 {
			return append(dst, b)
		}
		dst = append(dst, b[:k])
		b = b[k+len(sep):]
	}
}
