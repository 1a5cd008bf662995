package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"unsafe"
)

// Names of the non-personal score lists the trainer stores (see
// Builder.SetItemScores and Snapshot.ItemScores).
const (
	// ScoresTrending is decayed recent popularity: every event of the
	// log's last window (train --trending-window, default 168h) counts
	// 0.5^(age/half-life) (--trending-half-life, default 24h), the age
	// measured from the log's last event. Window and half-life are
	// recorded in the manifest params ("trending").
	ScoresTrending = "trending"
	// ScoresBestsellers is the number of purchase events (type purchase or
	// transaction) in the same window, undecayed: all 0 when the log has
	// no purchase events (e.g. MovieLens, whose lines have no types).
	ScoresBestsellers = "bestsellers"
)

// BasketNeighborsFile is the list file of the basket co-occurrence
// neighbours (Builder.PutBasketNeighbors), in the format of neighbors.csr.
const BasketNeighborsFile = "basket.csr"

const (
	scoresPrefix      = "scores."
	scoresHeaderSize  = 64
	scoresFormatVersn = 1
)

var scoresMagic = [8]byte{'P', 'C', 'S', 'C', 'O', 'R', 'E', 0}

// ownAux are the aux file names the Builder writes itself through typed
// methods; AddFile and SetMatrix refuse them (and names starting with
// "scores."), though a manifest may list them.
var ownAux = []string{CatalogFile, FoldInFile, BasketNeighborsFile, BasketNeighborsFile + tmpSuffix, SeenWeightsFile, SeenWeightsFile + tmpSuffix, SeenEventsFile, SeenEventsFile + tmpSuffix, SeenEventKindsFile, ItemItemRowsFile, ItemItemRowsFile + tmpSuffix}

func isOwnAux(name string) bool {
	return slices.Contains(ownAux, name) || strings.HasPrefix(name, scoresPrefix)
}

// ItemScoresFile returns the aux file name of the score list name:
// "scores." + name.
func ItemScoresFile(name string) string { return scoresPrefix + name }

// addOwnFile writes one of the files of ownAux.
func (b *Builder) addOwnFile(name, kind string, write func(io.Writer) error) error {
	if err := b.usable(); err != nil {
		return err
	}
	if _, dup := b.aux[name]; dup {
		return fmt.Errorf("%s already written", name)
	}
	if err := b.writeAux(name, write); err != nil {
		return err
	}
	b.aux[name] = kind
	return nil
}

// validScoresName reports whether name may name a score list:
// [a-z0-9][a-z0-9_-]*, at most 50 bytes.
func validScoresName(name string) bool {
	if name == "" || len(name) > 50 {
		return false
	}
	for i, c := range []byte(name) {
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		case i > 0 && (c == '_' || c == '-'):
		default:
			return false
		}
	}
	return true
}

// SetItemScores stores a non-personal score list called name (e.g.
// ScoresTrending), one finite score per item, as the aux file
// "scores.<name>". name matches [a-z0-9][a-z0-9_-]*, at most 50 bytes.
// Call it after SetItems.
func (b *Builder) SetItemScores(name string, scores []float32) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.setItemScores(name, scores); err != nil {
		return fmt.Errorf("set item scores %q of %s: %w", name, b.version, err)
	}
	return nil
}

