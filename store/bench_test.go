package store

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"testing"
	"time"
)

// buildBenchVersion writes a version with n items and n users, dims factors,
// 10 seen items per user and 10 neighbours per item, and returns its name.
func buildBenchVersion(b *testing.B, d *Dir, n, dims int) string {
	b.Helper()
	start := time.Now()
	ctx := context.Background()
	bl, err := d.NewBuilder(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer bl.Abort()
	r := rand.New(rand.NewPCG(uint64(n), uint64(dims)))
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("sku-%08d", i)
	}
	must := func(err error) {
		if err != nil {
			b.Fatal(err)
		}
	}
	must(bl.SetItems(ids))
	for i := range ids {
		ids[i] = fmt.Sprintf("user-%08d", i)
	}
	must(bl.SetUsers(ids))
	factors := randFloats(r, n*dims)
	must(bl.SetItemFactors(n, dims, factors))
	must(bl.SetUserFactors(n, dims, factors))
	seen := make([]int32, 10)
	nbrs := make([]Neighbor, 10)
	for i := range n {
		for j := range seen {
			seen[j] = int32(r.IntN(n))
			nbrs[j] = Neighbor{Item: int32(r.IntN(n)), Score: float32(10 - j)}
		}
		must(bl.PutSeen(int32(i), seen))
		must(bl.PutNeighbors(int32(i), nbrs))
	}
	must(bl.SetPopularity(factors[:n]))
	m, err := bl.Commit(ctx, Manifest{})
	must(err)
	b.Logf("built %d x %d version in %v", n, dims, time.Since(start).Round(time.Millisecond))
	return m.Version
}

// BenchmarkSnapshot sweeps the catalogue size (items = users) at 64 factors:
// Open+Close of a whole version, and the per-request lookups.
func BenchmarkSnapshot(b *testing.B) {
	const dims = 64
	for _, n := range []int{10_000, 1_000_000} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			d, err := OpenDir(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			v := buildBenchVersion(b, d, n, dims)
			b.Run("OpenClose", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					s, err := d.Open(v, OpenOptions{})
					if err != nil {
						b.Fatal(err)
					}
					if err := s.Close(); err != nil {
						b.Fatal(err)
					}
				}
			})
			s, err := d.Open(v, OpenOptions{})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			r := rand.New(rand.NewPCG(1, 2))
			b.Run("ItemID", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := s.ItemID(int32(r.IntN(n))); err != nil {
						b.Fatal(err)
					}
				}
			})
			itemIDs := make([]string, 1024)
			userIDs := make([]string, 1024)
			for i := range itemIDs {
				itemIDs[i] = fmt.Sprintf("sku-%08d", r.IntN(n))
				userIDs[i] = fmt.Sprintf("user-%08d", r.IntN(n))
			}
			b.Run("ItemIndex", func(b *testing.B) {
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					if _, ok, err := s.ItemIndex(itemIDs[i%len(itemIDs)]); err != nil || !ok {
						b.Fatal(ok, err)
					}
					i++
				}
			})
			b.Run("ItemIndexParallel", func(b *testing.B) {
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					i := 0
					for pb.Next() {
						if _, ok, err := s.ItemIndex(itemIDs[i%len(itemIDs)]); err != nil || !ok {
							b.Error(ok, err)
							return
						}
						i++
					}
				})
			})
			b.Run("UserIndex", func(b *testing.B) {
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					if _, ok, err := s.UserIndex(userIDs[i%len(userIDs)]); err != nil || !ok {
						b.Fatal(ok, err)
					}
					i++
				}
			})
			b.Run("Seen", func(b *testing.B) {
				b.ReportAllocs()
				buf := make([]int32, 0, 64)
				for b.Loop() {
					var err error
					if buf, err = s.Seen(int32(r.IntN(n)), buf); err != nil || len(buf) == 0 {
						b.Fatal(len(buf), err)
					}
				}
			})
			b.Run("Neighbors", func(b *testing.B) {
				b.ReportAllocs()
				buf := make([]Neighbor, 0, 64)
				for b.Loop() {
					var err error
					if buf, err = s.Neighbors(int32(r.IntN(n)), buf); err != nil || len(buf) != 10 {
						b.Fatal(len(buf), err)
					}
				}
			})
		})
	}
}

