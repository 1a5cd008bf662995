package pipeline

import (
	"context"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/polecam/polecam/recommender"
	"github.com/polecam/polecam/store"
	"github.com/polecam/polecam/training"
)

// topRows returns the dense model cut to the k weights of largest
// magnitude in each row, ascending by item: a sparse model with negative
// weights, as an approximate EASE keeps them.
func topRows(d *training.ItemItem, k int) *training.SparseItemItem {
	m := &training.SparseItemItem{N: d.N, Ptr: make([]int64, d.N+1)}
	for i := range int32(d.N) {
		row := d.Row(i)
		idx := make([]int32, d.N)
		for j := range idx {
			idx[j] = int32(j)
		}
		slices.SortFunc(idx, func(a, b int32) int {
			return -cmpAbs(row[a], row[b])
		})
		idx = idx[:min(k, len(idx))]
		slices.Sort(idx)
		for _, j := range idx {
			m.Items = append(m.Items, j)
			m.Weights = append(m.Weights, row[j])
		}
		m.Ptr[i+1] = int64(len(m.Items))
	}
	return m
}

func cmpAbs(a, b float32) int {
	x, y := math.Abs(float64(a)), math.Abs(float64(b))
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}

// TestWriteItemItemServes writes the trained models with each kind of
// item-item model through write, publishes the version and checks that
// the published snapshot holds the model in the file recommender reads
// and that a Model over it ranks every user as training.BlendScorer does
// with the model written (and training.RecencyScorer with the popularity
// list counted by recency, when the models have a recency weight).
func TestWriteItemItemServes(t *testing.T) {
	ctx := context.Background()
	opts := options(t, t.TempDir(), sampleLog(t))
	opts.Blend = 0.5
	x, _, err := ingest(ctx, opts, nil, nil)
	if err != nil {
		t.Fatalf("ingest: %v", err)
	}
	opts = opts.ScaledTo(x)
	trained, err := trainModels(ctx, x, opts)
	if err != nil {
		t.Fatalf("trainModels: %v", err)
	}
	dense, ok := trained.itemItem.(*training.ItemItem)
	if !ok {
		t.Fatalf("trainModels item-item model = %T, want the dense EASE model", trained.itemItem)
	}
	n := x.NumItems()
	tests := []struct {
		name    string
		ii      training.ItemScorer
		blend   float32
		recency training.RecencyOptions
		wantErr string
	}{
		{"dense", dense, 0.5, training.RecencyOptions{}, ""},
		{"dense, recent popularity", dense, 0.5, training.RecencyOptions{HalfLifeHours: 48, Weight: 0.4}, ""},
		{"dense, all-time popularity weighted", dense, 0.3, training.RecencyOptions{Weight: 0.8}, ""},
		{"sparse", topRows(dense, 12), 0.5, training.RecencyOptions{}, ""},
		{"sparse, item-item only, recent popularity", topRows(dense, 5), 0, training.RecencyOptions{HalfLifeHours: 12, Weight: 1.6}, ""},
		{"sparse, item-item only", topRows(dense, 5), 0, training.RecencyOptions{}, ""},
		{"sparse, every row empty", &training.SparseItemItem{N: n, Ptr: make([]int64, n+1)}, 0.5, training.RecencyOptions{}, ""},
		{"sparse of another catalogue", &training.SparseItemItem{N: n - 1, Ptr: make([]int64, n)}, 0.5, training.RecencyOptions{}, "items for a catalogue of"},
		{"sparse with bad offsets", &training.SparseItemItem{N: n, Ptr: append(make([]int64, n), 3)}, 0.5, training.RecencyOptions{}, "spans [0, 3) of 0 weights"},
	}
	if !x.HasTimes() {
		t.Fatal("the sample log's matrix records no event times")
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := opts
			o.DataDir = t.TempDir()
			ms := *trained
			ms.itemItem, ms.blend, ms.recency = tt.ii, tt.blend, tt.recency
			m, err := write(ctx, o, x, &ms, store.Manifest{Counts: store.Counts{Users: int64(x.NumUsers()), Items: int64(n), Interactions: int64(x.NNZ())}})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("write = %v, want an error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("write: %v", err)
			}
			dir, err := store.OpenDir(o.DataDir)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := dir.PublishVerified(ctx, m.Version, store.DefaultPublishOptions()); err != nil {
				t.Fatalf("PublishVerified: %v", err)
			}
			v, err := dir.Published()
			if err != nil || v != m.Version {
				t.Fatalf("Published() = %q, %v, want %q", v, err, m.Version)
			}
			s := openVersion(t, o.DataDir, m)
			sparse, isSparse := tt.ii.(*training.SparseItemItem)
			if _, ok := s.Matrix(recommender.ItemItemMatrix); ok == isSparse {
				t.Errorf("snapshot has %s: %v, want %v", recommender.ItemItemMatrix, ok, !isSparse)
			}
			if s.HasItemItemRows() != isSparse {
				t.Errorf("HasItemItemRows() = %v, want %v", s.HasItemItemRows(), isSparse)
			}
			if isSparse {
				for i := range int32(n) {
					got, err := s.ItemItemRow(i)
					if err != nil {
						t.Fatalf("ItemItemRow(%d): %v", i, err)
					}
					items, weights := sparse.Row(i)
					if !slices.EqualFunc(got, items, func(nb store.Neighbor, j int32) bool { return nb.Item == j }) ||
						!slices.EqualFunc(got, weights, func(nb store.Neighbor, w float32) bool { return nb.Score == w }) {
						t.Fatalf("ItemItemRow(%d) = %v, want items %v with weights %v", i, got, items, weights)
					}
				}
			}
			pop, err := s.Popularity()
			if err != nil {
				t.Fatal(err)
			}
			want := training.RecentPopularity(x, tt.recency.HalfLife())
			if !slices.Equal(pop, want) {
				t.Fatalf("snapshot popularity %v…, want RecentPopularity's %v…", pop[:5], want[:5])
			}
			checkServesBlend(t, s, x, ms.factors, tt.ii, tt.blend, tt.recency)
		})
	}
}

