package cli

import (
	"encoding/json"
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

// openExistingDir opens the data directory at path for command cmd, and
// refuses a path that does not exist rather than creating an empty data
// directory from a typo.
func openExistingDir(cmd, path string) (*store.Dir, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("%s: data directory %s: %w", cmd, path, err)
	}
	d, err := store.OpenDir(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cmd, err)
	}
	return d, nil
}

func newInspectCmd(e *env) *cobra.Command {
	var (
		dataDir string
		asJSON  bool
	)
	cmd := &cobra.Command{
		Use:   "inspect --data-dir DIR VERSION",
		Short: "Show one snapshot version: provenance, counts, parameters, metrics, files and checksums",
		Long: "inspect prints the manifest of a snapshot version (input files and their\n" +
			"SHA-256, time window, counts, training parameters, evaluation metrics, code\n" +
			"version) and every file of the version with its size and CRC-32C. It reads\n" +
			"the manifest and the file list only; use verify to check the data.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := openExistingDir("inspect", dataDir)
			if err != nil {
				return err
			}
			info, err := d.Info(args[0])
			if err != nil {
				return fmt.Errorf("inspect: %w", err)
			}
			if asJSON {
				return writeInspectJSON(e.stdout, info)
			}
			return writeInspect(e.stdout, info)
		},
	}
	cmd.Flags().StringVar(&dataDir, "data-dir", defaultDataDir, "data directory holding the snapshots")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON instead of text")
	return cmd
}

// inspectJSON is the --json output of inspect.
type inspectJSON struct {
	Version   string           `json:"version"`
	Published bool             `json:"published"`
	Previous  bool             `json:"previous"`
	SizeBytes int64            `json:"size_bytes"`
	Manifest  store.Manifest   `json:"manifest"`
	Files     []store.FileInfo `json:"files"`
}

func writeInspectJSON(w io.Writer, info store.VersionInfo) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(inspectJSON{
		Version: info.Version, Published: info.Published, Previous: info.Previous,
		SizeBytes: info.SizeBytes, Manifest: info.Manifest, Files: info.Files,
	})
}

func state(info store.VersionInfo) string {
	switch {
	case info.Published:
		return "published"
	case info.Previous:
		return "previous (rollback target)"
	}
	return "not published"
}

func writeInspect(w io.Writer, info store.VersionInfo) error {
	m := info.Manifest
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "version\t%s\n", info.Version)
	fmt.Fprintf(tw, "state\t%s\n", state(info))
	fmt.Fprintf(tw, "created\t%s\n", m.CreatedAt.UTC().Format(time.RFC3339))
	fmt.Fprintf(tw, "format\t%d\n", m.FormatVersion)
	code := m.CodeVersion
	if code == "" {
		code = "-"
	}
	fmt.Fprintf(tw, "code version\t%s\n", code)
	fmt.Fprintf(tw, "window\t%s\n", window(m.Window))
	fmt.Fprintf(tw, "users\t%d\n", m.Counts.Users)
	fmt.Fprintf(tw, "items\t%d\n", m.Counts.Items)
	fmt.Fprintf(tw, "events\t%d\n", m.Counts.Events)
	fmt.Fprintf(tw, "interactions\t%d\n", m.Counts.Interactions)
	fmt.Fprintf(tw, "bad lines\t%d\n", m.Counts.BadLines)
	fmt.Fprintf(tw, "size\t%s\n", humanize.IBytes(uint64(info.SizeBytes)))
	params := "-"
	if len(m.Params) > 0 {
		params = string(m.Params)
	}
	fmt.Fprintf(tw, "params\t%s\n", params)
	if err := tw.Flush(); err != nil {
		return err
	}

	fmt.Fprintln(w, "\nmetrics:")
	if len(m.Metrics) == 0 {
		fmt.Fprintln(w, "  none")
	}
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	names := make([]string, 0, len(m.Metrics))
	for k := range m.Metrics {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		fmt.Fprintf(tw, "  %s\t%.6g\n", k, m.Metrics[k])
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	fmt.Fprintln(w, "\nsources:")
	if len(m.Sources) == 0 {
		fmt.Fprintln(w, "  none recorded")
	}
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, s := range m.Sources {
		fmt.Fprintf(tw, "  %s\t%d\tsha256:%s\n", s.Path, s.Size, s.SHA256)
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	fmt.Fprintln(w, "\nfiles:")
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  NAME\tSIZE\tCRC32C\tKIND")
	for _, f := range info.Files {
		kind := ""
		if mf, ok := m.File(f.Name); ok {
			kind = mf.Kind
		}
		fmt.Fprintf(tw, "  %s\t%d\t%08x\t%s\n", f.Name, f.Size, f.CRC32C, kind)
	}
	return tw.Flush()
}

func newVerifyCmd(e *env) *cobra.Command {
	var (
		dataDir string
		all     bool
	)
	cmd := &cobra.Command{
		Use:   "verify --data-dir DIR (VERSION... | --all)",
		Short: "Re-check every checksum of snapshot versions and read their databases",
		Long: "verify reads each named version (or, with --all, every version directory,\n" +
			"also one whose manifest cannot be read) whole: the manifest against COMPLETE,\n" +
			"the size and CRC-32C of every file, the vector and id table checksums, and\n" +
			"every Badger record. It exits non-zero if any version fails, saying which\n" +
			"file or record is wrong. With --all it also lists the leftovers in staging/\n" +
			"(builds in progress, or what failed and killed ones left; retain removes them).",
		RunE: func(cmd *cobra.Command, args []string) error {
			if all == (len(args) > 0) {
				return errors.New("verify: name one or more versions, or pass --all")
			}
			d, err := openExistingDir("verify", dataDir)
			if err != nil {
				return err
			}
			if all {
				// Every version directory, also those whose manifest
				// cannot be read (snapshots skips them).
				vs, err := d.VersionNames()
				if err != nil {
					return fmt.Errorf("verify: %w", err)
				}
				if len(vs) == 0 {
					fmt.Fprintf(e.stdout, "no snapshots in %s\n", dataDir)
				}
				args = vs
				if err := printLeftovers(e.stdout, d); err != nil {
					return fmt.Errorf("verify: %w", err)
				}
				if len(vs) == 0 {
					return nil
				}
			}
			var failed []string
			for _, v := range args {
				start := time.Now()
				if err := d.Verify(cmd.Context(), v); err != nil {
					if cmd.Context().Err() != nil {
						return err
					}
					fmt.Fprintf(e.stdout, "FAILED  %s\n", err)
					failed = append(failed, v)
					continue
				}
				fmt.Fprintf(e.stdout, "ok      %s (%v)\n", v, time.Since(start).Round(time.Millisecond))
			}
			if len(failed) > 0 {
				return fmt.Errorf("verify: %d of %d versions failed: %s", len(failed), len(args), strings.Join(failed, ", "))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&dataDir, "data-dir", defaultDataDir, "data directory holding the snapshots")
	cmd.Flags().BoolVar(&all, "all", false, "verify every listed version")
	return cmd
}
