package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sync"

	"github.com/dgraph-io/badger/v4"
	"golang.org/x/sys/unix"
)

// Snapshot is an opened, read-only version. All methods are safe for
// concurrent use by many goroutines, except Close: the caller must make sure
// no other call is in flight (and no Matrix obtained from it is still in use)
// when closing, for example by reference counting.
type Snapshot struct {
	version  string
	manifest Manifest
	db       *badger.DB
	items    *vecFile
	users    *vecFile
	itemIDs  *idTable
	userIDs  *idTable // nil in versions written before users.ids
	seen     *csrFile // nil in versions written before seen.csr
	nbrs     *csrFile // nil in versions written before neighbors.csr
	aux      map[string]*auxFile
	// Parsed from aux files, aliasing their mappings (nil when absent).
	catalog *Catalog
	foldIn  *FoldIn
	basket  *csrFile
	seenW   *csrFile
	events  *csrFile // seenevents.csr
	// itemItem is itemitem.csr, its structure checked at open.
	itemItem *csrFile
	// eventKinds are the names of the kinds of events (seenevents.kinds).
	eventKinds []string
	scores     map[string][]float32
	lock       *os.File // shared flock on versions/<v>/LOCK, held until Close
	nItems     int
	nUsers     int

	closeOnce sync.Once
	closeErr  error
}

// Open opens version read-only for serving. The factor matrices, the id
// tables and the seen and neighbour list files are memory-mapped, not read, so opening costs the same for any
// model size unless opts.VerifyChecksums is set. Several Snapshots of the
// same version may be open at once.
func (d *Dir) Open(version string, opts OpenOptions) (*Snapshot, error) {
	s, err := d.open(version, opts)
	if err != nil {
		return nil, fmt.Errorf("open snapshot %s: %w", version, err)
	}
	return s, nil
}

