package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"path/filepath"
)

// SeenWeightsFile is the list file of the users' training items with
// their aggregated weights (Builder.PutSeenWeights), in the format of
// neighbors.csr (item, float32), one list per user. Request-time fold-in
// reads it to rebuild a trained user's least-squares system exactly.
const SeenWeightsFile = "seenweights.csr"

// PutSeenWeights records the training items of user with the weight the
// trainer gave each (the aggregated event weights of the cell), ascending
// by item, as the user's row of the interaction matrix holds them. The
// lists are written to seenweights.csr at Commit when at least one was
// put; call it after SetUsers and SetItems.
func (b *Builder) PutSeenWeights(user int32, items []int32, weights []float32) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.putSeenWeights(user, items, weights); err != nil {
		return fmt.Errorf("put seen weights of user %d in %s: %w", user, b.version, err)
	}
	return nil
}

func (b *Builder) putSeenWeights(user int32, items []int32, weights []float32) error {
	if err := b.usable(); err != nil {
		return err
	}
	if b.nUsers < 0 || b.nItems < 0 {
		return errors.New("users and items must be set first")
	}
	if user < 0 || int(user) >= b.nUsers {
		return fmt.Errorf("user index out of range [0, %d)", b.nUsers)
	}
	if len(items) != len(weights) {
		return fmt.Errorf("%d items with %d weights", len(items), len(weights))
	}
	if b.seenW == nil {
		if _, dup := b.aux[SeenWeightsFile]; dup {
			return fmt.Errorf("%s already written", SeenWeightsFile)
		}
		b.seenW = newCSRWriter(csrKindNeighbors, b.nUsers, filepath.Join(b.staging, SeenWeightsFile+tmpSuffix))
	}
	v := make([]byte, 8*len(items))
	for i, it := range items {
		if it < 0 || int(it) >= b.nItems {
			return fmt.Errorf("item %d out of range [0, %d)", it, b.nItems)
		}
		if i > 0 && items[i-1] >= it {
			return fmt.Errorf("items not ascending at %d", i)
		}
		w := weights[i]
		if !(w > 0) || math.IsInf(float64(w), 0) {
			return fmt.Errorf("weight %v of item %d, want positive and finite", w, it)
		}
		binary.LittleEndian.PutUint32(v[8*i:], uint32(it))
		binary.LittleEndian.PutUint32(v[8*i+4:], math.Float32bits(w))
	}
	return b.seenW.put(int(user), v)
}

// writeSeenWeights assembles seenweights.csr from the lists put, at
// Commit.
func (b *Builder) writeSeenWeights() error {
	if b.seenW == nil {
		return nil
	}
	if err := b.seenW.writeFile(filepath.Join(b.staging, SeenWeightsFile)); err != nil {
		return fmt.Errorf("write %s: %w", SeenWeightsFile, err)
	}
	b.aux[SeenWeightsFile] = ""
	return nil
}

// HasSeenWeights reports whether the version holds its users' training
// weights (seenweights.csr): not in versions written before the file.
func (s *Snapshot) HasSeenWeights() bool { return s.seenW != nil }

// SeenWeights appends to buf[:0] the training items of user with their
// weights (Neighbor.Score), ascending by item. It reads the mapped
// seenweights.csr and does not allocate when buf is large enough; empty
// when the version has none.
func (s *Snapshot) SeenWeights(user int32, buf []Neighbor) ([]Neighbor, error) {
	buf = buf[:0]
	if user < 0 || int(user) >= s.nUsers {
		return buf, fmt.Errorf("seen weights of user %d in %s: %w: index out of range [0, %d)", user, s.version, ErrNotFound, s.nUsers)
	}
	if s.seenW == nil {
		return buf, nil
	}
	buf, err := s.seenW.neighborList(buf, int(user), s.nItems)
	if err != nil {
		return buf, fmt.Errorf("seen weights of user %d in %s: %s: %w", user, s.version, SeenWeightsFile, err)
	}
	return buf, nil
}
