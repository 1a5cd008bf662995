package catalog_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/klauspost/compress/gzip"

	"github.com/polecam/polecam/training/catalog"
	"github.com/polecam/polecam/training/eventlog"
)

func readAll(t testing.TB, name string, data []byte, opts catalog.Options) ([]catalog.Item, catalog.Stats, error) {
	t.Helper()
	var got []catalog.Item
	st, err := catalog.ReadStream(context.Background(), name, bytes.NewReader(data), opts, func(it catalog.Item) error {
		got = append(got, it)
		return nil
	})
	if st.Items != int64(len(got)) || st.Items+st.Bad != st.Lines {
		t.Errorf("Stats %+v with %d items handed out", st, len(got))
	}
	return got, st, err
}

var want = []catalog.Item{
	{ID: "sku-0117", Category: "shoes/running", Attrs: map[string]string{"in_stock": "true", "brand": "Acme", "price": "59.90"}},
	{ID: "sku-0042", Category: "shoes/trail", Attrs: map[string]string{"in_stock": "false", "brand": "Trailco", "price": "89.00"}},
	{ID: "sku-2231", Category: "bags", Attrs: map[string]string{"in_stock": "true", "brand": "Acme, Ltd."}},
	{ID: "sku-0500", Attrs: map[string]string{"in_stock": "true", "price": "12.50"}},
}

func TestRead(t *testing.T) {
	data, err := os.ReadFile("testdata/catalog.csv")
	if err != nil {
		t.Fatal(err)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(data)
	zw.Close()
	for name, in := range map[string][]byte{"plain": data, "gzip": gz.Bytes()} {
		got, st, err := readAll(t, "catalog.csv", in, catalog.DefaultOptions())
		if err != nil {
			t.Fatalf("%s: Read: %v", name, err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s: Read items (-want +got):\n%s", name, diff)
		}
		if diff := cmp.Diff([]string{"in_stock", "brand", "price"}, st.Attributes); diff != "" {
			t.Errorf("%s: Read attributes (-want +got):\n%s", name, diff)
		}
	}
}

func TestReadBadRows(t *testing.T) {
	data, err := os.ReadFile("testdata/catalog-bad-rows.csv")
	if err != nil {
		t.Fatal(err)
	}
	opts := catalog.DefaultOptions()
	opts.MaxBadRatio = 1
	got, st, err := readAll(t, "c.csv", data, opts)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]catalog.Item{{ID: "sku-1", Category: "shoes", Attrs: map[string]string{"in_stock": "true"}}}, got); diff != "" {
		t.Errorf("Read items (-want +got):\n%s", diff)
	}
	wantSamples := []eventlog.BadLine{
		{File: "c.csv", Line: 3, Reason: "empty item_id"},
		{File: "c.csv", Line: 4, Reason: "2 fields, want 3 as in the header"},
		{File: "c.csv", Line: 5, Reason: `item "sku-1" already at line 2`},
		{File: "c.csv", Line: 6, Reason: `malformed CSV: extraneous or missing " in quoted-field`},
	}
	if diff := cmp.Diff(wantSamples, st.Samples); diff != "" {
		t.Errorf("Read samples (-want +got):\n%s", diff)
	}
	if _, _, err := readAll(t, "c.csv", data, catalog.DefaultOptions()); !errors.Is(err, catalog.ErrTooManyBadLines) {
		t.Errorf("Read with the default limit: %v, want ErrTooManyBadLines", err)
	}
}

func TestReadErrors(t *testing.T) {
	tests := []struct {
		name, data, want string
	}{
		{"empty", "", "no header line"},
		{"no id column", "sku,category\n1,a\n", `header needs "item_id" and "category" columns`},
		{"semicolons", "Category;Item_ID;colour\nshoes;sku-1;red\n", `header needs "item_id" and "category"`},
		{"unnamed column", "item_id,category,\n1,a,b\n", "column 3 has no name"},
		{"two columns", "item_id,category,brand,Brand\n1,a,b,c\n", `two "Brand" columns`},
	}
	for _, tt := range tests {
		_, _, err := readAll(t, "c.csv", []byte(tt.data), catalog.DefaultOptions())
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Read = %v, want %q", tt.name, err, tt.want)
		}
	}
}

func TestWriteDecode(t *testing.T) {
	var buf bytes.Buffer
	w := catalog.NewWriter(&buf)
	for _, it := range want {
		if err := w.Write(it); err != nil {
			t.Fatal(err)
		}
	}
	first, _, _ := strings.Cut(buf.String(), "\n")
	if wantLine := `{"item_id":"sku-0117","category":"shoes/running","attrs":{"brand":"Acme","in_stock":"true","price":"59.90"}}`; first != wantLine {
		t.Errorf("first stored line %s, want %s", first, wantLine)
	}
	var got []catalog.Item
	if err := catalog.Decode(&buf, func(it catalog.Item) error { got = append(got, it); return nil }); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Decode(Write(items)) (-want +got):\n%s", diff)
	}
}

func FuzzRead(f *testing.F) {
	for _, name := range []string{"testdata/catalog.csv", "testdata/catalog-bad-rows.csv"} {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	opts := catalog.DefaultOptions()
	opts.MaxBadRatio = 1
	f.Fuzz(func(t *testing.T, data []byte) {
		var buf bytes.Buffer
		w := catalog.NewWriter(&buf)
		ids := map[string]bool{}
		st, err := catalog.ReadStream(context.Background(), "c.csv", bytes.NewReader(data), opts, func(it catalog.Item) error {
			if it.ID == "" || ids[it.ID] {
				t.Errorf("item %+v: empty or repeated id", it)
			}
			ids[it.ID] = true
			return w.Write(it)
		})
		if err != nil {
			return
		}
		if st.Items+st.Bad != st.Lines || int64(len(ids)) != st.Items {
			t.Fatalf("inconsistent stats %+v for %d items", st, len(ids))
		}
		n := 0
		if err := catalog.Decode(&buf, func(catalog.Item) error { n++; return nil }); err != nil || n != len(ids) {
			t.Fatalf("Decode = %d items, %v; want %d", n, err, len(ids))
		}
	})
}

// TestReadLongID checks that an item id over eventlog.MaxIDLen is a
// counted bad row, reported without the id.
func TestReadLongID(t *testing.T) {
	long := strings.Repeat("x", 100_000)
	data := []byte("item_id,category\n" + long + ",shoes\nsku-1,bags\n")
	opts := catalog.DefaultOptions()
	opts.MaxBadRatio = 1
	got, st, err := readAll(t, "c.csv", data, opts)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]catalog.Item{{ID: "sku-1", Category: "bags"}}, got); diff != "" {
		t.Errorf("Read items (-want +got):\n%s", diff)
	}
	wantSamples := []eventlog.BadLine{{File: "c.csv", Line: 2, Reason: "item_id of 100000 bytes is longer than the limit of 1024"}}
	if diff := cmp.Diff(wantSamples, st.Samples); diff != "" {
		t.Errorf("Read samples (-want +got):\n%s", diff)
	}
}
