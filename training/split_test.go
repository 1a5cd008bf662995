package training

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// itemCounts returns the number of interactions of each item.
func itemCounts(x *Interactions) []int {
	c := make([]int, x.NumItems())
	for i := range c {
		c[i] = int(x.ItemPtr[i+1] - x.ItemPtr[i])
	}
	return c
}

func TestSplitStratifiedItem(t *testing.T) {
	// Item i has sizes[i] users; with a test ratio of 0.25 the j-th of n
	// goes to train when j/n ≤ 0.75: ⌊0.75·n⌋ to train, the rest to test.
	sizes := []int{1, 2, 3, 4, 5, 8, 10}
	wantTrain := []int{0, 1, 2, 3, 3, 6, 7}
	b := NewBuilder()
	for i, n := range sizes {
		for u := range n {
			b.Add(fmt.Sprintf("u%d", u), fmt.Sprintf("i%d", i), float32(u+1))
		}
	}
	x := b.Build()
	train, test, err := SplitStratifiedItem(x, 0.25, 42)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []*Interactions{train, test} {
		if err := m.Validate(); err != nil {
			t.Fatalf("Validate: %v", err)
		}
	}
	trc, tec := itemCounts(train), itemCounts(test)
	for i, n := range sizes {
		ii, _ := x.ItemIndex(fmt.Sprintf("i%d", i))
		if trc[ii] != wantTrain[i] || tec[ii] != n-wantTrain[i] {
			t.Errorf("item with %d users: %d train, %d test; want %d and %d", n, trc[ii], tec[ii], wantTrain[i], n-wantTrain[i])
		}
	}
	// Train and test partition x, weights kept.
	for u := range x.NumUsers() {
		all, ws := x.UserRow(int32(u))
		tr, trw := train.UserRow(int32(u))
		te, tew := test.UserRow(int32(u))
		got := map[int32]float32{}
		for k, i := range tr {
			got[i] = trw[k]
		}
		for k, i := range te {
			if _, dup := got[i]; dup {
				t.Fatalf("user %d item %d in both train and test", u, i)
			}
			got[i] = tew[k]
		}
		if len(got) != len(all) {
			t.Fatalf("user %d: %d items after the split, %d before", u, len(got), len(all))
		}
		for k, i := range all {
			if got[i] != ws[k] {
				t.Errorf("user %d item %d: weight %v after the split, %v before", u, i, got[i], ws[k])
			}
		}
	}
	// Deterministic for a seed.
	train2, _, _ := SplitStratifiedItem(x, 0.25, 42)
	if !slices.Equal(train.UserItems, train2.UserItems) {
		t.Error("SplitStratifiedItem is not deterministic for a seed")
	}
	for _, r := range []float64{0, 1, -0.1, 2} {
		if _, _, err := SplitStratifiedItem(x, r, 1); err == nil {
			t.Errorf("SplitStratifiedItem(ratio %v) = nil error, want one", r)
		}
	}
}

func TestHoldoutBuilder(t *testing.T) {
	day := func(d int) time.Time { return time.Date(2026, 11, d, 12, 0, 0, 0, time.UTC) }
	h := NewHoldoutBuilder(day(10))
	h.Add("u1", "a", 1, day(1))  // train
	h.Add("u1", "a", 4, day(11)) // after the cutoff: not in train, a is not new
	h.Add("u1", "b", 1, day(10)) // at the cutoff: test
	h.Add("u1", "b", 9, day(12)) // test, summed
	h.Add("u2", "c", 2, day(3))  // train
	h.Add("u3", "a", 1, day(15)) // a user seen only in the holdout
	train, test := h.Build()
	type entry struct {
		user, item string
		w          float32
	}
	entries := func(x *Interactions) []entry {
		var out []entry
		for u := range x.NumUsers() {
			items, ws := x.UserRow(int32(u))
			for k, i := range items {
				out = append(out, entry{x.Users[u], x.Items[i], ws[k]})
			}
		}
		return out
	}
	wantTrain := []entry{{"u1", "a", 1}, {"u2", "c", 2}}
	wantTest := []entry{{"u1", "b", 10}, {"u3", "a", 1}}
	if got := entries(train); !slices.Equal(got, wantTrain) {
		t.Errorf("train = %v, want %v", got, wantTrain)
	}
	if got := entries(test); !slices.Equal(got, wantTest) {
		t.Errorf("test = %v, want %v", got, wantTest)
	}
	if !slices.Equal(train.Users, test.Users) || !slices.Equal(train.Items, test.Items) {
		t.Errorf("index spaces differ: train %v %v, test %v %v", train.Users, train.Items, test.Users, test.Items)
	}
}

