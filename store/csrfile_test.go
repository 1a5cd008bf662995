package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// listPut is one PutSeen (items) or PutNeighbors (nbrs) call.
type listPut struct {
	seen  bool
	index int32
	items []int32
	nbrs  []Neighbor
}

// listPuts returns seeded pseudo-random puts for nUsers users and nItems
// items in shuffled order: about every other user and every third item
// gets a list, some lists are empty and some indexes are put twice (the
// later put wins). want* are the lists Seen and Neighbors must return.
func listPuts(seed uint64, nUsers, nItems int) (puts []listPut, wantSeen [][]int32, wantNbrs [][]Neighbor) {
	r := rand.New(rand.NewPCG(seed, 2))
	for u := range nUsers {
		if r.IntN(2) == 0 {
			continue
		}
		for range 1 + r.IntN(2) {
			var items []int32
			for range r.IntN(6) {
				items = append(items, int32(r.IntN(nItems)))
			}
			puts = append(puts, listPut{seen: true, index: int32(u), items: items})
		}
	}
	for i := range nItems {
		if r.IntN(3) != 0 {
			continue
		}
		for range 1 + r.IntN(2) {
			var nbrs []Neighbor
			score := float32(1)
			for range r.IntN(5) {
				score *= r.Float32()
				nbrs = append(nbrs, Neighbor{Item: int32(r.IntN(nItems)), Score: score})
			}
			puts = append(puts, listPut{index: int32(i), nbrs: nbrs})
		}
	}
	r.Shuffle(len(puts), func(i, j int) { puts[i], puts[j] = puts[j], puts[i] })
	wantSeen, wantNbrs = make([][]int32, nUsers), make([][]Neighbor, nItems)
	for _, p := range puts {
		if p.seen {
			wantSeen[p.index] = sortedCompact(p.items)
		} else {
			wantNbrs[p.index] = p.nbrs
		}
	}
	return puts, wantSeen, wantNbrs
}

func sortedCompact(s []int32) []int32 {
	s = slices.Clone(s)
	slices.Sort(s)
	return slices.Compact(s)
}

