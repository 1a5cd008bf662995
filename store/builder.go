package store

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"
	"golang.org/x/sys/unix"
)

// Builder writes one new version into staging/. It is safe for concurrent
// use, so training workers may call PutSeen and PutNeighbors in parallel.
// Call Commit to move the finished version into versions/, or Abort to
// discard it; deferring Abort right after NewBuilder is always safe.
type Builder struct {
	dir     *Dir
	version string
	staging string
	lock    *os.File // flock on the staging directory until Commit or Abort

	mu          sync.Mutex
	db          *badger.DB
	wb          *badger.WriteBatch
	nItems      int // -1 until SetItems
	nUsers      int // -1 until SetUsers
	itemFactors *VecHeader
	userFactors *VecHeader
	popularity  bool
	aux         map[string]string // auxiliary file name -> FileInfo.Kind
	idsFormat   uint32            // id table format written; tests set 1 to write what older builds wrote
	noLists     bool              // write no seen.csr and neighbors.csr; tests set it to write what older builds wrote
	seen        *csrWriter        // nil until SetUsers and SetItems
	nbrs        *csrWriter        // nil until SetItems
	basket      *csrWriter        // nil until the first PutBasketNeighbors
	seenW       *csrWriter        // nil until the first PutSeenWeights
	events      *csrWriter        // nil until the first PutSeenEvents
	itemItem    *csrWriter        // nil until the first PutItemItemRow
	eventKinds  []string          // set by SetSeenEventKinds
	scratch     []byte
	done        bool // committed or aborted
	committed   bool
}

// NewBuilder starts a new version: it removes every leftover of staging/
// that no live Builder holds (see RemoveLeftovers), picks a fresh version
// name, creates staging/<version>/, locks it (an exclusive flock on the
// directory, held until Commit or Abort and dropped by the kernel if the
// process dies, so that leftovers of a dead build can be told from a live
// one) and opens its Badger database for writing.
func (d *Dir) NewBuilder(ctx context.Context) (*Builder, error) {
	if _, err := d.RemoveLeftovers(ctx); err != nil {
		return nil, fmt.Errorf("new builder: %w", err)
	}
	if err := d.Clean(ctx, StaleStagingAge); err != nil { // stray PUBLISHED temp files
		return nil, fmt.Errorf("new builder: %w", err)
	}
	var v, staging string
	var lock *os.File
	for attempt := 0; ; attempt++ {
		v = newVersionName(time.Now())
		staging = filepath.Join(d.path, stagingDir, v)
		if err := os.Mkdir(staging, dirMode); err != nil {
			return nil, fmt.Errorf("new builder %s: %w", v, err)
		}
		var err error
		lock, err = lockDir(staging, unix.LOCK_EX)
		if err == nil {
			break
		}
		// Removed as a leftover before it was locked: start over.
		if !errors.Is(err, fs.ErrNotExist) || attempt == 2 {
			os.RemoveAll(staging)
			return nil, fmt.Errorf("new builder %s: %w", v, err)
		}
	}
	db, err := badger.Open(badgerWriteOptions(filepath.Join(staging, badgerDir)))
	if err != nil {
		os.RemoveAll(staging)
		lock.Close()
		return nil, fmt.Errorf("new builder %s: open badger: %w", v, err)
	}
	return &Builder{
		dir: d, version: v, staging: staging, lock: lock,
		db: db, wb: db.NewWriteBatch(),
		nItems: -1, nUsers: -1,
		aux:       map[string]string{},
		idsFormat: idsFormatVersion,
	}, nil
}

// Version returns the name the version will have once committed.
func (b *Builder) Version() string { return b.version }

func (b *Builder) usable() error {
	if b.done {
		return fmt.Errorf("builder %s already committed or aborted", b.version)
	}
	return nil
}

func (b *Builder) set(key, val []byte) error {
	if err := b.wb.Set(key, val); err != nil {
		return fmt.Errorf("write batch: %w", err)
	}
	return nil
}

// checkIDs checks that ids are non-empty and unique.
func checkIDs(ids []string) error {
	if len(ids) > math.MaxInt32 {
		return fmt.Errorf("%d ids, at most %d allowed", len(ids), math.MaxInt32)
	}
	seen := make(map[string]int, len(ids))
	for i, id := range ids {
		if id == "" {
			return fmt.Errorf("id at index %d is empty", i)
		}
		if j, dup := seen[id]; dup {
			return fmt.Errorf("id %q at index %d duplicates index %d", id, i, j)
		}
		seen[id] = i
	}
	return nil
}

