package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/polecam/polecam/internal/pipeline"
	"github.com/polecam/polecam/recommender"
	"github.com/polecam/polecam/training"
	"github.com/polecam/polecam/training/eventlog"
)

// evalConfig is what polecam eval does.
type evalConfig struct {
	events      []string
	log         eventlog.Options
	ingest      pipeline.IngestOptions
	dataDir     string // forgotten users are read from here when set
	foldIn      bool   // answer users from folded-in vectors (ModelOptions.FoldInUsers)
	split       string // pipeline.SplitStratifiedItem, SplitTime or SplitLeaveLastOut
	testRatio   float64
	holdoutDays float64
	lastN       int
	seed        int64
	k           int
	tune        bool          // --tune: tune within tuneBudget
	tuneBudget  time.Duration // the time budget of --tune
	tuneOpts    training.TuneOptions
	fixed       training.TuneFixed // parameters given as flags
	models      pipeline.Options   // ALS, CoOccurrence, ItemModel, EASE, RP3, Blend
	logger      *slog.Logger
}

// evalReport is the JSON object polecam eval prints.
type evalReport struct {
	training.Metrics
	// Fallback counts evaluated users answered by popularity (unknown to
	// the model or without a factor vector).
	Fallback     int              `json:"fallback_users"`
	Items        int              `json:"items"`
	Split        string           `json:"split"`
	TestRatio    float64          `json:"test_ratio,omitempty"`
	HoldoutDays  float64          `json:"holdout_days,omitempty"`
	TestLast     int              `json:"test_last,omitempty"`
	Seed         int64            `json:"seed"`
	FoldIn       bool             `json:"fold_in,omitempty"`
	Interactions int              `json:"interactions"`
	Train        int              `json:"train_interactions"`
	Test         int              `json:"test_interactions"`
	Params       json.RawMessage  `json:"params"`
	Tuned        *pipeline.Tuning `json:"tuned,omitempty"`
	// Popularity is the baseline on the same split: every user gets the
	// items with the most training users, less her own.
	Popularity training.Metrics `json:"popularity"`
	Seconds    float64          `json:"seconds"`
}