func applyPuts(t *testing.T, b *Builder, puts []listPut) {
	t.Helper()
	for _, p := range puts {
		var err error
		if p.seen {
			err = b.PutSeen(p.index, p.items)
		} else {
			err = b.PutNeighbors(p.index, p.nbrs)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// listFixture is newFixture without seen lists and neighbours.
func listFixture(seed uint64, nItems, nUsers int) fixture {
	f := newFixture(seed, nItems, nUsers, 3)
	f.seen, f.neighbors = nil, nil
	return f
}

// checkLists checks Seen and Neighbors of every index against want and
// against the Badger records.
func checkLists(t *testing.T, s *Snapshot, wantSeen [][]int32, wantNbrs [][]Neighbor) {
	t.Helper()
	for u, want := range wantSeen {
		got, err := s.Seen(int32(u), make([]int32, 3, 8))
		if err != nil {
			t.Fatalf("Seen(%d) error %v", u, err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("Seen(%d) = %v, want %v", u, got, want)
		}
		fromBadger, err := s.badgerSeen(int32(u), nil)
		if err != nil || !slices.Equal(got, fromBadger) {
			t.Errorf("Seen(%d) = %v, badger has %v, %v", u, got, fromBadger, err)
		}
	}
	for i, want := range wantNbrs {
		got, err := s.Neighbors(int32(i), make([]Neighbor, 2, 8))
		if err != nil {
			t.Fatalf("Neighbors(%d) error %v", i, err)
		}
		if len(want) == 0 && len(got) == 0 {
			continue
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Neighbors(%d) (-want +got):\n%s", i, diff)
		}
		fromBadger, err := s.badgerNeighbors(int32(i), nil)
		if err != nil || !slices.Equal(got, fromBadger) {
			t.Errorf("Neighbors(%d) = %v, badger has %v, %v", i, got, fromBadger, err)
		}
	}
}

func TestListFilesRoundTrip(t *testing.T) {
	ctx := context.Background()
	shuffled, wantSeen, wantNbrs := listPuts(1, 60, 45)
	var emptyPuts []listPut
	for u := range 7 {
		emptyPuts = append(emptyPuts, listPut{seen: true, index: int32(u)})
	}
	for i := range 9 {
		emptyPuts = append(emptyPuts, listPut{index: int32(i), nbrs: []Neighbor{}})
	}
	// Every index put, in descending order, then overwritten by empties.
	var replaced []listPut
	for u := 6; u >= 0; u-- {
		replaced = append(replaced, listPut{seen: true, index: int32(u), items: []int32{int32(u), 0}})
	}
	replaced = append(replaced, listPut{seen: true, index: 3}, listPut{index: 8, nbrs: []Neighbor{{Item: 1, Score: float32(math.Inf(-1))}}})
	replacedSeen := [][]int32{{0}, {0, 1}, {0, 2}, nil, {0, 4}, {0, 5}, {0, 6}}
	replacedNbrs := make([][]Neighbor, 9)
	replacedNbrs[8] = []Neighbor{{Item: 1, Score: float32(math.Inf(-1))}}

	tests := []struct {
		name     string
		nItems   int
		nUsers   int
		puts     []listPut
		wantSeen [][]int32
		wantNbrs [][]Neighbor
	}{
		{"shuffled", 45, 60, shuffled, wantSeen, wantNbrs},
		{"no lists", 9, 7, nil, make([][]int32, 7), make([][]Neighbor, 9)},
		{"empty lists", 9, 7, emptyPuts, make([][]int32, 7), make([][]Neighbor, 9)},
		{"replaced", 9, 7, replaced, replacedSeen, replacedNbrs},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newTestDir(t)
			f := listFixture(3, tt.nItems, tt.nUsers)
			v := buildWith(t, d, f, func(*Builder) {}, func(b *Builder) { applyPuts(t, b, tt.puts) })
			vdir := d.versionPath(v)
			for _, name := range []string{seenCSRFile, neighborsCSRFile} {
				if _, err := os.Stat(filepath.Join(vdir, name)); err != nil {
					t.Errorf("stat %s: %v", name, err)
				}
			}
			tmps, _ := filepath.Glob(filepath.Join(vdir, "*"+tmpSuffix))
			if len(tmps) != 0 {
				t.Errorf("version holds temporary files %v", tmps)
			}
			if err := d.Verify(ctx, v); err != nil {
				t.Fatalf("Verify = %v", err)
			}
			for _, verify := range []bool{false, true} {
				s := openT(t, d, v, OpenOptions{VerifyChecksums: verify})
				if s.seen == nil || s.nbrs == nil {
					t.Fatalf("Open(verify %v) has seen file %v, neighbours file %v, want both", verify, s.seen != nil, s.nbrs != nil)
				}
				checkLists(t, s, tt.wantSeen, tt.wantNbrs)
				for _, idx := range []int32{-1, int32(tt.nUsers)} {
					if got, err := s.Seen(idx, []int32{5}); !errors.Is(err, ErrNotFound) || len(got) != 0 {
						t.Errorf("Seen(%d) = %v, %v, want empty, ErrNotFound", idx, got, err)
					}
				}
				for _, idx := range []int32{-1, int32(tt.nItems)} {
					if got, err := s.Neighbors(idx, []Neighbor{{}}); !errors.Is(err, ErrNotFound) || len(got) != 0 {
						t.Errorf("Neighbors(%d) = %v, %v, want empty, ErrNotFound", idx, got, err)
					}
				}
			}
		})
	}
}

func TestListFilesDoNotAllocate(t *testing.T) {
	d := newTestDir(t)
	f := listFixture(4, 30, 20)
	v := buildWith(t, d, f, func(*Builder) {}, func(b *Builder) {
		applyPuts(t, b, []listPut{{seen: true, index: 5, items: []int32{9, 3, 7}}, {index: 2, nbrs: []Neighbor{{Item: 4, Score: 1}, {Item: 1, Score: 0.5}}}})
	})
	s := openT(t, d, v, OpenOptions{})
	seen, nbrs := make([]int32, 0, 16), make([]Neighbor, 0, 16)
	if n := testing.AllocsPerRun(100, func() { seen, _ = s.Seen(5, seen) }); n != 0 || len(seen) != 3 {
		t.Errorf("Seen allocates %v times, returned %v", n, seen)
	}
	if n := testing.AllocsPerRun(100, func() { nbrs, _ = s.Neighbors(2, nbrs) }); n != 0 || len(nbrs) != 2 {
		t.Errorf("Neighbors allocates %v times, returned %v", n, nbrs)
	}
}

func TestSnapshotWithoutListFiles(t *testing.T) {
	// A version as builds before the list files wrote it: Seen and
	// Neighbors fall back to Badger.
	d := newTestDir(t)
	f := listFixture(5, 25, 30)
	puts, wantSeen, wantNbrs := listPuts(5, 30, 25)
	v := buildWith(t, d, f, func(b *Builder) { b.noLists = true }, func(b *Builder) { applyPuts(t, b, puts) })
	vdir := d.versionPath(v)
	entries, err := os.ReadDir(vdir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".csr") || strings.HasSuffix(e.Name(), tmpSuffix) {
			t.Errorf("version without list files holds %s", e.Name())
		}
	}
	if err := d.Verify(context.Background(), v); err != nil {
		t.Fatalf("Verify = %v", err)
	}
	s := openT(t, d, v, OpenOptions{VerifyChecksums: true})
	if s.seen != nil || s.nbrs != nil {
		t.Fatalf("snapshot has list files")
	}
	checkLists(t, s, wantSeen, wantNbrs)
}

// writeCSRT writes a list file of kind with count lists from lists (index
// -> entries encoded as in the file) and returns its path.
func writeCSRT(t testing.TB, dir string, kind uint32, count int, lists map[int][]byte) string {
	t.Helper()
	p := filepath.Join(dir, fmt.Sprintf("k%d-%d.csr", kind, len(lists)))
	w := newCSRWriter(kind, count, p+tmpSuffix)
	defer w.close()
	keys := make([]int, 0, len(lists))
	for k := range lists {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range slices.Backward(keys) {
		if err := w.put(k, lists[k]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.writeFile(p); err != nil {
		t.Fatal(err)
	}
	return p
}

func le32s(vs ...uint32) []byte {
	var b []byte
	for _, v := range vs {
		b = binary.LittleEndian.AppendUint32(b, v)
	}
	return b
}

func TestListFileCorrupt(t *testing.T) {
	// Seen lists of 4 users: user 1 has {2, 5, 7}, user 3 has {1}; items < 10.
	lists := map[int][]byte{1: le32s(2, 5, 7), 3: le32s(1)}
	// Offsets start at 64: off[i] is at 64+8*i; entries at 64+8*5 = 104.
	const offAt, entAt = csrHeaderSize, csrHeaderSize + 8*5
	type outcome struct {
		open string // error text from openCSRFile(verify); "" = opens
		read string // error text from seenList(user 1) without verification; "" = no error
	}
	tests := []struct {
		name   string
		damage func(t *testing.T, p string)
		want   outcome
	}{
		{"intact", func(*testing.T, string) {}, outcome{}},
		{"flipped entry byte", func(t *testing.T, p string) { flipByte(t, p, entAt+1) }, outcome{open: "payload checksum mismatch", read: "item 16386 after -1"}},
		{"flipped header byte", func(t *testing.T, p string) { flipByte(t, p, 20) }, outcome{open: "header checksum mismatch", read: "header checksum mismatch"}},
		{"truncated", func(t *testing.T, p string) { os.Truncate(p, entAt+4) }, outcome{open: "truncated or torn", read: "truncated or torn"}},
		{"newer format", func(t *testing.T, p string) { editCSR(t, p, putU32At(8, csrFormatVersion+1)) }, outcome{open: "list file format version 2", read: "list file format version 2"}},
		{"wrong kind", func(t *testing.T, p string) { editCSR(t, p, putU32At(12, csrKindNeighbors)) }, outcome{open: "truncated or torn", read: "truncated or torn"}},
		{"unknown kind", func(t *testing.T, p string) { editCSR(t, p, putU32At(12, 9)) }, outcome{open: "invalid list file header", read: "invalid list file header"}},
		{"offset past entries", func(t *testing.T, p string) { editCSR(t, p, putU64At(offAt+16, 99)) }, outcome{read: "offsets [0, 99) invalid"}},
		{"offsets reversed", func(t *testing.T, p string) { editCSR(t, p, putU64At(offAt+8, 4)) }, outcome{read: "offsets [4, 3) invalid"}},
		{"huge offset", func(t *testing.T, p string) { editCSR(t, p, putU64At(offAt+8, math.MaxUint64)) }, outcome{read: "invalid for index 1"}},
		{"not ascending", func(t *testing.T, p string) { editCSR(t, p, putU32At(entAt+4, 2)) }, outcome{read: "item 2 after 2"}},
		{"item out of range", func(t *testing.T, p string) { editCSR(t, p, putU32At(entAt+8, 10)) }, outcome{read: "item 10 after 5, range [0, 10)"}},
		{"negative item", func(t *testing.T, p string) { editCSR(t, p, putU32At(entAt, math.MaxUint32)) }, outcome{read: "item -1 after -1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeCSRT(t, t.TempDir(), csrKindSeen, 4, lists)
			tt.damage(t, p)
			check := func(what, want string, err error) {
				t.Helper()
				if want == "" {
					if err != nil {
						t.Fatalf("%s = %v, want no error", what, err)
					}
					return
				}
				if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), want) {
					t.Fatalf("%s = %v, want ErrCorrupt or ErrFormat containing %q", what, err, want)
				}
			}
			f, err := openCSRFile(p, csrKindSeen, true)
			check("open verified", tt.want.open, err)
			f.close()
			f, err = openCSRFile(p, csrKindSeen, false)
			if err != nil {
				check("open", tt.want.read, err)
				return
			}
			defer f.close()
			got, err := f.seenList([]int32{4}, 1, 10)
			check("seenList(1)", tt.want.read, err)
			if err != nil && !slices.Equal(got, []int32{4}) {
				t.Errorf("seenList(1) failed with %v, returned %v, want the buffer as passed", err, got)
			}
			if err == nil && !slices.Equal(got, []int32{4, 2, 5, 7}) {
				t.Errorf("seenList(1) = %v, want [4 2 5 7]", got)
			}
		})
	}
}

func editCSR(t *testing.T, p string, edit func(data []byte)) {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	edit(data)
	binary.LittleEndian.PutUint32(data[32:36], crc32.Checksum(data[csrHeaderSize:], castagnoli))
	binary.LittleEndian.PutUint32(data[36:40], crc32.Checksum(data[:36], castagnoli))
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func putU64At(off int64, v uint64) func([]byte) {
	return func(b []byte) { binary.LittleEndian.PutUint64(b[off:], v) }
}

func TestNeighborFileCorrupt(t *testing.T) {
	nb := func(item uint32, score float32) []byte { return le32s(item, math.Float32bits(score)) }
	p := writeCSRT(t, t.TempDir(), csrKindNeighbors, 3, map[int][]byte{2: append(nb(1, 0.5), nb(2, 0.25)...)})
	f, err := openCSRFile(p, csrKindNeighbors, true)
	if err != nil {
		t.Fatal(err)
	}
	got, err := f.neighborList(nil, 2, 3)
	f.close()
	if want := []Neighbor{{1, 0.5}, {2, 0.25}}; err != nil || !slices.Equal(got, want) {
		t.Fatalf("neighborList(2) = %v, %v, want %v", got, err, want)
	}
	if _, err := openCSRFile(p, csrKindSeen, false); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "kind 2, want 1") {
		t.Errorf("open neighbours as seen = %v, want ErrCorrupt about the kind", err)
	}
	editCSR(t, p, putU32At(csrHeaderSize+8*4+8, 3))
	f, err = openCSRFile(p, csrKindNeighbors, true)
	if err != nil {
		t.Fatal(err)
	}
	defer f.close()
	if got, err := f.neighborList(nil, 2, 3); !errors.Is(err, ErrCorrupt) || len(got) != 0 || !strings.Contains(err.Error(), "neighbour 3 out of range [0, 3)") {
		t.Errorf("neighborList(2) = %v, %v, want ErrCorrupt about neighbour 3", got, err)
	}
}

func TestListFilesInSnapshotCorrupt(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name   string
		file   string
		damage func(t *testing.T, p string)
		open   string // error text from a verified Open
		read   string // error text from Seen(1)/Neighbors(0) after an unverified Open; "" = reads
	}{
		{"seen flipped", seenCSRFile, func(t *testing.T, p string) { flipByte(t, p, -2) }, "seen.csr", "seen.csr: corrupt snapshot: seen list of 1"},
		{"neighbours flipped", neighborsCSRFile, func(t *testing.T, p string) { flipByte(t, p, -2) }, "neighbors.csr", ""},
		{"seen offsets", seenCSRFile, func(t *testing.T, p string) { editCSR(t, p, putU64At(csrHeaderSize+16, 1<<40)) }, "seen.csr", "seen.csr: corrupt snapshot: list file offsets"},
		{"neighbour offsets", neighborsCSRFile, func(t *testing.T, p string) { editCSR(t, p, putU64At(csrHeaderSize+8, 1<<40)) }, "neighbors.csr", "neighbors.csr: corrupt snapshot: list file offsets"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newTestDir(t)
			f := listFixture(6, 6, 4)
			v := buildWith(t, d, f, func(*Builder) {}, func(b *Builder) {
				applyPuts(t, b, []listPut{{seen: true, index: 1, items: []int32{2, 3}}, {index: 0, nbrs: []Neighbor{{Item: 5, Score: 2}}}})
			})
			tt.damage(t, filepath.Join(d.versionPath(v), tt.file))
			if s, err := d.Open(v, OpenOptions{VerifyChecksums: true}); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), tt.open) {
				if err == nil {
					s.Close()
				}
				t.Errorf("verified Open = %v, want ErrCorrupt about %s", err, tt.open)
			}
			if err := d.Verify(ctx, v); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), tt.open) {
				t.Errorf("Verify = %v, want ErrCorrupt about %s", err, tt.open)
			}
			s := openT(t, d, v, OpenOptions{})
			_, err1 := s.Seen(1, nil)
			_, err2 := s.Neighbors(0, nil)
			err := errors.Join(err1, err2)
			if tt.read == "" {
				if err != nil {
					t.Errorf("Seen, Neighbors = %v, want no error", err)
				}
				return
			}
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), tt.read) {
				t.Errorf("Seen, Neighbors = %v, want ErrCorrupt containing %q", err, tt.read)
			}
		})
	}
}