func (b *Builder) putIDs(ids []string, idPrefix, idxPrefix string) error {
	for i, id := range ids {
		if err := b.set(idxKey(idPrefix, int32(i)), []byte(id)); err != nil {
			return err
		}
		if err := b.set(strKey(idxPrefix, id), u32BE(int32(i))); err != nil {
			return err
		}
	}
	return nil
}

// SetItems sets the item catalogue: the dense index of an item is its
// position in ids. Ids must be non-empty and unique. Call it once, before
// the item factors, neighbours and popularity.
func (b *Builder) SetItems(ids []string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.setItems(ids); err != nil {
		return fmt.Errorf("set items of %s: %w", b.version, err)
	}
	return nil
}

func (b *Builder) setItems(ids []string) error {
	if err := b.usable(); err != nil {
		return err
	}
	if b.nItems >= 0 {
		return errors.New("items already set")
	}
	if err := checkIDs(ids); err != nil {
		return err
	}
	if err := b.putIDs(ids, prefItemID, prefItemIdx); err != nil {
		return err
	}
	if err := writeIDsFileVersion(filepath.Join(b.staging, itemsIDsFile), ids, b.idsFormat); err != nil {
		return err
	}
	b.nItems = len(ids)
	b.nbrs = newCSRWriter(csrKindNeighbors, b.nItems, filepath.Join(b.staging, neighborsCSRFile+tmpSuffix))
	b.startSeen()
	return nil
}

// tmpSuffix marks the temporary files a Builder streams lists to; Commit
// removes them before listing the version's files.
const tmpSuffix = ".tmp"

// startSeen creates the seen list writer once users and items are set.
func (b *Builder) startSeen() {
	if b.nUsers >= 0 && b.nItems >= 0 && b.seen == nil {
		b.seen = newCSRWriter(csrKindSeen, b.nUsers, filepath.Join(b.staging, seenCSRFile+tmpSuffix))
	}
}

// SetUsers sets the users: the dense index of a user is its position in
// ids. Ids must be non-empty and unique. Call it once, before the user
// factors and PutSeen.
func (b *Builder) SetUsers(ids []string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.setUsers(ids); err != nil {
		return fmt.Errorf("set users of %s: %w", b.version, err)
	}
	return nil
}

func (b *Builder) setUsers(ids []string) error {
	if err := b.usable(); err != nil {
		return err
	}
	if b.nUsers >= 0 {
		return errors.New("users already set")
	}
	if err := checkIDs(ids); err != nil {
		return err
	}
	if err := b.putIDs(ids, prefUserID, prefUserIdx); err != nil {
		return err
	}
	// Builds before id table format 2 wrote no users.ids.
	if b.idsFormat >= 2 {
		if err := writeIDsFile(filepath.Join(b.staging, usersIDsFile), ids); err != nil {
			return err
		}
	}
	b.nUsers = len(ids)
	b.startSeen()
	return nil
}

func (b *Builder) setFactors(what string, n int, dst **VecHeader, name string, rows, dims int, data []float32) error {
	if err := b.usable(); err != nil {
		return err
	}
	if n < 0 {
		return fmt.Errorf("%s ids not set yet", what)
	}
	if *dst != nil {
		return errors.New("factors already set")
	}
	if rows != n {
		return fmt.Errorf("%d rows for %d %ss", rows, n, what)
	}
	if dims <= 0 || dims > math.MaxUint32-RowAlign {
		return fmt.Errorf("invalid dims %d", dims)
	}
	h, err := writeVecFile(filepath.Join(b.staging, name), rows, dims, data)
	if err != nil {
		return err
	}
	*dst = &h
	return nil
}

// SetItemFactors writes the item factor matrix: data is row-major with
// len(data) == rows*dims, and rows must equal the number of items.
func (b *Builder) SetItemFactors(rows, dims int, data []float32) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.setFactors("item", b.nItems, &b.itemFactors, itemsVecFile, rows, dims, data); err != nil {
		return fmt.Errorf("set item factors of %s: %w", b.version, err)
	}
	return nil
}

// SetUserFactors writes the user factor matrix: data is row-major with
// len(data) == rows*dims, and rows must equal the number of users.
func (b *Builder) SetUserFactors(rows, dims int, data []float32) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.setFactors("user", b.nUsers, &b.userFactors, usersVecFile, rows, dims, data); err != nil {
		return fmt.Errorf("set user factors of %s: %w", b.version, err)
	}
	return nil
}

