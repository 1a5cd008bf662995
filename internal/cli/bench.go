package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/polecam/polecam/benchmarks/fixture"
	"github.com/polecam/polecam/benchmarks/load"
	"github.com/polecam/polecam/recommender"
	"github.com/polecam/polecam/store"
)

func newBenchCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Write benchmark fixtures, load a running server, compare results",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newBenchFixtureCmd(e), newBenchLoadCmd(e), newBenchCompareCmd(e), newBenchRecallCmd(e))
	return cmd
}

func newBenchFixtureCmd(e *env) *cobra.Command {
	o := fixture.DefaultOptions()
	var dataDir string
	cmd := &cobra.Command{
		Use:   "fixture --data-dir DIR [--items N --users N --factors D --seed S] [--ann] [--export DIR]",
		Short: "Write and publish a snapshot of clustered random vectors",
		Long: "fixture writes a snapshot straight through the store, without training: item and\n" +
			"user vectors from a mixture of Gaussians with varied lengths, a few seen items per\n" +
			"user, a few neighbours per item and a Zipf popularity. Ids are sku-%08d and u%08d.\n" +
			"--export also writes items.npy and users.npy for peer libraries.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dataDir == "" {
				return errors.New("bench fixture: --data-dir is required")
			}
			d, err := store.OpenDir(dataDir)
			if err != nil {
				return fmt.Errorf("bench fixture: %w", err)
			}
			m, err := fixture.Write(cmd.Context(), d, o)
			if err != nil {
				return fmt.Errorf("bench fixture: %w", err)
			}
			fmt.Fprintf(e.stdout, "wrote %s: %d items, %d users, %d factors", m.Version, o.Items, o.Users, o.Factors)
			if !o.NoPublish {
				fmt.Fprint(e.stdout, " (published)")
			}
			if o.Export != "" {
				fmt.Fprintf(e.stdout, "; vectors in %s", filepath.Join(o.Export, "{items,users}.npy"))
			}
			fmt.Fprintln(e.stdout)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&dataDir, "data-dir", "", "data directory to write the snapshot into")
	f.IntVar(&o.Items, "items", o.Items, "number of items")
	f.IntVar(&o.Users, "users", o.Users, "number of users")
	f.IntVar(&o.Factors, "factors", o.Factors, "factor dimension")
	f.IntVar(&o.Clusters, "clusters", o.Clusters, "number of Gaussian clusters")
	f.Float64Var(&o.Spread, "spread", o.Spread, "spread of vectors around their cluster centre (centres have unit scale)")
	f.Float64Var(&o.NormSigma, "norm-sigma", o.NormSigma, "standard deviation of the log of each vector's length factor")
	f.IntVar(&o.Seen, "seen", o.Seen, "seen items per user")
	f.IntVar(&o.Neighbors, "neighbors", o.Neighbors, "co-occurrence neighbours per item")
	f.Uint64Var(&o.Seed, "seed", o.Seed, "random seed")
	f.StringVar(&o.Export, "export", "", "also write items.npy, users.npy and fixture.json into this directory")
	f.BoolVar(&o.NoPublish, "no-publish", false, "commit the version without publishing it")
	f.BoolVar(&o.Int8, "int8", o.Int8, "also write int8-quantised item vectors for the shortlist scan")
	f.BoolVar(&o.ANN, "ann", o.ANN, "also build the HNSW index the server answers Recommend from (about 100 s at 1M items)")
	return cmd
}

func newBenchLoadCmd(e *env) *cobra.Command {
	o := load.DefaultOptions("127.0.0.1:50051")
	var dataDir, jsonOut, pngOut, label string
	cmd := &cobra.Command{
		Use:   "load --addr HOST:PORT [--concurrency C | --rate QPS] [--duration 30s] [--json FILE] [--png FILE]",
		Short: "Drive a running server over gRPC and report QPS and latency",
		Long: "load waits for the server at --addr to be SERVING, then sends a mix of Recommend and\n" +
			"SimilarItems requests for the fixture's ids (users by a Zipf law, a share of unknown\n" +
			"users) for --warmup plus --duration, and reports QPS, errors by gRPC code and latency\n" +
			"percentiles from an HDR histogram. Without --rate it is a closed loop of --concurrency\n" +
			"workers over --connections connections; with --rate an open loop whose latency counts\n" +
			"from each request's intended send time. It stops by itself.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dataDir != "" {
				if err := countsFrom(dataDir, &o); err != nil {
					return fmt.Errorf("bench load: %w", err)
				}
			}
			res, err := load.Run(cmd.Context(), o)
			if err != nil {
				return fmt.Errorf("bench load: %w", err)
			}
			res.Label = label
			if err := load.Summary(e.stdout, res); err != nil {
				return err
			}
			if jsonOut != "" {
				if err := res.WriteFile(jsonOut); err != nil {
					return fmt.Errorf("bench load: %w", err)
				}
			}
			if pngOut != "" {
				if err := load.WritePlot(pngOut, "polecam latency", res); err != nil {
					return fmt.Errorf("bench load: %w", err)
				}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Addr, "addr", o.Addr, "server address (host:port)")
	f.IntVar(&o.Connections, "connections", o.Connections, "client connections")
	f.IntVar(&o.Concurrency, "concurrency", o.Concurrency, "closed-loop workers; with --rate, most requests in flight")
	f.Float64Var(&o.Rate, "rate", 0, "open-loop target requests per second (0: closed loop)")
	f.StringVar(&dataDir, "data-dir", "", "take --users and --items from this data directory's published snapshot")
	f.IntVar(&o.Users, "users", o.Users, "number of fixture users (ids u00000000...)")
	f.IntVar(&o.Items, "items", o.Items, "number of fixture items (ids sku-00000000...)")
	f.Float64Var(&o.ZipfExponent, "zipf", o.ZipfExponent, "Zipf exponent (> 1) of user and item draws")
	f.Float64Var(&o.Unknown, "unknown", o.Unknown, "share of Recommend requests for unknown users")
	f.Float64Var(&o.Similar, "similar", o.Similar, "share of SimilarItems requests")
	f.IntVar(&o.N, "n", o.N, "items per request")
	f.BoolVar(&o.Exact, "exact", false, "ask Recommend for the exact answer (bypassing an approximate index)")
	f.DurationVar(&o.Warmup, "warmup", o.Warmup, "warm-up, not measured")
	f.DurationVar(&o.Duration, "duration", o.Duration, "measured duration")
	f.DurationVar(&o.Timeout, "timeout", o.Timeout, "per-request timeout")
	f.DurationVar(&o.WaitServing, "wait", o.WaitServing, "how long to wait for the server to be SERVING")
	f.Uint64Var(&o.Seed, "seed", o.Seed, "random seed of the request mix")
	f.StringVar(&jsonOut, "json", "", "write the result as JSON to this file")
	f.StringVar(&pngOut, "png", "", "write a latency percentile plot to this PNG file")
	f.StringVar(&label, "label", "", "name of this run in comparisons and plots")
	return cmd
}

