package store

import (
	"encoding/binary"
	"fmt"
	"log/slog"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
)

// Badger key prefixes; see the package documentation.
const (
	keyManifest   = "m"
	keyPopularity = "p"
	prefItemID    = "i/" // + uint32BE index -> id
	prefItemIdx   = "I/" // + id -> uint32BE index
	prefUserID    = "u/"
	prefUserIdx   = "U/"
	prefSeen      = "s/" // + uint32BE user -> uvarint deltas
	prefNeighbors = "n/" // + uint32BE item -> (uint32 item, float32 score) LE pairs
)

func idxKey(prefix string, i int32) []byte {
	k := make([]byte, len(prefix)+4)
	copy(k, prefix)
	binary.BigEndian.PutUint32(k[len(prefix):], uint32(i))
	return k
}

func strKey(prefix, id string) []byte {
	k := make([]byte, len(prefix)+len(id))
	copy(k, prefix)
	copy(k[len(prefix):], id)
	return k
}

func u32BE(i int32) []byte {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], uint32(i))
	return b[:]
}

// badgerLogger forwards Badger's warnings and errors to slog and drops its
// info and debug chatter.
type badgerLogger struct{ dir string }

func (l badgerLogger) Errorf(f string, a ...any) {
	slog.Error("badger: "+fmt.Sprintf(f, a...), "dir", l.dir)
}
func (l badgerLogger) Warningf(f string, a ...any) {
	slog.Warn("badger: "+fmt.Sprintf(f, a...), "dir", l.dir)
}
func (badgerLogger) Infof(string, ...any)  {}
func (badgerLogger) Debugf(string, ...any) {}

// Badger tuning. A version's database is written once by one builder and
// then only read; several versions may be open at once during a hot swap.
const (
	writeMemTableSize  = 16 << 20
	writeVLogFileSize  = 256 << 20
	readBlockCacheSize = 0 // tables are uncompressed and mmapped: the page cache is the block cache
)

func badgerWriteOptions(dir string) badger.Options {
	return badger.DefaultOptions(dir).
		WithLogger(badgerLogger{dir}).
		WithMetricsEnabled(false).
		WithNumVersionsToKeep(1).
		WithMemTableSize(writeMemTableSize).
		WithNumMemtables(2).
		WithValueLogFileSize(writeVLogFileSize).
		WithNumCompactors(2).
		WithBlockCacheSize(0).
		WithCompression(options.None).
		WithDetectConflicts(false)
}

func badgerReadOptions(dir string, verify bool) badger.Options {
	o := badger.DefaultOptions(dir).
		WithLogger(badgerLogger{dir}).
		WithMetricsEnabled(false).
		WithReadOnly(true).
		WithNumVersionsToKeep(1).
		WithBlockCacheSize(readBlockCacheSize).
		WithValueLogFileSize(writeVLogFileSize).
		WithCompression(options.None).
		WithDetectConflicts(false)
	if verify {
		o = o.WithChecksumVerificationMode(options.OnTableAndBlockRead).WithVerifyValueChecksum(true)
	}
	return o
}
