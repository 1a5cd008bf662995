package recommender

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/polecam/polecam/store"
)

// modelData is the content of a test model, independent of how it is
// stored: the same data backs the in-memory fake and a real store
// snapshot.
type modelData struct {
	items    []string
	itemVecs [][]float32
	users    []string
	userVecs [][]float32
	seen     map[int32][]int32
	nbrs     map[int32][]store.Neighbor
	pop      []float32
}

// dims returns the factor dimension of d.
func (d *modelData) dims() int { return len(d.itemVecs[0]) }

// fakeSnapshot is an in-memory Snapshot. It counts calls made after Close,
// which a correct Model never makes.
type fakeSnapshot struct {
	version      string
	d            *modelData
	itemIdx      map[string]int32
	userIdx      map[string]int32
	itemF, userF store.Matrix
	files        map[string][]byte // auxiliary files, see withInt8

	closed         atomic.Bool
	closes         atomic.Int32
	callsAfterDone atomic.Int32
}

var errFakeClosed = errors.New("fake snapshot: use after close")

func newFake(version string, d *modelData) *fakeSnapshot {
	f := &fakeSnapshot{
		version: version,
		d:       d,
		itemIdx: make(map[string]int32),
		userIdx: make(map[string]int32),
		itemF:   packMatrix(d.itemVecs, d.dims()),
		userF:   packMatrix(d.userVecs, d.dims()),
	}
	for i, id := range d.items {
		f.itemIdx[id] = int32(i)
	}
	for i, id := range d.users {
		f.userIdx[id] = int32(i)
	}
	return f
}

// packMatrix lays rows out the way store does: padded to store.Stride.
func packMatrix(rows [][]float32, dims int) store.Matrix {
	stride := store.Stride(dims)
	m := store.Matrix{Rows: len(rows), Dims: dims, Stride: stride, Data: make([]float32, len(rows)*stride)}
	for i, r := range rows {
		copy(m.Data[i*stride:], r)
	}
	return m
}

func (f *fakeSnapshot) check() error {
	if f.closed.Load() {
		f.callsAfterDone.Add(1)
		return errFakeClosed
	}
	return nil
}

func (f *fakeSnapshot) Version() string           { return f.version }
func (f *fakeSnapshot) NumItems() int             { return len(f.d.items) }
func (f *fakeSnapshot) NumUsers() int             { return len(f.d.users) }
func (f *fakeSnapshot) ItemFactors() store.Matrix { return f.itemF }
func (f *fakeSnapshot) UserFactors() store.Matrix { return f.userF }

func (f *fakeSnapshot) ItemIndex(id string) (int32, bool, error) {
	if err := f.check(); err != nil {
		return 0, false, err
	}
	i, ok := f.itemIdx[id]
	return i, ok, nil
}

func (f *fakeSnapshot) UserIndex(id string) (int32, bool, error) {
	if err := f.check(); err != nil {
		return 0, false, err
	}
	i, ok := f.userIdx[id]
	return i, ok, nil
}

func (f *fakeSnapshot) ItemID(idx int32) (string, error) {
	if err := f.check(); err != nil {
		return "", err
	}
	if idx < 0 || int(idx) >= len(f.d.items) {
		return "", fmt.Errorf("item index %d: %w", idx, store.ErrNotFound)
	}
	return f.d.items[idx], nil
}

func (f *fakeSnapshot) Seen(user int32, buf []int32) ([]int32, error) {
	if err := f.check(); err != nil {
		return nil, err
	}
	buf = append(buf[:0], f.d.seen[user]...)
	slices.Sort(buf)
	return buf, nil
}

func (f *fakeSnapshot) Neighbors(item int32, buf []store.Neighbor) ([]store.Neighbor, error) {
	if err := f.check(); err != nil {
		return nil, err
	}
	return append(buf[:0], f.d.nbrs[item]...), nil
}

func (f *fakeSnapshot) Popularity() ([]float32, error) {
	if err := f.check(); err != nil {
		return nil, err
	}
	return slices.Clone(f.d.pop), nil
}

// File returns an auxiliary file, like store.Snapshot.File.
func (f *fakeSnapshot) File(name string) ([]byte, bool) {
	b, ok := f.files[name]
	return b, ok
}

// withInt8 adds the int8 item vectors file to f and returns f.
func withInt8(t testing.TB, f *fakeSnapshot) *fakeSnapshot {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteInt8Items(&buf, f.itemF); err != nil {
		t.Fatalf("WriteInt8Items: %v", err)
	}
	if f.files == nil {
		f.files = make(map[string][]byte)
	}
	f.files[Int8ItemsFile] = buf.Bytes()
	return f
}

// reopen returns an open snapshot sharing f's data, for building more
// than one Model over the same vectors.
func (f *fakeSnapshot) reopen() *fakeSnapshot {
	return &fakeSnapshot{version: f.version, d: f.d, itemIdx: f.itemIdx, userIdx: f.userIdx, itemF: f.itemF, userF: f.userF, files: f.files}
}

func (f *fakeSnapshot) Close() error {
	f.closes.Add(1)
	f.closed.Store(true)
	return nil
}