func (b *Builder) setItemScores(name string, scores []float32) error {
	if b.nItems < 0 {
		return errors.New("items must be set first")
	}
	if !validScoresName(name) {
		return errors.New("invalid name: want [a-z0-9][a-z0-9_-]*, at most 50 bytes")
	}
	if len(scores) != b.nItems {
		return fmt.Errorf("%d scores for %d items", len(scores), b.nItems)
	}
	for i, s := range scores {
		if math.IsNaN(float64(s)) || math.IsInf(float64(s), 0) {
			return fmt.Errorf("score of item %d is %v", i, s)
		}
	}
	data := encodeScores(scores)
	return b.addOwnFile(ItemScoresFile(name), "", func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

func encodeScores(scores []float32) []byte {
	out := make([]byte, scoresHeaderSize+4*len(scores))
	for i, s := range scores {
		binary.LittleEndian.PutUint32(out[scoresHeaderSize+4*i:], math.Float32bits(s))
	}
	h := out[:scoresHeaderSize]
	copy(h[0:8], scoresMagic[:])
	binary.LittleEndian.PutUint32(h[8:12], scoresFormatVersn)
	binary.LittleEndian.PutUint64(h[16:24], uint64(len(scores)))
	binary.LittleEndian.PutUint32(h[24:28], crc32.Checksum(out[scoresHeaderSize:], castagnoli))
	binary.LittleEndian.PutUint32(h[28:32], crc32.Checksum(h[0:28], castagnoli))
	return out
}

// parseScores checks a score list file for n items (and its payload CRC if
// verify) and returns the scores aliasing data.
func parseScores(data []byte, n int, verify bool) ([]float32, error) {
	if len(data) < scoresHeaderSize {
		return nil, fmt.Errorf("%w: truncated header: %d bytes, want %d", ErrCorrupt, len(data), scoresHeaderSize)
	}
	h := data[:scoresHeaderSize]
	if [8]byte(h[0:8]) != scoresMagic {
		return nil, fmt.Errorf("%w: bad magic %q, want %q", ErrCorrupt, h[0:8], scoresMagic[:])
	}
	if v := binary.LittleEndian.Uint32(h[8:12]); v > scoresFormatVersn {
		return nil, fmt.Errorf("%w: score list format version %d, this build reads up to %d", ErrFormat, v, scoresFormatVersn)
	} else if v == 0 {
		return nil, fmt.Errorf("%w: score list format version 0", ErrCorrupt)
	}
	if got, want := crc32.Checksum(h[0:28], castagnoli), binary.LittleEndian.Uint32(h[28:32]); got != want {
		return nil, fmt.Errorf("%w: header checksum mismatch: computed %08x, stored %08x", ErrCorrupt, got, want)
	}
	if count := binary.LittleEndian.Uint64(h[16:24]); count != uint64(n) || uint64(len(data)) != scoresHeaderSize+4*count {
		return nil, fmt.Errorf("%w: score list of %d items in %d bytes, the snapshot has %d items", ErrCorrupt, count, len(data), n)
	}
	payload := data[scoresHeaderSize:]
	if verify {
		if got, want := crc32.Checksum(payload, castagnoli), binary.LittleEndian.Uint32(h[24:28]); got != want {
			return nil, fmt.Errorf("%w: payload checksum mismatch: computed %08x, header says %08x", ErrCorrupt, got, want)
		}
	}
	if n == 0 {
		return []float32{}, nil
	}
	if uintptr(unsafe.Pointer(&payload[0]))%4 != 0 {
		return nil, errors.New("score list not 4-byte aligned")
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(&payload[0])), n), nil
}

// ItemScores returns the score list called name (ScoresTrending,
// ScoresBestsellers), one score per item row, aliasing the mapping (valid
// until Close; never write to it), and false when the version has none.
func (s *Snapshot) ItemScores(name string) ([]float32, bool) {
	sc, ok := s.scores[name]
	return sc, ok
}

// PutBasketNeighbors records the basket co-occurrence neighbours of item
// (co-occurrence of add-to-cart and purchase events only), best first.
// The lists are written to basket.csr at Commit when at least one was put;
// call it after SetItems.
func (b *Builder) PutBasketNeighbors(item int32, nbrs []Neighbor) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.putBasketNeighbors(item, nbrs); err != nil {
		return fmt.Errorf("put basket neighbours of item %d in %s: %w", item, b.version, err)
	}
	return nil
}

func (b *Builder) putBasketNeighbors(item int32, nbrs []Neighbor) error {
	if err := b.openItemList(&b.basket, BasketNeighborsFile, item); err != nil {
		return err
	}
	v, err := encodeNeighbors(nbrs, b.nItems)
	if err != nil {
		return err
	}
	return b.basket.put(int(item), v)
}

// writeBasket assembles basket.csr from the lists put, at Commit.
func (b *Builder) writeBasket() error {
	if b.basket == nil {
		return nil
	}
	if err := b.basket.writeFile(filepath.Join(b.staging, BasketNeighborsFile)); err != nil {
		return fmt.Errorf("write %s: %w", BasketNeighborsFile, err)
	}
	b.aux[BasketNeighborsFile] = ""
	return nil
}

