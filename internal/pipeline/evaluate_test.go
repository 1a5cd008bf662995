package pipeline

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/polecam/polecam/recommender"
)

// TestRecommendAllIsConcurrencyFree checks that the evaluation's requests
// give the same answers from one goroutine or several, the answers of
// Recommend asked one at a time, and that a cancelled context stops them
// with its error.
func TestRecommendAllIsConcurrencyFree(t *testing.T) {
	ctx := context.Background()
	opts := options(t, t.TempDir(), sampleLog(t))
	m, err := Train(ctx, opts)
	if err != nil {
		t.Fatalf("Train: %v", err)
	}
	x, _, err := Ingest(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	s := openVersion(t, opts.DataDir, m)
	model, err := recommender.NewModel(s)
	if err != nil {
		t.Fatal(err)
	}
	defer model.Close()
	const k = 20
	one, fb1, err := recommendAll(ctx, model, x, k, 1)
	if err != nil {
		t.Fatalf("recommendAll, 1 worker: %v", err)
	}
	many, fb4, err := recommendAll(ctx, model, x, k, 4)
	if err != nil {
		t.Fatalf("recommendAll, 4 workers: %v", err)
	}
	asked := 0
	for u := range x.NumUsers() {
		if !slices.Equal(one[u], many[u]) || fb1[u] != fb4[u] {
			t.Fatalf("user %d: %v (fallback %v) with 1 worker, %v (%v) with 4", u, one[u], fb1[u], many[u], fb4[u])
		}
		if want, _ := x.UserRow(int32(u)); len(want) == 0 {
			continue
		}
		asked++
		res, err := model.Recommend(ctx, recommender.RecommendRequest{UserID: x.Users[u], N: k})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Items) != len(one[u]) {
			t.Fatalf("user %d: %d items, Recommend gives %d", u, len(one[u]), len(res.Items))
		}
		for j, it := range res.Items {
			if i, _ := x.ItemIndex(it.ID); i != one[u][j] {
				t.Fatalf("user %d, rank %d: item %d, Recommend gives %q (%d)", u, j, one[u][j], it.ID, i)
			}
		}
	}
	if asked == 0 {
		t.Fatal("no user asked")
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, _, err := recommendAll(cctx, model, x, k, 2); !errors.Is(err, context.Canceled) {
		t.Errorf("recommendAll(cancelled) = %v, want context.Canceled", err)
	}
}
