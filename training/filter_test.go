package training

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestFilter(t *testing.T) {
	// u1 and u2 share a, b; u3 saw only c; d was seen by u1 alone.
	events := []struct {
		user, item string
		w          float32
	}{
		{"u1", "a", 1}, {"u1", "b", 2}, {"u1", "d", 3},
		{"u2", "a", 4}, {"u2", "b", 5},
		{"u3", "c", 6},
		{"u4", "a", 7}, {"u4", "d", 8},
	}
	b := NewBuilder()
	for _, e := range events {
		b.Add(e.user, e.item, e.w)
	}
	x := b.Build()

	type entry struct {
		User, Item string
		W          float32
	}
	tests := []struct {
		name                       string
		minUserItems, minItemUsers int
		users, items               []string
		entries                    []entry
	}{
		{
			name: "no limits", users: []string{"u1", "u2", "u3", "u4"}, items: []string{"a", "b", "d", "c"},
			entries: []entry{{"u1", "a", 1}, {"u1", "b", 2}, {"u1", "d", 3}, {"u2", "a", 4}, {"u2", "b", 5}, {"u3", "c", 6}, {"u4", "a", 7}, {"u4", "d", 8}},
		},
		{
			name: "users with two items", minUserItems: 2,
			users: []string{"u1", "u2", "u4"}, items: []string{"a", "b", "d", "c"},
			entries: []entry{{"u1", "a", 1}, {"u1", "b", 2}, {"u1", "d", 3}, {"u2", "a", 4}, {"u2", "b", 5}, {"u4", "a", 7}, {"u4", "d", 8}},
		},
		{
			name: "items with two users", minItemUsers: 2,
			users: []string{"u1", "u2", "u3", "u4"}, items: []string{"a", "b", "d"},
			entries: []entry{{"u1", "a", 1}, {"u1", "b", 2}, {"u1", "d", 3}, {"u2", "a", 4}, {"u2", "b", 5}, {"u4", "a", 7}, {"u4", "d", 8}},
		},
		{
			// Only a has 3 users; then no user has 2 items, and a loses
			// its users too.
			name: "cascade to empty", minUserItems: 2, minItemUsers: 3,
		},
		{
			// u3 and c go; every other user has 2 items, every other
			// item 2 users.
			name: "both limits", minUserItems: 2, minItemUsers: 2,
			users: []string{"u1", "u2", "u4"}, items: []string{"a", "b", "d"},
			entries: []entry{{"u1", "a", 1}, {"u1", "b", 2}, {"u1", "d", 3}, {"u2", "a", 4}, {"u2", "b", 5}, {"u4", "a", 7}, {"u4", "d", 8}},
		},
		{
			name: "core of three", minUserItems: 3, minItemUsers: 1,
			users: []string{"u1"}, items: []string{"a", "b", "d"},
			entries: []entry{{"u1", "a", 1}, {"u1", "b", 2}, {"u1", "d", 3}},
		},
	}
	for _, tt := range tests {
		got := x.Filter(tt.minUserItems, tt.minItemUsers)
		if err := got.Validate(); err != nil {
			t.Errorf("%s: Filter(%d, %d) invalid: %v", tt.name, tt.minUserItems, tt.minItemUsers, err)
			continue
		}
		var entries []entry
		for u := range got.NumUsers() {
			items, ws := got.UserRow(int32(u))
			for k, i := range items {
				entries = append(entries, entry{got.Users[u], got.Items[i], ws[k]})
			}
		}
		if diff := cmp.Diff(tt.users, got.Users); diff != "" {
			t.Errorf("%s: Filter(%d, %d) users (-want +got):\n%s", tt.name, tt.minUserItems, tt.minItemUsers, diff)
		}
		if diff := cmp.Diff(tt.items, got.Items); diff != "" {
			t.Errorf("%s: Filter(%d, %d) items (-want +got):\n%s", tt.name, tt.minUserItems, tt.minItemUsers, diff)
		}
		if diff := cmp.Diff(tt.entries, entries); diff != "" {
			t.Errorf("%s: Filter(%d, %d) entries (-want +got):\n%s", tt.name, tt.minUserItems, tt.minItemUsers, diff)
		}
		if len(tt.users) > 0 {
			if u, ok := got.UserIndex(tt.users[len(tt.users)-1]); !ok || int(u) != len(tt.users)-1 {
				t.Errorf("%s: UserIndex(%q) = %d, %v after Filter", tt.name, tt.users[len(tt.users)-1], u, ok)
			}
		}
	}
	if got := x.Filter(1, 1); got != x {
		t.Errorf("Filter(1, 1) of a matrix without empty rows made a copy")
	}
}

func TestBuilderScale(t *testing.T) {
	b := NewBuilder()
	b.Add("u", "a", 2)
	b.Scale(0.5)
	b.Add("u", "a", 3)
	b.Add("u", "b", 1)
	b.Scale(2)
	x := b.Build()
	_, ws := x.UserRow(0)
	if diff := cmp.Diff([]float32{8, 2}, ws); diff != "" {
		t.Errorf("weights after Scale (-want +got):\n%s", diff)
	}
}
