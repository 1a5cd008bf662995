package cli

import (
	"errors"
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
		weights     string
		columns     string
		noPublish   bool
		fallback    string
		holdoutDays float64
	)
	cmd := &cobra.Command{
		Use:   "train --data-dir DIR --events FILE [--events FILE...]",
		Short: "Train models from event logs and publish them as a new snapshot version",
		Long: "train reads event logs (CSV, TSV, JSON lines, MovieLens, Retailrocket or web-server\n" +
			"access logs; plain, gzip or zstd; globs allowed),\n" +
			"trains the iALS, co-occurrence and popularity models, writes them as one new\n" +
			"immutable snapshot version under DIR and publishes it. A run that fails leaves\n" +
			"the published version untouched and exits non-zero.\n\n" +
			"Quality gate: train first holds out the interactions first made in the last\n" +
			"--holdout-days of the log (the last 5 % of its span when that is more than\n" +
			"half of it; a random 20 % of each user's items when the events span no time),\n" +
			"or, when the published version was trained on events inside that span, the\n" +
			"interactions since its data ended. It trains on the rest and measures that\n" +
			"model on the holdout as the server would serve it (int8 rows, ANN index),\n" +
			"measures the published version on the same holdout and trains again on all\n" +
			"events. The new version is published only if its --gate-metric is at least\n" +
			"(1 - --gate-tolerance) times the published version's, less --gate-sigmas\n" +
			"standard errors of the per-user difference, and no figure is below its --min-*\n" +
			"floor. Otherwise it is written unpublished, the reasons are printed and train\n" +
			"exits with status 2; --force publishes it anyway. A rerun on the logs the\n" +
			"published version was trained on compares the figures its manifest recorded\n" +
			"on the same holdout, or applies only the floors when there are none.\n" +
			"The holdout metrics are recorded in the manifest (polecam inspect).\n\n" +
			"Tuning: before the gate trains, train chooses its recipe (iALS factors, λ, ν,\n" +
			"alpha, iterations; EASE λ and ρ where EASE is built; the blend) within\n" +
			"--tune-budget, on validation data carved from the gate's training part only: the\n" +
			"interactions first made in the span just before the holdout (a stratified split\n" +
			"when the events span no time). The search starts from the published version's\n" +
			"recipe, so nightly runs continue it; parameters given as flags are not searched.\n" +
			"The recipe, its validation figures and every trial go into the manifest.\n" +
			"--tune-budget 0 trains with the data-scaled defaults instead. The search also\n" +
			"ends early when the rest of the run (the gate's and the published model\n" +
			"trained, the holdout scored, the snapshots written), estimated from the search's\n" +
			"own trial times, would not end within --run-budget of the start.\n\n" +
			"Exit status: 0 published (or written, with --no-publish), 2 the gate refused,\n" +
			"3 input rejected (too many bad lines, no usable events, fewer users, items or\n" +
			"holdout users than --min-users, --min-items, --min-holdout-users without\n" +
			"--force), 1 any other failure (a full disk: \"no space left on device\").",
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
			// Explicit values win over the tuned ones (automatic factors,
			// iterations, EASE λ and blend count as explicit when set).
			fx := &o.Tune.Fixed
			fx.Regularization = cmd.Flags().Changed("regularization")
			fx.Alpha = cmd.Flags().Changed("alpha")
			fx.Factors = cmd.Flags().Changed("factors")
			fx.Iterations = cmd.Flags().Changed("iterations")
			fx.EASELambda = cmd.Flags().Changed("ease-lambda")
			fx.Blend = cmd.Flags().Changed("blend")
			fx.ItemModel = cmd.Flags().Changed("item-model")
			fx.RP3 = cmd.Flags().Changed("rp3-alpha") || cmd.Flags().Changed("rp3-beta") || cmd.Flags().Changed("rp3-top-k")
			recencyFixed(cmd.Flags(), fx)
			o.Gate.Holdout = time.Duration(holdoutDays * float64(24*time.Hour))
			o.CodeVersion = codeVersion()
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
			var gateErr *pipeline.GateError
			if errors.As(err, &gateErr) {
				fmt.Fprintf(e.stdout, "snapshot %s written, NOT published: %s is still published\n", m.Version, gateErr.Published)
				for _, r := range gateErr.Reasons {
					fmt.Fprintf(e.stdout, "  %s\n", r)
				}
				fmt.Fprintln(e.stdout, "  (polecam publish --data-dir DIR VERSION, or train --force, publishes it anyway)")
			}
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
	f.DurationVar(&o.Trending.Window, "trending-window", o.Trending.Window, "trending and bestseller lists: count the events of this window before the log's last event")
	f.DurationVar(&o.Trending.HalfLife, "trending-half-life", o.Trending.HalfLife, "trending list: decay each event of the window by its age with this half-life")
	f.StringVar(&columns, "columns", "", "header names as timestamp=NAME,user_id=NAME,item_id=NAME,event=NAME (defaults: the names themselves)")
	f.StringVar(&weights, "weights", "", "event weights as TYPE=W,... (default view=1,add_to_cart=4,purchase=10)")
	f.Float64Var(&o.Log.MaxBadRatio, "max-bad-ratio", o.Log.MaxBadRatio, "fail when more than this share of lines is malformed")
	f.IntVar(&o.ALS.Factors, "factors", o.ALS.Factors, "number of latent factors (0: scaled to the data, see README)")
	f.IntVar(&o.ALS.Iterations, "iterations", o.ALS.Iterations, "number of ALS iterations (0: scaled to the data)")
	f.Float32Var(&o.ALS.Regularization, "regularization", o.ALS.Regularization, "L2 regularisation")
	f.Float32Var(&o.ALS.Alpha, "alpha", o.ALS.Alpha, "confidence scaling: c = 1 + alpha * weight")
	f.Int64Var(&o.ALS.Seed, "seed", o.ALS.Seed, "random seed")
	f.IntVar(&o.ALS.Workers, "workers", o.ALS.Workers, "worker goroutines")
	f.IntVar(&o.CoOccurrence.TopK, "neighbors", o.CoOccurrence.TopK, "co-occurrence neighbours kept per item")
	f.Float64Var(&o.EASE.Lambda, "ease-lambda", o.EASE.Lambda, "EASE ridge penalty (0: scaled to the data)")
	f.Float32Var(&o.Blend, "blend", o.Blend, "weight of the factor scores against the item-item model (1: factors only; -1: scaled to the data)")
	addItemModelFlags(f, &o)
	f.DurationVar(&o.Tune.Budget, "tune-budget", o.Tune.Budget, "choose the recipe on validation data within this time (ends earlier when the search grid is exhausted; 0: no tuning, the data-scaled defaults)")
	f.DurationVar(&o.Tune.RunBudget, "run-budget", o.Tune.RunBudget, "with tuning: end the search early so that the whole run, reading to publishing, takes at most this long as estimated (0: only --tune-budget bounds the search)")
	f.BoolVar(&noPublish, "no-publish", false, "write the version but do not publish it")
	f.BoolVar(&o.Gate.Disabled, "no-gate", false, "skip the holdout and the quality gate: train once, on all events")
	f.Float64Var(&holdoutDays, "holdout-days", o.Gate.Holdout.Hours()/24, "quality gate: hold out the interactions first made in the last N days (0: the last 5 % of the log's span)")
	f.StringVar(&o.Gate.Metric, "gate-metric", o.Gate.Metric, "quality gate: metric compared with the published version's: ndcg, recall, precision or map")
	f.IntVar(&o.Gate.K, "gate-k", o.Gate.K, fmt.Sprintf("quality gate: recommendations per user measured, 1 to %d", pipeline.CurveK))
	f.Float64Var(&o.Gate.Tolerance, "gate-tolerance", o.Gate.Tolerance, "quality gate: publish when the metric is at least (1 - tolerance) times the published version's")
	f.Float64Var(&o.Gate.Sigmas, "gate-sigmas", o.Gate.Sigmas, "quality gate: widen the tolerance by this many standard errors of the per-user difference on the holdout (0: compare the means alone)")
	f.Float64Var(&o.Gate.MinNDCG, "min-ndcg", 0, "quality gate: refuse a version whose holdout ndcg@k is below this")
	f.Float64Var(&o.Gate.MinRecall, "min-recall", 0, "quality gate: refuse a version whose holdout recall@k is below this")
	f.Float64Var(&o.Gate.MinPrecision, "min-precision", 0, "quality gate: refuse a version whose holdout precision@k is below this")
	f.Float64Var(&o.Gate.MinMAP, "min-map", 0, "quality gate: refuse a version whose holdout map@k is below this")
	f.BoolVar(&o.Gate.Force, "force", false, "publish even when the quality gate refuses the new version or the data is below the --min-* sizes")
	f.IntVar(&o.Min.Users, "min-users", o.Min.Users, "refuse (exit 3) to publish a version trained on fewer users, unless --force")
	f.IntVar(&o.Min.Items, "min-items", o.Min.Items, "refuse (exit 3) to publish a version trained on fewer items, unless --force")
	f.IntVar(&o.Min.HoldoutUsers, "min-holdout-users", o.Min.HoldoutUsers, "quality gate: refuse (exit 3) to publish when fewer users have held-out interactions, unless --force")
	f.StringVar(&o.Report, "report", "", "write a training report (report.json and PNG plots) into this directory")
	f.DurationVar(&o.LockTimeout, "lock-timeout", o.LockTimeout, "how long to wait for another training run on the same data directory to finish (0: give up at once)")
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
	if tu := s.Tuning; tu != nil {
		printTuning(w, tu)
	}
	if g := s.Gate; g != nil {
		printGate(w, g)
	}
	parts := make([]string, 0, len(s.Stages))
	for _, st := range s.Stages {
		parts = append(parts, fmt.Sprintf("%s %v", st.Name, st.Elapsed.Round(time.Millisecond)))
	}
	fmt.Fprintf(w, "time: %s\n", strings.Join(parts, ", "))
}

