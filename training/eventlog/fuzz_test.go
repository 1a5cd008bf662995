package eventlog_test

import (
	"os"
	"strings"
	"testing"

	"github.com/polecam/polecam/training/eventlog"
)

// addFiles seeds a fuzz target with fixtures.
func addFiles(f *testing.F, names ...string) {
	for _, name := range names {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
}

func FuzzJSONLines(f *testing.F) {
	addFiles(f, "testdata/events.jsonl", "testdata/bad-lines.jsonl", "testdata/custom-fields.jsonl")
	f.Add([]byte(`{"timestamp":1e3,"user_id":"u","item_id":"i","event":"view"}` + "\n" + `{"timestamp":"1","user_id":"\u0000","item_id":" ","event":"VIEW"}`))
	f.Add([]byte("\ufeff{}\n{\"a\":[}\n"))
	opts := jsonlOptions()
	f.Fuzz(func(t *testing.T, data []byte) {
		checkStream(t, "events.jsonl", data, opts, func(e eventlog.Event) {
			w, ok := opts.Weights[e.Type]
			if !ok {
				w, ok = opts.Weights[strings.ToLower(e.Type)]
			}
			if !ok || w != e.Weight {
				t.Errorf("event %+v has a weight not in the options", e)
			}
		})
	})
}

func FuzzRetailrocket(f *testing.F) {
	addFiles(f, "testdata/retailrocket-events.csv")
	f.Add([]byte("timestamp,visitorid,event,itemid,transactionid\n1433221332117,1,view,2\n"))
	f.Add([]byte("timestamp,visitorid,event,itemid\n\"1433221332117\",\"1\",\"view\",\"2\"\n"))
	opts := retailrocketOptions()
	f.Fuzz(func(t *testing.T, data []byte) {
		checkStream(t, "events.csv", data, opts, func(e eventlog.Event) {})
	})
}

func FuzzAccessLog(f *testing.F) {
	addFiles(f, "testdata/access.log", "testdata/access-bad.log")
	f.Add([]byte(`1.2.3.4 - - [01/Nov/2026:09:15:02 +0000] "GET /p/a%2 HTTP/1.1" 200 1 "-" "x" "sid=;sid=v"` + "\n"))
	f.Add([]byte(`- - - [] "" 200 - "" "" ""` + "\n" + `x - - [01/Nov/2026:09:15:02 +0000] "POST http://h?sku=1 HTTP/1.0" 204 0 "\"" "a\\"` + "\n"))
	opts := accessOptions()
	f.Fuzz(func(t *testing.T, data []byte) {
		checkStream(t, "access.log", data, opts, func(e eventlog.Event) {
			if w, ok := opts.Weights[e.Type]; !ok || w != e.Weight {
				t.Errorf("event %+v has a type or weight not in the options", e)
			}
		})
	})
}