func (d *Dir) open(version string, opts OpenOptions) (_ *Snapshot, err error) {
	if err := checkVersion(version); err != nil {
		return nil, err
	}
	vdir := d.versionPath(version)
	// The shared lock keeps Retain from removing the version while it is open.
	lock, err := d.lockVersion(version, unix.LOCK_SH)
	if err != nil {
		return nil, err
	}
	complete, err := readComplete(vdir)
	if err != nil {
		lock.Close()
		return nil, err
	}
	// Check every file is there before opening Badger: Badger leaks
	// goroutines when it fails to open (v4.9.6).
	if err := complete.checkFiles(vdir, opts.VerifyChecksums); err != nil {
		lock.Close()
		return nil, err
	}
	bdir := filepath.Join(vdir, badgerDir)
	s := &Snapshot{version: version, lock: lock}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	db, err := badger.Open(badgerReadOptions(bdir, opts.VerifyChecksums))
	if err != nil {
		// Badger returns a half-built *DB with some errors: never close it.
		return nil, fmt.Errorf("%w: open badger: %v", ErrCorrupt, err)
	}
	s.db = db
	mj, found, err := s.get([]byte(keyManifest), nil)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, fmt.Errorf("%w: no manifest in badger", ErrCorrupt)
	}
	if s.manifest, err = checkManifest(complete, mj); err != nil {
		return nil, err
	}
	m := s.manifest
	if m.Version != version {
		return nil, fmt.Errorf("%w: manifest names version %q", ErrCorrupt, m.Version)
	}
	s.nItems, s.nUsers = int(m.Counts.Items), int(m.Counts.Users)
	open := func(name string, rows int) (*vecFile, error) {
		v, err := openVecFile(filepath.Join(vdir, name), opts.VerifyChecksums)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if got := v.matrix.Rows; got != rows {
			v.close()
			return nil, fmt.Errorf("%w: %s has %d rows, manifest counts %d", ErrCorrupt, name, got, rows)
		}
		return v, nil
	}
	if s.items, err = open(itemsVecFile, s.nItems); err != nil {
		return nil, err
	}
	if s.users, err = open(usersVecFile, s.nUsers); err != nil {
		return nil, err
	}
	if s.items.matrix.Dims != s.users.matrix.Dims {
		return nil, fmt.Errorf("%w: item factors have %d dims, user factors %d", ErrCorrupt, s.items.matrix.Dims, s.users.matrix.Dims)
	}
	if s.itemIDs, err = openIDTable(filepath.Join(vdir, itemsIDsFile), opts.VerifyChecksums); err != nil {
		return nil, fmt.Errorf("%s: %w", itemsIDsFile, err)
	}
	if s.itemIDs.count != s.nItems {
		return nil, fmt.Errorf("%w: %s has %d ids, manifest counts %d items", ErrCorrupt, itemsIDsFile, s.itemIDs.count, s.nItems)
	}
	names := []string{itemsVecFile, usersVecFile, itemsIDsFile}
	if _, ok := m.File(usersIDsFile); ok {
		if s.userIDs, err = openIDTable(filepath.Join(vdir, usersIDsFile), opts.VerifyChecksums); err != nil {
			return nil, fmt.Errorf("%s: %w", usersIDsFile, err)
		}
		if s.userIDs.count != s.nUsers {
			return nil, fmt.Errorf("%w: %s has %d ids, manifest counts %d users", ErrCorrupt, usersIDsFile, s.userIDs.count, s.nUsers)
		}
		names = append(names, usersIDsFile)
	}
	for _, l := range []struct {
		name string
		kind uint32
		n    int
		dst  **csrFile
	}{{seenCSRFile, csrKindSeen, s.nUsers, &s.seen}, {neighborsCSRFile, csrKindNeighbors, s.nItems, &s.nbrs}} {
		if _, ok := m.File(l.name); !ok {
			continue
		}
		if *l.dst, err = openCSRFile(filepath.Join(vdir, l.name), l.kind, opts.VerifyChecksums); err != nil {
			return nil, fmt.Errorf("%s: %w", l.name, err)
		}
		if got := (*l.dst).count; got != l.n {
			return nil, fmt.Errorf("%w: %s has %d lists for %d", ErrCorrupt, l.name, got, l.n)
		}
		names = append(names, l.name)
	}
	for _, name := range names {
		fi, ok := m.File(name)
		if !ok {
			return nil, fmt.Errorf("%w: manifest does not list %s", ErrCorrupt, name)
		}
		st, err := os.Stat(filepath.Join(vdir, name))
		if err != nil {
			return nil, err
		}
		if st.Size() != fi.Size {
			return nil, fmt.Errorf("%w: %s is %d bytes, manifest says %d", ErrCorrupt, name, st.Size(), fi.Size)
		}
	}
	for _, fi := range m.Files {
		if !isAux(fi.Name) {
			continue
		}
		if _, dup := s.aux[fi.Name]; dup {
			return nil, fmt.Errorf("%w: manifest lists %s twice", ErrCorrupt, fi.Name)
		}
		a, err := openAux(vdir, fi, opts.VerifyChecksums)
		if err != nil {
			return nil, err
		}
		if s.aux == nil {
			s.aux = map[string]*auxFile{}
		}
		s.aux[fi.Name] = a
	}
	if err := s.openServingInputs(opts.VerifyChecksums); err != nil {
		return nil, err
	}
	return s, nil
}

