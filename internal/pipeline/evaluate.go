package pipeline

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"

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
	all, fallback, err := recommendAll(ctx, model, test, maxK, runtime.GOMAXPROCS(0))
	if err != nil {
		return Evaluation{}, fmt.Errorf("evaluate %s: %w", version, err)
	}
	ev := Evaluation{BestRank: make([]int32, ni)}
	for u, recs := range all {
		want, _ := test.UserRow(int32(u))
		if len(want) == 0 {
			continue
		}
		if fallback[u] {
			ev.Fallback++
		}
		for j, i := range recs {
			if r := int32(j + 1); i >= 0 && (ev.BestRank[i] == 0 || r < ev.BestRank[i]) {
				ev.BestRank[i] = r
			}
		}
		for k, e := range evs {
			e.Add(recs[:min(k+1, len(recs))], want)
		}
		if keepRecs {
			ev.Recs = append(ev.Recs, recs)
		}
	}
	ev.AtK = make([]training.Metrics, maxK)
	for k, e := range evs {
		ev.AtK[k] = e.Metrics()
	}
	return ev, nil
}

// recommendAll asks model for the maxK best items of every user of test
// with test items, from workers goroutines (each request is independent,
// so the answers are those of one at a time), and returns, by user, the
// items' indices in test (−1 for an item test does not know) and whether
// the user got the fallback. It returns when every goroutine has stopped;
// the first error stops them all.
func recommendAll(ctx context.Context, model *recommender.Model, test *training.Interactions, maxK, workers int) ([][]int32, []bool, error) {
	n := test.NumUsers()
	recs := make([][]int32, n)
	fallback := make([]bool, n)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	const batch = 64 // users a goroutine claims at once; ctx is checked between
	var next atomic.Int64
	errs := make([]error, max(workers, 1))
	var wg sync.WaitGroup
	for w := range errs {
		wg.Go(func() {
			for {
				lo := int(next.Add(batch)) - batch
				if lo >= n {
					return
				}
				if err := ctx.Err(); err != nil {
					errs[w] = err
					return
				}
				for u := lo; u < min(lo+batch, n); u++ {
					if want, _ := test.UserRow(int32(u)); len(want) == 0 {
						continue
					}
					res, err := model.Recommend(ctx, recommender.RecommendRequest{UserID: test.Users[u], N: maxK})
					if err != nil {
						errs[w] = fmt.Errorf("recommend for user %q: %w", test.Users[u], err)
						cancel()
						return
					}
					r := make([]int32, len(res.Items))
					for j, it := range res.Items {
						i, ok := test.ItemIndex(it.ID)
						if !ok {
							i = -1 // an item the holdout's catalogue does not know: a miss
						}
						r[j] = i
					}
					recs[u], fallback[u] = r, res.Fallback
				}
			}
		})
	}
	wg.Wait()
	// The error that stopped the others, rather than their cancellation.
	for _, err := range errs {
		if err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
			return nil, nil, err
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	return recs, fallback, nil
}