// checkServesBlend checks that a Model over s recommends every user of x
// the items training.BlendScorer ranks first, in its order, with its
// scores to 1e-5 (the factor scores are summed in another order; items
// that close may swap), with rc's share of the popularity list
// (training.RecencyScorer) added. The Model closes s.
func checkServesBlend(t *testing.T, s *store.Snapshot, x *training.Interactions, f *training.Factors, ii training.ItemScorer, blend float32, rc training.RecencyOptions) {
	t.Helper()
	const top, tol = 10, 1e-5
	m, err := recommender.NewModel(s)
	if err != nil {
		t.Fatalf("NewModel: %v", err)
	}
	defer m.Close()
	score := training.RecencyScorer(training.BlendScorer(x, f, ii, blend), training.RecentPopularity(x, rc.HalfLife()), rc.Weight)
	want := make([]float32, x.NumItems())
	order := make([]int32, x.NumItems())
	for u := range int32(x.NumUsers()) {
		score(u, want)
		for i := range order {
			order[i] = int32(i)
		}
		slices.SortStableFunc(order, func(a, b int32) int { return -cmpFloat(want[a], want[b]) })
		res, err := m.Recommend(context.Background(), recommender.RecommendRequest{UserID: x.Users[u], N: top})
		if err != nil {
			t.Fatalf("Recommend(%s): %v", x.Users[u], err)
		}
		if len(res.Items) != top || res.Fallback {
			t.Fatalf("Recommend(%s) = %d items (fallback %v), want %d", x.Users[u], len(res.Items), res.Fallback, top)
		}
		for k, it := range res.Items {
			i, _ := x.ItemIndex(it.ID)
			if math.Abs(float64(it.Score-want[i])) > tol {
				t.Errorf("Recommend(%s) item %s score %v, BlendScorer %v", x.Users[u], it.ID, it.Score, want[i])
			}
			if j := order[k]; i != j && math.Abs(float64(want[i]-want[j])) > tol {
				t.Errorf("Recommend(%s) item %d = %s (%v), BlendScorer ranks %s (%v) there", x.Users[u], k, it.ID, want[i], x.Items[j], want[j])
			}
		}
	}
}

func cmpFloat(a, b float32) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// TestTrainSparseEASEBeyondMaxItems checks that a catalogue larger than
// EASE.MaxItems gets sparse EASE (training.FitEASE), the model the tuning
// measured, rather than factors only, and that it is written as the rows
// the server reads and served as blended.
func TestTrainSparseEASEBeyondMaxItems(t *testing.T) {
	ctx := context.Background()
	opts := options(t, t.TempDir(), sampleLog(t))
	opts.Blend, opts.ItemModel = 0.5, ItemModelEASE
	x, _, err := ingest(ctx, opts, nil, nil)
	if err != nil {
		t.Fatalf("ingest: %v", err)
	}
	opts = opts.ScaledTo(x)
	opts.EASE.MaxItems, opts.EASE.Neighbors = x.NumItems()/2, 16
	trained, err := trainModels(ctx, x, opts)
	if err != nil {
		t.Fatalf("trainModels: %v", err)
	}
	sp, ok := trained.itemItem.(*training.SparseItemItem)
	if !ok || trained.recipe.EASE == nil || trained.blend != 0.5 {
		t.Fatalf("trainModels item-item model %T, recipe %v, blend %v; want sparse EASE blended at 0.5", trained.itemItem, trained.recipe, trained.blend)
	}
	want, err := training.TrainSparseEASE(ctx, x, opts.EASE)
	if err != nil {
		t.Fatal(err)
	}
	if sp.N != x.NumItems() || !slices.Equal(sp.Ptr, want.Ptr) || !slices.Equal(sp.Items, want.Items) || !slices.Equal(sp.Weights, want.Weights) {
		t.Fatalf("trained sparse model (%d rows, %d weights) differs from TrainSparseEASE's (%d, %d)", sp.N, len(sp.Weights), want.N, len(want.Weights))
	}
	// Each column j is solved on j's 16 neighbours at most.
	perCol := make([]int, sp.N)
	for _, j := range sp.Items {
		perCol[j]++
	}
	if mx := slices.Max(perCol); mx > 16 || len(sp.Weights) == 0 {
		t.Fatalf("a column keeps %d weights (%d in all), want 1 to 16 neighbours", mx, len(sp.Weights))
	}
	m, err := write(ctx, opts, x, trained, store.Manifest{Counts: store.Counts{Users: int64(x.NumUsers()), Items: int64(x.NumItems()), Interactions: int64(x.NNZ())}})
	if err != nil {
		t.Fatalf("write: %v", err)
	}
	s := openVersion(t, opts.DataDir, m)
	if !s.HasItemItemRows() {
		t.Fatal("snapshot has no item-item rows")
	}
	checkServesBlend(t, s, x, trained.factors, sp, 0.5, training.RecencyOptions{})
}
