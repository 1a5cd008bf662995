package eventlog_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/polecam/polecam/training/eventlog"
)

func ev(ts, user, item, typ string, w float32) eventlog.Event {
	return eventlog.Event{Time: utc(ts), User: user, Item: item, Type: typ, Weight: w}
}

func jsonlOptions() eventlog.Options {
	o := eventlog.DefaultOptions()
	o.Format = "jsonl"
	return o
}

func retailrocketOptions() eventlog.Options {
	o := eventlog.DefaultOptions()
	o.Format = "retailrocket"
	return o
}

func accessOptions() eventlog.Options {
	o := eventlog.DefaultOptions()
	o.Format = "access-log"
	o.AccessLog.Patterns = []string{
		"/p/{item}",
		"view=/product/{item}/*",
		"add_to_cart=/cart/add?sku={item}",
		"purchase=POST /checkout/complete?sku={item}",
	}
	o.AccessLog.UserCookie = "sid"
	return o
}

// TestReadFormats reads a real-looking fixture of every format but CSV and
// TSV (TestRead), plain and compressed.
func TestReadFormats(t *testing.T) {
	tmp := t.TempDir()
	compressed := func(src string) (gz, zst string) {
		gz = filepath.Join(tmp, filepath.Base(src)+".gz")
		zst = filepath.Join(tmp, filepath.Base(src)+".zst")
		gzipFile(t, src, gz)
		zstdFile(t, src, zst)
		return gz, zst
	}

	jsonlEvents := []eventlog.Event{
		ev("2026-11-01T08:15:02Z", "u1842", "sku-0117", "view", 1),
		ev("2026-11-01T08:15:40Z", "u1842", "sku-0117", "add_to_cart", 4),
		ev("2026-11-01T08:21:13.25Z", "u1842", "sku-0117", "purchase", 10),
		ev("2026-11-01T09:02:11Z", "7", "2231", "view", 1),
	}
	jsonlCustom := jsonlOptions()
	jsonlCustom.Columns = eventlog.Columns{Timestamp: "ts", User: "visitor", Item: "sku", Event: "action"}

	retailEvents := []eventlog.Event{
		ev("2015-06-02T05:02:12.117Z", "257597", "355908", "view", 1),
		ev("2015-06-02T05:50:14.164Z", "992329", "248676", "view", 1),
		ev("2015-06-02T05:13:19.827Z", "111016", "318965", "view", 1),
		ev("2015-06-02T05:33:56.124Z", "992329", "248676", "addtocart", 4),
		ev("2015-06-02T06:05:11.39Z", "992329", "248676", "transaction", 10),
		ev("2015-06-02T05:17:56.276Z", "1150086", "102061", "view", 1),
	}
	retailSamples := []eventlog.BadLine{
		{File: "testdata/retailrocket-events.csv", Line: 7, Reason: `empty itemid`},
		{File: "testdata/retailrocket-events.csv", Line: 9, Reason: `unknown event "wishlist" (known: add_to_cart, addtocart, cart, purchase, transaction, view)`},
	}

	accessEvents := []eventlog.Event{
		ev("2026-11-01T08:15:02Z", "v-9f2c", "sku-0117", "view", 1),
		ev("2026-11-01T08:15:41Z", "v-9f2c", "sku-0117", "add_to_cart", 4),
		ev("2026-11-01T08:16:09Z", "v-77aa", "sku-0042", "view", 1),
		ev("2026-11-01T08:17:00Z", "alice", "sku/0099", "view", 1),
		ev("2026-11-01T08:17:30Z", "ip:192.0.2.11", "sku-0500", "view", 1),
		ev("2026-11-01T08:21:13Z", "v-9f2c", "sku-0117", "purchase", 10),
	}
	accessDropped := eventlog.Dropped{Status: 3, Bots: 2, NoItem: 1}
	cookieOnly := accessOptions()
	cookieOnly.AccessLog.UserFallback = nil

	jsonlGz, jsonlZst := compressed("testdata/events.jsonl")
	retailGz, _ := compressed("testdata/retailrocket-events.csv")
	_, accessZst := compressed("testdata/access.log")

	tests := []struct {
		name    string
		file    string
		opts    eventlog.Options
		want    []eventlog.Event
		samples []eventlog.BadLine
		dropped eventlog.Dropped
	}{
		{name: "jsonl", file: "testdata/events.jsonl", opts: jsonlOptions(), want: jsonlEvents},
		{name: "jsonl gzip", file: jsonlGz, opts: jsonlOptions(), want: jsonlEvents},
		{name: "jsonl zstd", file: jsonlZst, opts: jsonlOptions(), want: jsonlEvents},
		{name: "jsonl custom fields", file: "testdata/custom-fields.jsonl", opts: jsonlCustom, want: []eventlog.Event{
			ev("2026-11-01T12:00:00Z", "c-77", "A-100", "view", 1),
			ev("2026-11-01T12:01:30Z", "c-77", "A-100", "purchase", 10),
		}},
		{
			name: "jsonl bad lines", file: "testdata/bad-lines.jsonl", opts: jsonlOptions(),
			want: []eventlog.Event{
				ev("2026-11-01T08:15:02Z", "u1842", "sku-0117", "view", 1),
				ev("2026-11-01T08:15:09Z", "u0007", "sku-0124", "purchase", 10),
			},
			samples: []eventlog.BadLine{
				{File: "testdata/bad-lines.jsonl", Line: 2, Reason: "malformed JSON: unexpected end of JSON input at byte 89"},
				{File: "testdata/bad-lines.jsonl", Line: 3, Reason: "malformed JSON: not an object"},
				{File: "testdata/bad-lines.jsonl", Line: 4, Reason: "empty user_id"},
				{File: "testdata/bad-lines.jsonl", Line: 5, Reason: `no "item_id" field`},
				{File: "testdata/bad-lines.jsonl", Line: 6, Reason: `timestamp "yesterday" is not RFC 3339, "2006-01-02 15:04:05" or Unix seconds or milliseconds`},
				{File: "testdata/bad-lines.jsonl", Line: 7, Reason: `unknown event "wishlist" (known: add_to_cart, addtocart, cart, purchase, transaction, view)`},
				{File: "testdata/bad-lines.jsonl", Line: 8, Reason: `field "user_id" is "null", want a string or an integer`},
			},
		},
		{name: "retailrocket", file: "testdata/retailrocket-events.csv", opts: retailrocketOptions(), want: retailEvents, samples: retailSamples},
		{name: "retailrocket gzip", file: retailGz, opts: retailrocketOptions(), want: retailEvents, samples: []eventlog.BadLine{
			{File: retailGz, Line: 7, Reason: retailSamples[0].Reason}, {File: retailGz, Line: 9, Reason: retailSamples[1].Reason},
		}},
		{name: "access log", file: "testdata/access.log", opts: accessOptions(), want: accessEvents, dropped: accessDropped},
		{name: "access log zstd", file: accessZst, opts: accessOptions(), want: accessEvents, dropped: accessDropped},
		{
			name: "access log without fallback", file: "testdata/access.log", opts: cookieOnly,
			want:    []eventlog.Event{accessEvents[0], accessEvents[1], accessEvents[2], accessEvents[5]},
			dropped: eventlog.Dropped{Status: 3, Bots: 2, NoItem: 1, NoUser: 2},
		},
		{
			name: "access log bad lines", file: "testdata/access-bad.log", opts: accessOptions(),
			want: []eventlog.Event{
				ev("2026-11-01T08:15:02Z", "ip:203.0.113.7", "sku-0117", "view", 1),
				ev("2026-11-01T08:15:09Z", "ip:203.0.113.7", "sku-0122", "view", 1),
			},
			samples: []eventlog.BadLine{
				{File: "testdata/access-bad.log", Line: 2, Reason: "unterminated quote in field 9"},
				{File: "testdata/access-bad.log", Line: 3, Reason: `time "01/Nov/2026 09:15:04" is not like 10/Oct/2026:13:55:36 +0200`},
				{File: "testdata/access-bad.log", Line: 4, Reason: `status "OK" is not an HTTP status`},
				{File: "testdata/access-bad.log", Line: 5, Reason: "6 fields, want at least 9 as in the combined log format"},
				{File: "testdata/access-bad.log", Line: 6, Reason: `request "GET" is not METHOD TARGET PROTOCOL`},
				{File: "testdata/access-bad.log", Line: 7, Reason: `item "%zz" in "/p/%zz" is not a percent-encoded id`},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := tt.opts
			opts.MaxBadRatio = 1
			got, st, err := collect(t, []string{tt.file}, opts)
			if err != nil {
				t.Fatalf("Read(%s): %v", tt.file, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Read(%s) events (-want +got):\n%s", tt.file, diff)
			}
			want := wantStats([]string{tt.file}, tt.want, int64(len(tt.samples)), tt.samples)
			want.Dropped = tt.dropped
			want.Lines += tt.dropped.Total()
			if diff := cmp.Diff(want, st); diff != "" {
				t.Errorf("Read(%s) stats (-want +got):\n%s", tt.file, diff)
			}
		})
	}
}

func TestAccessLogOptionsValidate(t *testing.T) {
	tests := []struct {
		name     string
		patterns []string
		cookie   string
		fallback []string
		want     string // substring of the error; empty for valid
	}{
		{"path", []string{"/p/{item}"}, "", []string{"ip"}, ""},
		{"query anywhere", []string{"?sku={item}"}, "sid", nil, ""},
		{"event and method", []string{"add_to_cart=POST /cart/add?sku={item}&from=*"}, "", []string{"remote_user"}, ""},
		{"prefix and suffix", []string{"/item-{item}.html", "/c/*/p{item}"}, "", []string{"ip"}, ""},
		{"no patterns", nil, "", []string{"ip"}, "at least one item pattern"},
		{"no item", []string{"/p/*"}, "", []string{"ip"}, "0 {item} placeholders"},
		{"two items", []string{"/p/{item}?sku={item}"}, "", []string{"ip"}, "2 {item} placeholders"},
		{"two wildcards in a segment", []string{"/p/{item}-*"}, "", []string{"ip"}, "more than one wildcard"},
		{"other placeholder", []string{"/p/{sku}"}, "", []string{"ip"}, "a placeholder other than {item}"},
		{"relative path", []string{"p/{item}"}, "", []string{"ip"}, "must start with /"},
		{"lower-case method", []string{"get /p/{item}"}, "", []string{"ip"}, "upper-case HTTP method"},
		{"unknown event", []string{"wishlist=/w/{item}"}, "", []string{"ip"}, `event type "wishlist" has no weight`},
		{"bad fallback", []string{"/p/{item}"}, "", []string{"cookie"}, `user fallback "cookie"`},
		{"no user at all", []string{"/p/{item}"}, "", nil, "no request would have a user"},
		{"cookie with separator", []string{"/p/{item}"}, "sid;x", nil, "has a separator"},
	}
	for _, tt := range tests {
		o := eventlog.DefaultOptions()
		o.Format = "access-log"
		o.AccessLog.Patterns = tt.patterns
		o.AccessLog.UserCookie = tt.cookie
		o.AccessLog.UserFallback = tt.fallback
		err := o.Validate()
		if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%s: Validate() = %v, want %q", tt.name, err, tt.want)
		}
	}
}

