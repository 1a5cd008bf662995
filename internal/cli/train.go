package cli

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/polecam/polecam/internal/pipeline"
	"github.com/polecam/polecam/training/eventlog"
)

const defaultDataDir = "polecam-data"

func newTrainCmd(e *env) *cobra.Command {
	o := pipeline.DefaultOptions()
	var (
		weights   string
		columns   string
		noPublish bool
		fallback  string
	)
	cmd := &cobra.Command{
		Use:   "train --data-dir DIR --events FILE [--events FILE...]",
		Short: "Train models from event logs and publish them as a new snapshot version",
		Long: "train reads event logs (CSV, TSV, JSON lines, MovieLens, Retailrocket or web-server\n" +
			"access logs; plain, gzip or zstd; globs allowed),\n" +
			"trains the iALS, co-occurrence and popularity models, writes them as one new\n" +
			"immutable snapshot version under DIR and publishes it. A run that fails leaves\n" +
			"the published version untouched and exits non-zero.",
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Events = append(o.Events, args...)
			if weights != "" {
				w, err := parseWeights(weights)
				if err != nil {
					return err
				}
				o.Log.Weights = w
			}
			if columns != "" {
				if err := parseColumns(columns, &o.Log.Columns.Timestamp, &o.Log.Columns.User, &o.Log.Columns.Item, &o.Log.Columns.Event); err != nil {
					return err
				}
			}
			if cmd.Flags().Changed("user-fallback") {
				o.Log.AccessLog.UserFallback = nil
				for _, f := range strings.Split(fallback, ",") {
					if f = strings.TrimSpace(f); f != "" && f != "none" {
						o.Log.AccessLog.UserFallback = append(o.Log.AccessLog.UserFallback, f)
					}
				}
			}
			o.Publish = !noPublish
			o.CodeVersion = Version
			log, err := e.logger()
			if err != nil {
				return err
			}
			o.Logger = log
			progress, finish := readProgress(e.stderr, log)
			o.Log.Progress = func(p eventlog.Progress) {
				progress(p)
				if p.FileIndex == p.Files-1 && p.TotalBytes > 0 && p.Bytes == p.TotalBytes {
					finish()
				}
			}
			o.Summary = func(s pipeline.Summary) { printSummary(e.stdout, s) }
			m, err := pipeline.Train(cmd.Context(), o)
			finish()
			if err != nil {
				return err
			}
			state := "published"
			if noPublish {
				state = "written (not published)"
			}
			fmt.Fprintf(e.stdout, "snapshot %s %s: %d users, %d items, %d interactions\n",
				m.Version, state, m.Counts.Users, m.Counts.Items, m.Counts.Interactions)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.DataDir, "data-dir", defaultDataDir, "data directory holding the snapshots")
	f.StringArrayVar(&o.Events, "events", nil, "event log file or glob (repeatable; positional arguments also count)")
	f.StringVar(&o.Log.Format, "format", o.Log.Format, "log format: "+strings.Join(eventlog.Formats, ", "))
	f.BoolVar(&o.Log.RatingWeights, "rating-weights", false, "movielens: weigh each rating by its value instead of 1")
	f.StringArrayVar(&o.Log.AccessLog.Patterns, "item-pattern", nil,
		"access-log: [EVENT=][METHOD ]PATH[?QUERY] naming the product as {item}, e.g. '/p/{item}' or 'add_to_cart=/cart/add?sku={item}' (repeatable, first match wins)")
	f.StringVar(&o.Log.AccessLog.UserCookie, "user-cookie", "", "access-log: cookie naming the visitor, read from the fields after the user agent")
	f.StringVar(&fallback, "user-fallback", "remote_user,ip", "access-log: where the visitor comes from without the cookie: remote_user, ip, or none")
	f.DurationVar(&o.Ingest.HalfLife, "half-life", 0, "decay event weights by age with this half-life, relative to the newest event (0: no decay)")
	f.DurationVar(&o.Ingest.DedupWindow, "dedup-window", 0, "count repeated events of a user, item and type within this window once (0: count all)")
	f.IntVar(&o.Ingest.MinUserItems, "min-user-items", 0, "leave out users with fewer distinct items")
	f.IntVar(&o.Ingest.MinItemUsers, "min-item-users", 0, "leave out items with fewer distinct users")
	f.StringVar(&o.Catalog, "catalog", "", "item catalogue CSV (item_id,category,attributes...) to store in the snapshot")
	f.StringVar(&columns, "columns", "", "header names as timestamp=NAME,user_id=NAME,item_id=NAME,event=NAME (defaults: the names themselves)")
	f.StringVar(&weights, "weights", "", "event weights as TYPE=W,... (default view=1,add_to_cart=4,purchase=10)")
	f.Float64Var(&o.Log.MaxBadRatio, "max-bad-ratio", o.Log.MaxBadRatio, "fail when more than this share of lines is malformed")
	f.IntVar(&o.ALS.Factors, "factors", o.ALS.Factors, "number of latent factors")
	f.IntVar(&o.ALS.Iterations, "iterations", o.ALS.Iterations, "number of ALS iterations")
	f.Float32Var(&o.ALS.Regularization, "regularization", o.ALS.Regularization, "L2 regularisation")
	f.Float32Var(&o.ALS.Alpha, "alpha", o.ALS.Alpha, "confidence scaling: c = 1 + alpha * weight")
	f.Int64Var(&o.ALS.Seed, "seed", o.ALS.Seed, "random seed")
	f.IntVar(&o.ALS.Workers, "workers", o.ALS.Workers, "worker goroutines")
	f.IntVar(&o.CoOccurrence.TopK, "neighbors", o.CoOccurrence.TopK, "co-occurrence neighbours kept per item")
	f.BoolVar(&noPublish, "no-publish", false, "write the version but do not publish it")
	return cmd
}

