package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"

	"github.com/dgraph-io/badger/v4"
)

// Verify checks version thoroughly: the manifest against COMPLETE, the size
// and CRC-32C of every listed file, the vector and id table checksums, that
// each id table's hash index maps every id to its own index, every Badger
// table and value checksum, and that every Badger record is well formed and
// agrees with the manifest counts, the id tables and the list files
// (seen.csr, neighbors.csr: every index's list equals its Badger record,
// or is empty without one), and the serving inputs: catalog.idx's structure,
// the score lists, basket.csr's lists, itemitem.csr's rows, and that
// foldin.bin's YᵀY is the Gram matrix of items.vec. It reads the whole
// version, so it is for operators and publishing pipelines, not for
// serving start-up. Errors wrap ErrNotFound, ErrCorrupt or ErrFormat.
func (d *Dir) Verify(ctx context.Context, version string) error {
	if err := d.verify(ctx, version); err != nil {
		return fmt.Errorf("verify %s: %w", version, err)
	}
	return nil
}

func (d *Dir) verify(ctx context.Context, version string) error {
	if err := checkVersion(version); err != nil {
		return err
	}
	m, err := d.readManifestFile(version)
	if err != nil {
		return err
	}
	vdir := d.versionPath(version)
	complete, err := readComplete(vdir)
	if err != nil {
		return err
	}
	if err := complete.checkFiles(vdir, true); err != nil {
		return err
	}
	for _, name := range []string{itemsVecFile, usersVecFile, itemsIDsFile} {
		if _, ok := m.File(name); !ok {
			return fmt.Errorf("%w: manifest does not list %s", ErrCorrupt, name)
		}
	}
	for _, fi := range m.Files {
		if err := ctx.Err(); err != nil {
			return err
		}
		if filepath.Base(fi.Name) != fi.Name {
			return fmt.Errorf("%w: manifest lists file %q outside the version", ErrCorrupt, fi.Name)
		}
		size, sum, err := crcOf(filepath.Join(vdir, fi.Name))
		if err != nil {
			return fmt.Errorf("%w: %v", ErrCorrupt, err)
		}
		if size != fi.Size || sum != fi.CRC32C {
			return fmt.Errorf("%w: %s is %d bytes with crc32c %08x, manifest says %d bytes with %08x",
				ErrCorrupt, fi.Name, size, sum, fi.Size, fi.CRC32C)
		}
	}
	s, err := d.open(version, OpenOptions{VerifyChecksums: true})
	if err != nil {
		return err
	}
	defer s.Close()
	mj, err := os.ReadFile(filepath.Join(vdir, manifestFile))
	if err != nil {
		return err
	}
	if bm, _, err := s.get([]byte(keyManifest), nil); err != nil {
		return err
	} else if !bytes.Equal(bm, mj) {
		return fmt.Errorf("%w: manifest in badger differs from %s", ErrCorrupt, manifestFile)
	}
	for _, t := range []struct {
		name string
		ids  *idTable
	}{{itemsIDsFile, s.itemIDs}, {usersIDsFile, s.userIDs}} {
		if err := t.ids.checkIndex(); err != nil {
			return fmt.Errorf("%s: %w", t.name, err)
		}
	}
	if err := s.verifyServingInputs(ctx); err != nil {
		return err
	}
	return s.verifyRecords(ctx)
}

// verifyServingInputs checks what Open does not: that foldin.bin's YᵀY is
// the Gram matrix of the served item factors, bit for bit, and that every
// list of basket.csr is in range. (Open already checked the structure of
// catalog.idx, the score lists and itemitem.csr.)
func (s *Snapshot) verifyServingInputs(ctx context.Context) error {
	if s.foldIn != nil {
		g := matrixGram(s.items.matrix)
		for i, v := range g {
			if math.Float64bits(v) != math.Float64bits(s.foldIn.YtY[i]) {
				return fmt.Errorf("%w: %s: YᵀY entry %d is %v, the item factors give %v", ErrCorrupt, FoldInFile, i, s.foldIn.YtY[i], v)
			}
		}
	}
	if s.basket != nil {
		var buf []Neighbor
		for i := range s.nItems {
			if i%4096 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			var err error
			if buf, err = s.BasketNeighbors(int32(i), buf); err != nil {
				return err
			}
		}
	}
	return nil
}