func TestVerifyCatchesListFileDisagreement(t *testing.T) {
	// Each case writes a list file entry past Badger, so that the files are
	// self-consistent (checksums, COMPLETE) but disagree with Badger.
	tests := []struct {
		name string
		edit func(b *Builder) error
		want string
	}{
		{"seen differs", func(b *Builder) error { return b.seen.put(1, le32s(2, 4)) }, "seen list of user 1 is [2 4] in seen.csr, [2 3] in badger"},
		{"seen without record", func(b *Builder) error { return b.seen.put(3, le32s(0)) }, "seen list of user 3 is [0] in seen.csr, [] in badger"},
		{"seen before record", func(b *Builder) error { return b.seen.put(0, le32s(5)) }, "seen list of user 0 is [5] in seen.csr, [] in badger"},
		{"seen missing", func(b *Builder) error { return b.seen.put(1, nil) }, "seen list of user 1 is [] in seen.csr, [2 3] in badger"},
		{"neighbour score", func(b *Builder) error { return b.nbrs.put(0, le32s(5, math.Float32bits(2.5))) }, "neighbours of item 0 are [{5 2.5}] in neighbors.csr, [{5 2}] in badger"},
		{"neighbours without record", func(b *Builder) error { return b.nbrs.put(5, le32s(1, 0)) }, "neighbours of item 5 are [{1 0}] in neighbors.csr, [] in badger"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newTestDir(t)
			f := listFixture(7, 6, 4)
			v := buildWith(t, d, f, func(*Builder) {}, func(b *Builder) {
				applyPuts(t, b, []listPut{{seen: true, index: 1, items: []int32{2, 3}}, {index: 0, nbrs: []Neighbor{{Item: 5, Score: 2}}}})
				if err := tt.edit(b); err != nil {
					t.Fatal(err)
				}
			})
			err := d.Verify(context.Background(), v)
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Verify = %v, want ErrCorrupt containing %q", err, tt.want)
			}
		})
	}
}

