package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/polecam/polecam/store"
	"github.com/polecam/polecam/training"
)

// Tuning inside train.
//
// With Options.Tune.Budget above 0, Train chooses its recipe for the data
// it is given (training.Tune) before the quality gate trains anything, on
// validation data carved from the training part only: the part the gate's
// holdout model trains on when the gate runs (so the holdout is never
// read), all the events otherwise. For a log whose events span time the
// validation part is a time split, as the gate's holdout is: the
// interactions first made in the span just before the holdout (as long as
// the holdout), the fitting part everything before; a log without times, a
// random holdout, or a time split with fewer than Min.HoldoutUsers scored
// users gets Tune.Search.Folds stratified splits instead.
//
// The search starts from the recipe of the published version (the one its
// own tuning chose, or the parameters its manifest records), so that a
// nightly run continues the last one's search rather than starting again,
// or, without one, from the data-scaled defaults of the training part;
// parameters set explicitly (Options.Tune.Fixed, and non-automatic
// factors, iterations, EASE λ and blend) are not searched. The chosen
// recipe, its validation figures and every trial are recorded in the
// manifest (Params.Tuning); each model is trained with it, λs scaled to
// the model's training matrix (training.TuneResult.For).

// DefaultTuneBudget is the time polecam train gives its search by default:
// sized for a nightly run. Small data takes less: the search ends when its
// grid is exhausted.
const DefaultTuneBudget = 10 * time.Minute

// DefaultRunBudget is the time polecam train aims to take by default, the
// tuning included: a nightly run of 20 million events on 2 cores within
// 20 minutes, with room for the estimate's error (see
// TuneOptions.RunBudget).
const DefaultRunBudget = 18 * time.Minute

// TuneOptions say whether and how Train chooses its recipe.
type TuneOptions struct {
	// Budget is the time the tuning may take, carving the validation data
	// included (the starting recipe is always measured; see
	// training.TuneOptions.TimeBudget). 0 turns tuning off: the data-scaled
	// defaults apply (ScaledDefaults).
	Budget time.Duration
	// RunBudget, when positive, bounds the whole of Train's run with the
	// tuning in it: the search also ends (and a trial still training is
	// stopped) when what is left of RunBudget since Train began would not
	// hold the work after it, estimated for the costlier of the best
	// recipe so far and the trial from the search's own times
	// (afterTuning): the gate's model and the published one trained, the
	// holdout scored (twice when the published version is measured on
	// it), the snapshots written. 0: only Budget bounds the search.
	// Default DefaultRunBudget.
	RunBudget time.Duration
	// Search configures training.Tune: the stratified splits, K, the seed,
	// a count budget. Its TimeBudget and Fixed are set from Budget and
	// Fixed.
	Search training.TuneOptions
	// Fixed names parameters set explicitly, which the search keeps. Non-
	// zero ALS.Factors, ALS.Iterations and EASE.Lambda and a Blend other
	// than BlendAuto count as fixed too.
	Fixed training.TuneFixed
	// TimeValidationUsers is how many scored validation users a time
	// split should have: when the span before the holdout has fewer,
	// the span before it is carved as a second fold (fitted on everything
	// before it), and so on, up to Search.Folds folds. One day of a small
	// shop scores a few hundred users, too few to tell recipes apart: the
	// validation figures of neighbouring blends then differ by more than
	// the gains the search looks for. Default 2,000.
	TimeValidationUsers int
}

// DefaultTuneOptions returns the tuning polecam train does: DefaultTuneBudget
// and training.DefaultTuneOptions.
func DefaultTuneOptions() TuneOptions {
	return TuneOptions{Budget: DefaultTuneBudget, RunBudget: DefaultRunBudget, Search: training.DefaultTuneOptions(), TimeValidationUsers: 2000}
}

// Validate reports whether the options can be used.
func (o TuneOptions) Validate() error {
	if o.Budget < 0 {
		return fmt.Errorf("tune budget %v, want 0 (off) or more", o.Budget)
	}
	if o.RunBudget < 0 {
		return fmt.Errorf("run budget %v, want 0 (none) or more", o.RunBudget)
	}
	if o.Budget == 0 {
		return nil
	}
	if o.TimeValidationUsers < 0 {
		return fmt.Errorf("time validation users %d, want 0 or more", o.TimeValidationUsers)
	}
	return o.Search.Validate()
}

