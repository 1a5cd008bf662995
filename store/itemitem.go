package store

import (
	"encoding/binary"
	"fmt"
	"math"
	"path/filepath"
)

// ItemItemRowsFile is the list file of a sparse item-to-item model
// (Builder.PutItemItemRow), in the format of neighbors.csr (item,
// float32) with one list per item: row i holds the weights w(i, j) of
// some items j, ascending by j. Package recommender serves it like a
// dense item-item matrix: a user's item-item score for j is the sum of
// w(i, j) over the items i of the user's history.
const ItemItemRowsFile = "itemitem.csr"

// PutItemItemRow records row item of a sparse item-to-item model: the
// weight w(item, j) = Score of each entry's Item j, entries strictly
// ascending by Item. Weights may be any finite number, negative ones
// included (an approximate EASE has them); NaN and ±Inf are refused. An
// item never put has an empty row. The rows are written to itemitem.csr
// at Commit when at least one was put; call it after SetItems.
func (b *Builder) PutItemItemRow(item int32, row []Neighbor) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.putItemItemRow(item, row); err != nil {
		return fmt.Errorf("put item-item row of item %d in %s: %w", item, b.version, err)
	}
	return nil
}

func (b *Builder) putItemItemRow(item int32, row []Neighbor) error {
	if err := b.openItemList(&b.itemItem, ItemItemRowsFile, item); err != nil {
		return err
	}
	if err := checkItemItemRow(row, b.nItems); err != nil {
		return err
	}
	v, err := encodeNeighbors(row, b.nItems)
	if err != nil {
		return err
	}
	return b.itemItem.put(int(item), v)
}

// checkItemItemRow checks that row's items are strictly ascending and in
// [0, n) and its weights finite.
func checkItemItemRow(row []Neighbor, n int) error {
	prev := int64(-1)
	for k, nb := range row {
		if nb.Item < 0 || int(nb.Item) >= n {
			return fmt.Errorf("item %d out of range [0, %d)", nb.Item, n)
		}
		if int64(nb.Item) <= prev {
			return fmt.Errorf("items not ascending at entry %d: %d after %d", k, nb.Item, prev)
		}
		if w := float64(nb.Score); math.IsNaN(w) || math.IsInf(w, 0) {
			return fmt.Errorf("weight %v for item %d, want a finite number", nb.Score, nb.Item)
		}
		prev = int64(nb.Item)
	}
	return nil
}

// writeItemItemRows assembles itemitem.csr from the rows put, at Commit.
func (b *Builder) writeItemItemRows() error {
	if b.itemItem == nil {
		return nil
	}
	if err := b.itemItem.writeFile(filepath.Join(b.staging, ItemItemRowsFile)); err != nil {
		return fmt.Errorf("write %s: %w", ItemItemRowsFile, err)
	}
	b.aux[ItemItemRowsFile] = ""
	return nil
}

// openItemItemRows checks the structure of a mapped itemitem.csr for n
// items once, in one pass over its entries and without allocating: the
// offsets start at 0, never decrease and end at the number of entries,
// and every row is what checkItemItemRow accepts. ItemItemRow then
// returns slices of the mapping unchecked.
func openItemItemRows(data []byte, n int, verify bool) (*csrFile, error) {
	t, err := newCSRFile(data, csrKindNeighbors, verify)
	if err != nil {
		return nil, err
	}
	if t.count != n {
		return nil, fmt.Errorf("%w: %d rows for %d items", ErrCorrupt, t.count, n)
	}
	if lo := binary.LittleEndian.Uint64(t.offsets); lo != 0 {
		return nil, fmt.Errorf("%w: the first row starts at entry %d, want 0", ErrCorrupt, lo)
	}
	if hi := binary.LittleEndian.Uint64(t.offsets[8*n:]); hi != uint64(len(t.nbrs)) {
		return nil, fmt.Errorf("%w: the rows end at entry %d of %d", ErrCorrupt, hi, len(t.nbrs))
	}
	for i := range n {
		lo, hi, err := t.span(i, len(t.nbrs))
		if err != nil {
			return nil, err
		}
		if err := checkItemItemRow(t.nbrs[lo:hi], n); err != nil {
			return nil, fmt.Errorf("%w: row of item %d: %v", ErrCorrupt, i, err)
		}
	}
	return t, nil
}

// HasItemItemRows reports whether the version holds a sparse item-to-item
// model (itemitem.csr).
func (s *Snapshot) HasItemItemRows() bool { return s.itemItem != nil }

// ItemItemRow returns row item of the version's sparse item-to-item model
// (itemitem.csr): the weights w(item, j), ascending by j, every j in
// range and every weight finite (Open checked them). The slice aliases the
// read-only mapping: it is valid until Close and must never be written
// to. Nothing is copied or allocated. It is empty when the version has no
// such model.
func (s *Snapshot) ItemItemRow(item int32) ([]Neighbor, error) {
	if item < 0 || int(item) >= s.nItems {
		return nil, fmt.Errorf("item-item row of item %d in %s: %w: index out of range [0, %d)", item, s.version, ErrNotFound, s.nItems)
	}
	if s.itemItem == nil {
		return nil, nil
	}
	lo, hi, err := s.itemItem.span(int(item), len(s.itemItem.nbrs))
	if err != nil {
		return nil, fmt.Errorf("item-item row of item %d in %s: %s: %w", item, s.version, ItemItemRowsFile, err)
	}
	return s.itemItem.nbrs[lo:hi:hi], nil
}