// get appends the value of key to buf. found is false if there is no such key.
func (s *Snapshot) get(key, buf []byte) (val []byte, found bool, err error) {
	err = s.db.View(func(txn *badger.Txn) error {
		it, err := txn.Get(key)
		if err != nil {
			return err
		}
		val, err = it.ValueCopy(buf[:0])
		return err
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return buf[:0], false, nil
	}
	if err != nil {
		return buf[:0], false, fmt.Errorf("read %q: %w", key[:min(len(key), 2)], err)
	}
	return val, true, nil
}

// Version returns the version name.
func (s *Snapshot) Version() string { return s.version }

// Manifest returns the version's manifest.
func (s *Snapshot) Manifest() Manifest { return s.manifest }

// ItemFactors returns the memory-mapped item factor matrix (row i is the
// item with dense index i). It is valid until Close.
func (s *Snapshot) ItemFactors() Matrix { return s.items.matrix }

// UserFactors returns the memory-mapped user factor matrix. It is valid
// until Close.
func (s *Snapshot) UserFactors() Matrix { return s.users.matrix }

// NumItems returns the number of items.
func (s *Snapshot) NumItems() int { return s.nItems }

// NumUsers returns the number of users.
func (s *Snapshot) NumUsers() int { return s.nUsers }

// index returns the dense index of id: from the mapped hash table t when
// the version has one, else from Badger's prefix+id key.
func (s *Snapshot) index(t *idTable, name, prefix, id string, n int) (int32, bool, error) {
	if id == "" {
		return 0, false, nil
	}
	if t.hashed() {
		i, ok, err := t.index(id)
		if err != nil {
			return 0, false, fmt.Errorf("%s: %w", name, err)
		}
		return int32(i), ok, nil
	}
	var buf [4]byte
	v, found, err := s.get(strKey(prefix, id), buf[:0])
	if err != nil || !found {
		return 0, false, err
	}
	if len(v) != 4 {
		return 0, false, fmt.Errorf("%w: index of %q is %d bytes", ErrCorrupt, id, len(v))
	}
	i := binary.BigEndian.Uint32(v)
	if uint64(i) >= uint64(n) {
		return 0, false, fmt.Errorf("%w: index %d of %q out of range [0, %d)", ErrCorrupt, i, id, n)
	}
	return int32(i), true, nil
}

// ItemIndex returns the dense index of the item with external id, and
// whether it exists. It reads the hash table of the memory-mapped id table
// and does not allocate; versions written before the table existed are
// answered from Badger.
func (s *Snapshot) ItemIndex(id string) (int32, bool, error) {
	i, ok, err := s.index(s.itemIDs, itemsIDsFile, prefItemIdx, id, s.nItems)
	if err != nil {
		return 0, false, fmt.Errorf("item index of %q in %s: %w", id, s.version, err)
	}
	return i, ok, nil
}

// UserIndex returns the dense index of the user with external id, and
// whether it exists. Like ItemIndex it reads the mapped users id table, or
// Badger in versions without one.
func (s *Snapshot) UserIndex(id string) (int32, bool, error) {
	i, ok, err := s.index(s.userIDs, usersIDsFile, prefUserIdx, id, s.nUsers)
	if err != nil {
		return 0, false, fmt.Errorf("user index of %q in %s: %w", id, s.version, err)
	}
	return i, ok, nil
}

// ItemID returns the external id of the item with dense index idx. It reads
// the memory-mapped id table, not Badger, because serving calls it for
// every recommended item.
func (s *Snapshot) ItemID(idx int32) (string, error) {
	id, err := s.itemIDs.id(int(idx))
	if err != nil {
		return "", fmt.Errorf("item id of %d in %s: %w", idx, s.version, err)
	}
	return id, nil
}

// Seen appends to buf[:0] the items user interacted with in training, in
// ascending order. A user without any has an empty list. It reads the
// memory-mapped seen.csr and does not allocate when buf is large enough;
// versions written before the file existed are answered from Badger.
func (s *Snapshot) Seen(user int32, buf []int32) ([]int32, error) {
	buf = buf[:0]
	if user < 0 || int(user) >= s.nUsers {
		return buf, fmt.Errorf("seen items of user %d in %s: %w: index out of range [0, %d)", user, s.version, ErrNotFound, s.nUsers)
	}
	if s.seen != nil {
		buf, err := s.seen.seenList(buf, int(user), s.nItems)
		if err != nil {
			return buf, fmt.Errorf("seen items of user %d in %s: %s: %w", user, s.version, seenCSRFile, err)
		}
		return buf, nil
	}
	return s.badgerSeen(user, buf)
}

func (s *Snapshot) badgerSeen(user int32, buf []int32) ([]int32, error) {
	var key [6]byte
	copy(key[:], prefSeen)
	binary.BigEndian.PutUint32(key[2:], uint32(user))
	err := s.db.View(func(txn *badger.Txn) error {
		it, err := txn.Get(key[:])
		if err != nil {
			return err
		}
		return it.Value(func(v []byte) error {
			buf, err = decodeSeen(buf, v, s.nItems)
			return err
		})
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return buf, nil
	}
	if err != nil {
		return buf[:0], fmt.Errorf("seen items of user %d in %s: %w", user, s.version, err)
	}
	return buf, nil
}

// Neighbors appends to buf[:0] the co-occurrence neighbours of item, best
// first. An item without any has an empty list. Like Seen it reads a
// memory-mapped file, neighbors.csr, or Badger in versions without one.
func (s *Snapshot) Neighbors(item int32, buf []Neighbor) ([]Neighbor, error) {
	buf = buf[:0]
	if item < 0 || int(item) >= s.nItems {
		return buf, fmt.Errorf("neighbours of item %d in %s: %w: index out of range [0, %d)", item, s.version, ErrNotFound, s.nItems)
	}
	if s.nbrs != nil {
		buf, err := s.nbrs.neighborList(buf, int(item), s.nItems)
		if err != nil {
			return buf, fmt.Errorf("neighbours of item %d in %s: %s: %w", item, s.version, neighborsCSRFile, err)
		}
		return buf, nil
	}
	return s.badgerNeighbors(item, buf)
}

func (s *Snapshot) badgerNeighbors(item int32, buf []Neighbor) ([]Neighbor, error) {
	var key [6]byte
	copy(key[:], prefNeighbors)
	binary.BigEndian.PutUint32(key[2:], uint32(item))
	err := s.db.View(func(txn *badger.Txn) error {
		it, err := txn.Get(key[:])
		if err != nil {
			return err
		}
		return it.Value(func(v []byte) error {
			buf, err = decodeNeighbors(buf, v, s.nItems)
			return err
		})
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return buf, nil
	}
	if err != nil {
		return buf[:0], fmt.Errorf("neighbours of item %d in %s: %w", item, s.version, err)
	}
	return buf, nil
}

func decodeNeighbors(buf []Neighbor, v []byte, n int) ([]Neighbor, error) {
	if len(v)%8 != 0 {
		return buf, fmt.Errorf("%w: neighbour list of %d bytes", ErrCorrupt, len(v))
	}
	for ; len(v) > 0; v = v[8:] {
		it := binary.LittleEndian.Uint32(v)
		if uint64(it) >= uint64(n) {
			return buf, fmt.Errorf("%w: neighbour %d out of range [0, %d)", ErrCorrupt, it, n)
		}
		buf = append(buf, Neighbor{Item: int32(it), Score: math.Float32frombits(binary.LittleEndian.Uint32(v[4:]))})
	}
	return buf, nil
}

// Popularity returns a new slice with one popularity score per item.
func (s *Snapshot) Popularity() ([]float32, error) {
	v, found, err := s.get([]byte(keyPopularity), nil)
	if err == nil && !found {
		err = fmt.Errorf("%w: no popularity", ErrCorrupt)
	}
	if err == nil && len(v) != 4*s.nItems {
		err = fmt.Errorf("%w: popularity has %d bytes for %d items", ErrCorrupt, len(v), s.nItems)
	}
	if err != nil {
		return nil, fmt.Errorf("popularity in %s: %w", s.version, err)
	}
	out := make([]float32, s.nItems)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(v[4*i:]))
	}
	return out, nil
}

// Close unmaps the files and closes Badger. It is idempotent.
func (s *Snapshot) Close() error {
	s.closeOnce.Do(func() {
		var errs []error
		if s.db != nil {
			errs = append(errs, s.db.Close())
		}
		errs = append(errs, s.items.close(), s.users.close(), s.itemIDs.close(), s.userIDs.close(), s.seen.close(), s.nbrs.close(), closeAux(s.aux))
		if s.lock != nil {
			errs = append(errs, s.lock.Close())
		}
		if err := errors.Join(errs...); err != nil {
			s.closeErr = fmt.Errorf("close snapshot %s: %w", s.version, err)
		}
	})
	return s.closeErr
}