func FuzzCSRFile(f *testing.F) {
	dir := f.TempDir()
	for i, c := range []struct {
		kind  uint32
		count int
		lists map[int][]byte
	}{
		{csrKindSeen, 0, nil},
		{csrKindSeen, 3, map[int][]byte{0: le32s(1, 2), 2: le32s(0)}},
		{csrKindNeighbors, 2, map[int][]byte{1: le32s(0, math.Float32bits(1), 1, math.Float32bits(0.5))}},
	} {
		data, err := os.ReadFile(writeCSRT(f, dir, c.kind, c.count, c.lists))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, uint8(3+i))
	}
	f.Fuzz(func(t *testing.T, data []byte, n uint8) {
		p := filepath.Join(t.TempDir(), "f.csr")
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		for _, kind := range []uint32{csrKindSeen, csrKindNeighbors} {
			for _, verify := range []bool{false, true} {
				c, err := openCSRFile(p, kind, verify)
				if err != nil {
					if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrFormat) {
						t.Fatalf("openCSRFile error %v wraps neither ErrCorrupt nor ErrFormat", err)
					}
					continue
				}
				for i := range min(c.count, 64) {
					var err error
					if kind == csrKindSeen {
						_, err = c.seenList(nil, i, int(n))
					} else {
						_, err = c.neighborList(nil, i, int(n))
					}
					if err != nil && !errors.Is(err, ErrCorrupt) {
						t.Fatalf("list %d: error %v, want ErrCorrupt", i, err)
					}
				}
				c.close()
			}
		}
	})
}