// benchSink keeps reads of mapped floats from being optimised away.
var benchSink float32

// rssBytes returns the resident set size of this process (Linux).
func rssBytes(b *testing.B) int64 {
	raw, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		b.Skipf("no /proc/self/statm: %v", err)
	}
	var size, resident int64
	if _, err := fmt.Sscan(string(raw), &size, &resident); err != nil {
		b.Fatal(err)
	}
	return resident * int64(os.Getpagesize())
}

// BenchmarkOpen1M measures what a server does at start-up with a published
// model of 1M items (and 1M users) x 64 factors: read PUBLISHED, open the
// version (Badger read-only, map the vector files and id table, validate
// headers; nothing decoded), look up one user and score one item row, then
// close. It reports the bytes mapped and how much the resident set grows
// on open and after every item row has been touched.
func BenchmarkOpen1M(b *testing.B) {
	const n, dims = 1_000_000, 64
	d, err := OpenDir(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	v := buildBenchVersion(b, d, n, dims)
	if err := d.Publish(v); err != nil {
		b.Fatal(err)
	}
	open := func() *Snapshot {
		pub, err := d.Published()
		if err != nil {
			b.Fatal(err)
		}
		s, err := d.Open(pub, DefaultOpenOptions())
		if err != nil {
			b.Fatal(err)
		}
		u, ok, err := s.UserIndex("user-00000042")
		if err != nil || !ok {
			b.Fatal(ok, err)
		}
		for j, x := range s.UserFactors().Row(int(u)) {
			benchSink += x * s.ItemFactors().Row(n - 1)[j]
		}
		return s
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := open().Close(); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	base, rss0 := MappedBytes(), rssBytes(b)
	s := open()
	defer s.Close()
	rss1 := rssBytes(b)
	m := s.ItemFactors()
	for i := range m.Rows {
		benchSink += m.Row(i)[0]
	}
	rss2 := rssBytes(b)
	b.ReportMetric(float64(MappedBytes()-base)/(1<<20), "MiB-mapped")
	b.ReportMetric(float64(rss1-rss0)/(1<<20), "MiB-rss-open")
	b.ReportMetric(float64(rss2-rss0)/(1<<20), "MiB-rss-all-items")
}

// buildIDBenchVersion writes a version with n items "sku-%08d" and n users
// "user-%08d" and one factor each (the id lookups do not read factors).
func buildIDBenchVersion(b *testing.B, d *Dir, n int) string {
	b.Helper()
	ctx := context.Background()
	bl, err := d.NewBuilder(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer bl.Abort()
	must := func(err error) {
		if err != nil {
			b.Fatal(err)
		}
	}
	items, users := make([]string, n), make([]string, n)
	for i := range n {
		items[i], users[i] = fmt.Sprintf("sku-%08d", i), fmt.Sprintf("user-%08d", i)
	}
	must(bl.SetItems(items))
	must(bl.SetUsers(users))
	factors := make([]float32, n)
	must(bl.SetItemFactors(n, 1, factors))
	must(bl.SetUserFactors(n, 1, factors))
	must(bl.SetPopularity(factors))
	m, err := bl.Commit(ctx, Manifest{})
	must(err)
	return m.Version
}

// BenchmarkIDIndex sweeps the number of ids for the id -> index lookups a
// request makes (UserIndex once, ItemIndex per excluded or seed item), for
// ids present and absent, through the mapped hash tables (path=table) and
// through Badger (path=badger, what versions without the tables use).
func BenchmarkIDIndex(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			d, err := OpenDir(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			s, err := d.Open(buildIDBenchVersion(b, d, n), OpenOptions{})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			r := rand.New(rand.NewPCG(3, 4))
			items, users, absent := make([]string, 4096), make([]string, 4096), make([]string, 4096)
			for i := range items {
				items[i] = fmt.Sprintf("sku-%08d", r.IntN(n))
				users[i] = fmt.Sprintf("user-%08d", r.IntN(n))
				absent[i] = fmt.Sprintf("user-%08d", n+r.IntN(n))
			}
			run := func(b *testing.B, name string, ids []string, want bool, lookup func(string) (int32, bool, error)) {
				b.Run(name, func(b *testing.B) {
					b.ReportAllocs()
					i := 0
					for b.Loop() {
						if _, ok, err := lookup(ids[i%len(ids)]); err != nil || ok != want {
							b.Fatal(ok, err)
						}
						i++
					}
				})
			}
			itemSlots, userSlots := s.itemIDs.slots, s.userIDs.slots
			for _, path := range []string{"table", "badger"} {
				if path == "badger" {
					s.itemIDs.slots, s.userIDs.slots = nil, nil
				}
				b.Run("path="+path, func(b *testing.B) {
					run(b, "UserIndex", users, true, s.UserIndex)
					run(b, "ItemIndex", items, true, s.ItemIndex)
					run(b, "UserIndexAbsent", absent, false, s.UserIndex)
					b.Run("ItemIndexParallel", func(b *testing.B) {
						b.ReportAllocs()
						b.RunParallel(func(pb *testing.PB) {
							i := 0
							for pb.Next() {
								if _, ok, err := s.ItemIndex(items[i%len(items)]); err != nil || !ok {
									b.Error(ok, err)
									return
								}
								i++
							}
						})
					})
				})
			}
			s.itemIDs.slots, s.userIDs.slots = itemSlots, userSlots
		})
	}
}

// BenchmarkLists compares Seen and Neighbors read from the mapped list
// files (path=file) with the Badger records (path=badger, as versions
// without the files are served), at 100k and 1M users and items with 10
// entries a list, sequentially and from all Ps at once.
func BenchmarkLists(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			d, err := OpenDir(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			s, err := d.Open(buildBenchVersion(b, d, n, 16), OpenOptions{})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			r := rand.New(rand.NewPCG(5, 6))
			idx := make([]int32, 4096)
			for i := range idx {
				idx[i] = int32(r.IntN(n))
			}
			seenFile, nbrsFile := s.seen, s.nbrs
			defer func() { s.seen, s.nbrs = seenFile, nbrsFile }()
			for _, path := range []string{"file", "badger"} {
				if path == "badger" {
					s.seen, s.nbrs = nil, nil
				}
				b.Run("path="+path, func(b *testing.B) {
					b.Run("Seen", func(b *testing.B) {
						b.ReportAllocs()
						buf := make([]int32, 0, 64)
						i := 0
						for b.Loop() {
							var err error
							if buf, err = s.Seen(idx[i%len(idx)], buf); err != nil || len(buf) == 0 {
								b.Fatal(len(buf), err)
							}
							i++
						}
					})
					b.Run("Neighbors", func(b *testing.B) {
						b.ReportAllocs()
						buf := make([]Neighbor, 0, 64)
						i := 0
						for b.Loop() {
							var err error
							if buf, err = s.Neighbors(idx[i%len(idx)], buf); err != nil || len(buf) != 10 {
								b.Fatal(len(buf), err)
							}
							i++
						}
					})
					b.Run("SeenParallel", func(b *testing.B) {
						b.ReportAllocs()
						b.RunParallel(func(pb *testing.PB) {
							buf := make([]int32, 0, 64)
							i := 0
							for pb.Next() {
								var err error
								if buf, err = s.Seen(idx[i%len(idx)], buf); err != nil || len(buf) == 0 {
									b.Error(len(buf), err)
									return
								}
								i++
							}
						})
					})
				})
			}
		})
	}
}
