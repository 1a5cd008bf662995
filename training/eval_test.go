package training

import (
	"math"
	"slices"
	"testing"
)

func TestSplitRandom(t *testing.T) {
	x := smallLog(t)
	for _, ratio := range []float64{0, 0.2, 0.5, 1} {
		train, test := SplitRandom(x, ratio, 11)
		for name, m := range map[string]*Interactions{"train": train, "test": test} {
			if err := m.Validate(); err != nil {
				t.Fatalf("ratio %g: %s.Validate() = %v", ratio, name, err)
			}
			if m.NumUsers() != x.NumUsers() || m.NumItems() != x.NumItems() {
				t.Errorf("ratio %g: %s is %d×%d, want %d×%d", ratio, name, m.NumUsers(), m.NumItems(), x.NumUsers(), x.NumItems())
			}
		}
		if id := x.Users[0]; func() bool { u, ok := test.UserIndex(id); return !ok || u != 0 }() {
			t.Errorf("ratio %g: test.UserIndex(%q) lost the shared id map", ratio, id)
		}
		for u := range int32(x.NumUsers()) {
			all, allW := x.UserRow(u)
			tr, trW := train.UserRow(u)
			te, teW := test.UserRow(u)
			n := len(all)
			wantTest := 0
			if n >= 2 {
				wantTest = min(n-1, int(math.Round(ratio*float64(n))))
			}
			if len(te) != wantTest || len(tr)+len(te) != n {
				t.Fatalf("ratio %g: user %d with %d items split %d train + %d test, want %d test", ratio, u, n, len(tr), len(te), wantTest)
			}
			// The two parts partition the row, weights included.
			merged := map[int32]float32{}
			for k, i := range tr {
				merged[i] = trW[k]
			}
			for k, i := range te {
				if _, dup := merged[i]; dup {
					t.Fatalf("ratio %g: user %d item %d in both train and test", ratio, u, i)
				}
				merged[i] = teW[k]
			}
			for k, i := range all {
				if merged[i] != allW[k] {
					t.Fatalf("ratio %g: user %d item %d weight %v after split, want %v", ratio, u, i, merged[i], allW[k])
				}
			}
		}
	}
	a, _ := SplitRandom(x, 0.3, 5)
	b, _ := SplitRandom(x, 0.3, 5)
	c, _ := SplitRandom(x, 0.3, 6)
	if !slices.Equal(a.UserItems, b.UserItems) {
		t.Errorf("SplitRandom with the same seed gave different splits")
	}
	if slices.Equal(a.UserItems, c.UserItems) {
		t.Errorf("SplitRandom with seeds 5 and 6 gave the same split")
	}
}

func TestRecallAtK(t *testing.T) {
	// Users u0, u1, u2 over items i0–i4, split by hand into train and test
	// over the same index spaces.
	b := NewBuilder()
	for _, e := range []event{{"u0", "i0", 1}, {"u0", "i4", 1}, {"u1", "i1", 1}, {"u2", "i2", 1}, {"u0", "i3", 1}, {"u1", "i4", 1}, {"u1", "i0", 1}} {
		b.Add(e.user, e.item, e.w)
	}
	x := b.Build()
	// Train keeps u0's i0 and i4, u1's i1 and u2's i2; the rest is test.
	trainSet := map[[2]string]bool{{"u0", "i0"}: true, {"u0", "i4"}: true, {"u1", "i1"}: true, {"u2", "i2"}: true}
	trPtr, tePtr := []int64{0}, []int64{0}
	var trIdx, teIdx []int32
	var trW, teW []float32
	for u := range int32(x.NumUsers()) {
		items, _ := x.UserRow(u)
		for _, i := range items {
			if trainSet[[2]string{x.Users[u], x.Items[i]}] {
				trIdx, trW = append(trIdx, i), append(trW, 1)
			} else {
				teIdx, teW = append(teIdx, i), append(teW, 1)
			}
		}
		trPtr, tePtr = append(trPtr, int64(len(trIdx))), append(tePtr, int64(len(teIdx)))
	}
	train := fromCSR(x.Users, x.Items, nil, trPtr, trIdx, trW)
	test := fromCSR(x.Users, x.Items, nil, tePtr, teIdx, teW)

	// Score items by their id: i4 > i3 > i2 > i1 > i0.
	rank := map[string]float32{"i0": 0, "i1": 1, "i2": 2, "i3": 3, "i4": 4}
	score := func(_ int32, dst []float32) {
		for i := range dst {
			dst[i] = rank[x.Items[i]]
		}
	}
	// u0 (train i0, i4; test i3): top 1 without train = i3 → hit, recall 1.
	// u1 (train i1; test i0, i4): top 1 = i4 → 1 hit / min(1, 2) = 1;
	//     top 2 = i4, i3 → 1 / 2.
	// u2 has no test items and is skipped.
	tests := []struct {
		k    int
		want float64
	}{
		{k: 1, want: (1 + 1) / 2.0},
		{k: 2, want: (1 + 0.5) / 2.0},
		{k: 5, want: (1 + 1) / 2.0}, // u1: i4, i3, i2, i0 → both found
		{k: 0, want: 0},
	}
	for _, tt := range tests {
		if got := RecallAtK(train, test, tt.k, score); math.Abs(got-tt.want) > 1e-12 {
			t.Errorf("RecallAtK(k=%d) = %v, want %v", tt.k, got, tt.want)
		}
	}
}

func TestTopItems(t *testing.T) {
	scores := []float32{0.5, 0.9, 0.5, 0.1, 0.9, 0.7}
	tests := []struct {
		k        int
		excluded []int
		want     []int32
	}{
		{k: 3, want: []int32{1, 4, 5}},
		{k: 4, want: []int32{1, 4, 5, 0}},
		{k: 10, want: []int32{1, 4, 5, 0, 2, 3}},
		{k: 2, excluded: []int{1}, want: []int32{4, 5}},
		{k: 3, excluded: []int{0, 1, 2, 3, 4, 5}, want: nil},
	}
	for _, tt := range tests {
		ex := make([]bool, len(scores))
		for _, i := range tt.excluded {
			ex[i] = true
		}
		if got := topItems(nil, scores, ex, tt.k); !slices.Equal(got, tt.want) {
			t.Errorf("topItems(k=%d, excluded %v) = %v, want %v", tt.k, tt.excluded, got, tt.want)
		}
	}
}