// Validation says how TuneRecipe carves its validation data from a
// training part.
type Validation struct {
	// Kind is SplitTime or SplitStratifiedItem.
	Kind string
	// End and Span, for a time split: the logs are read again without
	// the events at or after End (so nothing from End on is read), the
	// validation part holds the interactions first made in [End − Span,
	// End) and the fitting part those before, with the ingestion of the
	// training part (decay relative to End).
	End  time.Time
	Span time.Duration
}

// ValidationInfo describes the validation data a tuning measured on.
type ValidationInfo struct {
	Kind string `json:"kind"` // SplitTime or SplitStratifiedItem
	// Cutoff is the start of the first (latest) time fold's validation
	// span; a time split of Folds folds validates on the Folds spans
	// before End.
	Cutoff time.Time `json:"cutoff,omitzero"`
	End    time.Time `json:"end,omitzero"`
	Span   string    `json:"span,omitempty"`
	Folds  int       `json:"folds,omitempty"`
	Ratio  float64   `json:"ratio,omitempty"`
	// Reason says why a time split was not used, when one was asked for.
	Reason string `json:"reason,omitempty"`
	// Counts of the first split; ValidationUsers are the scored ones
	// (with fitting interactions). TimeValidationUsers sums the scored
	// users of every time fold.
	FitInteractions        int `json:"fit_interactions"`
	ValidationInteractions int `json:"validation_interactions"`
	ValidationUsers        int `json:"validation_users"`
	TimeValidationUsers    int `json:"time_validation_users,omitempty"`
}

// Tuning is what a tuning did, as recorded in the manifest.
type Tuning struct {
	Budget string              `json:"budget"`
	Split  ValidationInfo      `json:"split"`
	Result training.TuneResult `json:"result"`
}

// TuneRecipe chooses the recipe of models trained on train (a training
// part: the gate's, or an evaluation's) on validation data carved from it
// as v says, within opts.Tune.Budget (0: no time limit), starting from
// prev when it is set (a published version's recipe) and otherwise from
// opts' recipe with its automatic values scaled to train. It is the one
// tuning of train and eval. opts.Events, Log, Ingest and DataDir (for the
// forgotten users) are read for a time split.
func TuneRecipe(ctx context.Context, opts Options, train *training.Interactions, v Validation, prev *training.Recipe) (*Tuning, error) {
	began := time.Now()
	if err := opts.Tune.Validate(); err != nil {
		return nil, fmt.Errorf("tune: %w", err)
	}
	if opts.Logger == nil {
		return nil, errors.New("tune: logger is required")
	}
	splits, info, err := carveValidation(ctx, opts, train, v)
	if err != nil {
		return nil, fmt.Errorf("tune: %w", err)
	}
	start, fixed, sw := opts.tuneStart(train, prev)
	so := opts.Tune.Search
	so.Fixed, so.Switch = fixed, sw
	if b := opts.Tune.Budget; b > 0 {
		so.TimeBudget = max(b-time.Since(began), time.Nanosecond)
	}
	opts.Logger.Info("tuning", "validation", info.Kind, "cutoff", info.Cutoff, "span", info.Span, "reason", info.Reason,
		"fit_interactions", info.FitInteractions, "validation_users", info.ValidationUsers, "start", start.String(),
		"time_left", so.TimeBudget.Round(time.Millisecond))
	res, err := training.Tune(ctx, splits, start, so)
	if err != nil {
		return nil, err
	}
	after := "none"
	if so.After != nil {
		after = so.After(res.Cost).Round(time.Second).String()
	}
	opts.Logger.Info("tuned", "chosen", res.Chosen.String(), "validation_ndcg", res.Validation.NDCG,
		"start_validation_ndcg", res.StartValidation.NDCG, "trials", len(res.Trials), "stopped", res.Stopped,
		"elapsed", time.Since(began).Round(time.Millisecond), "estimated_after", after)
	budget := "none"
	if opts.Tune.Budget > 0 {
		budget = opts.Tune.Budget.String()
	}
	return &Tuning{Budget: budget, Split: info, Result: res}, nil
}

