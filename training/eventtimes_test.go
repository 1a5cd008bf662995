package training

import (
	"slices"
	"testing"
	"time"
)

// TestBuilderEventTimes checks that AddEvent keeps each pair's latest time
// per kind, aligned with the entries, through Build and Filter.
func TestBuilderEventTimes(t *testing.T) {
	at := func(sec int64) time.Time { return time.Unix(sec, 0) }
	b := NewBuilder()
	b.AddEvent("u1", "a", "view", 1, at(100))
	b.AddEvent("u1", "a", "view", 1, at(50)) // older: the time stays 100
	b.AddEvent("u1", "a", "purchase", 4, at(120))
	b.AddEvent("u1", "b", "view", 1, at(10))
	b.AddEvent("u2", "a", "cart", 2, at(-5)) // before the epoch: clamped to 1
	b.Add("u2", "c", 1)                      // no time
	b.AddEvent("u3", "c", "view", 1, at(7))
	x := b.Build()
	if err := x.Validate(); err != nil {
		t.Fatal(err)
	}
	if want := []string{"view", "purchase", "cart"}; !slices.Equal(x.EventKinds, want) {
		t.Fatalf("EventKinds = %q, want %q", x.EventKinds, want)
	}
	type cell struct {
		user, item string
		times      [3]uint32
	}
	check := func(name string, x *Interactions, want []cell) {
		t.Helper()
		if err := x.Validate(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var got []cell
		for u := range int32(x.NumUsers()) {
			items, _ := x.UserRow(u)
			for k, i := range items {
				e := int(x.UserPtr[u]) + k
				got = append(got, cell{x.Users[u], x.Items[i], [3]uint32(x.EventTimes[e*3 : e*3+3])})
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: cells %v, want %v", name, got, want)
		}
	}
	check("Build", x, []cell{
		{"u1", "a", [3]uint32{100, 120, 0}}, {"u1", "b", [3]uint32{10, 0, 0}},
		{"u2", "a", [3]uint32{0, 0, 1}}, {"u2", "c", [3]uint32{0, 0, 0}},
		{"u3", "c", [3]uint32{7, 0, 0}},
	})
	// Item b, with one user, goes: c moves to index 1.
	check("Filter", x.Filter(1, 2), []cell{
		{"u1", "a", [3]uint32{100, 120, 0}},
		{"u2", "a", [3]uint32{0, 0, 1}}, {"u2", "c", [3]uint32{0, 0, 0}},
		{"u3", "c", [3]uint32{7, 0, 0}},
	})
	// A Builder fed by Add alone records no times.
	plain := NewBuilder()
	plain.Add("u", "i", 1)
	if y := plain.Build(); y.EventKinds != nil || y.EventTimes != nil {
		t.Errorf("Add only: EventKinds %q, EventTimes %v, want nil", y.EventKinds, y.EventTimes)
	}
}
