package eventlog

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// readJSONLines reads one JSON object a line, the four fields named by
// Options.Columns; other fields are ignored.
func (r *reader) readJSONLines(ctx context.Context, name string, br *bufio.Reader) error {
	s := &r.stats
	c := &r.opts.Columns
	want := []string{c.Timestamp, c.User, c.Item, c.Event}
	var vals [4]string
	return r.eachLine(ctx, name, br, func(b []byte, line int, long bool) error {
		if line == 1 {
			b = bytes.TrimPrefix(b, []byte("\ufeff"))
		}
		if !long && len(bytes.TrimSpace(b)) == 0 {
			return nil
		}
		s.Lines++
		if long {
			r.bad(name, line, fmt.Sprintf("line longer than %d bytes", maxLine))
			return nil
		}
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(b, &obj); err != nil {
			r.bad(name, line, "malformed JSON: "+jsonReason(err))
			return nil
		}
		reason := ""
		for k, field := range want {
			v, why := jsonField(obj, field)
			if why != "" {
				reason = why
				break
			}
			vals[k] = v
		}
		if reason != "" {
			r.bad(name, line, reason)
			return nil
		}
		ts, user, item, typ := vals[0], vals[1], vals[2], vals[3]
		t, ok := parseTime(ts)
		if !ok {
			r.bad(name, line, fmt.Sprintf("%s %s is not RFC 3339, \"2006-01-02 15:04:05\" or Unix seconds or milliseconds", c.Timestamp, quote(ts)))
			return nil
		}
		w, ok := r.weight(typ)
		if !ok {
			r.bad(name, line, fmt.Sprintf("unknown %s %s (known: %s)", c.Event, quote(typ), r.known))
			return nil
		}
		if err := r.emit(name, line, Event{Time: t, User: user, Item: item, Type: typ, Weight: w}); err != nil {
			return err
		}
		return nil
	})
}

// jsonField returns a field of obj as text: a string without its quotes, or
// an integer as written. It returns a reason instead when the field is
// missing, empty or of another type. Field names are matched exactly first,
// then without case.
func jsonField(obj map[string]json.RawMessage, field string) (string, string) {
	raw, ok := obj[field]
	if !ok {
		for k, v := range obj {
			if strings.EqualFold(k, field) {
				raw, ok = v, true
				break
			}
		}
	}
	if !ok {
		return "", "no " + strconv.Quote(field) + " field"
	}
	raw = bytes.TrimSpace(raw)
	var v string
	switch {
	case len(raw) > 0 && raw[0] == '"':
		if err := json.Unmarshal(raw, &v); err != nil {
			return "", fmt.Sprintf("field %q: %v", field, err)
		}
		v = strings.TrimSpace(v)
	case len(raw) > 0 && (raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9'):
		v = string(raw)
		if _, err := strconv.ParseInt(v, 10, 64); err != nil {
			return "", fmt.Sprintf("field %q is %s, want a string or an integer", field, quote(v))
		}
	default:
		return "", fmt.Sprintf("field %q is %s, want a string or an integer", field, quote(string(raw)))
	}
	if v == "" {
		return "", "empty " + field
	}
	return v, ""
}

// jsonReason shortens a JSON syntax error for a bad-line sample.
func jsonReason(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("%v at byte %d", se, se.Offset)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return "not an object"
	}
	return err.Error()
}