// carveValidation returns the validation splits of train v asks for: a
// time split read from the logs, or, when v does not ask for one or it
// has too few users, stratified splits of train.
func carveValidation(ctx context.Context, opts Options, train *training.Interactions, v Validation) ([]training.ValidationSplit, ValidationInfo, error) {
	var reason string
	switch v.Kind {
	case SplitTime:
		if v.Span <= 0 || v.End.IsZero() {
			return nil, ValidationInfo{}, fmt.Errorf("time validation ending %v over %v: want an end and a positive span", v.End, v.Span)
		}
		forgotten, err := tombstonesOf(opts)
		if err != nil {
			return nil, ValidationInfo{}, err
		}
		cutoff := v.End.Add(-v.Span)
		fit, val, err := timeSplit(ctx, opts, cutoff, v.End, v.End, forgotten)
		if err != nil {
			return nil, ValidationInfo{}, fmt.Errorf("validation: %w", err)
		}
		val = training.Reindex(val, fit)
		info := ValidationInfo{Kind: SplitTime, Cutoff: cutoff, End: v.End, Span: v.Span.String(), Folds: 1}.count(fit, val)
		if need := max(opts.Min.HoldoutUsers, 1); fit.NNZ() > 0 && info.ValidationUsers >= need {
			splits := []training.ValidationSplit{{Fit: fit, Val: val}}
			info.TimeValidationUsers = info.ValidationUsers
			// Earlier spans while the folds score too few users.
			for len(splits) < opts.Tune.Search.Folds && info.TimeValidationUsers < opts.Tune.TimeValidationUsers {
				end := v.End.Add(-time.Duration(len(splits)) * v.Span)
				fit, val, err := timeSplit(ctx, opts, end.Add(-v.Span), end, end, forgotten)
				if err != nil {
					return nil, ValidationInfo{}, fmt.Errorf("validation: %w", err)
				}
				val = training.Reindex(val, fit)
				n := ValidationInfo{}.count(fit, val).ValidationUsers
				if fit.NNZ() == 0 || n < need {
					break
				}
				splits = append(splits, training.ValidationSplit{Fit: fit, Val: val})
				info.TimeValidationUsers += n
			}
			info.Folds = len(splits)
			return splits, info, nil
		}
		reason = fmt.Sprintf("the time split at %s leaves %d fitting interactions and %d scored validation users (at least %d needed)",
			cutoff.UTC().Format(time.RFC3339), info.FitInteractions, info.ValidationUsers, max(opts.Min.HoldoutUsers, 1))
	case SplitStratifiedItem:
	default:
		return nil, ValidationInfo{}, fmt.Errorf("validation split %q, want %s or %s", v.Kind, SplitTime, SplitStratifiedItem)
	}
	splits, err := training.StratifiedSplits(train, opts.Tune.Search)
	if err != nil {
		return nil, ValidationInfo{}, fmt.Errorf("validation: %w", err)
	}
	s := opts.Tune.Search
	info := ValidationInfo{Kind: SplitStratifiedItem, Folds: s.Folds, Ratio: s.ValidationRatio, Reason: reason}.count(splits[0].Fit, splits[0].Val)
	return splits, info, nil
}

func (v ValidationInfo) count(fit, val *training.Interactions) ValidationInfo {
	v.FitInteractions, v.ValidationInteractions = fit.NNZ(), val.NNZ()
	for u := range val.NumUsers() {
		if val.UserPtr[u+1] > val.UserPtr[u] && fit.UserPtr[u+1] > fit.UserPtr[u] {
			v.ValidationUsers++
		}
	}
	return v
}

// activeCounts returns the numbers of users and items of x with
// interactions: a time split's matrices also index those seen only after
// its cutoff.
func activeCounts(x *training.Interactions) (users, items int) {
	for u := range x.NumUsers() {
		if x.UserPtr[u+1] > x.UserPtr[u] {
			users++
		}
	}
	for i := range x.NumItems() {
		if x.ItemPtr[i+1] > x.ItemPtr[i] {
			items++
		}
	}
	return users, items
}