func newEvalCmd(e *env) *cobra.Command {
	c := evalConfig{
		log:        eventlog.DefaultOptions(),
		split:      pipeline.SplitStratifiedItem,
		testRatio:  0.25,
		lastN:      1,
		seed:       42,
		k:          10,
		tuneOpts:   training.DefaultTuneOptions(),
		tuneBudget: pipeline.DefaultTuneBudget,
		models:     pipeline.DefaultOptions(),
	}
	var (
		asJSON  bool
		weights string
		columns string
	)
	cmd := &cobra.Command{
		Use:   "eval --events FILE [--split stratified-item|time|leave-last-out] [--k 10] [--json]",
		Short: "Train on a split of an event log and measure the served model on the rest",
		Long: "eval splits the events into training and test interactions, trains every model\n" +
			"with the same defaults as train (or, with --tune, with the recipe train's tuning\n" +
			"chooses, on validation data carved from this split's training part: the\n" +
			"--holdout-days before the test part for --split time, --folds stratified splits\n" +
			"seeded by --seed otherwise), writes a real snapshot into a\n" +
			"temporary directory and asks the serving core for each test user's top k, exactly\n" +
			"as the server would (seen items excluded, popularity for unknown users).\n\n" +
			"The events become interactions exactly as in train (pipeline.Ingest): the users\n" +
			"forgotten in --data-dir (if given) left out, then --dedup-window, --half-life and\n" +
			"--min-user-items/--min-item-users applied.\n\n" +
			"Splits: stratified-item puts --test-ratio of each item's interactions, chosen at\n" +
			"random with --seed, into test (Microsoft Recommenders python_stratified_split,\n" +
			"filter_by=\"item\"); time holds out the interactions first made in the last\n" +
			"--holdout-days days of the log, as train's quality gate does; leave-last-out\n" +
			"holds out each user's --test-last most recent (user, item) pairs, by the time\n" +
			"of the pair's last event, ties broken by log order (the later line wins);\n" +
			"users with --test-last pairs or fewer stay in training and are not tested.\n\n" +
			"Metrics at k (see training.Metrics): precision = hits/k, recall = hits/|test|,\n" +
			"ndcg with binary gain, map = mean over users of Σ precision@hit / |test|,\n" +
			"map_at_k = the same / min(k, |test|), hit_rate, catalogue coverage.",
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c.events = append(c.events, args...)
			if len(c.events) == 0 {
				return errors.New("at least one --events file is required")
			}
			if weights != "" {
				w, err := parseWeights(weights)
				if err != nil {
					return err
				}
				c.log.Weights = w
			}
			if columns != "" {
				if err := parseColumns(columns, &c.log.Columns.Timestamp, &c.log.Columns.User, &c.log.Columns.Item, &c.log.Columns.Event); err != nil {
					return err
				}
			}
			log, err := e.logger()
			if err != nil {
				return err
			}
			c.logger = log
			if cmd.Flags().Changed("tune-budget") {
				c.tune = c.tuneBudget > 0
			}
			for name, fixed := range map[string]*bool{
				"factors": &c.fixed.Factors, "iterations": &c.fixed.Iterations, "regularization": &c.fixed.Regularization,
				"regularization-exponent": &c.fixed.RegularizationExponent, "alpha": &c.fixed.Alpha,
				"ease-lambda": &c.fixed.EASELambda, "ease-diagonal-scale": &c.fixed.EASEDiagonalScale, "blend": &c.fixed.Blend,
				"item-model": &c.fixed.ItemModel,
			} {
				*fixed = cmd.Flags().Changed(name)
			}
			c.fixed.RP3 = cmd.Flags().Changed("rp3-alpha") || cmd.Flags().Changed("rp3-beta") || cmd.Flags().Changed("rp3-top-k")
			recencyFixed(cmd.Flags(), &c.fixed)
			r, err := runEval(cmd.Context(), c)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(e.stdout)
				return enc.Encode(r)
			}
			fmt.Fprintf(e.stdout, "%s split (seed %d): %d users evaluated (%d by popularity), %d items, %d train / %d test interactions\n",
				r.Split, r.Seed, r.Users, r.Fallback, r.Items, r.Train, r.Test)
			fmt.Fprintf(e.stdout, "precision@%d %.4f  recall@%d %.4f  ndcg@%d %.4f  map %.4f  map@%d %.4f  hit rate %.4f  coverage %.4f\n",
				r.K, r.Precision, r.K, r.Recall, r.K, r.NDCG, r.MAP, r.K, r.MAPAtK, r.HitRate, r.Coverage)
			fmt.Fprintf(e.stdout, "popularity: precision@%d %.4f  recall@%d %.4f  ndcg@%d %.4f\n",
				r.K, r.Popularity.Precision, r.K, r.Popularity.Recall, r.K, r.Popularity.NDCG)
			fmt.Fprintf(e.stdout, "parameters: %s\n", r.Params)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&c.events, "events", nil, "event log file or glob (repeatable; positional arguments also count)")
	f.StringVar(&c.log.Format, "format", c.log.Format, "log format: auto, csv, tsv or movielens")
	f.StringVar(&columns, "columns", "", "header names as timestamp=NAME,user_id=NAME,item_id=NAME,event=NAME")
	f.StringVar(&weights, "weights", "", "event weights as TYPE=W,... (default view=1,add_to_cart=4,purchase=10)")
	f.Float64Var(&c.log.MaxBadRatio, "max-bad-ratio", c.log.MaxBadRatio, "fail when more than this share of lines is malformed")
	f.StringVar(&c.dataDir, "data-dir", "", "data directory whose forgotten users are left out, as train does (default: none)")
	f.DurationVar(&c.ingest.HalfLife, "half-life", 0, "decay event weights by age with this half-life, as train does (0: no decay)")
	f.DurationVar(&c.ingest.DedupWindow, "dedup-window", 0, "count repeated events of a user, item and type within this window once, as train does")
	f.IntVar(&c.ingest.MinUserItems, "min-user-items", 0, "leave out users with fewer distinct items, as train does")
	f.IntVar(&c.ingest.MinItemUsers, "min-item-users", 0, "leave out items with fewer distinct users, as train does")
	f.BoolVar(&c.log.RatingWeights, "rating-weights", false, "movielens: weigh each rating by its value instead of 1")
	f.StringVar(&c.split, "split", c.split, "split: stratified-item, time or leave-last-out")
	f.IntVar(&c.lastN, "test-last", c.lastN, "leave-last-out: how many of each user's most recent interactions are held out")
	f.Float64Var(&c.testRatio, "test-ratio", c.testRatio, "stratified-item: share of each item's interactions held out")
	f.Float64Var(&c.holdoutDays, "holdout-days", 7, "time: hold out the interactions first made in the last N days")
	f.Int64Var(&c.seed, "seed", c.seed, "seed of the split (and of the validation split with --tune)")
	f.IntVar(&c.k, "k", c.k, "number of recommendations per user")
	f.BoolVar(&asJSON, "json", false, "print one JSON object")
	f.BoolVar(&c.foldIn, "fold-in", false, "answer every test user from a vector folded in at request time from their training items, instead of their trained vector")
	f.BoolVar(&c.tune, "tune", false, "choose the recipe as train does, on validation data carved from the training part, within --tune-budget")
	f.DurationVar(&c.tuneBudget, "tune-budget", c.tuneBudget, "with --tune: the time the search may take (setting it implies --tune; 0: no tuning)")
	f.IntVar(&c.tuneOpts.Budget, "budget", c.tuneOpts.Budget, "with --tune: number of iALS configurations to train (0: the whole grid)")
	f.IntVar(&c.tuneOpts.Folds, "folds", c.tuneOpts.Folds, "with --tune: number of validation splits averaged")
	f.Float64Var(&c.tuneOpts.ValidationRatio, "validation-ratio", c.tuneOpts.ValidationRatio, "with --tune: share of each item's training interactions held out for validation")
	f.IntVar(&c.models.ALS.Factors, "factors", c.models.ALS.Factors, "number of latent factors (0: scaled to the data)")
	f.IntVar(&c.models.ALS.Iterations, "iterations", c.models.ALS.Iterations, "number of ALS iterations (0: scaled to the data)")
	f.Float32Var(&c.models.ALS.Regularization, "regularization", c.models.ALS.Regularization, "ALS L2 regularisation")
	f.Float32Var(&c.models.ALS.RegularizationExponent, "regularization-exponent", c.models.ALS.RegularizationExponent, "ALS: scale each row's penalty by (its confidence mass / the mean)^exponent (0: unscaled)")
	f.Float32Var(&c.models.ALS.Alpha, "alpha", c.models.ALS.Alpha, "ALS confidence scaling: c = 1 + alpha * weight")
	f.Float64Var(&c.models.EASE.Lambda, "ease-lambda", c.models.EASE.Lambda, "EASE ridge penalty (0: scaled to the data)")
	f.Float64Var(&c.models.EASE.DiagonalScale, "ease-diagonal-scale", c.models.EASE.DiagonalScale, "EASE: DLAE penalty ρ·G_jj added to λ (0: plain EASE)")
	f.Float32Var(&c.models.Blend, "blend", c.models.Blend, "weight of the factor scores against the item-item model (1: factors only; -1: scaled to the data)")
	addItemModelFlags(f, &c.models)
	return cmd
}

