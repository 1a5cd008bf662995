package cli

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/polecam/polecam/internal/pipeline"
)

const defaultDataDir = "polecam-data"

func newTrainCmd(e *env) *cobra.Command {
	o := pipeline.DefaultOptions()
	var (
		weights   string
		columns   string
		noPublish bool
	)
	cmd := &cobra.Command{
		Use:   "train --data-dir DIR --events FILE [--events FILE...]",
		Short: "Train models from event logs and publish them as a new snapshot version",
		Long: "train reads event logs (CSV or TSV with a header, plain or gzip; globs allowed),\n" +
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
			o.Publish = !noPublish
			o.CodeVersion = Version
			log, err := e.logger()
			if err != nil {
				return err
			}
			o.Logger = log
			m, err := pipeline.Train(cmd.Context(), o)
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
	f.StringVar(&o.Log.Format, "format", o.Log.Format, "log format: auto, csv or tsv")
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
