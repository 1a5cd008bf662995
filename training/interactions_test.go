package training

import (
	"math"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

type event struct {
	user, item string
	w          float32
}

func build(events []event) *Interactions {
	b := NewBuilder()
	for _, e := range events {
		b.Add(e.user, e.item, e.w)
	}
	return b.Build()
}

func TestBuilder(t *testing.T) {
	tests := []struct {
		name   string
		events []event
		want   *Interactions
	}{
		{
			name: "empty",
			want: &Interactions{Users: []string{}, Items: []string{}, UserPtr: []int64{0}, UserItems: []int32{}, UserWeights: []float32{},
				ItemPtr: []int64{0}, ItemUsers: []int32{}, ItemWeights: []float32{}},
		},
		{
			name: "first seen order and sorted rows",
			events: []event{
				{"bob", "pen", 1}, {"ann", "ink", 2}, {"bob", "ink", 3}, {"ann", "pen", 4}, {"cat", "cup", 5},
			},
			want: &Interactions{
				Users: []string{"bob", "ann", "cat"}, Items: []string{"pen", "ink", "cup"},
				// bob: pen 1, ink 3; ann: pen 4, ink 2; cat: cup 5.
				UserPtr: []int64{0, 2, 4, 5}, UserItems: []int32{0, 1, 0, 1, 2}, UserWeights: []float32{1, 3, 4, 2, 5},
				ItemPtr: []int64{0, 2, 4, 5}, ItemUsers: []int32{0, 1, 0, 1, 2}, ItemWeights: []float32{1, 4, 3, 2, 5},
			},
		},
		{
			name:   "repeated pairs are summed",
			events: []event{{"u", "a", 1}, {"u", "b", 2}, {"u", "a", 1}, {"v", "a", 0.5}, {"u", "a", 3}},
			want: &Interactions{
				Users: []string{"u", "v"}, Items: []string{"a", "b"},
				UserPtr: []int64{0, 2, 3}, UserItems: []int32{0, 1, 0}, UserWeights: []float32{5, 2, 0.5},
				ItemPtr: []int64{0, 2, 3}, ItemUsers: []int32{0, 1, 0}, ItemWeights: []float32{5, 0.5, 2},
			},
		},
		{
			name: "non-positive sums are dropped but keep their indexes",
			events: []event{
				{"u", "a", 1}, {"v", "b", 0}, {"u", "c", 2}, {"u", "c", -2}, {"w", "a", -1}, {"w", "b", float32(math.Inf(1))},
			},
			want: &Interactions{
				Users: []string{"u", "v", "w"}, Items: []string{"a", "b", "c"},
				UserPtr: []int64{0, 1, 1, 1}, UserItems: []int32{0}, UserWeights: []float32{1},
				ItemPtr: []int64{0, 1, 1, 1}, ItemUsers: []int32{0}, ItemWeights: []float32{1},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := build(tt.events)
			if diff := cmp.Diff(tt.want, got, cmpopts.IgnoreUnexported(Interactions{}), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Build() mismatch (-want +got):\n%s", diff)
			}
			if err := got.Validate(); err != nil {
				t.Errorf("Build().Validate() = %v", err)
			}
			for u, id := range got.Users {
				if i, ok := got.UserIndex(id); !ok || int(i) != u {
					t.Errorf("UserIndex(%q) = %d, %v, want %d, true", id, i, ok, u)
				}
			}
			for i, id := range got.Items {
				if j, ok := got.ItemIndex(id); !ok || int(j) != i {
					t.Errorf("ItemIndex(%q) = %d, %v, want %d, true", id, j, ok, i)
				}
			}
			if _, ok := got.UserIndex("nobody"); ok {
				t.Errorf("UserIndex(%q) found an unknown user", "nobody")
			}
		})
	}
}

func TestBuilderReuse(t *testing.T) {
	b := NewBuilder()
	b.Add("u", "a", 1)
	first := b.Build()
	b.Add("u", "a", 1)
	b.Add("v", "b", 1)
	second := b.Build()
	if first.NNZ() != 1 || first.UserWeights[0] != 1 || first.NumUsers() != 1 {
		t.Errorf("first Build() changed by later Adds: %+v", first)
	}
	if second.NNZ() != 2 || second.UserWeights[0] != 2 {
		t.Errorf("second Build() = %v, want nnz 2 and weight 2", second.UserWeights)
	}
	if _, ok := first.UserIndex("v"); ok {
		t.Errorf("first.UserIndex(%q) found a user added later", "v")
	}
}

// TestIndexHandMade checks the lazily built id maps of a matrix assembled by
// hand, from several goroutines at once (run with -race).
func TestIndexHandMade(t *testing.T) {
	x := &Interactions{Users: []string{"a", "b"}, Items: []string{"p"},
		UserPtr: []int64{0, 1, 1}, UserItems: []int32{0}, UserWeights: []float32{1},
		ItemPtr: []int64{0, 1}, ItemUsers: []int32{0}, ItemWeights: []float32{1}}
	done := make(chan int32)
	for range 4 {
		go func() {
			u, _ := x.UserIndex("b")
			done <- u
		}()
	}
	for range 4 {
		if u := <-done; u != 1 {
			t.Errorf("UserIndex(%q) = %d, want 1", "b", u)
		}
	}
}

func TestValidate(t *testing.T) {
	valid := func() *Interactions {
		return build([]event{{"u", "a", 1}, {"u", "b", 2}, {"v", "a", 3}})
	}
	tests := []struct {
		name    string
		mutate  func(x *Interactions)
		wantErr string // substring; empty means valid
	}{
		{"valid", func(*Interactions) {}, ""},
		{"short user pointers", func(x *Interactions) { x.UserPtr = x.UserPtr[:2] }, "user pointer length"},
		{"item index out of range", func(x *Interactions) { x.UserItems[1] = 7 }, "out of range"},
		{"unsorted row", func(x *Interactions) { x.UserItems[0], x.UserItems[1] = 1, 0 }, "not strictly increasing"},
		{"zero weight", func(x *Interactions) { x.UserWeights[0] = 0 }, "weight 0"},
		{"NaN weight", func(x *Interactions) { x.ItemWeights[0] = float32(math.NaN()) }, "weight NaN"},
		{"columns disagree", func(x *Interactions) { x.ItemWeights[0] = 9 }, "do not match"},
		{"duplicate item id", func(x *Interactions) { x.Items[1] = x.Items[0] }, "duplicate item id"},
		{"weights length", func(x *Interactions) { x.UserWeights = x.UserWeights[:1] }, "weights"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := valid()
			tt.mutate(x)
			err := x.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("Validate() = %v, want nil", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("Validate() = %v, want error containing %q", err, tt.wantErr)
			}
		})
	}
}
