package ann

import (
	"bytes"
	"context"
	"math"
	"slices"
	"testing"
)

func TestExactTop(t *testing.T) {
	nan := float32(math.NaN())
	tests := []struct {
		name   string
		scores []float32
		k      int
		filter Filter
		want   []int32
	}{
		{"best first", []float32{1, 5, 3, 4}, 2, nil, []int32{1, 3}},
		{"ties by row", []float32{2, 7, 7, 7, 1}, 2, nil, []int32{1, 2}},
		{"fewer than k", []float32{3, 1}, 5, nil, []int32{0, 1}},
		{"NaN skipped", []float32{nan, -1, nan}, 2, nil, []int32{1}},
		{"filter", []float32{9, 8, 7, 6}, 2, func(i int32) bool { return i%2 == 1 }, []int32{1, 3}},
	}
	for _, tt := range tests {
		var got []int32
		for _, r := range exactTop(tt.scores, tt.k, tt.filter) {
			got = append(got, r.Item)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s: exactTop(%v, %d) = %v, want %v", tt.name, tt.scores, tt.k, got, tt.want)
		}
	}
}

// TestCalibrate checks that Calibrate picks the first width of
// CalibrationEfs whose measured recall reaches the target, by measuring
// the recall at that width and the one before it independently.
func TestCalibrate(t *testing.T) {
	const rows, dims, nq = 4000, 16, 60
	data := clustered(41, rows, dims)
	ix, err := Build(context.Background(), data, rows, dims, dims, Options{M: 8, EfConstruction: 40, EfSearch: 500, Seed: 1, Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	qs := queries(42, nq, dims)
	flat := slices.Concat(qs...)
	tests := []struct {
		target  float64
		reached bool
	}{
		{0.5, true},
		{0.97, true},
		{1.01, false}, // unreachable: the largest width is returned
	}
	for _, tt := range tests {
		c, err := ix.Calibrate(context.Background(), flat, nq, dims, 10, tt.target)
		if err != nil {
			t.Fatalf("Calibrate(target %v): %v", tt.target, err)
		}
		if c.Reached != tt.reached || c.Queries != nq || c.K != 10 {
			t.Errorf("Calibrate(target %v) = %+v, want reached %v over %d queries at k 10", tt.target, c, tt.reached, nq)
		}
		at := slices.Index(CalibrationEfs, c.Ef)
		if at < 0 {
			t.Fatalf("Calibrate(target %v) chose ef %d, not one of %v", tt.target, c.Ef, CalibrationEfs)
		}
		if got := meanRecall(ix, data, qs, 10, c.Ef, nil); math.Abs(got-c.Recall) > 1e-9 {
			t.Errorf("Calibrate(target %v): recall at ef %d reported %v, measured %v", tt.target, c.Ef, c.Recall, got)
		}
		if !tt.reached {
			if c.Ef != CalibrationEfs[len(CalibrationEfs)-1] {
				t.Errorf("Calibrate(target %v) = ef %d, want the largest width", tt.target, c.Ef)
			}
			continue
		}
		if c.Recall < tt.target {
			t.Errorf("Calibrate(target %v) = recall %v below the target", tt.target, c.Recall)
		}
		if at > 0 {
			if prev := meanRecall(ix, data, qs, 10, CalibrationEfs[at-1], nil); prev >= tt.target {
				t.Errorf("Calibrate(target %v) = ef %d, but ef %d already reaches %v", tt.target, c.Ef, CalibrationEfs[at-1], prev)
			}
		}
	}

	// Zero queries are skipped; with none left the index's width stays.
	c, err := ix.Calibrate(context.Background(), make([]float32, 3*dims), 3, dims, 10, 0.9)
	if err != nil || c.Queries != 0 || c.Ef != 500 {
		t.Errorf("Calibrate(zero queries) = %+v, %v; want 0 queries and the index's ef 500", c, err)
	}
	for _, bad := range []struct {
		nq, stride, k int
	}{{2, dims - 1, 10}, {nq + 1, dims, 10}, {nq, dims, 0}} {
		if _, err := ix.Calibrate(context.Background(), flat, bad.nq, bad.stride, bad.k, 0.9); err == nil {
			t.Errorf("Calibrate(nq %d, stride %d, k %d) = nil error, want one", bad.nq, bad.stride, bad.k)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := ix.Calibrate(ctx, flat, nq, dims, 10, 0.9); err == nil {
		t.Error("Calibrate with a cancelled context = nil error, want one")
	}
}

func TestWithEfSearchIsStored(t *testing.T) {
	const rows, dims = 500, 8
	data := clustered(43, rows, dims)
	ix, err := Build(context.Background(), data, rows, dims, dims, Options{M: 8, EfConstruction: 40, EfSearch: 64, Seed: 1, Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	c, err := ix.WithEfSearch(192)
	if err != nil {
		t.Fatal(err)
	}
	if ix.EfSearch() != 64 || c.EfSearch() != 192 {
		t.Errorf("EfSearch() = %d and %d after WithEfSearch(192), want 64 (unchanged) and 192", ix.EfSearch(), c.EfSearch())
	}
	var buf bytes.Buffer
	if _, err := c.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	loaded, err := Load(buf.Bytes(), data, rows, dims, dims)
	if err != nil {
		t.Fatal(err)
	}
	if loaded.EfSearch() != 192 {
		t.Errorf("loaded EfSearch() = %d, want 192", loaded.EfSearch())
	}
	for _, ef := range []int{0, MaxEf + 1} {
		if _, err := ix.WithEfSearch(ef); err == nil {
			t.Errorf("WithEfSearch(%d) = nil error, want one", ef)
		}
	}
}
