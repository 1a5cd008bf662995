package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/polecam/polecam/training/synth"
)

func newGenCmd(e *env) *cobra.Command {
	o := synth.DefaultOptions()
	var out, catalogOut string
	cmd := &cobra.Command{
		Use:   "gen --out FILE [--catalog-out FILE]",
		Short: "Write a deterministic synthetic e-commerce event log",
		Long: "gen writes a synthetic shop log in polecam's CSV format (timestamp,user_id,item_id,event)\n" +
			"with power-law item popularity, users with latent tastes, categories, sessions and a\n" +
			"view -> add_to_cart -> purchase funnel. The same flags always give the same bytes.\n" +
			"A FILE ending in .gz is gzip-compressed. It also writes the shop's item catalogue\n" +
			"(item_id,category,brand,price,in_stock; categories DEPARTMENT/SUB) for train --catalog,\n" +
			"by default beside the log: events.csv.gz gets events.catalog.csv (--catalog-out none: no catalogue).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return fmt.Errorf("--out is required")
			}
			if err := o.Validate(); err != nil {
				return fmt.Errorf("gen: %w", err)
			}
			if err := synth.GenerateFile(out, o); err != nil {
				return fmt.Errorf("gen: %w", err)
			}
			fmt.Fprintf(e.stdout, "wrote %d events for %d users and %d items to %s\n", o.Events, o.Users, o.Items, out)
			if catalogOut == "none" {
				return nil
			}
			if catalogOut == "" {
				catalogOut = CatalogBeside(out)
			}
			if err := writeCatalog(catalogOut, o); err != nil {
				return fmt.Errorf("gen: %w", err)
			}
			fmt.Fprintf(e.stdout, "wrote the catalogue of %d items to %s\n", o.Items, catalogOut)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&out, "out", "", "file to write (.gz for gzip)")
	f.StringVar(&catalogOut, "catalog-out", "", "catalogue CSV to write (default: beside the log, NAME.catalog.csv; none: no catalogue)")
	f.IntVar(&o.Users, "users", o.Users, "number of users")
	f.IntVar(&o.Items, "items", o.Items, "number of items")
	f.IntVar(&o.Events, "events", o.Events, "number of events")
	f.Int64Var(&o.Seed, "seed", o.Seed, "random seed")
	f.IntVar(&o.Days, "days", o.Days, "number of days the log spans")
	f.DurationVar(&o.ItemLifetime, "item-lifetime", 0, "when positive, items launch throughout the window and their appeal fades with this e-folding time (e.g. 120h): a drifting catalogue, as in real shops; 0: constant appeal")
	return cmd
}

// CatalogBeside returns the catalogue file gen writes for the log at
// path: the log's name without its .gz and .csv/.tsv extensions, plus
// ".catalog.csv", in the same directory.
func CatalogBeside(path string) string {
	base := filepath.Base(path)
	for _, ext := range []string{".gz", ".zst", ".csv", ".tsv"} {
		base = strings.TrimSuffix(base, ext)
	}
	return filepath.Join(filepath.Dir(path), base+".catalog.csv")
}

// writeCatalog writes the synthetic catalogue for o to path.
func writeCatalog(path string, o synth.Options) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("write catalogue: %w", err)
	}
	if err := synth.Catalog(f, o); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write catalogue %s: %w", path, err)
	}
	return nil
}