// recordCheck walks every Badger record of a snapshot and checks it.
type recordCheck struct {
	s                                    *Snapshot
	txn                                  *badger.Txn
	nItemID, nItemIdx, nUserID, nUserIdx int
	havePop                              bool
	seen                                 []int32
	nbrs                                 []Neighbor
	fileSeen                             []int32
	fileNbrs                             []Neighbor
	// The next user and item whose list file entry is unchecked: Badger
	// iterates the "s/" and "n/" keys in index order, so the lists of the
	// indexes skipped between two keys must be empty.
	nextSeen, nextNbrs int
}

// checkSeenFile checks that seen.csr holds badger's list for every user in
// [c.nextSeen, u), empty lists before u and want for u (if u < nUsers).
func (c *recordCheck) checkSeenFile(u int, want []int32) error {
	s := c.s
	if s.seen == nil {
		return nil
	}
	for ; c.nextSeen <= u && c.nextSeen < s.nUsers; c.nextSeen++ {
		var err error
		if c.fileSeen, err = s.seen.seenList(c.fileSeen[:0], c.nextSeen, s.nItems); err != nil {
			return fmt.Errorf("%s: %w", seenCSRFile, err)
		}
		w := want
		if c.nextSeen < u {
			w = nil
		}
		if !slices.Equal(c.fileSeen, w) {
			return fmt.Errorf("%w: seen list of user %d is %v in %s, %v in badger", ErrCorrupt, c.nextSeen, c.fileSeen, seenCSRFile, w)
		}
	}
	return nil
}

// checkNeighborsFile is checkSeenFile for neighbors.csr. Scores are
// compared bit for bit.
func (c *recordCheck) checkNeighborsFile(i int, want []Neighbor) error {
	s := c.s
	if s.nbrs == nil {
		return nil
	}
	for ; c.nextNbrs <= i && c.nextNbrs < s.nItems; c.nextNbrs++ {
		var err error
		if c.fileNbrs, err = s.nbrs.neighborList(c.fileNbrs[:0], c.nextNbrs, s.nItems); err != nil {
			return fmt.Errorf("%s: %w", neighborsCSRFile, err)
		}
		w := want
		if c.nextNbrs < i {
			w = nil
		}
		if !slices.EqualFunc(c.fileNbrs, w, func(a, b Neighbor) bool {
			return a.Item == b.Item && math.Float32bits(a.Score) == math.Float32bits(b.Score)
		}) {
			return fmt.Errorf("%w: neighbours of item %d are %v in %s, %v in badger", ErrCorrupt, c.nextNbrs, c.fileNbrs, neighborsCSRFile, w)
		}
	}
	return nil
}

