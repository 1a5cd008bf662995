package ann

import (
	"context"
	"fmt"
	"testing"
)

// unreached returns the graph's nodes that a walk of layer 0 from the
// entry cannot reach.
func unreached(ix *Index) []uint32 {
	if ix.entry == none {
		return nil
	}
	seen := make([]bool, ix.rows)
	seen[ix.entry] = true
	stack := []uint32{ix.entry}
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, nb := range ix.links(n, 0, false, nil) {
			if !seen[nb] {
				seen[nb] = true
				stack = append(stack, nb)
			}
		}
	}
	var out []uint32
	for i := range ix.rows {
		if !seen[i] && !isZero(ix.row(uint32(i))) {
			out = append(out, uint32(i))
		}
	}
	return out
}

// TestBuildReachesEveryNode checks that every node of a built graph is
// reachable from the entry on layer 0, whatever the seed, the width of
// the lists and the number of workers inserting at once (concurrent
// inserts can prune the last link to a node), so that a search as wide
// as the index returns every item.
func TestBuildReachesEveryNode(t *testing.T) {
	const dims = 16
	for _, tc := range []struct {
		rows, m, workers int
		seed             uint64
	}{
		{1003, 4, 1, 1}, {1003, 4, 2, 2}, {1003, 4, 4, 3},
		{2000, 2, 4, 4}, {2000, 8, 3, 5}, {300, 2, 8, 6},
	} {
		t.Run(fmt.Sprintf("rows=%d/m=%d/workers=%d", tc.rows, tc.m, tc.workers), func(t *testing.T) {
			data := clustered(tc.seed, tc.rows, dims)
			// Short vectors are the ones pruning strands.
			for i := 0; i < tc.rows; i += 7 {
				for d := range dims {
					data[i*dims+d] *= 0.05
				}
			}
			opts := DefaultOptions()
			opts.M, opts.Workers, opts.Seed = tc.m, tc.workers, int64(tc.seed)
			ix, err := Build(context.Background(), data, tc.rows, dims, dims, opts)
			if err != nil {
				t.Fatal(err)
			}
			if u := unreached(ix); len(u) > 0 {
				t.Fatalf("%d nodes unreachable from the entry, first %v", len(u), u[:min(5, len(u))])
			}
			q := data[:dims]
			if got := ix.Search(q, tc.rows, MaxEf, nil, nil, nil); len(got) != min(tc.rows, MaxEf) {
				t.Errorf("Search(n=%d, ef=%d) returned %d results, want %d", tc.rows, MaxEf, len(got), min(tc.rows, MaxEf))
			}
		})
	}
}

// TestConnectRelinksStrandedNodes strands nodes by hand — every link to
// them is redirected to another node, so that every list stays as full as
// it was — and checks that connect makes them reachable again, also when
// the lists near them have no room.
func TestConnectRelinksStrandedNodes(t *testing.T) {
	const rows, dims = 600, 16
	data := clustered(9, rows, dims)
	opts := DefaultOptions()
	opts.M, opts.Workers = 2, 1
	ix, err := Build(context.Background(), data, rows, dims, dims, opts)
	if err != nil {
		t.Fatal(err)
	}
	var order []uint32
	for i := range rows {
		order = append(order, uint32(i))
	}
	for _, full := range []bool{false, true} {
		strand := map[uint32]bool{}
		for i := uint32(5); i < rows; i += 97 {
			if i != ix.entry {
				strand[i] = true
			}
		}
		for _, n := range order {
			lst := ix.list(n, 0)
			for k := 1; k <= int(lst[0]); k++ {
				if !strand[lst[k]] {
					continue
				}
				// Point the link at a node the list does not hold yet
				// (keeping it full), or drop it.
				repl := uint32(none)
				for c := n + 1; c != n; c = (c + 1) % rows {
					if !strand[c] && !contains(lst[1:1+lst[0]], c) {
						repl = c
						break
					}
				}
				if repl == none {
					lst[k] = lst[lst[0]]
					lst[0]--
					k--
					continue
				}
				lst[k] = repl
			}
			if full {
				for c := uint32(0); int(lst[0]) < ix.m0 && c < rows; c++ {
					if c != n && !strand[c] && !contains(lst[1:1+lst[0]], c) {
						lst[1+lst[0]] = c
						lst[0]++
					}
				}
			}
		}
		if u := unreached(ix); len(u) < len(strand) {
			t.Fatalf("full=%v: %d nodes unreachable after stranding %d", full, len(u), len(strand))
		}
		ix.connect(order, DefaultOptions().EfConstruction)
		if u := unreached(ix); len(u) > 0 {
			t.Errorf("full=%v: %d nodes still unreachable after connect: %v", full, len(u), u)
		}
	}
}

func contains(s []uint32, x uint32) bool {
	for _, v := range s {
		if v == x {
			return true
		}
	}
	return false
}
