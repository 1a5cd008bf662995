// Command peerbench measures polecam's exact and approximate top-N on a
// fixture snapshot and prints a JSON report (package benchmarks/peer); it
// is the "ours" half of benchmarks/faiss_compare.py.
//
//	peerbench --data-dir DIR [--queries 1000] [--n 10] [--recall 0.95] [--skip-ann]
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"

	"github.com/polecam/polecam/benchmarks/peer"
)

func main() {
	o := peer.DefaultOptions("")
	flag.StringVar(&o.DataDir, "data-dir", "", "data directory with a published fixture snapshot")
	flag.IntVar(&o.Queries, "queries", o.Queries, "number of user vectors queried")
	flag.IntVar(&o.N, "n", o.N, "items per answer")
	flag.Float64Var(&o.Recall, "recall", o.Recall, "recall the ANN must reach")
	flag.IntVar(&o.M, "m", o.M, "HNSW M")
	flag.IntVar(&o.EfConstruction, "ef-construction", o.EfConstruction, "HNSW efConstruction")
	flag.IntVar(&o.BuildWorkers, "build-workers", 0, "ANN build goroutines (0: all cores)")
	flag.BoolVar(&o.SkipANN, "skip-ann", false, "measure the exact scan only")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	r, err := peer.Run(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "peerbench:", err)
		os.Exit(1)
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		fmt.Fprintln(os.Stderr, "peerbench:", err)
		os.Exit(1)
	}
}