// tuneStart returns the recipe the search starts from and the parameters
// it keeps: o's recipe with its automatic values scaled to train, with the
// parameters of prev, if set, in place of those not fixed. EASE is part of
// the scaled recipe's item-item model (EASE or RP3beta) when its blend is
// below 1; EASE is trained exactly up to EASE.MaxItems items and sparse
// beyond (training.FitEASE). The item-item models the search may switch
// to are the other ones, with their scaled options (EASE only where it is
// affordable, easeItems), unless Options.ItemModel names one.
func (o Options) tuneStart(train *training.Interactions, prev *training.Recipe) (training.Recipe, training.TuneFixed, training.TuneSwitch) {
	fx := o.Tune.Fixed
	fx.Factors = fx.Factors || o.ALS.Factors != 0
	fx.Iterations = fx.Iterations || o.ALS.Iterations != 0
	fx.EASELambda = fx.EASELambda || o.EASE.Lambda != 0
	fx.Blend = fx.Blend || o.Blend != BlendAuto
	fx.ItemModel = fx.ItemModel || o.ItemModel != ItemModelAuto
	users, items := activeCounts(train)
	base := o.scaled(ScaledDefaults(users, items, train.NNZ()))
	var sw training.TuneSwitch
	if easeAffordable(items) {
		e := base.EASE
		sw.EASE = &e
	}
	rp := base.RP3
	sw.RP3 = &rp
	r := training.Recipe{ALS: base.ALS, Blend: 1, Recency: o.recency()}
	if base.Blend < 1 {
		switch base.ItemModel {
		case ItemModelEASE:
			e := base.EASE
			r.EASE, r.Blend = &e, base.Blend
		case ItemModelRP3:
			rp := base.RP3
			r.RP3, r.Blend = &rp, base.Blend
		}
	}
	if prev == nil {
		return r, fx, sw
	}
	p := r
	a := prev.ALS
	if !fx.Factors {
		p.ALS.Factors = a.Factors
	}
	if !fx.Iterations {
		p.ALS.Iterations = a.Iterations
	}
	if !fx.Regularization {
		p.ALS.Regularization = a.Regularization
	}
	if !fx.RegularizationExponent {
		p.ALS.RegularizationExponent = a.RegularizationExponent
	}
	if !fx.Alpha {
		p.ALS.Alpha = a.Alpha
	}
	if !fx.ItemModel && !(fx.Blend && p.Blend >= 1) {
		// Continue with the published recipe's kind of item-item model
		// (unless factors only were asked for).
		switch {
		case prev.RP3 != nil:
			rp := base.RP3
			p.EASE, p.RP3 = nil, &rp
		case prev.EASE != nil:
			e := base.EASE
			p.EASE, p.RP3 = &e, nil
		}
		if p.EASE != nil || p.RP3 != nil {
			if p.Blend >= 1 && !fx.Blend {
				p.Blend = prev.Blend
			}
		}
	}
	if p.RP3 != nil && prev.RP3 != nil {
		p.RP3 = new(*prev.RP3)
		if !fx.Blend {
			p.Blend = prev.Blend
		}
	}
	if p.EASE != nil && prev.EASE != nil {
		e := *p.EASE
		if !fx.EASELambda {
			e.Lambda = prev.EASE.Lambda
		}
		if !fx.EASEDiagonalScale {
			e.DiagonalScale = prev.EASE.DiagonalScale
		}
		p.EASE = &e
		if !fx.Blend {
			p.Blend = prev.Blend
		}
	}
	if !fx.PopularityHalfLife {
		p.Recency.HalfLifeHours = prev.Recency.HalfLifeHours
	}
	if !fx.RecencyWeight {
		p.Recency.Weight = prev.Recency.Weight
	}
	if p.Validate() != nil {
		o.Logger.Warn("not starting the tuning from the published recipe: it is not valid", "recipe", prev.String())
		return r, fx, sw
	}
	return p, fx, sw
}

// publishedRecipe returns the recipe of the published version pub: the one
// its tuning chose, or else the parameters its manifest records; nil when
// nothing is published or its parameters cannot be read.
func publishedRecipe(pub store.Manifest) *training.Recipe {
	if pub.Version == "" || len(pub.Params) == 0 {
		return nil
	}
	var p Params
	if err := json.Unmarshal(pub.Params, &p); err != nil {
		return nil
	}
	if p.Tuning != nil {
		r := p.Tuning.Result.Chosen
		return &r
	}
	return &training.Recipe{ALS: p.ALS, EASE: p.EASE, RP3: p.RP3, Blend: p.Blend, Recency: p.Recency}
}