// countsFrom sets o.Users and o.Items from the published snapshot's manifest.
func countsFrom(dataDir string, o *load.Options) error {
	d, err := store.OpenDir(dataDir)
	if err != nil {
		return err
	}
	v, err := d.Published()
	if err != nil {
		return err
	}
	vs, err := d.Versions()
	if err != nil {
		return err
	}
	for _, vi := range vs {
		if vi.Version == v {
			o.Users, o.Items = int(vi.Manifest.Counts.Users), int(vi.Manifest.Counts.Items)
			return nil
		}
	}
	return fmt.Errorf("published version %s not listed in %s", v, dataDir)
}

func newBenchCompareCmd(e *env) *cobra.Command {
	var pngOut string
	cmd := &cobra.Command{
		Use:   "compare A.json B.json [--png FILE]",
		Short: "Print two load results side by side with ratios",
		Args:  cobra.ExactArgs(2),
		RunE: func(_ *cobra.Command, args []string) error {
			a, err := load.ReadFile(args[0])
			if err != nil {
				return fmt.Errorf("bench compare: %w", err)
			}
			b, err := load.ReadFile(args[1])
			if err != nil {
				return fmt.Errorf("bench compare: %w", err)
			}
			if a.Label == "" {
				a.Label = filepath.Base(args[0])
			}
			if b.Label == "" {
				b.Label = filepath.Base(args[1])
			}
			if err := load.Compare(e.stdout, a, b); err != nil {
				return err
			}
			if pngOut != "" {
				if err := load.WritePlot(pngOut, "polecam latency", a, b); err != nil {
					return fmt.Errorf("bench compare: %w", err)
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&pngOut, "png", "", "also plot both percentile spectra into this PNG file")
	return cmd
}

func newBenchRecallCmd(e *env) *cobra.Command {
	o := fixture.DefaultRecallOptions()
	var dataDir, jsonOut string
	cmd := &cobra.Command{
		Use:   "recall --data-dir DIR [--users 1000] [--n 10] [--json FILE]",
		Short: "Measure, in process, the recall of a fixture's served answers against the exact ones",
		Long: "recall opens the published snapshot of a fixture written with --ann, as the server\n" +
			"does, and asks Recommend for --users users spread over the fixture (user index\n" +
			"97u+13) twice: as served, through the ANN index, and exactly. It reports the mean\n" +
			"recall@n of the served answers against the exact ones, and the mean time of each.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dataDir == "" {
				return errors.New("bench recall: --data-dir is required")
			}
			if err := o.Validate(); err != nil {
				return fmt.Errorf("bench recall: %w", err)
			}
			d, err := store.OpenDir(dataDir)
			if err != nil {
				return fmt.Errorf("bench recall: %w", err)
			}
			v, err := d.Published()
			if err != nil {
				return fmt.Errorf("bench recall: %w", err)
			}
			snap, err := d.Open(v, store.OpenOptions{})
			if err != nil {
				return fmt.Errorf("bench recall: %w", err)
			}
			users := snap.NumUsers()
			m, err := recommender.NewModel(snap)
			if err != nil {
				snap.Close()
				return fmt.Errorf("bench recall: %w", err)
			}
			defer m.Close()
			r, err := fixture.Recall(cmd.Context(), m, users, o)
			if err != nil {
				return fmt.Errorf("bench recall: %w", err)
			}
			fmt.Fprintf(e.stdout, "%s: %d items, %d users; recall@%d over %d users %.4f; served %.1f µs, exact %.1f µs per request\n",
				r.Version, r.Items, r.Users, r.N, r.Measured, r.Recall,
				float64(r.ServedMean.Nanoseconds())/1e3, float64(r.ExactMean.Nanoseconds())/1e3)
			if jsonOut != "" {
				b, err := json.MarshalIndent(r, "", "  ")
				if err != nil {
					return fmt.Errorf("bench recall: %w", err)
				}
				if err := os.WriteFile(jsonOut, append(b, '\n'), 0o644); err != nil {
					return fmt.Errorf("bench recall: %w", err)
				}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&dataDir, "data-dir", "", "data directory of a fixture written with --ann")
	f.IntVar(&o.Users, "users", o.Users, "users to measure")
	f.IntVar(&o.N, "n", o.N, "items per request (recall@n)")
	f.StringVar(&jsonOut, "json", "", "also write the result as JSON to this file")
	return cmd
}