// HasBasketNeighbors reports whether the version holds basket
// co-occurrence neighbours (basket.csr): not when the log had no cart or
// purchase events, nor in versions written before the file existed.
func (s *Snapshot) HasBasketNeighbors() bool { return s.basket != nil }

// BasketNeighbors appends to buf[:0] the basket co-occurrence neighbours of
// item, best first: items added to a cart or bought by the same users,
// scored like Neighbors. It reads the mapped basket.csr and does not
// allocate when buf is large enough; empty when the version has none.
func (s *Snapshot) BasketNeighbors(item int32, buf []Neighbor) ([]Neighbor, error) {
	buf = buf[:0]
	if item < 0 || int(item) >= s.nItems {
		return buf, fmt.Errorf("basket neighbours of item %d in %s: %w: index out of range [0, %d)", item, s.version, ErrNotFound, s.nItems)
	}
	if s.basket == nil {
		return buf, nil
	}
	buf, err := s.basket.neighborList(buf, int(item), s.nItems)
	if err != nil {
		return buf, fmt.Errorf("basket neighbours of item %d in %s: %s: %w", item, s.version, BasketNeighborsFile, err)
	}
	return buf, nil
}

// Catalog returns the version's item catalogue (catalog.idx), and false
// when the version has none (trained without a catalogue, or written
// before the file existed).
func (s *Snapshot) Catalog() (*Catalog, bool) { return s.catalog, s.catalog != nil }

// FoldIn returns the version's fold-in parameters (foldin.bin), YtY
// aliasing the mapping (valid until Close), and false when it has none.
func (s *Snapshot) FoldIn() (FoldIn, bool) {
	if s.foldIn == nil {
		return FoldIn{}, false
	}
	return *s.foldIn, true
}

// openServingInputs parses the aux files the store knows the format of:
// catalog.idx, foldin.bin, scores.*, the list files basket.csr,
// seenweights.csr, seenevents.csr (with seenevents.kinds) and
// itemitem.csr.
func (s *Snapshot) openServingInputs(verify bool) error {
	for name, a := range s.aux {
		var err error
		switch {
		case name == CatalogFile:
			s.catalog, err = newCatalog(a.m.data, s.nItems, verify)
		case name == FoldInFile:
			var f FoldIn
			if f, err = parseFoldIn(a.m.data, verify); err == nil {
				if f.Dims != s.items.matrix.Dims {
					err = fmt.Errorf("%w: fold-in of %d dims, item factors have %d", ErrCorrupt, f.Dims, s.items.matrix.Dims)
				}
				s.foldIn = &f
			}
		case name == BasketNeighborsFile:
			if s.basket, err = newCSRFile(a.m.data, csrKindNeighbors, verify); err == nil && s.basket.count != s.nItems {
				err = fmt.Errorf("%w: %d lists for %d items", ErrCorrupt, s.basket.count, s.nItems)
			}
		case name == SeenWeightsFile:
			if s.seenW, err = newCSRFile(a.m.data, csrKindNeighbors, verify); err == nil && s.seenW.count != s.nUsers {
				err = fmt.Errorf("%w: %d lists for %d users", ErrCorrupt, s.seenW.count, s.nUsers)
			}
		case name == SeenEventsFile:
			if s.events, err = newCSRFile(a.m.data, csrKindEvents, verify); err == nil && s.events.count != s.nUsers {
				err = fmt.Errorf("%w: %d lists for %d users", ErrCorrupt, s.events.count, s.nUsers)
			}
		case name == ItemItemRowsFile:
			s.itemItem, err = openItemItemRows(a.m.data, s.nItems, verify)
		case name == SeenEventKindsFile:
			s.eventKinds, err = parseEventKinds(a.m.data)
		case strings.HasPrefix(name, scoresPrefix):
			list := strings.TrimPrefix(name, scoresPrefix)
			if !validScoresName(list) {
				continue // not a score list this build wrote
			}
			var sc []float32
			if sc, err = parseScores(a.m.data, s.nItems, verify); err == nil {
				if s.scores == nil {
					s.scores = map[string][]float32{}
				}
				s.scores[list] = sc
			}
		default:
			continue
		}
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	if s.events != nil && s.eventKinds == nil {
		return fmt.Errorf("%s: %w: without %s", SeenEventsFile, ErrCorrupt, SeenEventKindsFile)
	}
	return nil
}
