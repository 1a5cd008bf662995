package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/spf13/cobra"

	"github.com/polecam/polecam/store"
)

func newSnapshotsCmd(e *env) *cobra.Command {
	var dataDir string
	cmd := &cobra.Command{
		Use:   "snapshots --data-dir DIR",
		Short: "List snapshot versions, which one is published and which one rollback returns to",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, err := os.Stat(dataDir); err != nil {
				return fmt.Errorf("snapshots: data directory %s: %w", dataDir, err)
			}
			dir, err := store.OpenDir(dataDir)
			if err != nil {
				return fmt.Errorf("snapshots: %w", err)
			}
			vs, err := dir.Versions()
			if err != nil {
				return fmt.Errorf("snapshots: %w", err)
			}
			if len(vs) == 0 {
				fmt.Fprintf(e.stdout, "no snapshots in %s\n", dataDir)
				return printLeftovers(e.stdout, dir)
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "STATE\tVERSION\tCREATED\tUSERS\tITEMS\tINTERACTIONS\tWINDOW\tHOLDOUT NDCG\tCODE\tSIZE")
			for _, v := range vs {
				mark := ""
				switch {
				case v.Published:
					mark = "* PUBLISHED"
				case v.Previous:
					mark = "PREVIOUS"
				}
				m := v.Manifest
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%s\t%s\t%s\t%s\n", mark, v.Version,
					m.CreatedAt.UTC().Format(time.RFC3339), m.Counts.Users, m.Counts.Items, m.Counts.Interactions,
					window(m.Window), ndcg(m.Metrics), shortCode(m.CodeVersion), humanize.IBytes(uint64(v.SizeBytes)))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if _, err := dir.Published(); errors.Is(err, store.ErrNoPublished) {
				fmt.Fprintln(e.stdout, "no version is published")
			}
			if names, err := dir.VersionNames(); err == nil && len(names) > len(vs) {
				fmt.Fprintf(e.stdout, "%d version directories cannot be read; verify --all says why\n", len(names)-len(vs))
			}
			return printLeftovers(e.stdout, dir)
		},
	}
	cmd.Flags().StringVar(&dataDir, "data-dir", defaultDataDir, "data directory holding the snapshots")
	return cmd
}

// printLeftovers lists the entries of the staging directory, if any, with
// their size and whether a live build holds them.
func printLeftovers(w io.Writer, dir *store.Dir) error {
	ls, err := dir.Leftovers()
	if err != nil || len(ls) == 0 {
		return err
	}
	var total int64
	for _, l := range ls {
		total += l.SizeBytes
	}
	fmt.Fprintf(w, "staging leftovers: %d, %s (retain removes those no build holds)\n", len(ls), humanize.IBytes(uint64(total)))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, l := range ls {
		state := "leftover"
		if l.InUse {
			state = "building"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", state, l.Name, l.ModTime.UTC().Format(time.RFC3339), humanize.IBytes(uint64(l.SizeBytes)))
	}
	return tw.Flush()
}

func window(w store.Window) string {
	if w.From.IsZero() {
		return "-"
	}
	return w.From.UTC().Format("2006-01-02") + ".." + w.To.UTC().Format("2006-01-02")
}

// ndcg returns the holdout NDCG the quality gate recorded, as "0.2394@10",
// or "-" for a version trained without the gate.
func ndcg(metrics map[string]float64) string {
	names := make([]string, 0, 1)
	for k := range metrics {
		if strings.HasPrefix(k, "ndcg@") {
			names = append(names, k)
		}
	}
	if len(names) == 0 {
		return "-"
	}
	slices.Sort(names)
	return fmt.Sprintf("%.4f@%s", metrics[names[0]], strings.TrimPrefix(names[0], "ndcg@"))
}

// shortCode abbreviates a VCS revision to 12 characters, keeping a
// "+modified" suffix.
func shortCode(v string) string {
	if v == "" {
		return "-"
	}
	rev, mod, _ := strings.Cut(v, "+")
	if len(rev) == 40 {
		rev = rev[:12]
	}
	if mod != "" {
		rev += "+" + mod
	}
	return rev
}