// TestAccessLogPatterns checks which request matches which pattern through
// a one-line log per request.
func TestAccessLogPatterns(t *testing.T) {
	tests := []struct {
		pattern, request string
		want             string // the item; empty for no match
	}{
		{"/p/{item}", "GET /p/sku-1 HTTP/1.1", "sku-1"},
		{"/p/{item}", "GET /p/sku-1?ref=home HTTP/1.1", "sku-1"},
		{"/p/{item}", "GET /p/sku-1/ HTTP/1.1", ""},
		{"/p/{item}", "GET /p/ HTTP/1.1", ""},
		{"/p/{item}", "GET /p HTTP/1.1", ""},
		{"/p/{item}", "GET /q/sku-1 HTTP/1.1", ""},
		{"/p/{item}", "GET https://shop.example/p/sku-1 HTTP/1.1", "sku-1"},
		{"/p/{item}", "GET /p/caf%C3%A9 HTTP/1.1", "café"},
		{"/item-{item}.html", "GET /item-42.html HTTP/1.1", "42"},
		{"/item-{item}.html", "GET /item-.html HTTP/1.1", ""},
		{"/c/*/p{item}", "GET /c/shoes/p77 HTTP/1.1", "77"},
		{"/c/*/p{item}", "GET /c/p77 HTTP/1.1", ""},
		{"?sku={item}", "GET /anything/at/all?a=1&sku=X%2B1 HTTP/1.1", "X+1"},
		{"?sku={item}", "GET /search?q=red+shoe&sku=a+b HTTP/1.1", "a b"},
		{"?sku={item}", "GET /search?skus=1 HTTP/1.1", ""},
		{"/cart/add?sku={item}&src=*", "GET /cart/add?src=pdp&sku=9 HTTP/1.1", "9"},
		{"/cart/add?sku={item}&src=*", "GET /cart/add?sku=9 HTTP/1.1", ""},
		{"POST /cart/add?sku={item}", "GET /cart/add?sku=9 HTTP/1.1", ""},
		{"POST /cart/add?sku={item}", "POST /cart/add?sku=9 HTTP/1.1", "9"},
	}
	for _, tt := range tests {
		o := eventlog.DefaultOptions()
		o.Format = "access-log"
		o.AccessLog.Patterns = []string{tt.pattern}
		o.AccessLog.UserFallback = []string{"ip"}
		line := `192.0.2.1 - - [01/Nov/2026:09:15:02 +0000] "` + tt.request + `" 200 10 "-" "Mozilla/5.0"` + "\n"
		path := filepath.Join(t.TempDir(), "access.log")
		if err := os.WriteFile(path, []byte(line), 0o644); err != nil {
			t.Fatal(err)
		}
		got, st, err := collect(t, []string{path}, o)
		if err != nil {
			t.Fatalf("pattern %q, request %q: %v", tt.pattern, tt.request, err)
		}
		item := ""
		if len(got) == 1 {
			item = got[0].Item
		} else if st.Dropped.NoItem != 1 {
			t.Errorf("pattern %q, request %q: no event and %d unmatched, want 1", tt.pattern, tt.request, st.Dropped.NoItem)
		}
		if item != tt.want {
			t.Errorf("pattern %q, request %q: item %q, want %q", tt.pattern, tt.request, item, tt.want)
		}
	}
}
