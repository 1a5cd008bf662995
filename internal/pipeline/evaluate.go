package pipeline

import (
	"context"
	"fmt"
	"slices"

	"github.com/polecam/polecam/recommender"
	"github.com/polecam/polecam/store"
	"github.com/polecam/polecam/training"
)

// Evaluation is what EvaluateServed measured: the ranking metrics of a
// served model at every k from 1 to MaxK.
type Evaluation struct {
	// AtK[k-1] are the metrics of the top k, for k = 1..len(AtK).
	AtK []training.Metrics
	// Fallback counts the evaluated users answered by popularity (unknown
	// to the model or without a factor vector).
	Fallback int
	// BestRank[i] is the best (smallest, 1-based) rank at which item i of
	// the test matrix's catalogue was recommended to any evaluated user, 0
	// if never: coverage at k is the share of items with 1 ≤ BestRank ≤ k.
	BestRank []int32
	// Recs[j] is the ranking of the j-th user with test items, in test's
	// user order, as indexes into test's catalogue (-1: an item test does
	// not know): two versions evaluated on one test matrix line up user
	// by user, for the gate's paired comparison. Only the gate keeps them
	// (EvaluateServed leaves Recs nil).
	Recs [][]int32
}

// At returns the metrics at k, which must lie in 1..len(e.AtK).
func (e Evaluation) At(k int) training.Metrics { return e.AtK[k-1] }

// EvaluateServed opens version of the data directory as the server does
// (recommender.NewModel over the snapshot) and asks Recommend for the top
// maxK of every user with items in test, exactly as a request would: the
// items the model saw the user interact with are left out and users it
// does not know get popular items. The recommended ids are looked up in
// test's catalogue (an id test does not know is a miss) and scored against
// the user's test items with training.Evaluator at every k from 1 to maxK.
//
// The version need not have been trained on a matrix sharing test's index
// spaces: users and items are matched by id, so a published model can be
// measured on a holdout built afterwards.
func EvaluateServed(ctx context.Context, dataDir, version string, test *training.Interactions, maxK int) (Evaluation, error) {
	return evaluateServed(ctx, dataDir, version, test, maxK, false, recommender.DefaultModelOptions())
}

// EvaluateServedWith is EvaluateServed with the model built with opts,
// e.g. ModelOptions.FoldInUsers to measure every user from a vector folded
// in at request time (polecam eval --fold-in).
func EvaluateServedWith(ctx context.Context, dataDir, version string, test *training.Interactions, maxK int, opts recommender.ModelOptions) (Evaluation, error) {
	return evaluateServed(ctx, dataDir, version, test, maxK, false, opts)
}

// evaluateServed is EvaluateServed; keepRecs also fills Evaluation.Recs.
func evaluateServed(ctx context.Context, dataDir, version string, test *training.Interactions, maxK int, keepRecs bool, opts recommender.ModelOptions) (Evaluation, error) {
	if maxK < 1 || maxK > recommender.MaxN {
		return Evaluation{}, fmt.Errorf("evaluate %s: k %d, want 1 to %d", version, maxK, recommender.MaxN)
	}
	dir, err := store.OpenDir(dataDir)
	if err != nil {
		return Evaluation{}, fmt.Errorf("evaluate %s: %w", version, err)
	}
	snap, err := dir.Open(version, store.DefaultOpenOptions())
	if err != nil {
		return Evaluation{}, fmt.Errorf("evaluate %s: %w", version, err)
	}
	model, err := recommender.NewModelWithOptions(snap, opts)
	if err != nil {
		snap.Close()
		return Evaluation{}, fmt.Errorf("evaluate %s: %w", version, err)
	}
	defer model.Close()

	ni := test.NumItems()
	evs := make([]*training.Evaluator, maxK)
	for k := range evs {
		evs[k] = training.NewEvaluator(k+1, ni)
	}
	ev := Evaluation{BestRank: make([]int32, ni)}
	recs := make([]int32, 0, maxK)
	for u := range test.NumUsers() {
		want, _ := test.UserRow(int32(u))
		if len(want) == 0 {
			continue
		}
		if u%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return Evaluation{}, err
			}
		}
		res, err := model.Recommend(ctx, recommender.RecommendRequest{UserID: test.Users[u], N: maxK})
		if err != nil {
			return Evaluation{}, fmt.Errorf("evaluate %s: recommend for user %q: %w", version, test.Users[u], err)
		}
		if res.Fallback {
			ev.Fallback++
		}
		recs = recs[:0]
		for j, it := range res.Items {
			i, ok := test.ItemIndex(it.ID)
			if !ok {
				i = -1 // an item the holdout's catalogue does not know: a miss
			} else if r := int32(j + 1); ev.BestRank[i] == 0 || r < ev.BestRank[i] {
				ev.BestRank[i] = r
			}
			recs = append(recs, i)
		}
		for k, e := range evs {
			e.Add(recs[:min(k+1, len(recs))], want)
		}
		if keepRecs {
			ev.Recs = append(ev.Recs, slices.Clone(recs))
		}
	}
	ev.AtK = make([]training.Metrics, maxK)
	for k, e := range evs {
		ev.AtK[k] = e.Metrics()
	}
	return ev, nil
}
