package cli

import (
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/polecam/polecam/internal/testenv"
)

// evalJSON runs polecam eval with args and decodes its JSON output.
func evalJSON(t *testing.T, args ...string) map[string]any {
	t.Helper()
	out := run(t, append([]string{"eval", "--json", "--log-level", "warn"}, args...)...)
	var r map[string]any
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("eval output is not one JSON object: %v\n%s", err, out)
	}
	for _, key := range []string{"precision", "recall", "ndcg", "map", "users", "items", "params"} {
		if _, ok := r[key]; !ok {
			t.Errorf("eval JSON lacks %q: %s", key, out)
		}
	}
	return r
}

// TestEvalTimeSplit runs the time-based holdout on a generated shop log
// through the whole path: split, train, snapshot, serve, measure.
func TestEvalTimeSplit(t *testing.T) {
	log := filepath.Join(t.TempDir(), "events.csv")
	run(t, "gen", "--out", log, "--users", "300", "--items", "150", "--events", "12000", "--seed", "3", "--days", "30")
	r := evalJSON(t, "--events", log, "--split", "time", "--holdout-days", "5", "--factors", "8", "--iterations", "3")
	if r["split"] != "time" || r["users"].(float64) < 1 || r["items"].(float64) != 150 {
		t.Errorf("eval = %v, want a time split over 150 items with users evaluated", r)
	}
	if p := r["precision"].(float64); p <= 0 || p > 1 {
		t.Errorf("precision %v, want in (0, 1]", p)
	}
	// The popularity baseline on the same split: measured, and beaten.
	pop, _ := r["popularity"].(map[string]any)
	if p, _ := pop["ndcg"].(float64); !(p > 0 && p < r["ndcg"].(float64)) {
		t.Errorf("popularity ndcg %v, want in (0, the model's %v)", pop["ndcg"], r["ndcg"])
	}
}

// ml100kRecorded are the figures of benchmarks/quality.md, seed by seed
// (raw output: benchmarks/results/quality-ml100k.txt): the data-scaled
// defaults through the serving path. They reproduce to four decimals
// across runs.
var ml100kRecorded = []struct {
	seed            int
	ndcg, precision float64
}{
	{42, 0.4945, 0.4299},
	{43, 0.4977, 0.4338},
	{44, 0.4884, 0.4281},
	{45, 0.4899, 0.4230},
	{46, 0.4928, 0.4256},
}

// TestEvalMovieLens100K is the quality benchmark of benchmarks/quality.md,
// through the serving path, with the data-scaled defaults. Every seed must
// reproduce its recorded nDCG@10 and P@10 within 0.0010, and over seeds
// 42-46 the means must meet the bar the project held before issue 11:
// nDCG@10 >= 0.49 and P@10 >= 0.425 (0.4926 and 0.4281 recorded; issue
// 11's 0.50 / 0.435 is not reached). The bar is a 5-seed mean: seeds 44
// and 45 alone are below 0.49 nDCG and seed 45 below 0.425 P@10, so no
// single seed can stand for it.
//
// Under the race detector one eval costs about 40 CPU-seconds, so only
// seed 42 runs there and checks its recorded figures; the target is
// checked by the run without -race (the second pass of README.md's test
// command), about 5 CPU-seconds a seed.
func TestEvalMovieLens100K(t *testing.T) {
	data := testenv.ML100KRatings(t)
	const tolerance = 0.0010
	seeds := ml100kRecorded
	if raceEnabled {
		seeds = seeds[:1]
	}
	var sumNDCG, sumP float64
	for _, want := range seeds {
		r := evalJSON(t, "--events", data, "--format", "movielens", "--split", "stratified-item",
			"--test-ratio", "0.25", "--seed", strconv.Itoa(want.seed), "--k", "10")
		ndcg, p := r["ndcg"].(float64), r["precision"].(float64)
		t.Logf("ml-100k seed %d: ndcg@10 %.4f, precision@10 %.4f, recall@10 %.4f, map %.4f",
			want.seed, ndcg, p, r["recall"], r["map"])
		if r["users"].(float64) != 943 || r["items"].(float64) != 1682 {
			t.Errorf("seed %d: users %v, items %v; want 943 and 1682", want.seed, r["users"], r["items"])
		}
		if math.Abs(ndcg-want.ndcg) > tolerance || math.Abs(p-want.precision) > tolerance {
			t.Errorf("seed %d: ndcg@10 %.4f, precision@10 %.4f; want the recorded %.4f and %.4f within %.4f",
				want.seed, ndcg, p, want.ndcg, want.precision, tolerance)
		}
		sumNDCG += ndcg
		sumP += p
	}
	if len(seeds) < len(ml100kRecorded) {
		t.Logf("race detector on: seed 42 only; the 5-seed target is checked without -race")
		return
	}
	// The target; above every published row of the Recommenders
	// table (best: BiVAE, 0.4751 and 0.4118).
	n := float64(len(seeds))
	t.Logf("ml-100k seeds 42-46: mean ndcg@10 %.4f, precision@10 %.4f", sumNDCG/n, sumP/n)
	if ndcg, p := sumNDCG/n, sumP/n; ndcg < 0.49 || p < 0.425 {
		t.Errorf("ml-100k seeds 42-46: mean ndcg@10 %.4f, precision@10 %.4f; want at least 0.49 and 0.425", ndcg, p)
	}
}

