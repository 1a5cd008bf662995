package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/polecam/polecam/training/synth"
)

func newGenCmd(e *env) *cobra.Command {
	o := synth.DefaultOptions()
	var out string
	cmd := &cobra.Command{
		Use:   "gen --out FILE",
		Short: "Write a deterministic synthetic e-commerce event log",
		Long: "gen writes a synthetic shop log in polecam's CSV format (timestamp,user_id,item_id,event)\n" +
			"with power-law item popularity, users with latent tastes, categories, sessions and a\n" +
			"view -> add_to_cart -> purchase funnel. The same flags always give the same bytes.\n" +
			"A FILE ending in .gz is gzip-compressed.",
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
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&out, "out", "", "file to write (.gz for gzip)")
	f.IntVar(&o.Users, "users", o.Users, "number of users")
	f.IntVar(&o.Items, "items", o.Items, "number of items")
	f.IntVar(&o.Events, "events", o.Events, "number of events")
	f.Int64Var(&o.Seed, "seed", o.Seed, "random seed")
	f.IntVar(&o.Days, "days", o.Days, "number of days the log spans")
	return cmd
}