// printGate writes what the quality gate measured and decided.
func printGate(w io.Writer, g *pipeline.GateResult) {
	h := g.Holdout
	switch h.Kind {
	case pipeline.HoldoutTime:
		since := ""
		if h.AfterPublished {
			since = ", the events since the published version's data"
		}
		fmt.Fprintf(w, "holdout: the last %s (from %s%s): %d users, %d interactions; trained on %d\n",
			h.Span, h.Cutoff.UTC().Format(time.RFC3339), since, h.TestUsers, h.TestInteractions, h.TrainInteractions)
	default:
		fmt.Fprintf(w, "holdout: %s, %.0f %% of each user's items (%s): %d users, %d interactions; trained on %d\n",
			h.Kind, 100*h.Ratio, h.Reason, h.TestUsers, h.TestInteractions, h.TrainInteractions)
	}
	fmt.Fprintf(w, "new:       ndcg@%d %.4f  recall@%d %.4f  precision@%d %.4f  map %.4f  coverage %.4f\n",
		g.K, g.New.NDCG, g.K, g.New.Recall, g.K, g.New.Precision, g.New.MAP, g.New.Coverage)
	if p := g.Published; p != nil {
		how := g.PublishedVersion
		if g.PublishedRecorded {
			how += ", as recorded in its manifest: it was trained on events inside this holdout"
		}
		fmt.Fprintf(w, "published: ndcg@%d %.4f  recall@%d %.4f  precision@%d %.4f  map %.4f  coverage %.4f  (%s)\n",
			g.K, p.NDCG, g.K, p.Recall, g.K, p.Precision, p.MAP, p.Coverage, how)
	} else {
		fmt.Fprintf(w, "published: not compared: %s\n", g.Skipped)
	}
	switch {
	case g.Pass && g.StdErr > 0:
		fmt.Fprintf(w, "quality gate: passed (%s@%d, tolerance %g %% and %g standard errors of %.4f)\n", g.Metric, g.K, 100*g.Tolerance, g.Sigmas, g.StdErr)
	case g.Pass:
		fmt.Fprintf(w, "quality gate: passed (%s@%d, tolerance %g %%)\n", g.Metric, g.K, 100*g.Tolerance)
	case g.Forced:
		fmt.Fprintf(w, "quality gate: refused, publishing anyway (--force): %s\n", strings.Join(g.Reasons, "; "))
	default:
		fmt.Fprintf(w, "quality gate: refused: %s\n", strings.Join(g.Reasons, "; "))
	}
}