func (s *Snapshot) verifyRecords(ctx context.Context) error {
	c := &recordCheck{s: s}
	err := s.db.View(func(txn *badger.Txn) error {
		c.txn = txn
		it := txn.NewIterator(badger.DefaultIteratorOptions)
		defer it.Close()
		n := 0
		for it.Rewind(); it.Valid(); it.Next() {
			if n++; n%4096 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			item := it.Item()
			v, err := item.ValueCopy(nil)
			if err != nil {
				return fmt.Errorf("read %q: %w", item.Key(), err)
			}
			if err := c.record(item.Key(), v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if c.nItemID != s.nItems || c.nItemIdx != s.nItems {
		return fmt.Errorf("%w: %d item ids and %d item indexes for %d items", ErrCorrupt, c.nItemID, c.nItemIdx, s.nItems)
	}
	if c.nUserID != s.nUsers || c.nUserIdx != s.nUsers {
		return fmt.Errorf("%w: %d user ids and %d user indexes for %d users", ErrCorrupt, c.nUserID, c.nUserIdx, s.nUsers)
	}
	if !c.havePop {
		return fmt.Errorf("%w: no popularity", ErrCorrupt)
	}
	if err := c.checkSeenFile(s.nUsers, nil); err != nil {
		return err
	}
	return c.checkNeighborsFile(s.nItems, nil)
}

func (c *recordCheck) record(k, v []byte) error {
	s := c.s
	idx := func() (int, error) {
		if len(k) != 6 {
			return 0, fmt.Errorf("%w: key %q has bad length", ErrCorrupt, k)
		}
		return int(binary.BigEndian.Uint32(k[2:])), nil
	}
	switch {
	case string(k) == keyManifest:
	case string(k) == keyPopularity:
		if len(v) != 4*s.nItems {
			return fmt.Errorf("%w: popularity has %d bytes for %d items", ErrCorrupt, len(v), s.nItems)
		}
		c.havePop = true
	case bytes.HasPrefix(k, []byte(prefItemID)):
		i, err := idx()
		if err != nil {
			return err
		}
		id, err := s.itemIDs.id(i)
		if err != nil {
			return err
		}
		if id != string(v) {
			return fmt.Errorf("%w: item %d is %q in badger, %q in %s", ErrCorrupt, i, v, id, itemsIDsFile)
		}
		c.nItemID++
	case bytes.HasPrefix(k, []byte(prefItemIdx)):
		id := string(k[len(prefItemIdx):])
		if len(v) != 4 {
			return fmt.Errorf("%w: index of item %q is %d bytes", ErrCorrupt, id, len(v))
		}
		got, err := s.itemIDs.id(int(binary.BigEndian.Uint32(v)))
		if err != nil {
			return err
		}
		if got != id {
			return fmt.Errorf("%w: item %q maps to index of %q", ErrCorrupt, id, got)
		}
		c.nItemIdx++
	case bytes.HasPrefix(k, []byte(prefUserID)):
		i, err := idx()
		if err != nil {
			return err
		}
		if i >= s.nUsers {
			return fmt.Errorf("%w: user %d out of range [0, %d)", ErrCorrupt, i, s.nUsers)
		}
		if s.userIDs != nil {
			id, err := s.userIDs.id(i)
			if err != nil {
				return err
			}
			if id != string(v) {
				return fmt.Errorf("%w: user %d is %q in badger, %q in %s", ErrCorrupt, i, v, id, usersIDsFile)
			}
		}
		c.nUserID++
	case bytes.HasPrefix(k, []byte(prefUserIdx)):
		id := k[len(prefUserIdx):]
		if len(v) != 4 || binary.BigEndian.Uint32(v) >= uint32(s.nUsers) {
			return fmt.Errorf("%w: bad index for user %q", ErrCorrupt, id)
		}
		back, err := c.txn.Get(append([]byte(prefUserID), v...))
		if err != nil {
			return fmt.Errorf("%w: user %q: reverse entry: %v", ErrCorrupt, id, err)
		}
		bv, err := back.ValueCopy(nil)
		if err != nil {
			return err
		}
		if !bytes.Equal(bv, id) {
			return fmt.Errorf("%w: user %q maps to index of %q", ErrCorrupt, id, bv)
		}
		c.nUserIdx++
	case bytes.HasPrefix(k, []byte(prefSeen)):
		u, err := idx()
		if err != nil {
			return err
		}
		if u >= s.nUsers {
			return fmt.Errorf("%w: seen list of user %d out of range [0, %d)", ErrCorrupt, u, s.nUsers)
		}
		if c.seen, err = decodeSeen(c.seen[:0], v, s.nItems); err != nil {
			return fmt.Errorf("seen list of user %d: %w", u, err)
		}
		if err := c.checkSeenFile(u, c.seen); err != nil {
			return err
		}
	case bytes.HasPrefix(k, []byte(prefNeighbors)):
		i, err := idx()
		if err != nil {
			return err
		}
		if i >= s.nItems {
			return fmt.Errorf("%w: neighbours of item %d out of range [0, %d)", ErrCorrupt, i, s.nItems)
		}
		if c.nbrs, err = decodeNeighbors(c.nbrs[:0], v, s.nItems); err != nil {
			return fmt.Errorf("neighbours of item %d: %w", i, err)
		}
		if err := c.checkNeighborsFile(i, c.nbrs); err != nil {
			return err
		}
	default:
		return fmt.Errorf("%w: unknown key %q", ErrCorrupt, k)
	}
	return nil
}
