package cli

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/polecam/polecam/store"
	"github.com/polecam/polecam/training/synth"
)

func TestGenWritesCatalogue(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		catalog string // relative to the temporary directory; "" for none
	}{
		{"beside the log", nil, "shop.catalog.csv"},
		{"named", []string{"--catalog-out", "CAT"}, "items.csv"},
		{"none", []string{"--catalog-out", "none"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tmp := t.TempDir()
			args := []string{"gen", "--out", filepath.Join(tmp, "shop.csv.gz"), "--users", "30", "--items", "20", "--events", "300"}
			for _, a := range tc.args {
				args = append(args, strings.ReplaceAll(a, "CAT", filepath.Join(tmp, "items.csv")))
			}
			out := run(t, args...)
			entries, err := os.ReadDir(tmp)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, e := range entries {
				names = append(names, e.Name())
			}
			want := 1
			if tc.catalog != "" {
				want = 2
				data, err := os.ReadFile(filepath.Join(tmp, tc.catalog))
				if err != nil {
					t.Fatalf("gen wrote %v, want %s: %v", names, tc.catalog, err)
				}
				if lines := strings.Split(strings.TrimSpace(string(data)), "\n"); lines[0] != synth.CatalogHeader || len(lines) != 21 {
					t.Errorf("catalogue starts %q and has %d lines, want the header and 20 items", lines[0], len(lines))
				}
				if !strings.Contains(out, tc.catalog) {
					t.Errorf("gen output %q does not name %s", out, tc.catalog)
				}
			}
			if len(names) != want {
				t.Errorf("gen wrote %v, want %d files", names, want)
			}
		})
	}
}

// TestQuickstartTrainsWithCatalogue: the quick start's snapshot serves
// filters: it holds the catalogue index with hierarchical categories, a
// numeric price and out-of-stock items.
func TestQuickstartTrainsWithCatalogue(t *testing.T) {
	dataDir := t.TempDir()
	gen := synth.DefaultOptions()
	gen.Users, gen.Items, gen.Events = 300, 200, 6000
	if err := trainSample(context.Background(), dataDir, gen, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		t.Fatalf("trainSample: %v", err)
	}
	dir, err := store.OpenDir(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	v, err := dir.Published()
	if err != nil {
		t.Fatal(err)
	}
	s, err := dir.Open(v, store.DefaultOpenOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c, ok := s.Catalog()
	if !ok {
		t.Fatal("the quick start's snapshot has no catalogue index")
	}
	parents := 0
	for cat := range int32(c.NumCategories()) {
		if c.Parent(cat) == -1 {
			parents++
			if len(c.CategoryRows(cat)) == 0 {
				t.Errorf("department %q has no rows", c.CategoryName(cat))
			}
		}
	}
	if parents == 0 || parents == c.NumCategories() {
		t.Errorf("%d top-level categories of %d, want departments with sub-categories", parents, c.NumCategories())
	}
	if len(c.Unavailable()) == 0 {
		t.Error("no item out of stock")
	}
	if a, ok := c.Attribute("price"); !ok || !a.Numeric() {
		t.Error("no numeric price attribute")
	}
	if _, ok := c.Attribute("brand"); !ok {
		t.Error("no brand attribute")
	}
}