// tuneForTrain tunes Train's recipe: on the gate's training part with a
// time split just before the holdout when the gate has a time holdout, on
// all of x with a time split at the end of the log without the gate, and
// with stratified splits otherwise. opts are Train's options before the
// data-scaled defaults were applied.
func tuneForTrain(ctx context.Context, opts Options, x *training.Interactions, st IngestStats, gs *gateSplit, run runClock) (*Tuning, error) {
	var pub store.Manifest
	if gs != nil {
		pub = gs.pub
	} else {
		var err error
		if pub, err = publishedManifest(opts.DataDir); err != nil {
			return nil, err
		}
	}
	part, v := x, Validation{Kind: SplitStratifiedItem}
	span := st.Log.Last.Sub(st.Log.First)
	switch {
	case gs != nil:
		part = gs.train
		if gs.h.Kind == HoldoutTime {
			v = Validation{Kind: SplitTime, End: gs.h.Cutoff, Span: st.Log.Last.Sub(gs.h.Cutoff)}
		}
	case span > 0:
		hold := opts.Gate.Holdout
		if hold <= 0 || hold > span/2 {
			hold = time.Duration(float64(span) * opts.Gate.HoldoutShare)
		}
		v = Validation{Kind: SplitTime, End: st.Log.Last.Add(time.Nanosecond), Span: hold}
	}
	if b := opts.Tune.RunBudget; b > 0 {
		a := afterTuning{trainInteractions: x.NNZ(), workers: runtime.GOMAXPROCS(0), write: run.read / 2}
		if gs != nil {
			a.trainInteractions += gs.train.NNZ()
			a.scoredUsers = gs.h.TestUsers
			if pub.Version != "" && !trainedInHoldout(pub, gs.h) {
				a.scoredUsers *= 2
			}
		}
		opts.Tune.Search.Deadline, opts.Tune.Search.After = run.began.Add(b), a.estimate
	}
	return TuneRecipe(ctx, opts, part, v, publishedRecipe(pub))
}

// runClock is when Train's run began and how long reading its events took.
type runClock struct {
	began time.Time
	read  time.Duration
}

// afterTuning estimates the time Train's work after the tuning takes, for
// RunBudget: training the models (trainInteractions in all: the gate's
// and the published one), ranking the catalogue for scoredUsers holdout
// users (each evaluation) on workers goroutines where the search scores
// on one, both scaled from the search's cost on its validation splits,
// and write for the serving lists, catalogue and snapshots (half the time
// reading the events took). A tenth is added for the estimate's error.
// On the 20-million-event log (benchmarks/ingest.md) the trainings were
// estimated 8.5 % too long and 10 % too short in two runs; the rest
// (scoring at one core's speed and the whole reading time) 2.3 times too
// long before the scoring was divided among the workers and the writes
// halved, within 2 % after.
type afterTuning struct {
	trainInteractions, scoredUsers int
	workers                        int
	write                          time.Duration
}

func (a afterTuning) estimate(c training.TrialCost) time.Duration {
	d := a.write
	if c.FitInteractions > 0 {
		d += time.Duration(float64(c.Fit) * float64(a.trainInteractions) / float64(c.FitInteractions))
	}
	if c.ScoredUsers > 0 {
		d += time.Duration(float64(c.Score) * float64(a.scoredUsers) / float64(c.ScoredUsers) / float64(max(a.workers, 1)))
	}
	return d + d/10
}

// tunedFor returns o with the tuned recipe, if any, for a model trained
// on x in place of its model options.
func (o Options) tunedFor(x *training.Interactions) Options {
	if o.Tuned == nil {
		return o
	}
	r := o.Tuned.For(x)
	workers := o.ALS.Workers
	o.ALS, o.Blend = r.ALS, r.Blend
	o.PopularityHalfLife, o.RecencyWeight = r.Recency.HalfLife(), r.Recency.Weight
	if workers > 0 {
		o.ALS.Workers = workers
	}
	switch {
	case r.EASE != nil:
		o.EASE, o.ItemModel = *r.EASE, ItemModelEASE
	case r.RP3 != nil:
		o.RP3, o.ItemModel = *r.RP3, ItemModelRP3
	default:
		o.Blend = 1
	}
	return o
}