// encodeSeen encodes sorted, duplicate-free items as uvarint deltas (the
// first item as is).
func encodeSeen(items []int32) []byte {
	out := make([]byte, 0, len(items)*2)
	prev := int32(0)
	for _, it := range items {
		out = binary.AppendUvarint(out, uint64(it-prev))
		prev = it
	}
	return out
}

// decodeSeen appends the items encoded in v to buf. It checks that the
// result is strictly increasing and below n.
func decodeSeen(buf []int32, v []byte, n int) ([]int32, error) {
	var cur uint64
	first := true
	for len(v) > 0 {
		d, k := binary.Uvarint(v)
		if k <= 0 {
			return buf, fmt.Errorf("%w: bad varint in seen list", ErrCorrupt)
		}
		v = v[k:]
		if !first && d == 0 {
			return buf, fmt.Errorf("%w: seen list not strictly increasing", ErrCorrupt)
		}
		cur += d
		first = false
		if cur >= uint64(n) {
			return buf, fmt.Errorf("%w: seen item %d out of range [0, %d)", ErrCorrupt, cur, n)
		}
		buf = append(buf, int32(cur))
	}
	return buf, nil
}

// PutSeen records the items user interacted with in training (the items a
// recommendation for them excludes). Items are sorted and de-duplicated
// here; items does not need to be sorted and is not modified.
func (b *Builder) PutSeen(user int32, items []int32) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.putSeen(user, items); err != nil {
		return fmt.Errorf("put seen of user %d in %s: %w", user, b.version, err)
	}
	return nil
}

func (b *Builder) putSeen(user int32, items []int32) error {
	if err := b.usable(); err != nil {
		return err
	}
	if b.nUsers < 0 || b.nItems < 0 {
		return errors.New("users and items must be set first")
	}
	if user < 0 || int(user) >= b.nUsers {
		return fmt.Errorf("user index out of range [0, %d)", b.nUsers)
	}
	s := slices.Clone(items)
	slices.Sort(s)
	s = slices.Compact(s)
	if len(s) > 0 && (s[0] < 0 || int(s[len(s)-1]) >= b.nItems) {
		return fmt.Errorf("item index out of range [0, %d)", b.nItems)
	}
	if err := b.set(idxKey(prefSeen, user), encodeSeen(s)); err != nil {
		return err
	}
	b.scratch = b.scratch[:0]
	for _, it := range s {
		b.scratch = binary.LittleEndian.AppendUint32(b.scratch, uint32(it))
	}
	return b.seen.put(int(user), b.scratch)
}

// PutNeighbors records the co-occurrence neighbours of item, best first.
func (b *Builder) PutNeighbors(item int32, nbrs []Neighbor) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.putNeighbors(item, nbrs); err != nil {
		return fmt.Errorf("put neighbours of item %d in %s: %w", item, b.version, err)
	}
	return nil
}

func (b *Builder) putNeighbors(item int32, nbrs []Neighbor) error {
	if err := b.checkItem(item); err != nil {
		return err
	}
	v, err := encodeNeighbors(nbrs, b.nItems)
	if err != nil {
		return err
	}
	if err := b.set(idxKey(prefNeighbors, item), v); err != nil {
		return err
	}
	return b.nbrs.put(int(item), v)
}

// checkItem reports whether the builder is usable, its items are set and
// item is one of them: what every per-item Put checks first.
func (b *Builder) checkItem(item int32) error {
	if err := b.usable(); err != nil {
		return err
	}
	if b.nItems < 0 {
		return errors.New("items must be set first")
	}
	if item < 0 || int(item) >= b.nItems {
		return fmt.Errorf("item index out of range [0, %d)", b.nItems)
	}
	return nil
}

// openItemList checks item as checkItem does and opens *w, the per-item
// list file written at Commit as file, on the first put.
func (b *Builder) openItemList(w **csrWriter, file string, item int32) error {
	if err := b.checkItem(item); err != nil {
		return err
	}
	if *w == nil {
		if _, dup := b.aux[file]; dup {
			return fmt.Errorf("%s already written", file)
		}
		*w = newCSRWriter(csrKindNeighbors, b.nItems, filepath.Join(b.staging, file+tmpSuffix))
	}
	return nil
}

