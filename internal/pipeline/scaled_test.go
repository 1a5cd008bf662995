package pipeline

import (
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestScaledDefaults(t *testing.T) {
	tests := []struct {
		name              string
		users, items, nnz int
		want              Recipe
	}{
		// 5.9 interactions per user: log₂(6.9) = 2.79 → 16·2.79 = 44.6 → 48.
		{"sparse shop", 12000, 4000, 70800, Recipe{Factors: 48, Iterations: 15, Item: ItemModelEASE, EASELambda: 3 * 70800.0 / 4000, Blend: 0.3}},
		// The quick start: 26 per user → 16·4.75 = 76 → 80.
		{"quick start", 5000, 2000, 130000, Recipe{Factors: 80, Iterations: 15, Item: ItemModelEASE, EASELambda: 195, Blend: 0.3}},
		// A large catalogue: sparse EASE (beyond EASE.MaxItems); RP3beta
		// beyond easeItems.
		{"large catalogue", 100000, 50000, 2000000, Recipe{Factors: 72, Iterations: 15, Item: ItemModelEASE, EASELambda: 120, Blend: 0.3}},
		{"huge catalogue", 1000000, 500000, 20000000, Recipe{Factors: 72, Iterations: 15, Item: ItemModelRP3, EASELambda: 120, Blend: 0.3}},
		// Long histories reach the ceiling; a tiny catalogue caps factors.
		{"long histories", 1000, 3000, 1000000000, Recipe{Factors: 256, Iterations: 15, Item: ItemModelEASE, EASELambda: 1e6, Blend: 0.8}},
		{"tiny catalogue", 50, 20, 400, Recipe{Factors: 8, Iterations: 15, Item: ItemModelEASE, EASELambda: 60, Blend: 0.3}},
		// MovieLens-100K's training part: 79 per user, dense: 0.8.
		{"movielens", 943, 1682, 74331, Recipe{Factors: 104, Iterations: 15, Item: ItemModelEASE, EASELambda: 3 * 74331.0 / 1682, Blend: 0.8}},
		// 40 per user: log₂ 40 is 0.41 of the way from log₂ 26 to log₂ 64.
		{"medium", 1000, 1000, 40000, Recipe{Factors: 88, Iterations: 15, Item: ItemModelEASE, EASELambda: 120, Blend: float32(0.3 + 0.5*(math.Log2(40)-math.Log2(26))/(math.Log2(64)-math.Log2(26)))}},
		{"one event", 1, 1, 1, Recipe{Factors: 8, Iterations: 15, Item: ItemModelEASE, EASELambda: 3, Blend: 0.3}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, ScaledDefaults(tt.users, tt.items, tt.nnz)); diff != "" {
			t.Errorf("ScaledDefaults(%s: %d users, %d items, %d nnz) (-want +got):\n%s", tt.name, tt.users, tt.items, tt.nnz, diff)
		}
	}
}

func TestScaledToKeepsExplicitValues(t *testing.T) {
	o := DefaultOptions()
	o.ALS.Factors, o.Blend = 12, 0.9
	got := o.scaled(Recipe{Factors: 64, Iterations: 15, EASELambda: 100, Blend: 0.5})
	if got.ALS.Factors != 12 || got.Blend != 0.9 || got.ALS.Iterations != 15 || got.EASE.Lambda != 100 {
		t.Errorf("scaled = factors %d, blend %v, iterations %d, λ %v; want 12, 0.9 (explicit), 15, 100 (scaled)",
			got.ALS.Factors, got.Blend, got.ALS.Iterations, got.EASE.Lambda)
	}
	if err := DefaultOptions().validateModels(); err != nil {
		t.Errorf("the automatic defaults do not validate: %v", err)
	}
	bad := DefaultOptions()
	bad.Blend = 2
	if err := bad.validateModels(); err == nil {
		t.Error("blend 2 validated, want an error")
	}
}
