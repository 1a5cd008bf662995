package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/polecam/polecam/internal/pipeline"
	"github.com/polecam/polecam/store"
	"github.com/polecam/polecam/training/synth"
)

func newQuickstartCmd(e *env) *cobra.Command {
	o := DefaultServeOptions()
	gen := synth.DefaultOptions()
	gen.Users, gen.Items, gen.Events = 5000, 2000, 300000
	var addr string
	cmd := &cobra.Command{
		Use:   "quickstart [--data-dir DIR] [--addr HOST:PORT]",
		Short: "Generate a sample shop log, train on it, publish and serve",
		Long: "quickstart is the shortest way to a running polecam: unless DIR already has a\n" +
			"published snapshot, it writes a synthetic event log to DIR/sample/events.csv.gz and\n" +
			"its item catalogue to DIR/sample/events.catalog.csv, trains on both (so requests can\n" +
			"filter by category, brand, price and stock) and publishes the result; then it serves,\n" +
			"as serve does. It trains with tuning off (the data-scaled defaults), so that training\n" +
			"takes seconds; polecam train tunes its recipe within --tune-budget.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := e.logger()
			if err != nil {
				return err
			}
			o.Server.Logger = log
			dir, err := store.OpenDir(o.DataDir)
			if err != nil {
				return fmt.Errorf("quickstart: %w", err)
			}
			if _, err := dir.Published(); errors.Is(err, store.ErrNoPublished) {
				if err := trainSample(cmd.Context(), o.DataDir, gen, log); err != nil {
					return fmt.Errorf("quickstart: %w", err)
				}
			} else if err != nil {
				return fmt.Errorf("quickstart: %w", err)
			}
			fmt.Fprintf(e.stdout, "polecam is serving on %s; try:\n"+
				"  grpcurl -plaintext -d '{\"user_id\":\"u0001\",\"n\":5}' %s polecam.v1.RecommendationService/Recommend\n",
				addr, addr)
			return listenAndServe(cmd.Context(), addr, o)
		},
	}
	addServeFlags(cmd, &o, &addr)
	cmd.Flags().Int64Var(&gen.Seed, "seed", gen.Seed, "seed of the sample log")
	return cmd
}

// trainSample writes the sample log and catalogue gen describes into
// dataDir/sample (unless they are there), trains on both and publishes.
func trainSample(ctx context.Context, dataDir string, gen synth.Options, log *slog.Logger) error {
	sample := filepath.Join(dataDir, "sample", "events.csv.gz")
	if _, err := os.Stat(sample); err != nil {
		if err := os.MkdirAll(filepath.Dir(sample), 0o700); err != nil {
			return err
		}
		log.Info("generating sample log", "file", sample, "users", gen.Users, "items", gen.Items, "events", gen.Events)
		if err := synth.GenerateFile(sample, gen); err != nil {
			return err
		}
	}
	catalog := CatalogBeside(sample)
	if _, err := os.Stat(catalog); err != nil {
		log.Info("generating sample catalogue", "file", catalog, "items", gen.Items)
		if err := writeCatalog(catalog, gen); err != nil {
			return err
		}
	}
	t := pipeline.DefaultOptions()
	t.DataDir, t.Events, t.Logger, t.CodeVersion = dataDir, []string{sample}, log, codeVersion()
	t.Catalog = catalog
	// Tuning off: the quick start keeps its training within 30 s on two
	// cores with the data-scaled defaults; polecam train tunes.
	t.Tune.Budget = 0
	_, err := pipeline.Train(ctx, t)
	return err
}
