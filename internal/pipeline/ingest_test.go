package pipeline

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/polecam/polecam/store"
	"github.com/polecam/polecam/training"
	"github.com/polecam/polecam/training/catalog"
)

// writeLog writes a CSV event log of lines "OFFSET,user,item,event", the
// offset in seconds after 2026-11-01T00:00:00Z.
func writeLog(t *testing.T, lines ...string) string {
	t.Helper()
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	var b strings.Builder
	b.WriteString("timestamp,user_id,item_id,event\n")
	for _, l := range lines {
		off, rest, _ := strings.Cut(l, ",")
		var sec int64
		fmt.Sscan(off, &sec)
		fmt.Fprintf(&b, "%s,%s\n", t0.Add(time.Duration(sec)*time.Second).Format(time.RFC3339), rest)
	}
	path := filepath.Join(t.TempDir(), "events.csv")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// weights returns the matrix as user/item -> weight.
func weights(x *training.Interactions) map[string]float64 {
	m := map[string]float64{}
	for u := range x.NumUsers() {
		items, ws := x.UserRow(int32(u))
		for k, i := range items {
			m[x.Users[u]+"/"+x.Items[i]] = float64(ws[k])
		}
	}
	return m
}

func TestIngest(t *testing.T) {
	const day = 86400
	log := writeLog(t,
		"0,u1,a,view",
		"10,u1,a,view", // 10 s after the last: a duplicate with a 30 s window
		"25,u1,a,view", // 15 s after the last seen, counted or not
		"60,u1,a,view",
		"61,u1,a,add_to_cart", // another type
		fmt.Sprintf("%d,u1,b,purchase", day),
		fmt.Sprintf("%d,u2,a,view", day),
	)
	half := func(age float64, h float64) float64 { return math.Pow(0.5, age/h) }
	tests := []struct {
		name       string
		in         IngestOptions
		want       map[string]float64
		duplicates int64
	}{
		{
			name: "none",
			want: map[string]float64{"u1/a": 8, "u1/b": 10, "u2/a": 1},
		},
		{
			name:       "dedup",
			in:         IngestOptions{DedupWindow: 30 * time.Second},
			want:       map[string]float64{"u1/a": 6, "u1/b": 10, "u2/a": 1},
			duplicates: 2,
		},
		{
			name: "decay",
			in:   IngestOptions{HalfLife: 24 * time.Hour},
			want: map[string]float64{
				"u1/a": half(day, day) + half(day-10, day) + half(day-25, day) + half(day-60, day) + 4*half(day-61, day),
				"u1/b": 10, "u2/a": 1,
			},
		},
		{
			// A half-life of a second over a day moves the reference
			// time: the old events underflow to nothing.
			name: "decay beyond float32",
			in:   IngestOptions{HalfLife: time.Second},
			want: map[string]float64{"u1/b": 10, "u2/a": 1},
		},
		{
			name: "minimum support",
			in:   IngestOptions{MinUserItems: 2},
			want: map[string]float64{"u1/a": 8, "u1/b": 10},
		},
		{
			name: "both items need two users",
			in:   IngestOptions{MinItemUsers: 2},
			want: map[string]float64{"u1/a": 8, "u2/a": 1},
		},
	}
	for _, tt := range tests {
		o := options(t, t.TempDir(), log)
		o.Ingest = tt.in
		x, st, err := ingest(context.Background(), o, nil, nil)
		if err != nil {
			t.Fatalf("%s: ingest: %v", tt.name, err)
		}
		if err := x.Validate(); err != nil {
			t.Errorf("%s: invalid matrix: %v", tt.name, err)
		}
		got := weights(x)
		if diff := cmp.Diff(tt.want, got, cmp.Comparer(func(a, b float64) bool { return math.Abs(a-b) <= 1e-5*math.Max(1, math.Abs(a)) })); diff != "" {
			t.Errorf("%s: weights (-want +got):\n%s", tt.name, diff)
		}
		if st.Duplicates != tt.duplicates || st.Log.Events != 7 {
			t.Errorf("%s: %d duplicates of %d events, want %d of 7", tt.name, st.Duplicates, st.Log.Events, tt.duplicates)
		}
	}
}

func TestIngestOptionsValidate(t *testing.T) {
	for _, o := range []IngestOptions{{HalfLife: -1}, {DedupWindow: -time.Second}, {MinUserItems: -1}, {MinItemUsers: -2}} {
		if err := o.Validate(); err == nil {
			t.Errorf("%+v: Validate() = nil, want an error", o)
		}
	}
	if err := (IngestOptions{HalfLife: time.Hour, DedupWindow: time.Second, MinUserItems: 2, MinItemUsers: 3}).Validate(); err != nil {
		t.Errorf("Validate() = %v", err)
	}
}

// TestTrainCatalogAndSummary trains with a catalogue and checks that the
// snapshot stores it, the manifest records the ingest options and the
// summary adds up.
func TestTrainCatalogAndSummary(t *testing.T) {
	logFile := sampleLog(t)
	f, err := os.Open(logFile)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(f)
	ids := map[string]bool{}
	var cat strings.Builder
	cat.WriteString("item_id,category,in_stock,brand\n")
	for sc.Scan() && len(ids) < 5 {
		fields := strings.Split(sc.Text(), ",")
		if id := fields[2]; id != "item_id" && !ids[id] {
			ids[id] = true
			fmt.Fprintf(&cat, "%s,cat-%d,true,Acme\n", id, len(ids))
		}
	}
	f.Close()
	cat.WriteString("not-in-the-log,other,false,\n")
	catFile := filepath.Join(t.TempDir(), "catalog.csv")
	if err := os.WriteFile(catFile, []byte(cat.String()), 0o644); err != nil {
		t.Fatal(err)
	}

	dataDir := t.TempDir()
	o := options(t, dataDir, logFile)
	o.Catalog = catFile
	o.Ingest = IngestOptions{DedupWindow: time.Minute, MinUserItems: 2}
	var sum Summary
	o.Summary = func(s Summary) { sum = s }
	m, err := Train(context.Background(), o)
	if err != nil {
		t.Fatalf("Train: %v", err)
	}
	if !strings.Contains(string(m.Params), `"ingest":{"dedup_window":"1m0s","min_user_items":2,"format":"auto"}`) {
		t.Errorf("manifest params %s, want the ingest options", m.Params)
	}
	if sum.Version != m.Version || sum.Events != 8000 || sum.Lines != 8000 || sum.Users != int(m.Counts.Users) ||
		sum.Items != int(m.Counts.Items) || len(sum.Stages) != 5 {
		t.Errorf("summary %+v does not match manifest counts %+v", sum, m.Counts)
	}
	if sum.Catalog == nil || sum.Catalog.Items != 6 || sum.Catalog.InModel != 5 || sum.Catalog.Missing != int64(sum.Items-5) {
		t.Errorf("summary catalogue %+v, want 6 items, 5 in the model", sum.Catalog)
	}

	dir, err := store.OpenDir(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := dir.Open(m.Version, store.DefaultOpenOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close()
	data, ok := snap.File(catalog.FileName)
	if !ok {
		t.Fatalf("snapshot %s has no %s", m.Version, catalog.FileName)
	}
	var got []catalog.Item
	if err := catalog.Decode(bytes.NewReader(data), func(it catalog.Item) error { got = append(got, it); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 6 || got[5].ID != "not-in-the-log" || got[0].Attrs["brand"] != "Acme" || got[0].Category != "cat-1" {
		t.Errorf("stored catalogue %+v, want the 6 rows of %s", got, catFile)
	}
}
