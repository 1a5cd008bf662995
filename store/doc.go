// Package store keeps trained models as immutable snapshot versions in a
// data directory, publishes one of them atomically, and opens a version
// read-only for serving with its factor matrices memory-mapped.
//
// Data flows one way: the trainer writes a version with a Builder and
// publishes it; the server opens the published version with Dir.Open. The
// package knows nothing of training or serving.
//
//	d, err := store.OpenDir("/var/lib/polecam")
//	b, err := d.NewBuilder(ctx)
//	defer b.Abort() // no-op once committed
//	b.SetItems(itemIDs); b.SetUsers(userIDs)
//	b.SetItemFactors(len(itemIDs), 64, itemFactors); b.SetUserFactors(len(userIDs), 64, userFactors)
//	b.PutSeen(u, items); b.PutNeighbors(i, nbrs); b.SetPopularity(pop)
//	m, err := b.Commit(ctx, store.Manifest{Params: params})
//	prev, err := d.PublishVerified(ctx, m.Version, store.DefaultPublishOptions()) // verify, then publish
//	r, err := d.RollbackVerified(ctx) // back to the newest earlier version that verifies
//	...
//	v, err := d.Published()
//	s, err := d.Open(v, store.DefaultOpenOptions())
//	defer s.Close()
//
// # Layout
//
//	DATA_DIR/                  (0700)
//	  PUBLISHED                the published version name + "\n"; replaced atomically
//	                           (write temp, fsync, rename, fsync dir)
//	  HISTORY                  the publish history: a stack of versions, one a line, the
//	                           published one last; rewritten atomically before PUBLISHED
//	  PUBLISH.LOCK             flocked while PUBLISHED and HISTORY change
//	  TOMBSTONES               forgotten users: the hex SHA-256 of each id, one a line (appended, fsynced)
//	  TOMBSTONES.LOCK          flocked while TOMBSTONES is appended to
//	  versions/<version>/      one immutable, complete version
//	      badger/              Badger v4 DB: manifest, id maps, seen items, neighbours, popularity
//	      items.vec            item factors (vector file, below)
//	      users.vec            user factors
//	      items.ids            item id table: dense index <-> external id (below)
//	      users.ids            user id table, same format (absent in versions written before it)
//	      seen.csr             every user's seen items (list file, below; absent in older versions)
//	      neighbors.csr        every item's neighbours, same format (absent in older versions)
//	      manifest.json        a copy of the manifest, so Versions need not open Badger
//	      <aux name>           auxiliary files (Builder.AddFile, Builder.SetMatrix), e.g. itemitem.vec
//	      catalog.idx          serving inputs, auxiliary files the store parses (below; all optional):
//	      foldin.bin           the catalogue, the fold-in parameters, the score lists
//	      scores.<name>        (trending, bestsellers) and the basket co-occurrence
//	      basket.csr           neighbours (list file format)
//	      seenweights.csr      every user's training items with their weights (list file format)
//	      seenevents.csr       when each user last had each kind of event with each training item
//	      seenevents.kinds     the names of those kinds of events, a JSON array
//	      itemitem.csr         a sparse item-to-item model: every item's weights for other items (list file format)
//	      COMPLETE             written last; see below. Without it a version is not listed or opened
//	      LOCK                 empty; Open holds a shared flock on it until Close, Retain an exclusive one
//	  staging/<version>/       built here, then fsynced and renamed into versions/ (same filesystem)
//
// Version names sort by creation time: the UTC time with milliseconds, a
// dash and 6 random lowercase hex digits, e.g. "20261122T140621.123Z-a1b2c3".
// Files are 0600 and directories 0700. A build never touches versions/ or
// PUBLISHED before its final rename. A Builder holds an exclusive flock on
// its staging/<version>/ directory until Commit or Abort; Abort (and a
// failed Commit) removes the directory at once, and a killed build's lock
// is dropped by the kernel, so Dir.Leftovers can tell a build in progress
// (InUse) from a leftover. NewBuilder and Dir.RemoveLeftovers remove every
// leftover no live Builder holds, whatever its age; Dir.Clean only those
// older than a given age. Dir.Remove deletes an unpublished version by
// renaming it out of versions/ first. Dir.VersionNames lists every version
// directory, also those Versions skips because they cannot be read.
//
// # Publishing, rollback and retention
//
// Every caller publishes through one policy, Dir.PublishVerified: verify
// the version whole (Verify), then publish it atomically, optionally
// compare-and-swap against the version the caller expected to replace
// (ErrPublishedChanged otherwise), holding a shared lock on the version
// from the check to the pointer change. Dir.RollbackVerified walks back
// through the history to the newest earlier version that verifies,
// passing over (and dropping from the history) corrupt or removed ones,
// and refuses with ErrNoPrevious when none verifies. Publish and Rollback
// are the unverified primitives underneath.
//
// Publish pushes the version onto HISTORY and then replaces PUBLISHED;
// Rollback pops HISTORY and points PUBLISHED at the version below, so
// repeated rollbacks walk back through earlier publishes. PUBLISHED is the
// truth: after a crash between the two writes HISTORY is reconciled with
// it on the next read. Retain keeps the published version, the previous
// one, every version newer than the published one (a candidate not yet
// published, or refused by the quality gate and kept for inspection until
// a newer version is published) and the newest K of the older ones, and
// removes the other older versions unless a process has them open: it takes an exclusive non-blocking flock on the version's LOCK
// (which fails while any Snapshot holds its shared one), renames the
// version out of versions/ and only then deletes it.
//
// # Forgetting users
//
// Forget appends the SHA-256 of a user id, never the id, to TOMBSTONES.
// Servers poll TombstonesStamp (the file size) and reload Tombstones when
// it changes; trainers read Tombstones and leave the users out. A line
// torn by a crash is ignored and cut off by the next Forget.
//
// # The COMPLETE marker
//
// COMPLETE is text: a line "manifest sha256 <hex>" with the SHA-256 of the
// manifest JSON (identical in Badger and manifest.json), then one line
// "file <relative path> <size> <crc32c hex>" for every other file of the
// version (Badger's included, LOCK excluded). Open checks the manifest checksum and stats
// every listed file (a missing or resized Badger table is refused before
// Badger sees it); with OpenOptions.VerifyChecksums, and always in Verify,
// the CRCs are checked too.
//
// # Vector files
//
// items.vec and users.vec hold a dense float32 matrix. This is also the
// import format for factors trained elsewhere. All integers little-endian.
//
//	offset size  field
//	0      8     magic "PCVEC\x00\x00\x00"
//	8      4     format version uint32 (= 1)
//	12     4     dtype uint32 (0 = IEEE-754 float32, little-endian)
//	16     8     rows uint64
//	24     4     dims uint32 (>= 1)
//	28     4     stride uint32: floats per stored row, dims rounded up to a multiple of 16
//	32     4     payload CRC-32C (Castagnoli) over all payload bytes, padding included
//	36     4     header CRC-32C over bytes 0..35
//	40     24    reserved, zero
//	64     ...   payload: rows x stride float32, row-major; floats dims..stride-1 of a row are zero
//
// The file size is exactly 64 + rows*stride*4. Because the mapping is page
// aligned and the header is 64 bytes, every row starts 64-byte aligned.
// Magic and version keep their offsets in all future versions, so a newer
// file is reported as ErrFormat rather than as damage. Open maps the file
// (PROT_READ, MAP_SHARED) and validates the header and size — O(1) — and
// exposes the payload as a []float32 in place (little-endian hosts only);
// the payload CRC is checked only with VerifyChecksums or by Verify.
//
// # Auxiliary files
//
// A version may carry further files for other packages, such as an
// item-item matrix or an ANN index: Builder.AddFile writes raw bytes and
// Builder.SetMatrix a float32 matrix in the vector file format. Names match
// [a-z0-9][a-z0-9._-]* and never one the store uses itself. They are listed
// in Manifest.Files (a matrix with Kind "matrix"), covered by COMPLETE and
// checked by Verify like every other file. Open maps each of them read-only
// (page aligned, nothing decoded; a matrix's header is validated) and
// Snapshot.File and Snapshot.Matrix return the mapped bytes or matrix.
//
// # Serving inputs
//
// These auxiliary files are written by typed Builder methods and parsed
// at Open, so a damaged one fails Open (or Verify) like any other
// file; a version without them opens, and the accessors report false. All
// are mapped and read in place: nothing per item is decoded or copied.
//
//   - catalog.idx (SetCatalog, Snapshot.Catalog): the item catalogue by
//     item row. Header (64 bytes): magic "PCCATLG\x00", format version
//     uint32 (= 1), number of arrays uint32, items uint64, categories
//     uint32, attributes uint32, payload CRC-32C (bytes 64..), header CRC
//     over bytes 0..35, 24 reserved zero bytes. Then a directory of
//     (offset uint64, length uint64) per array and the arrays, each 8-byte
//     aligned: the category names (a string table: uint64 offsets + bytes,
//     sorted, so CategoryIndex is a binary search and a parent sorts before
//     its children), each category's parent (int32, -1 at the top), each
//     item's category (int32, -1 for none), each category's rows (CSR:
//     uint64 offsets + int32 rows, ascending, including the rows of every
//     sub-category), the attribute names (column order), the unavailable
//     rows; then per attribute nine arrays: its sorted distinct values
//     (string table; code c is value c-1), every row's code (uint32, 0 =
//     missing), the rows of each code (CSR, ascending), flags (uint32, bit
//     0 numeric), and for a numeric attribute every row's float64 (NaN when
//     missing), the rows with a value sorted by value then row, and those
//     values. Open checks the whole structure once, in one pass and without
//     allocating per item (offsets, ranges, orders, that each category's
//     list is exactly its subtree's rows and each value's list exactly its
//     rows), so the accessors return slices of the mapping unchecked.
//   - foldin.bin (SetFoldIn, Snapshot.FoldIn): a 128-byte header (magic
//     "PCFOLD\x00\x00", version, dims, then Alpha, Lambda, RegExponent,
//     RegItems, RegMeanWeight, ViewWeight as float64, payload and header
//     CRCs) and YᵀY as dims×dims float64. Verify recomputes YᵀY from
//     items.vec and requires the same bits.
//   - scores.<name> (SetItemScores, Snapshot.ItemScores): a 64-byte header
//     (magic "PCSCORE\x00", version, count, CRCs) and one float32 per item.
//   - basket.csr (PutBasketNeighbors, Snapshot.BasketNeighbors): a list
//     file of kind 2, like neighbors.csr.
//   - seenweights.csr (PutSeenWeights, Snapshot.SeenWeights): a list file
//     of kind 2 with one list per user, (item, weight) ascending by item:
//     the user's row of the training matrix, so a request-time fold-in
//     can rebuild the user's least-squares system exactly.
//   - seenevents.csr (PutSeenEvents, Snapshot.SeenEvents): a list file of
//     kind 3, entries of 12 bytes (item int32, kind uint32, time uint32
//     seconds since the Unix epoch), one list per user ascending by item
//     and kind: the latest time the user had each kind of event with each
//     training item, for the merchandising rules' exclusion windows.
//     seenevents.kinds (SetSeenEventKinds, Snapshot.SeenEventKinds) names
//     the kinds, a JSON array of the event types as logged.
//   - itemitem.csr (PutItemItemRow, Snapshot.ItemItemRow): a list file
//     of kind 2 with one row per item, (item, weight) strictly ascending
//     by item: the weights w(i, j) of a sparse item-to-item model
//     (approximate EASE, RP3beta), any finite float32, negative ones
//     included, served by package recommender in place of the dense
//     itemitem.vec. Unlike the other list files it is checked whole at
//     Open, in one pass over its entries (offsets, items in range and
//     ascending, weights finite; about 6 ms per million weights), so that
//     ItemItemRow returns the mapped row itself, without copying or
//     checking it per request.
//
// # Id tables
//
// ItemID is called for every recommended item, ItemIndex for every excluded
// or seed item and UserIndex once a request, so besides Badger's "i/", "I/",
// "u/" and "U/" keys (which stay the source of truth) the ids live in
// items.ids and users.ids, mapped like the vector files and read in place:
// nothing is decoded or built at open. All integers little-endian.
//
//	offset size  field
//	0      8     magic "PCIDS\x00\x00\x00"
//	8      4     format version uint32 (= 2; 1 is still read)
//	12     4     hash bits uint32: the hash table has 2^bits slots (0 in version 1)
//	16     8     count uint64 (<= 2^31-1)
//	24     8     blob length uint64
//	32     4     payload CRC-32C over all bytes from offset 64, padding included
//	36     4     header CRC-32C over bytes 0..35
//	40     24    reserved, zero
//	64     ...   payload:
//	             (count+1) uint64 offsets into the blob; id i is blob[off[i]:off[i+1]]
//	             the blob: the ids concatenated, zero-padded to a multiple of 8 bytes
//	             2^bits uint32 slots (version 2 only)
//
// The file size is exactly 64 + 8*(count+1) + padded blob + 4*2^bits.
// The slots are an open-addressing hash table of id -> index: 2^bits >=
// 2*count (so at least half the slots are empty), a slot holds index+1 of
// the id stored there or 0 if empty, and an id starts at slot h & (2^bits-1)
// and probes linearly, wrapping at the end. h is the 64-bit FNV-1a of the
// id's bytes with the high half XORed into the low half (h ^ h>>32), so it
// is the same on every machine. A lookup hashes, probes until an empty
// slot, and at each occupied slot compares the candidate's bytes in the
// blob with the id; nothing is allocated. Every slot and offset read is
// bounds-checked on use, so a damaged table yields ErrCorrupt or a miss,
// never another id's index; the payload CRC is checked with VerifyChecksums
// and by Verify, which also checks that the table maps every id to its own
// index and holds nothing else. An id lookup costs about 0.1 µs against
// 4-8 µs and 16-22 allocations for a Badger Get (benchmarks/store.md).
//
// Versions written before format 2 have a version-1 items.ids (no table)
// and no users.ids; their ItemIndex and UserIndex read Badger as before.
// Builds that read only version 1 refuse a version-2 table with ErrFormat.
//
// # List files
//
// Seen is called once per Recommend of a known user and Neighbors once per
// SimilarItems, so besides Badger's "s/" and "n/" records (which stay the
// source of truth) the lists live in seen.csr and neighbors.csr: a
// compressed-sparse-row layout, mapped and read in place like the id
// tables, so that a request never opens a Badger transaction (each one
// hands off twice to Badger's watermark goroutine). All integers
// little-endian.
//
//	offset size  field
//	0      8     magic "PCCSR\x00\x00\x00"
//	8      4     format version uint32 (= 1)
//	12     4     kind uint32: 1 = seen (entry: int32 item, each list strictly ascending),
//	             2 = neighbours (entry: int32 item, float32 score; best first)
//	16     8     count uint64: lists, one per user (seen) or item (neighbours); <= 2^31-1
//	24     8     entries uint64: entries of all lists
//	32     4     payload CRC-32C over all bytes from offset 64
//	36     4     header CRC-32C over bytes 0..35
//	40     24    reserved, zero
//	64     ...   payload:
//	             (count+1) uint64 offsets, in entries; list i is entries[off[i]:off[i+1]]
//	             the entries, 4 (seen) or 8 (neighbours) bytes each, lists in index order
//
// The file size is exactly 64 + 8*(count+1) + entries*entry size, and the
// entries start 8-byte aligned, so Seen and Neighbors copy a list straight
// out of the mapping into the caller's buffer without allocating. An index
// without a list (the builder was never given one) has an empty list.
// Offsets are checked on use and every entry is range-checked as it is
// copied (and seen lists for order), so a damaged file yields ErrCorrupt,
// never a panic or another index's list; the payload CRC is checked with
// VerifyChecksums and by Verify, which also checks that every index's list
// equals its Badger record. The Builder streams lists to a temporary file
// in staging/ as they come, in any order, keeping 12 bytes per index in
// memory, and writes the final file in index order at Commit.
//
// Versions written before the list files have neither; their Seen and
// Neighbors read Badger.
//
// # Badger keys
//
//	"m"                  manifest JSON
//	"i/" + uint32BE idx  item id
//	"I/" + id            uint32BE item index
//	"u/" + uint32BE idx  user id
//	"U/" + id            uint32BE user index
//	"s/" + uint32BE user seen items: sorted, distinct, uvarint-encoded deltas (first item as is)
//	"n/" + uint32BE item neighbours, best first: repeated (uint32 item, float32 score) little-endian
//	"p"                  popularity: one float32 little-endian per item
//
// Each version's database is written once (WriteBatch, 16 MiB memtables,
// one version per key, no compression) and closed cleanly by Commit, which
// flushes the memtables so that it can be opened read-only. Read-only opens
// use no block cache: the tables are uncompressed and memory-mapped, so the
// page cache serves blocks without Badger's cache bookkeeping; this keeps
// lookups faster and the memory cost of each open snapshot small while
// several are open during a hot swap. Badger's warnings and errors go to
// slog; its info chatter is dropped.
//
// # Concurrency
//
// Dir is safe for concurrent use, also across processes (every change is a
// rename). A Builder is safe for concurrent use. A Snapshot is safe for
// concurrent reads by many goroutines, and several Snapshots of one version
// may be open at once; Close must not race with reads, and matrices must
// not be used after Close — owners reference-count snapshots.
package store
