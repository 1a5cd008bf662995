package store

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// fixture is the content written into a test version.
type fixture struct {
	items, users []string
	dims         int
	itemFactors  []float32 // row-major len(items) x dims
	userFactors  []float32
	seen         map[int32][]int32 // as passed to PutSeen (unsorted, with duplicates)
	neighbors    map[int32][]Neighbor
	popularity   []float32
	files        map[string][]byte        // auxiliary files (AddFile)
	matrices     map[string]fixtureMatrix // auxiliary matrices (SetMatrix)
	manifest     Manifest                 // as passed to Commit
}

type fixtureMatrix struct {
	rows, dims int
	data       []float32
}

// newFixture returns deterministic pseudo-random content for a version.
func newFixture(seed uint64, nItems, nUsers, dims int) fixture {
	r := rand.New(rand.NewPCG(seed, 1))
	f := fixture{dims: dims, seen: map[int32][]int32{}, neighbors: map[int32][]Neighbor{}}
	for i := range nItems {
		f.items = append(f.items, fmt.Sprintf("sku-%05d", i))
	}
	for i := range nUsers {
		f.users = append(f.users, fmt.Sprintf("user-%d", i*7))
	}
	f.itemFactors = randFloats(r, nItems*dims)
	f.userFactors = randFloats(r, nUsers*dims)
	f.popularity = randFloats(r, nItems)
	// Every other user has seen items, listed unsorted and with a duplicate.
	for u := 0; u < nUsers; u += 2 {
		var s []int32
		for range 1 + r.IntN(8) {
			s = append(s, int32(r.IntN(nItems)))
		}
		f.seen[int32(u)] = append(s, s[0])
	}
	for i := 0; i < nItems; i += 3 {
		var ns []Neighbor
		score := float32(1)
		for range 1 + r.IntN(5) {
			score *= r.Float32()
			ns = append(ns, Neighbor{Item: int32(r.IntN(nItems)), Score: score})
		}
		f.neighbors[int32(i)] = ns
	}
	notes := make([]byte, 100+r.IntN(100))
	for i := range notes {
		notes[i] = byte('a' + r.IntN(26))
	}
	f.files = map[string][]byte{"notes.txt": notes, "empty.bin": {}}
	f.matrices = map[string]fixtureMatrix{"itemitem.vec": {rows: nItems, dims: 5, data: randFloats(r, nItems*5)}}
	f.manifest = Manifest{
		CodeVersion: "test",
		Params:      json.RawMessage(`{"factors":10,"lambda":0.1}`),
		Counts:      Counts{Events: 1234, Interactions: 456, BadLines: 3},
		Window: Window{
			From: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC),
			To:   time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC),
		},
		Sources: []SourceFile{{Path: "logs/access.log", Size: 99, SHA256: "ab12"}},
		Metrics: map[string]float64{"recall@10": 0.25},
	}
	return f
}

func randFloats(r *rand.Rand, n int) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = r.Float32()*2 - 1
	}
	return out
}

// write puts everything of f into b.
func (f fixture) write(b *Builder) error {
	if err := b.SetItems(f.items); err != nil {
		return err
	}
	if err := b.SetUsers(f.users); err != nil {
		return err
	}
	if err := b.SetItemFactors(len(f.items), f.dims, f.itemFactors); err != nil {
		return err
	}
	if err := b.SetUserFactors(len(f.users), f.dims, f.userFactors); err != nil {
		return err
	}
	for u, s := range f.seen {
		if err := b.PutSeen(u, s); err != nil {
			return err
		}
	}
	for i, ns := range f.neighbors {
		if err := b.PutNeighbors(i, ns); err != nil {
			return err
		}
	}
	for name, data := range f.files {
		if err := b.AddFile(name, func(w io.Writer) error {
			_, err := w.Write(data)
			return err
		}); err != nil {
			return err
		}
	}
	for name, m := range f.matrices {
		if err := b.SetMatrix(name, m.rows, m.dims, m.data); err != nil {
			return err
		}
	}
	return b.SetPopularity(f.popularity)
}

// buildVersion builds and commits a small version of f in d and returns
// the committed manifest.
func buildVersion(tb testing.TB, d *Dir, f fixture) Manifest {
	tb.Helper()
	ctx := context.Background()
	b, err := d.NewBuilder(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	defer b.Abort()
	if err := f.write(b); err != nil {
		tb.Fatal(err)
	}
	m, err := b.Commit(ctx, f.manifest)
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

// newTestDir opens a data directory in a fresh temporary directory.
func newTestDir(tb testing.TB) *Dir {
	tb.Helper()
	d, err := OpenDir(tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

func openT(tb testing.TB, d *Dir, v string, opts OpenOptions) *Snapshot {
	tb.Helper()
	s, err := d.Open(v, opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}
