package recommender

import (
	"bytes"
	"slices"
	"testing"
)

// TestCategoryBlocksSubtree checks that every category's rows and its
// sub-categories' are one range of positions, whatever the names look
// like around the separator, and that the blocks hold each row's int8
// row and scale.
func TestCategoryBlocksSubtree(t *testing.T) {
	names := []string{"a", "a/b", "a-b", "ab", "a/b/c", "b/c", "a/bc", "", "b", "a/b-c"}
	var items []fakeItem
	for i := range 60 {
		items = append(items, fakeItem{category: names[i%len(names)]})
	}
	cat := newFakeCatalog(items)
	d := clusteredData(len(items), 8)
	i8 := mustInt8(t, d)
	cold := func(r int32) bool { return r == 5 } // "b/c": left out
	cb := newCategoryBlocks(cat, i8, len(items), cold)
	if cb == nil {
		t.Fatal("no blocks")
	}
	for r := range cb.idx {
		row := cb.idx[r]
		w := cb.width
		if !slices.Equal(cb.rows[r*w:(r+1)*w], i8.rows[int(row)*w:int(row+1)*w]) || cb.scales[r] != i8.scales[row] {
			t.Fatalf("position %d does not hold row %d's int8 row", r, row)
		}
	}
	for _, c := range append(names, "a/", "z", "a/b/c/d") {
		var want []int32
		for r, it := range items {
			if c != "" && it.category != "" && !cold(int32(r)) && under(it.category, c) {
				want = append(want, int32(r))
			}
		}
		var got []int32
		if c != "" {
			rg := cb.subtree(c)
			got = slices.Clone(cb.idx[rg.lo:rg.hi])
			slices.Sort(got)
		}
		if !slices.Equal(got, want) {
			t.Errorf("subtree(%q) = rows %v, want %v", c, got, want)
		}
	}
	rs, total := mergeRanges([]posRange{{5, 9}, {0, 2}, {8, 12}, {3, 3}, {2, 4}})
	if want := []posRange{{0, 4}, {5, 12}}; !slices.Equal(rs, want) || total != 11 {
		t.Errorf("mergeRanges = %v, %d; want %v, 11", rs, total, want)
	}
}

// mustInt8 quantises d's item vectors as the int8 items file holds them.
func mustInt8(t *testing.T, d *modelData) *int8Items {
	t.Helper()
	var b bytes.Buffer
	if err := WriteInt8Items(&b, packMatrix(d.itemVecs, d.dims())); err != nil {
		t.Fatal(err)
	}
	i8, err := parseInt8Items(b.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	return i8
}