func TestSplitLeaveLastOut(t *testing.T) {
	// User a: items seen at times 3, 1, 2 (i0, i1, i2); b: one item; c: two
	// items last seen at the same time, the tie broken by Seq; d: a full
	// tie, broken by the larger item index.
	b := NewBuilder()
	type ev struct {
		user, item string
		last       LastSeen
	}
	evs := []ev{
		{"a", "i0", LastSeen{3, 0}}, {"a", "i1", LastSeen{1, 1}}, {"a", "i2", LastSeen{2, 2}},
		{"b", "i0", LastSeen{9, 3}},
		{"c", "i1", LastSeen{5, 7}}, {"c", "i2", LastSeen{5, 4}},
		{"d", "i0", LastSeen{5, 5}}, {"d", "i3", LastSeen{5, 5}},
	}
	when := map[string]LastSeen{}
	for _, e := range evs {
		b.Add(e.user, e.item, 1)
		when[e.user+"/"+e.item] = e.last
	}
	x := b.Build()
	last := make([]LastSeen, x.NNZ())
	for u := range x.NumUsers() {
		for p := x.UserPtr[u]; p < x.UserPtr[u+1]; p++ {
			last[p] = when[x.Users[u]+"/"+x.Items[x.UserItems[p]]]
		}
	}
	ids := func(m *Interactions) map[string][]string {
		out := map[string][]string{}
		for u := range m.NumUsers() {
			items, _ := m.UserRow(int32(u))
			for _, i := range items {
				out[m.Users[u]] = append(out[m.Users[u]], m.Items[i])
			}
		}
		return out
	}
	tests := []struct {
		n               int
		wantTest        map[string][]string
		wantTrainLength int
	}{
		{1, map[string][]string{"a": {"i0"}, "c": {"i1"}, "d": {"i3"}}, 5},
		{2, map[string][]string{"a": {"i0", "i2"}}, 6},
		{3, map[string][]string{}, 8},
	}
	for _, tc := range tests {
		train, test, err := SplitLeaveLastOut(x, last, tc.n)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range []*Interactions{train, test} {
			if err := m.Validate(); err != nil {
				t.Fatalf("n=%d: Validate: %v", tc.n, err)
			}
		}
		if got := ids(test); fmt.Sprint(got) != fmt.Sprint(tc.wantTest) {
			t.Errorf("SplitLeaveLastOut(n=%d) test = %v, want %v", tc.n, got, tc.wantTest)
		}
		if train.NNZ() != tc.wantTrainLength || train.NNZ()+test.NNZ() != x.NNZ() {
			t.Errorf("SplitLeaveLastOut(n=%d): %d train + %d test of %d, want %d train", tc.n, train.NNZ(), test.NNZ(), x.NNZ(), tc.wantTrainLength)
		}
	}
	if _, _, err := SplitLeaveLastOut(x, last, 0); err == nil {
		t.Error("SplitLeaveLastOut(n=0) succeeded, want an error")
	}
	if _, _, err := SplitLeaveLastOut(x, last[:2], 1); err == nil {
		t.Error("SplitLeaveLastOut with short times succeeded, want an error")
	}
}

// TestReindex moves a matrix into the index spaces of a filtered one: the
// same ids keep their interactions, the unknown ones are left out.
func TestReindex(t *testing.T) {
	b := NewBuilder()
	for _, e := range []struct{ u, i string }{{"u1", "a"}, {"u1", "b"}, {"u2", "b"}, {"u2", "c"}, {"u3", "a"}} {
		b.Add(e.u, e.i, 1)
	}
	x := b.Build()
	if got := Reindex(x, x); got != x {
		t.Errorf("Reindex(x, x) = %p, want x itself (%p)", got, x)
	}
	fb := NewBuilder()
	fb.Add("u2", "c", 1)
	fb.Add("u1", "b", 1)
	fb.Add("u9", "z", 1)
	fit := fb.Build()
	got := Reindex(x, fit)
	if err := got.Validate(); err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{"u2": {"b", "c"}, "u1": {"b"}, "u9": nil}
	for u, id := range got.Users {
		items, _ := got.UserRow(int32(u))
		var names []string
		for _, i := range items {
			names = append(names, got.Items[i])
		}
		slices.Sort(names)
		if !slices.Equal(names, want[id]) {
			t.Errorf("Reindex: user %s has %v, want %v", id, names, want[id])
		}
	}
}