// parseWeights parses "view=1,add_to_cart=4,purchase=10".
func parseWeights(s string) (map[string]float32, error) {
	w := make(map[string]float32)
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("bad --weights entry %q: want TYPE=WEIGHT", kv)
		}
		f, err := strconv.ParseFloat(v, 32)
		if err != nil || f <= 0 {
			return nil, fmt.Errorf("bad --weights entry %q: the weight must be a positive number", kv)
		}
		w[k] = float32(f)
	}
	return w, nil
}

// parseColumns parses "timestamp=ts,user_id=visitor,..." into the four
// column names, leaving those not named as they are.
func parseColumns(s string, ts, user, item, event *string) error {
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok || v == "" {
			return fmt.Errorf("bad --columns entry %q: want FIELD=HEADER", kv)
		}
		switch k {
		case "timestamp":
			*ts = v
		case "user_id":
			*user = v
		case "item_id":
			*item = v
		case "event":
			*event = v
		default:
			return fmt.Errorf("bad --columns entry %q: field must be timestamp, user_id, item_id or event", kv)
		}
	}
	return nil
}

// printSummary writes what a training run read, kept and spent its time on.
func printSummary(w io.Writer, s pipeline.Summary) {
	fmt.Fprintf(w, "read %d files: %d lines, %d events, %d bad lines\n", s.Files, s.Lines, s.Events, s.BadLines)
	if d := s.Dropped; d.Total() > 0 {
		fmt.Fprintf(w, "dropped %d lines: %d bots, %d non-2xx, %d without an item, %d without a user\n",
			d.Total(), d.Bots, d.Status, d.NoItem, d.NoUser)
	}
	if s.Duplicates > 0 || s.Forgotten > 0 {
		fmt.Fprintf(w, "left out %d duplicate events, %d events of forgotten users\n", s.Duplicates, s.Forgotten)
	}
	fmt.Fprintf(w, "trained on %d users, %d items, %d interactions", s.Users, s.Items, s.Interactions)
	if s.FilteredUsers > 0 || s.FilteredItems > 0 {
		fmt.Fprintf(w, " (filtered out %d users, %d items)", s.FilteredUsers, s.FilteredItems)
	}
	fmt.Fprintln(w)
	if c := s.Catalog; c != nil {
		fmt.Fprintf(w, "catalogue: %d items, %d bad rows, %d in the model, %d model items without a row\n",
			c.Items, c.Bad, c.InModel, c.Missing)
	}
	parts := make([]string, 0, len(s.Stages))
	for _, st := range s.Stages {
		parts = append(parts, fmt.Sprintf("%s %v", st.Name, st.Elapsed.Round(time.Millisecond)))
	}
	fmt.Fprintf(w, "time: %s\n", strings.Join(parts, ", "))
}