// encodeNeighbors encodes a neighbour list as the Badger value and the
// list files hold it: (item uint32, score float32) pairs, little-endian.
func encodeNeighbors(nbrs []Neighbor, nItems int) ([]byte, error) {
	v := make([]byte, 8*len(nbrs))
	for i, n := range nbrs {
		if n.Item < 0 || int(n.Item) >= nItems {
			return nil, fmt.Errorf("neighbour %d out of range [0, %d)", n.Item, nItems)
		}
		binary.LittleEndian.PutUint32(v[8*i:], uint32(n.Item))
		binary.LittleEndian.PutUint32(v[8*i+4:], math.Float32bits(n.Score))
	}
	return v, nil
}

// SetPopularity records one popularity score per item.
func (b *Builder) SetPopularity(scores []float32) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.setPopularity(scores); err != nil {
		return fmt.Errorf("set popularity of %s: %w", b.version, err)
	}
	return nil
}

func (b *Builder) setPopularity(scores []float32) error {
	if err := b.usable(); err != nil {
		return err
	}
	if b.nItems < 0 {
		return errors.New("items must be set first")
	}
	if b.popularity {
		return errors.New("popularity already set")
	}
	if len(scores) != b.nItems {
		return fmt.Errorf("%d scores for %d items", len(scores), b.nItems)
	}
	b.popularity = true
	return b.set([]byte(keyPopularity), encodeFloats(scores))
}

func encodeFloats(fs []float32) []byte {
	v := make([]byte, 4*len(fs))
	for i, f := range fs {
		binary.LittleEndian.PutUint32(v[4*i:], math.Float32bits(f))
	}
	return v
}

// complete checks that everything a version needs was set and that m
// agrees with it, and returns m with the builder-owned fields filled in.
func (b *Builder) complete(m Manifest) (Manifest, error) {
	var missing []string
	if b.nItems < 0 {
		missing = append(missing, "items")
	}
	if b.nUsers < 0 {
		missing = append(missing, "users")
	}
	if b.itemFactors == nil {
		missing = append(missing, "item factors")
	}
	if b.userFactors == nil {
		missing = append(missing, "user factors")
	}
	if !b.popularity {
		missing = append(missing, "popularity")
	}
	if len(missing) > 0 {
		return m, fmt.Errorf("incomplete version: missing %s", strings.Join(missing, ", "))
	}
	if b.itemFactors.Dims != b.userFactors.Dims {
		return m, fmt.Errorf("item factors have %d dims, user factors %d", b.itemFactors.Dims, b.userFactors.Dims)
	}
	switch m.Counts.Items {
	case 0:
		m.Counts.Items = int64(b.nItems)
	case int64(b.nItems):
	default:
		return m, fmt.Errorf("manifest counts %d items, builder has %d", m.Counts.Items, b.nItems)
	}
	switch m.Counts.Users {
	case 0:
		m.Counts.Users = int64(b.nUsers)
	case int64(b.nUsers):
	default:
		return m, fmt.Errorf("manifest counts %d users, builder has %d", m.Counts.Users, b.nUsers)
	}
	switch m.Version {
	case "":
		m.Version = b.version
	case b.version:
	default:
		return m, fmt.Errorf("manifest names version %q, builder writes %q", m.Version, b.version)
	}
	switch m.FormatVersion {
	case 0:
		m.FormatVersion = FormatVersion
	case FormatVersion:
	default:
		return m, fmt.Errorf("manifest format version %d, this build writes %d", m.FormatVersion, FormatVersion)
	}
	if m.CreatedAt.IsZero() {
		m.CreatedAt = time.Now().UTC()
	}
	m.Files = m.Files[:0:0]
	own := []string{itemsVecFile, usersVecFile, itemsIDsFile}
	if b.idsFormat >= 2 {
		own = append(own, usersIDsFile)
	}
	if !b.noLists {
		// Assembled here, after the checks above, so that an incomplete
		// version writes nothing; rewritten if Commit is called again.
		if err := b.seen.writeFile(filepath.Join(b.staging, seenCSRFile)); err != nil {
			return m, fmt.Errorf("write %s: %w", seenCSRFile, err)
		}
		if err := b.nbrs.writeFile(filepath.Join(b.staging, neighborsCSRFile)); err != nil {
			return m, fmt.Errorf("write %s: %w", neighborsCSRFile, err)
		}
		own = append(own, seenCSRFile, neighborsCSRFile)
	}
	for _, name := range own {
		size, sum, err := crcOf(filepath.Join(b.staging, name))
		if err != nil {
			return m, err
		}
		m.Files = append(m.Files, FileInfo{Name: name, Size: size, CRC32C: sum})
	}
	if err := b.writeBasket(); err != nil {
		return m, err
	}
	if err := b.writeSeenWeights(); err != nil {
		return m, err
	}
	if err := b.writeSeenEvents(); err != nil {
		return m, err
	}
	if err := b.writeItemItemRows(); err != nil {
		return m, err
	}
	names := make([]string, 0, len(b.aux))
	for name := range b.aux {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		size, sum, err := crcOf(filepath.Join(b.staging, name))
		if err != nil {
			return m, err
		}
		m.Files = append(m.Files, FileInfo{Name: name, Kind: b.aux[name], Size: size, CRC32C: sum})
	}
	return m, nil
}

