package recommender

import (
	"context"
	"io"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/polecam/polecam/store"
)

// openItemItemStore writes a four-item snapshot into a fresh data
// directory: user u0 has the factor vector (1, 0) and has seen i0; the
// items' factor scores for u0 are 1, 0.9, 0.5 and 0.1. With params not
// empty it also holds the item-item matrix B, whose only non-zero row is
// i0's, [0 0 1 2], and params as the ItemItemParams file.
func openItemItemStore(t *testing.T, params string) *store.Snapshot {
	t.Helper()
	ctx := context.Background()
	dir, err := store.OpenDir(t.TempDir())
	if err != nil {
		t.Fatalf("OpenDir: %v", err)
	}
	b, err := dir.NewBuilder(ctx)
	if err != nil {
		t.Fatalf("NewBuilder: %v", err)
	}
	defer b.Abort()
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	must("SetItems", b.SetItems([]string{"i0", "i1", "i2", "i3"}))
	must("SetUsers", b.SetUsers([]string{"u0"}))
	must("SetItemFactors", b.SetItemFactors(4, 2, []float32{1, 0, 0.9, 0, 0.5, 0, 0.1, 0}))
	must("SetUserFactors", b.SetUserFactors(1, 2, []float32{1, 0}))
	must("PutSeen", b.PutSeen(0, []int32{0}))
	must("SetPopularity", b.SetPopularity([]float32{4, 3, 2, 1}))
	if params != "" {
		must("SetMatrix", b.SetMatrix(ItemItemMatrix, 4, 4, []float32{
			0, 0, 1, 2,
			0, 0, 0, 0,
			0, 0, 0, 0,
			0, 0, 0, 0,
		}))
		must("AddFile", b.AddFile(ItemItemParams, func(w io.Writer) error {
			_, err := io.WriteString(w, params)
			return err
		}))
	}
	m, err := b.Commit(ctx, store.Manifest{})
	must("Commit", err)
	s, err := dir.Open(m.Version, store.DefaultOpenOptions())
	must("Open", err)
	return s
}

func TestRecommendItemItemBlend(t *testing.T) {
	// Candidates i1..i3: f = 0.9, 0.5, 0.1 (max 0.9), s = 0, 1, 2 (max 2).
	// Blend 0.5: i1 0.5, i2 0.5·0.5/0.9 + 0.25 = 0.52778, i3 0.5·0.1/0.9 +
	// 0.5 = 0.55556. With i0 a candidate (IncludeSeen) max f = 1: i0 0.5,
	// i1 0.45, i2 0.5, i3 0.55; i0 and i2 tie and go by index.
	tests := []struct {
		name        string
		params      string
		includeSeen bool
		want        []string
		wantScores  []float32
	}{
		{"factors only without the matrix", "", false, []string{"i1", "i2", "i3"}, []float32{0.9, 0.5, 0.1}},
		{"blend 1 ranks by factors", `{"blend":1}`, false, []string{"i1", "i2", "i3"}, []float32{1, 0.5 / 0.9, 0.1 / 0.9}},
		{"blend 0.5", `{"blend":0.5}`, false, []string{"i3", "i2", "i1"}, []float32{0.05/0.9 + 0.5, 0.25/0.9 + 0.25, 0.5}},
		{"blend 0.5 with seen items", `{"blend":0.5}`, true, []string{"i3", "i0", "i2", "i1"}, []float32{0.55, 0.5, 0.5, 0.45}},
		{"item-item only", `{"blend":0}`, false, []string{"i3", "i2", "i1"}, []float32{1, 0.5, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := NewModel(openItemItemStore(t, tt.params))
			if err != nil {
				t.Fatalf("NewModel: %v", err)
			}
			defer m.Close()
			res, err := m.Recommend(context.Background(), RecommendRequest{UserID: "u0", N: len(tt.want), IncludeSeen: tt.includeSeen})
			if err != nil {
				t.Fatalf("Recommend(u0): %v", err)
			}
			var ids []string
			for k, it := range res.Items {
				ids = append(ids, it.ID)
				if it.Source != SourceFactors {
					t.Errorf("Recommend(u0) item %s source %v, want factors", it.ID, it.Source)
				}
				if k < len(tt.wantScores) && math.Abs(float64(it.Score-tt.wantScores[k])) > 1e-6 {
					t.Errorf("Recommend(u0) item %s score %v, want %v", it.ID, it.Score, tt.wantScores[k])
				}
			}
			if !slices.Equal(ids, tt.want) {
				t.Errorf("Recommend(u0) = %v, want %v", ids, tt.want)
			}
			// An unknown user still gets popularity.
			res, err = m.Recommend(context.Background(), RecommendRequest{UserID: "nobody", N: 2})
			if err != nil || !res.Fallback || res.Items[0].ID != "i0" {
				t.Errorf("Recommend(nobody) = %+v, %v; want popularity fallback starting with i0", res, err)
			}
		})
	}
}

func TestItemItemBadParams(t *testing.T) {
	for _, p := range []string{`{"blend":2}`, `{"blend":-0.1}`, `not json`} {
		s := openItemItemStore(t, p)
		m, err := NewModel(s)
		if err == nil {
			m.Close()
			t.Errorf("NewModel(params %s) = nil error, want one", p)
			continue
		}
		s.Close()
		if !strings.Contains(err.Error(), "item-item model") {
			t.Errorf("NewModel(params %s) error %q, want it to name the item-item model", p, err)
		}
	}
}
