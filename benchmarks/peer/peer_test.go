package peer

import (
	"context"
	"slices"
	"testing"

	"github.com/polecam/polecam/benchmarks/fixture"
	"github.com/polecam/polecam/store"
)

func TestRecall(t *testing.T) {
	tests := []struct {
		got, want []int32
		r         float64
	}{
		{[]int32{1, 2, 3}, []int32{3, 2, 1}, 1},
		{[]int32{1, 9}, []int32{1, 2}, 0.5},
		{nil, []int32{1}, 0},
		{nil, nil, 1},
	}
	for _, tt := range tests {
		if r := recall(tt.got, tt.want); r != tt.r {
			t.Errorf("recall(%v, %v) = %v, want %v", tt.got, tt.want, r, tt.r)
		}
	}
}

func TestTopN(t *testing.T) {
	scores := []float32{0.5, 3, -1, 3, 7, 0, 2}
	tests := []struct {
		n    int
		want []int32
	}{
		{1, []int32{4}},
		{3, []int32{4, 1, 3}}, // ties by index
		{10, []int32{4, 1, 3, 6, 0, 5, 2}},
	}
	for _, tt := range tests {
		if got := topN(nil, scores, tt.n); !slices.Equal(got, tt.want) {
			t.Errorf("topN(%v, %d) = %v, want %v", scores, tt.n, got, tt.want)
		}
	}
}

func TestValidate(t *testing.T) {
	bad := []func(*Options){
		func(o *Options) { o.DataDir = "" },
		func(o *Options) { o.Queries = 0 },
		func(o *Options) { o.N = 0 },
		func(o *Options) { o.Recall = 1.5 },
		func(o *Options) { o.Efs = []int{64, 32} },
		func(o *Options) { o.Efs = nil },
	}
	if err := DefaultOptions("x").Validate(); err != nil {
		t.Errorf("DefaultOptions().Validate() = %v", err)
	}
	for i, edit := range bad {
		o := DefaultOptions("x")
		edit(&o)
		if err := o.Validate(); err == nil {
			t.Errorf("case %d: Validate(%+v) = nil, want an error", i, o)
		}
	}
}

// TestRun measures a tiny fixture: the exact scan must agree with the
// ground truth and the sweep must reach the recall target.
func TestRun(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	d, err := store.OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	fo := fixture.DefaultOptions()
	fo.Items, fo.Users, fo.Factors, fo.Clusters = 3000, 60, 16, 8
	if _, err := fixture.Write(ctx, d, fo); err != nil {
		t.Fatal(err)
	}
	o := DefaultOptions(dir)
	o.Queries = 50
	r, err := Run(ctx, o)
	if err != nil {
		t.Fatalf("Run() error = %v", err)
	}
	if r.Items != fo.Items || r.Dims != fo.Factors || r.ExactMedianMs <= 0 {
		t.Errorf("Run() = %d items, %d dims, exact %v ms; want %d, %d and a positive time", r.Items, r.Dims, r.ExactMedianMs, fo.Items, fo.Factors)
	}
	if r.ScanMedianMs <= 0 {
		t.Errorf("scan median = %v ms, want a positive time", r.ScanMedianMs)
	}
	if r.ExactRecall < 0.99 {
		t.Errorf("exact Recommend recall = %v, want 1 but for ties", r.ExactRecall)
	}
	if r.ANNAtRecall == nil || r.ANNAtRecall.Recall < o.Recall || r.ANNBuildSeconds <= 0 {
		t.Errorf("ANN sweep %+v reached %+v, want recall >= %v", r.ANNSweep, r.ANNAtRecall, o.Recall)
	}
}