// Commit finishes the version: it checks completeness (items, users, both
// factor matrices and popularity set; counts in m consistent), fills the
// manifest's Version, FormatVersion, CreatedAt (if zero) and Files, writes
// the manifest, closes Badger cleanly, fsyncs everything, writes COMPLETE
// and renames staging/<version> to versions/<version>. It does not publish.
//
// If the completeness check fails the builder stays usable and nothing is
// written; any later failure discards the staging directory. Either way
// versions/ and PUBLISHED are untouched on error.
func (b *Builder) Commit(ctx context.Context, m Manifest) (Manifest, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.usable(); err != nil {
		return m, fmt.Errorf("commit %s: %w", b.version, err)
	}
	if err := ctx.Err(); err != nil {
		return m, fmt.Errorf("commit %s: %w", b.version, err)
	}
	m, err := b.complete(m)
	if err != nil {
		return m, fmt.Errorf("commit %s: %w", b.version, err)
	}
	err = b.commit(ctx, m)
	if err != nil && !b.committed {
		b.abort()
	}
	b.unlock()
	if err != nil {
		return m, fmt.Errorf("commit %s: %w", b.version, err)
	}
	return m, nil
}

func (b *Builder) commit(ctx context.Context, m Manifest) error {
	if err := errors.Join(b.seen.close(), b.nbrs.close(), b.basket.close(), b.seenW.close(), b.events.close(), b.itemItem.close()); err != nil {
		return fmt.Errorf("remove list temporaries: %w", err)
	}
	mj, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode manifest: %w", err)
	}
	if err := b.set([]byte(keyManifest), mj); err != nil {
		return err
	}
	if err := b.wb.Flush(); err != nil {
		return fmt.Errorf("flush badger: %w", err)
	}
	// Closing flushes the memtables to tables, which read-only opens need.
	err = b.db.Close()
	b.db, b.wb = nil, nil
	if err != nil {
		return fmt.Errorf("close badger: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := writeFileSynced(filepath.Join(b.staging, manifestFile), mj); err != nil {
		return err
	}
	if err := syncTree(b.staging); err != nil {
		return fmt.Errorf("sync: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	marker, err := buildComplete(b.staging, mj)
	if err != nil {
		return fmt.Errorf("list files: %w", err)
	}
	if err := writeFileSynced(filepath.Join(b.staging, completeFile), marker.marshal()); err != nil {
		return err
	}
	if err := writeFileSynced(filepath.Join(b.staging, lockFile), nil); err != nil {
		return err
	}
	if err := syncDir(b.staging); err != nil {
		return err
	}
	if err := os.Rename(b.staging, b.dir.versionPath(b.version)); err != nil {
		return err
	}
	b.done, b.committed = true, true
	if err := syncDir(filepath.Join(b.dir.path, versionsDir)); err != nil {
		return err
	}
	return syncDir(filepath.Join(b.dir.path, stagingDir))
}

// Abort discards the version being built and removes its staging
// directory. It is a no-op after a successful Commit or a previous Abort.
func (b *Builder) Abort() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.committed {
		return nil
	}
	if err := b.abort(); err != nil {
		return fmt.Errorf("abort %s: %w", b.version, err)
	}
	return nil
}

func (b *Builder) abort() error {
	b.done = true
	errs := []error{b.seen.close(), b.nbrs.close(), b.basket.close(), b.seenW.close(), b.events.close(), b.itemItem.close()}
	if b.wb != nil {
		b.wb.Cancel()
		b.wb = nil
	}
	if b.db != nil {
		errs = append(errs, b.db.Close())
		b.db = nil
	}
	errs = append(errs, os.RemoveAll(b.staging))
	b.unlock()
	return errors.Join(errs...)
}

// unlock releases the staging lock.
func (b *Builder) unlock() {
	if b.lock != nil {
		b.lock.Close()
		b.lock = nil
	}
}
