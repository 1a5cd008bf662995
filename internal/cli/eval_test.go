package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
	dir := os.Getenv("POLECAM_ML100K")
	if dir == "" {
		dir = filepath.Join("..", "..", "..", "shared", "data", "ml-100k")
	}
	data := filepath.Join(dir, "u.data")
	if _, err := os.Stat(data); err != nil {
		t.Skipf("MovieLens-100K not found at %s (set POLECAM_ML100K to the ml-100k directory): %v", data, err)
	}
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