// runEval splits, trains, snapshots, serves and measures.
func runEval(ctx context.Context, c evalConfig) (evalReport, error) {
	start := time.Now()
	if c.k < 1 || c.k > recommender.MaxN {
		return evalReport{}, fmt.Errorf("bad --k %d: want 1 to %d", c.k, recommender.MaxN)
	}
	r := evalReport{Split: c.split, Seed: c.seed, FoldIn: c.foldIn}
	po := pipeline.DefaultOptions()
	po.DataDir, po.Events, po.Log, po.Ingest, po.Logger = c.dataDir, c.events, c.log, c.ingest, c.logger
	sp := pipeline.SplitOptions{Kind: c.split, TestRatio: c.testRatio, Seed: c.seed, LastN: c.lastN}
	switch c.split {
	case pipeline.SplitStratifiedItem:
		r.TestRatio = c.testRatio
	case pipeline.SplitTime:
		if !(c.holdoutDays > 0) {
			return evalReport{}, fmt.Errorf("bad --holdout-days %v: want a positive number of days", c.holdoutDays)
		}
		sp.Holdout = time.Duration(c.holdoutDays * float64(24*time.Hour))
		r.HoldoutDays = c.holdoutDays
	case pipeline.SplitLeaveLastOut:
		r.TestLast = c.lastN
	default:
		return evalReport{}, fmt.Errorf("bad --split %q: use %s, %s or %s", c.split, pipeline.SplitStratifiedItem, pipeline.SplitTime, pipeline.SplitLeaveLastOut)
	}
	train, test, st, err := pipeline.IngestSplit(ctx, po, sp)
	if err != nil {
		return evalReport{}, fmt.Errorf("eval: %w", err)
	}
	r.Items, r.Train, r.Test, r.Interactions = train.NumItems(), train.NNZ(), test.NNZ(), train.NNZ()+test.NNZ()
	if train.NNZ() == 0 || test.NNZ() == 0 {
		return evalReport{}, fmt.Errorf("eval: the split left %d training and %d test interactions; both must be non-empty", train.NNZ(), test.NNZ())
	}

	opts := c.models
	opts.Logger = c.logger
	opts.Publish = false
	opts.CodeVersion = codeVersion()
	if c.tune {
		// Train's tuning, on validation data carved from this split's
		// training part: the span before the test part for a time split,
		// stratified splits seeded by --seed otherwise.
		to := po
		to.ALS, to.EASE, to.Blend = c.models.ALS, c.models.EASE, c.models.Blend
		to.ItemModel, to.RP3 = c.models.ItemModel, c.models.RP3
		to.PopularityHalfLife, to.RecencyWeight = c.models.PopularityHalfLife, c.models.RecencyWeight
		to.Tune = pipeline.DefaultTuneOptions() // train's, time folds included
		to.Tune.Budget, to.Tune.Search, to.Tune.Fixed = c.tuneBudget, c.tuneOpts, c.fixed
		to.Tune.Search.K, to.Tune.Search.Seed = c.k, c.seed
		v := pipeline.Validation{Kind: pipeline.SplitStratifiedItem}
		if c.split == pipeline.SplitTime {
			v = pipeline.Validation{Kind: pipeline.SplitTime, End: st.Log.Last.Add(-sp.Holdout), Span: sp.Holdout}
		}
		tu, err := pipeline.TuneRecipe(ctx, to, train, v, nil)
		if err != nil {
			return evalReport{}, fmt.Errorf("eval: %w", err)
		}
		opts.Tuned = &tu.Result
		r.Tuned = tu
	}
	opts = opts.ScaledTo(train) // as train fixes them on its matrix

	dataDir, err := os.MkdirTemp("", "polecam-eval-")
	if err != nil {
		return evalReport{}, fmt.Errorf("eval: %w", err)
	}
	defer os.RemoveAll(dataDir)
	opts.DataDir = dataDir
	m, err := pipeline.TrainMatrix(ctx, train, opts)
	if err != nil {
		return evalReport{}, fmt.Errorf("eval: %w", err)
	}
	r.Params = m.Params

	mo := recommender.DefaultModelOptions()
	mo.FoldInUsers = c.foldIn
	ev, err := pipeline.EvaluateServedWith(ctx, dataDir, m.Version, test, c.k, mo)
	if err != nil {
		return evalReport{}, fmt.Errorf("eval: %w", err)
	}
	r.Metrics, r.Fallback = ev.At(c.k), ev.Fallback
	pop := training.Popularity(train)
	r.Popularity = training.Evaluate(train, test, c.k, func(_ int32, dst []float32) { copy(dst, pop) })
	r.Seconds = time.Since(start).Seconds()
	return r, nil
}
