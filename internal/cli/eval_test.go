package cli

import (
	"encoding/json"
	"path/filepath"
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
}

// TestEvalMovieLens100K is the quality benchmark of benchmarks/quality.md
// on seed 42, through the serving path, with the tuned defaults.
func TestEvalMovieLens100K(t *testing.T) {
	data := testenv.ML100KRatings(t)
	r := evalJSON(t, "--events", data, "--format", "movielens", "--split", "stratified-item",
		"--test-ratio", "0.25", "--seed", "42", "--k", "10")
	t.Logf("ml-100k seed 42: ndcg@10 %.4f, precision@10 %.4f, recall@10 %.4f, map %.4f",
		r["ndcg"], r["precision"], r["recall"], r["map"])
	if r["users"].(float64) != 943 || r["items"].(float64) != 1682 {
		t.Errorf("users %v, items %v; want 943 and 1682", r["users"], r["items"])
	}
	// The target, nDCG@10 >= 0.49 and P@10 >= 0.425, which the
	// defaults chosen on validation reach as a 5-seed mean (0.4920 and
	// 0.4271; this seed 0.4935 and 0.4288; benchmarks/quality.md). It is
	// above every published row of the Recommenders table (best: BiVAE,
	// 0.4751 and 0.4118).
	if ndcg, p := r["ndcg"].(float64), r["precision"].(float64); ndcg < 0.49 || p < 0.425 {
		t.Errorf("ml-100k seed 42: ndcg@10 %.4f, precision@10 %.4f; want at least 0.49 and 0.425", ndcg, p)
	}
}