// printTuning writes what the tuning measured on and chose.
func printTuning(w io.Writer, tu *pipeline.Tuning) {
	v, r := tu.Split, tu.Result
	switch v.Kind {
	case pipeline.SplitTime:
		fmt.Fprintf(w, "tuning: validation on the %s before %s: %d users, %d interactions; fitted on %d\n",
			v.Span, v.End.UTC().Format(time.RFC3339), v.ValidationUsers, v.ValidationInteractions, v.FitInteractions)
	default:
		why := ""
		if v.Reason != "" {
			why = " (" + v.Reason + ")"
		}
		fmt.Fprintf(w, "tuning: validation on %d stratified splits of %.0f %%%s: %d users, %d interactions; fitted on %d\n",
			v.Folds, 100*v.Ratio, why, v.ValidationUsers, v.ValidationInteractions, v.FitInteractions)
	}
	fmt.Fprintf(w, "tuned:  %d trials in %.1f s (budget %s, stopped: %s); validation ndcg@%d %.4f, the starting recipe's %.4f\n",
		len(r.Trials), r.Seconds, tu.Budget, r.Stopped, r.Validation.K, r.Validation.NDCG, r.StartValidation.NDCG)
	fmt.Fprintf(w, "recipe: %s (λs at the fitting part's scale)\n", r.Chosen)
}