// TestEvalMovieLens100KFoldIn checks that answering every MovieLens user
// from a vector folded in at request time from their training items
// (eval --fold-in) keeps nDCG@10 within 3 % of their trained vectors',
// on seed 42 (the recorded figure of TestEvalMovieLens100K). It runs in
// the non-race pass; under the race detector it would cost about 40
// CPU-seconds.
func TestEvalMovieLens100KFoldIn(t *testing.T) {
	data := testenv.ML100KRatings(t)
	if raceEnabled {
		t.Skip("race detector on: the fold-in evaluation runs in the pass without -race")
	}
	want := ml100kRecorded[0]
	r := evalJSON(t, "--events", data, "--format", "movielens", "--split", "stratified-item",
		"--test-ratio", "0.25", "--seed", strconv.Itoa(want.seed), "--k", "10", "--fold-in")
	ndcg := r["ndcg"].(float64)
	t.Logf("ml-100k seed %d folded in: ndcg@10 %.4f (trained vectors %.4f), precision@10 %.4f", want.seed, ndcg, want.ndcg, r["precision"])
	if r["fold_in"] != true {
		t.Errorf("report fold_in = %v, want true", r["fold_in"])
	}
	if ndcg < 0.97*want.ndcg {
		t.Errorf("folded-in ndcg@10 %.4f is more than 3 %% below the trained vectors' %.4f", ndcg, want.ndcg)
	}
}

// TestEvalLeaveLastOut holds out each user's last interaction of a
// generated shop log, with train's ingestion flags: train and test
// together are the interactions train trains on.
func TestEvalLeaveLastOut(t *testing.T) {
	log := filepath.Join(t.TempDir(), "events.csv")
	run(t, "gen", "--out", log, "--users", "300", "--items", "150", "--events", "12000", "--seed", "3", "--days", "30")
	ingest := []string{"--dedup-window", "1m", "--half-life", "240h", "--min-user-items", "3", "--min-item-users", "3"}
	r := evalJSON(t, append([]string{"--events", log, "--split", "leave-last-out", "--test-last", "2", "--factors", "8", "--iterations", "3"}, ingest...)...)
	if r["split"] != "leave-last-out" || r["test_last"].(float64) != 2 {
		t.Errorf("eval = %v, want a leave-last-out split of 2", r)
	}
	if users, test := r["users"].(float64), r["test_interactions"].(float64); users < 1 || test != 2*users {
		t.Errorf("eval: %v users evaluated, %v test interactions; want 2 per user", users, test)
	}
	out := run(t, append([]string{"train", "--data-dir", t.TempDir(), "--events", log, "--no-gate", "--factors", "8", "--iterations", "3", "--log-level", "warn"}, ingest...)...)
	want := fmt.Sprintf("%.0f interactions", r["interactions"].(float64))
	if !strings.Contains(out, want) {
		t.Errorf("train on the same events and flags printed\n%s\nwant %q (eval's train + test)", out, want)
	}
}

// TestEvalTune runs eval --tune, train's tuning, on each kind of split:
// the validation part is carved from the split's training part (a time
// split before the test days for --split time, stratified folds seeded by
// --seed otherwise) and the chosen recipe is what is measured.
func TestEvalTune(t *testing.T) {
	log := filepath.Join(t.TempDir(), "events.csv")
	run(t, "gen", "--out", log, "--users", "400", "--items", "150", "--events", "20000", "--seed", "11", "--days", "30")
	tests := []struct {
		split, wantKind string
		args            []string
	}{
		{"time", "time", []string{"--holdout-days", "2"}},
		{"stratified-item", "stratified-item", nil},
		{"leave-last-out", "stratified-item", nil},
	}
	for _, tt := range tests {
		t.Run(tt.split, func(t *testing.T) {
			args := append([]string{"--events", log, "--split", tt.split, "--factors", "8", "--iterations", "3",
				"--tune-budget", "1m", "--budget", "3", "--folds", "2"}, tt.args...)
			r := evalJSON(t, args...)
			tuned, ok := r["tuned"].(map[string]any)
			if !ok {
				t.Fatalf("eval --tune-budget 1m reports no tuning: %v", r)
			}
			split := tuned["split"].(map[string]any)
			if split["kind"] != tt.wantKind {
				t.Errorf("validation split %v, want %s", split, tt.wantKind)
			}
			// 400 users score far fewer than the 2,000 time validation
			// users train asks for, so a time split carves --folds spans.
			if split["folds"] != 2.0 {
				t.Errorf("validation split %v, want 2 folds", split)
			}
			res := tuned["result"].(map[string]any)
			chosen := res["chosen"].(map[string]any)["als"].(map[string]any)
			if chosen["factors"].(float64) != 8 || res["stopped"] == "" {
				t.Errorf("tuning result %v, want the flag's 8 factors and a stop reason", res)
			}
			if params := string(mustJSON(t, r["params"])); !strings.Contains(params, `"factors":8`) {
				t.Errorf("eval trained %s, want 8 factors", params)
			}
		})
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
