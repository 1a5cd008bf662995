package training

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"
)

// Blend writes into dst the blended score the server ranks by when a
// snapshot holds both factors and an item-item model:
//
//	dst[i] = w·f[i]/max(f) + (1−w)·s[i]/max(s)
//
// where f are the factor scores, s the item-item scores and each max is
// taken over the finite entries (an entry of −Inf in f marks an item that
// is not a candidate: seen, excluded, or without a factor vector; it stays
// −Inf in dst and is left out of both maxima). A maximum that is not
// positive is replaced by 1. Scaling each model by its best candidate puts
// both on a scale of "1 = this user's top item" before mixing, so that w
// means the same for every user. dst may alias f or s.
func Blend(dst, f, s []float32, w float32) {
	mf, ms := float32(math.Inf(-1)), float32(math.Inf(-1))
	for i, v := range f {
		if isFinite(v) {
			mf = max(mf, v)
			if isFinite(s[i]) {
				ms = max(ms, s[i])
			}
		}
	}
	if !(mf > 0) {
		mf = 1
	}
	if !(ms > 0) {
		ms = 1
	}
	a, b := w/mf, (1-w)/ms
	for i, v := range f {
		if isFinite(v) {
			dst[i] = a*v + b*s[i]
		} else {
			dst[i] = float32(math.Inf(-1))
		}
	}
}

func isFinite(v float32) bool { return !math.IsInf(float64(v), 0) && !math.IsNaN(float64(v)) }

// BlendScorer returns a score function for Evaluate that ranks like the
// server ranks a user known to both models: factor scores with the user's
// training items and the items without a factor vector set to −Inf, then
// Blend with the item-item scores of the user's training items. ii may be
// nil (factors only; weight is then ignored).
func BlendScorer(train *Interactions, f *Factors, ii ItemScorer, weight float32) func(u int32, dst []float32) {
	cold := make([]bool, train.NumItems())
	for i := range cold {
		cold[i] = isZeroVec(f.ItemVector(int32(i)))
	}
	var s []float32
	if ii != nil {
		s = make([]float32, train.NumItems())
	}
	negInf := float32(math.Inf(-1))
	return func(u int32, dst []float32) {
		f.Scores(u, dst)
		seen, _ := train.UserRow(u)
		for _, i := range seen {
			dst[i] = negInf
		}
		for i, c := range cold {
			if c {
				dst[i] = negInf
			}
		}
		if ii != nil {
			ii.Scores(seen, s)
			Blend(dst, dst, s, weight)
		}
	}
}

func isZeroVec(v []float32) bool {
	for _, x := range v {
		if x != 0 {
			return false
		}
	}
	return true
}

// TuneOptions configures Tune.
type TuneOptions struct {
	// Budget is the largest number of iALS configurations trained (the
	// starting point included); each is trained once per validation
	// split. 0 (the default): no limit but the grid and TimeBudget.
	Budget int `json:"budget,omitempty"`
	// TimeBudget, when positive, bounds the search in time. The starting
	// recipe is always measured; every later trial starts only while the
	// time left since Tune began is at least what that trial is estimated
	// to take (the last trial of its kind, scaled by factors × iterations
	// for iALS; an item-item model not trained yet counts as free), and a
	// trial still training when the time is up is stopped and left out.
	// When the time is up the best recipe measured so far is chosen. 0: no
	// time limit.
	TimeBudget time.Duration `json:"time_budget,omitempty"`
	// Deadline, when not zero, is when the caller needs the search and
	// the work that follows it done: a trial starts only if it, followed
	// by After of the costlier of the best recipe so far and the trial's
	// recipe, can end by Deadline, and is stopped (and left out) when it
	// trains past that. The starting recipe is always measured.
	Deadline time.Time `json:"-"`
	// After estimates the time the caller's work after the search takes
	// for a recipe of cost c (its models trained on the chosen recipe,
	// their evaluation, their writing); nil with a Deadline: none.
	After func(c TrialCost) time.Duration `json:"-"`
	// ValidationRatio is the share of each item's training interactions
	// StratifiedSplits holds out for validation (SplitStratifiedItem).
	// Default 0.15: the fitting parts then hold 85% of train, close to the
	// data the chosen model is trained on (with 0.25 the optimum found for
	// 75% moved away from the one for all of train), and Folds averages
	// out the extra noise of the smaller validation parts.
	ValidationRatio float64 `json:"validation_ratio"`
	// Folds is the number of splits StratifiedSplits draws, with seeds
	// Seed, Seed+1, …; every candidate is scored by its mean NDCG over
	// them, so that choices between close values are less noisy. Default 4.
	Folds int `json:"folds"`
	// K is the cut-off of the metric optimised, NDCG@K. Default 10.
	K int `json:"k"`
	// Seed seeds the stratified splits and the sample of validation users.
	Seed int64 `json:"seed"`
	// MaxValidationUsers, when positive, bounds the validation users each
	// trial scores per split to a sample of that many drawn with Seed:
	// scoring a user ranks the whole catalogue, so on a large shop the
	// evaluation, not the training, would otherwise fill the budget.
	// Default 10,000.
	MaxValidationUsers int `json:"max_validation_users,omitempty"`
	// Fixed names the parameters Tune keeps at their starting values (set
	// explicitly by the caller).
	Fixed TuneFixed `json:"fixed"`
	// Switch names the other item-item models the search tries (unless
	// Fixed.ItemModel): each gets the same search as the starting one, and
	// the best recipe of any kind is chosen.
	Switch TuneSwitch `json:"switch"`
}

// TuneFixed names the parameters of a Recipe that Tune does not search.
// A fixed λ is also not rescaled by TuneResult.For.
type TuneFixed struct {
	Factors                bool `json:"factors,omitempty"`
	Iterations             bool `json:"iterations,omitempty"`
	Regularization         bool `json:"regularization,omitempty"`
	RegularizationExponent bool `json:"regularization_exponent,omitempty"`
	Alpha                  bool `json:"alpha,omitempty"`
	EASELambda             bool `json:"ease_lambda,omitempty"`
	EASEDiagonalScale      bool `json:"ease_diagonal_scale,omitempty"`
	Blend                  bool `json:"blend,omitempty"`
	// ItemModel keeps the starting recipe's kind of item-item model (EASE,
	// RP3beta or none): TuneOptions.Switch is not tried.
	ItemModel bool `json:"item_model,omitempty"`
	// RP3 keeps RP3beta's options.
	RP3 bool `json:"rp3,omitempty"`
	// PopularityHalfLife and RecencyWeight keep the starting recipe's
	// RecencyOptions.
	PopularityHalfLife bool `json:"popularity_half_life,omitempty"`
	RecencyWeight      bool `json:"recency_weight,omitempty"`
}

// TuneSwitch names the item-item models Tune may switch to from the
// starting recipe's, with the options each starts from; nil: not a
// candidate. A candidate of the starting recipe's own kind is ignored.
type TuneSwitch struct {
	EASE *EASEOptions `json:"ease,omitempty"`
	RP3  *RP3Options  `json:"rp3,omitempty"`
}

// DefaultTuneOptions returns the defaults described on TuneOptions.
func DefaultTuneOptions() TuneOptions {
	return TuneOptions{ValidationRatio: 0.15, Folds: 4, K: 10, Seed: 1, MaxValidationUsers: 10000}
}

// Validate reports the first option that is out of range.
func (o TuneOptions) Validate() error {
	switch {
	case o.Budget < 0:
		return fmt.Errorf("tune options: budget %d, want 0 (no limit) or more", o.Budget)
	case o.TimeBudget < 0:
		return fmt.Errorf("tune options: time budget %v, want 0 (no limit) or more", o.TimeBudget)
	case !(o.ValidationRatio > 0 && o.ValidationRatio < 1):
		return fmt.Errorf("tune options: validation ratio %v, want strictly between 0 and 1", o.ValidationRatio)
	case o.Folds < 1:
		return fmt.Errorf("tune options: folds %d, want at least 1", o.Folds)
	case o.K < 1:
		return fmt.Errorf("tune options: k %d, want at least 1", o.K)
	case o.MaxValidationUsers < 0:
		return fmt.Errorf("tune options: max validation users %d, want 0 (all) or more", o.MaxValidationUsers)
	}
	return nil
}

// Recipe is one point of Tune's search: what a snapshot's models are
// trained with.
type Recipe struct {
	ALS ALSOptions `json:"als"`
	// EASE or RP3 (never both) is the item-item model blended with the
	// factors; both nil: factors only.
	EASE *EASEOptions `json:"ease,omitempty"`
	RP3  *RP3Options  `json:"rp3,omitempty"`
	// Blend is the weight of the factor scores (see Blend); 1 without an
	// item-item model.
	Blend float32 `json:"blend"`
	// Recency is how the popularity list counts time and its share in a
	// known user's ranking (RecencyOptions); zero: the all-time list, no
	// share.
	Recency RecencyOptions `json:"recency,omitzero"`
}

// hasItem reports whether the recipe has an item-item model.
func (r Recipe) hasItem() bool { return r.EASE != nil || r.RP3 != nil }

// FitItemModel trains the recipe's item-item model on x: nil without one.
// EASE is exact up to EASE.MaxItems items, sparse beyond (FitEASE).
func (r Recipe) FitItemModel(ctx context.Context, x *Interactions) (ItemScorer, error) {
	switch {
	case r.EASE != nil:
		return FitEASE(ctx, x, *r.EASE)
	case r.RP3 != nil:
		return TrainRP3(ctx, x, *r.RP3)
	}
	return nil, nil
}

// String names the recipe's searched parameters on one line.
func (r Recipe) String() string {
	a := r.ALS
	s := fmt.Sprintf("factors=%d iterations=%d regularization=%g regularization_exponent=%g alpha=%g",
		a.Factors, a.Iterations, a.Regularization, a.RegularizationExponent, a.Alpha)
	if r.EASE != nil {
		s += fmt.Sprintf(" | ease lambda=%g diagonal_scale=%g", r.EASE.Lambda, r.EASE.DiagonalScale)
	}
	if r.RP3 != nil {
		s += fmt.Sprintf(" | rp3 alpha=%g beta=%g top_k=%d", r.RP3.Alpha, r.RP3.Beta, r.RP3.TopK)
	}
	s += fmt.Sprintf(" | blend=%g", r.Blend)
	if r.Recency != (RecencyOptions{}) {
		s += " | " + r.Recency.String()
	}
	return s
}

// Validate reports whether the recipe can be trained.
func (r Recipe) Validate() error {
	if err := r.ALS.Validate(); err != nil {
		return err
	}
	if r.EASE != nil {
		if err := r.EASE.Validate(); err != nil {
			return err
		}
	}
	if r.RP3 != nil {
		if r.EASE != nil {
			return errors.New("recipe: both EASE and RP3beta, want at most one item-item model")
		}
		if err := r.RP3.Validate(); err != nil {
			return err
		}
	}
	if !(r.Blend >= 0 && r.Blend <= 1) {
		return fmt.Errorf("recipe: blend %v, want between 0 and 1", r.Blend)
	}
	if err := r.Recency.Validate(); err != nil {
		return fmt.Errorf("recipe: %w", err)
	}
	return nil
}

// servesRecency reports whether the recipe's recency weight reaches the
// ranking: the server adds it to the blend with an item-item model only.
func (r Recipe) servesRecency() bool { return r.hasItem() && r.Blend < 1 && r.Recency.Weight > 0 }

// Trial is one recipe Tune measured on the validation splits (metrics
// averaged over them).
type Trial struct {
	// Model says what the trial changed from the best recipe so far:
	// "start" (the starting recipe), "als", "ease", "rp3", "blend" or
	// "recency" (RecencyOptions.Weight).
	Model  string  `json:"model"`
	Params string  `json:"params"` // the whole recipe (Recipe.String)
	NDCG   float64 `json:"ndcg"`
	Prec   float64 `json:"precision"`
}

// TrialCost is what a recipe costs on one validation split, as Tune
// estimates it from the times of its trials: training its models on a
// fitting part of FitInteractions interactions, and ranking the whole
// catalogue for the ScoredUsers of a validation part. All four are means
// over the splits.
type TrialCost struct {
	Fit             time.Duration `json:"fit_ns"`
	Score           time.Duration `json:"score_ns"`
	FitInteractions int           `json:"fit_interactions"`
	ScoredUsers     int           `json:"scored_users"`
}

// Why Tune stopped (TuneResult.Stopped).
const (
	TuneStoppedGrid  = "grid"  // every point of the search was measured
	TuneStoppedTime  = "time"  // TuneOptions.TimeBudget ran out, or Deadline came near
	TuneStoppedCount = "count" // TuneOptions.Budget iALS configurations were trained
)

// TuneResult is what Tune measured and chose.
type TuneResult struct {
	// Start is the starting recipe and StartValidation its metrics: the
	// first trial.
	Start           Recipe  `json:"start"`
	StartValidation Metrics `json:"start_validation"`
	// Chosen is the recipe with the best validation NDCG@K, Validation its
	// metrics. Its λs are those of the fitting parts it was measured on;
	// For scales them to the matrix a model is trained on.
	Chosen     Recipe  `json:"chosen"`
	Validation Metrics `json:"validation"`
	// Cost is Chosen's cost as the search estimated it (TrialCost).
	Cost   TrialCost `json:"cost"`
	Trials []Trial   `json:"trials"`
	// Popularity are the popularity lists of each half-life measured
	// alone, on all validation users, when the half-life was chosen
	// (Model "popularity", Params its RecencyOptions); empty when it was
	// not (fixed, or no event times).
	Popularity []Trial `json:"popularity,omitempty"`
	// Stopped says why the search ended: TuneStoppedGrid, TuneStoppedTime
	// or TuneStoppedCount.
	Stopped string    `json:"stopped"`
	Seconds float64   `json:"seconds"`
	Fixed   TuneFixed `json:"fixed"`
	// FitRowWeight is the geometric mean over the fitting parts of their
	// mean row weight W̄ at Chosen's alpha (see For), FitInteractions the
	// mean of their interaction counts.
	FitRowWeight    float64 `json:"fit_row_weight"`
	FitInteractions float64 `json:"fit_interactions"`
}

// For returns the chosen recipe for a model trained on x. The validation
// splits' fitting parts are sparser than x (they leave the validation part
// out), and both λs are relative to the amount of data:
//
//   - iALS: the penalty of the mean row is λ whatever the exponent (λ_r is
//     relative to the mean row weight W̄), while that row's squared errors
//     carry W̄ = N_other + α·Σw, which grows with the interactions; λ is
//     multiplied by W̄(x)/W̄(fitting parts) (geometric mean of the user and
//     item sides; 1.07 on MovieLens-100K's stratified folds);
//   - EASE: λ is in units of co-occurrence counts, which grow with the
//     number of interactions; λ is multiplied by nnz(x)/mean nnz(fitting
//     part).
//
// A λ in Fixed is returned as it is.
func (r TuneResult) For(x *Interactions) Recipe {
	c := r.Chosen
	if !r.Fixed.Regularization && r.FitRowWeight > 0 {
		c.ALS.Regularization = float32(float64(c.ALS.Regularization) * meanRowWeight(x, c.ALS.Alpha) / r.FitRowWeight)
	}
	if c.EASE != nil {
		e := *c.EASE
		if !r.Fixed.EASELambda && r.FitInteractions > 0 {
			e.Lambda *= float64(x.NNZ()) / r.FitInteractions
		}
		c.EASE = &e
	}
	return c
}

// ValidationSplit is a fitting and a validation part over one index
// space: every candidate is trained on Fit and scored on Val.
type ValidationSplit struct {
	Fit, Val *Interactions
}

// StratifiedSplits carves opts.Folds validation splits from train:
// SplitStratifiedItem(train, opts.ValidationRatio, opts.Seed+f).
func StratifiedSplits(train *Interactions, opts TuneOptions) ([]ValidationSplit, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	splits := make([]ValidationSplit, opts.Folds)
	for f := range splits {
		fit, val, err := SplitStratifiedItem(train, opts.ValidationRatio, opts.Seed+int64(f))
		if err != nil {
			return nil, err
		}
		splits[f] = ValidationSplit{fit, val}
	}
	return splits, nil
}

// meanRowWeight is the geometric mean over users and items of the mean
// total confidence of a row with interactions, N_other + alpha·Σw (the W̄ of
// ALSOptions.RegularizationExponent).
func meanRowWeight(x *Interactions, alpha float32) float64 {
	side := func(ptr []int64, w []float32, nOther int) float64 {
		var sum float64
		rows := 0
		for r := range len(ptr) - 1 {
			b, e := ptr[r], ptr[r+1]
			if b == e {
				continue
			}
			s := float64(nOther)
			for _, v := range w[b:e] {
				s += float64(alpha) * float64(v)
			}
			sum += s
			rows++
		}
		if rows == 0 {
			return 1
		}
		return sum / float64(rows)
	}
	return math.Sqrt(side(x.UserPtr, x.UserWeights, x.NumItems()) * side(x.ItemPtr, x.ItemWeights, x.NumUsers()))
}

// tuneFold is one validation split as Tune scores it.
type tuneFold struct {
	fit, val *Interactions
	// all is the validation part with the users the fitting part does
	// not know (sampled as val is): the popularity list answers them, so
	// its half-life is chosen on them too.
	all *Interactions
	// pops caches the fitting part's popularity lists by half-life in
	// hours (RecentPopularity).
	pops map[float64][]float32
}

// popularity returns the fold's popularity list of the half-life.
func (fd *tuneFold) popularity(hours float64) []float32 {
	p, ok := fd.pops[hours]
	if !ok {
		p = RecentPopularity(fd.fit, RecencyOptions{HalfLifeHours: hours}.HalfLife())
		fd.pops[hours] = p
	}
	return p
}

// scoredValidation returns val without the users who have no fitting
// interactions (the server answers them by popularity, whatever the
// recipe) unless cold, and at most maxUsers (when positive) of the
// others, a sample drawn with seed.
func scoredValidation(fit, val *Interactions, maxUsers int, seed int64, cold bool) *Interactions {
	var users []int32
	dropped := false
	for u := range val.NumUsers() {
		if val.UserPtr[u+1] == val.UserPtr[u] {
			continue
		}
		if !cold && fit.UserPtr[u+1] == fit.UserPtr[u] {
			dropped = true
			continue
		}
		users = append(users, int32(u))
	}
	if maxUsers > 0 && len(users) > maxUsers {
		rng := rand.New(rand.NewPCG(uint64(seed), 0x2545f4914f6cdd1d))
		rng.Shuffle(len(users), func(a, b int) { users[a], users[b] = users[b], users[a] })
		users = users[:maxUsers]
		slices.Sort(users)
		dropped = true
	}
	if !dropped {
		return val
	}
	ptr := make([]int64, val.NumUsers()+1)
	var cols []int32
	var w []float32
	next := 0
	for u := range val.NumUsers() {
		if next < len(users) && users[next] == int32(u) {
			items, weights := val.UserRow(int32(u))
			cols, w = append(cols, items...), append(w, weights...)
			next++
		}
		ptr[u+1] = int64(len(cols))
	}
	return fromCSR(val.Users, val.Items, val.index(), ptr, cols, w)
}

// tunePoint is a measured recipe with its models, one per fold.
type tunePoint struct {
	r       Recipe
	factors []*Factors
	ii      []ItemScorer // nil without an item-item model
	m       Metrics
}

// withItem returns p with recipe r, whose item-item model is p's own.
func (p tunePoint) withItem(r Recipe) tunePoint { return tunePoint{r: r, factors: p.factors, ii: p.ii} }

// tuner is the state of one Tune.
type tuner struct {
	ctx   context.Context
	opts  TuneOptions
	began time.Time
	folds []tuneFold
	res   *TuneResult
	// best is the best recipe measured; cur the one the search moves from
	// (best, except while another kind of item-item model is searched).
	best, cur tunePoint
	tried     map[string]Metrics // by Recipe.String
	perUnit   map[string]time.Duration
	// trainedALS counts the iALS configurations trained; stopped is set
	// when the time budget ran out, countHit when Budget was reached.
	trainedALS int
	stopped    string
	countHit   bool
	// fitNNZ and scored are the mean interactions of the fitting parts
	// and the mean scored users of the validation parts (TrialCost).
	fitNNZ, scored int
	// timed is set when every fitting part records event times, so that
	// the popularity list can be counted by recency.
	timed bool
}

// Tune chooses a recipe on validation splits carved from the training data
// (never from any test data): every candidate is trained on each split's
// fitting part and scored by its NDCG@K on the validation part, through
// BlendScorer as the server ranks, averaged over the splits. Validation
// users without fitting interactions are not scored. Every trial is a
// whole recipe, and the best one measured is chosen, so a search stopped
// early (TuneOptions.TimeBudget, Budget) still returns a validated recipe.
//
// The search starts from start (the first trial) and moves one group of
// parameters at a time from the best recipe so far, skipping the
// parameters in TuneOptions.Fixed:
//
//  1. With an item-item model (EASE here): the blend weight over {0, 0.1, …, 1}; then, while the
//     blend is below 1, EASE λ × {1/8, 1/4, 1/2, 2, 4, 8}, refined once by
//     √2 on each side of the best, and the DLAE diagonal scale ρ over {0,
//     0.25, 0.5, 1}; then the blend again. The cheap item-item part comes
//     first, so that a short budget is spent where sparse shop data gains
//     most.
//  2. While the blend is above 0, iALS by coordinate search: alpha and λ
//     scaled together × {1/4, 1/2, 2, 4} (the weight of the unobserved
//     cells: the penalty acts against confidences that grow with alpha, so
//     the two are searched along their ridge), λ alone × {1/4, 1/2, 2, 4};
//     then the regularisation exponent over {0, 0.5, 0.75, 1} jointly with
//     (alpha, λ): each exponent gets its own local search (both together,
//     then λ alone, × {1/√2, √2}) from the point reached so far; then both
//     together and λ alone × 2^{±1/4}, alpha alone × {1/√2, √2} and
//     × 2^{±1/4}, factors × {1/2, 2} and iterations × {1/2, 2}.
//  3. With EASE, the blend once more.
//
// Step 1 is that of the starting recipe's item-item model; RP3beta's own
// parameters are β over {0, 0.2, …, 0.8}, α over {0.4, …, 1.2}, TopK
// × {1/4, 1/2, 2, 4} and β ± {0.05, 0.1}. Then, unless Fixed.ItemModel,
// each item-item model of TuneOptions.Switch (EASE, then RP3beta; a
// factors-only start too unless its blend is fixed) is measured with the
// current factors and gets the same step 1 from there, whether or not it
// starts better; steps 2 and 3 continue from the best recipe of any kind.
//
// Every blend grid is followed by the recency weight's, when the fitting
// parts record event times (a time split) and the recipe has an item-item
// model with a blend below 1: RecencyOptions.Weight over {0, 0.05, 0.1,
// 0.2, …, 51.2} (doubling), outwards from the current weight, each
// direction stopping after two weights in a row that are not better. Its
// half-life is chosen once, before the starting recipe is measured, by
// ranking the validation users (those the fitting part does not know
// included) by the popularity list alone, over all time and half-lives
// from 6 hours to 16 days (TuneResult.Popularity). Without event times
// both are zero (unless fixed).
//
// The grids are relative to the starting values, so nothing in them is
// specific to one data set. EASE is trained exactly up to EASE.MaxItems
// items and approximately beyond (FitEASE).
func Tune(ctx context.Context, splits []ValidationSplit, start Recipe, opts TuneOptions) (TuneResult, error) {
	began := time.Now()
	if err := opts.Validate(); err != nil {
		return TuneResult{}, err
	}
	if len(splits) == 0 {
		return TuneResult{}, errors.New("tune: no validation splits")
	}
	for i, s := range splits {
		if s.Fit == nil || s.Val == nil || s.Fit.NumUsers() != s.Val.NumUsers() || s.Fit.NumItems() != s.Val.NumItems() {
			return TuneResult{}, fmt.Errorf("tune: validation split %d: the fitting and validation parts must share one index space", i)
		}
	}
	if !start.hasItem() {
		start.Blend = 1
	}
	if err := start.Validate(); err != nil {
		return TuneResult{}, fmt.Errorf("tune: starting recipe: %w", err)
	}
	res := TuneResult{Start: start, Fixed: opts.Fixed}
	t := &tuner{ctx: ctx, opts: opts, began: began, res: &res, tried: map[string]Metrics{}, perUnit: map[string]time.Duration{}, timed: true}
	for _, s := range splits {
		fd := tuneFold{fit: s.Fit, val: scoredValidation(s.Fit, s.Val, opts.MaxValidationUsers, opts.Seed, false),
			all: scoredValidation(s.Fit, s.Val, opts.MaxValidationUsers, opts.Seed, true), pops: map[float64][]float32{}}
		t.timed = t.timed && s.Fit.HasTimes()
		t.folds = append(t.folds, fd)
		t.fitNNZ += fd.fit.NNZ() / len(splits)
		for u := range fd.val.NumUsers() {
			if fd.val.UserPtr[u+1] > fd.val.UserPtr[u] {
				t.scored++
			}
		}
	}
	t.scored /= len(splits)
	start.Recency = t.halfLife(start)
	if err := t.measureStart(start); err != nil {
		return TuneResult{}, fmt.Errorf("tune: %w", err)
	}
	if err := t.search(); err != nil {
		return TuneResult{}, fmt.Errorf("tune: %w", err)
	}
	switch {
	case t.stopped != "":
		res.Stopped = t.stopped
	case t.countHit:
		res.Stopped = TuneStoppedCount
	default:
		res.Stopped = TuneStoppedGrid
	}
	res.Chosen, res.Validation, res.Cost = t.best.r, t.best.m, t.cost(t.best.r)
	if !res.Chosen.servesRecency() && !opts.Fixed.RecencyWeight {
		res.Chosen.Recency.Weight = 0 // not served: do not record one
	}
	logW := 0.0
	for _, fd := range t.folds {
		logW += math.Log(meanRowWeight(fd.fit, res.Chosen.ALS.Alpha)) / float64(len(t.folds))
		res.FitInteractions += float64(fd.fit.NNZ()) / float64(len(t.folds))
	}
	res.FitRowWeight = math.Exp(logW)
	res.Seconds = time.Since(began).Seconds()
	if err := ctx.Err(); err != nil {
		return TuneResult{}, err
	}
	return res, nil
}

// measure returns p's metrics averaged over the folds.
func (t *tuner) measure(p tunePoint) Metrics {
	ms := make([]Metrics, len(t.folds))
	for f, fd := range t.folds {
		var ii ItemScorer
		if p.r.hasItem() && p.r.Blend < 1 {
			ii = p.ii[f]
		}
		score := BlendScorer(fd.fit, p.factors[f], ii, p.r.Blend)
		if p.r.servesRecency() {
			score = RecencyScorer(score, t.folds[f].popularity(p.r.Recency.HalfLifeHours), p.r.Recency.Weight)
		}
		ms[f] = Evaluate(fd.fit, fd.val, t.opts.K, score)
	}
	return meanMetrics(ms)
}

// halfLives are the half-lives of the popularity list Tune chooses among,
// in hours: all time (0), then 6 hours to 16 days.
var halfLives = []float64{0, 6, 12, 24, 48, 96, 192, 384}

// recencyWeights is the grid of RecencyOptions.Weight: doubling up to
// where the list all but decides the ranking (the search stops early, so
// the top is reached only while it keeps improving).
var recencyWeights = []float32{0, 0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 12.8, 25.6, 51.2}

// halfLife returns start's recency options with the half-life of the
// popularity list chosen: the one of halfLives whose list alone ranks the
// validation users best (all of them, those the fitting part does not know
// included: the list is what answers them), all time on a tie. Without
// event times in the fitting parts both options are zero unless fixed (a
// fixed half-life then counts all time, as RecentPopularity does); a
// fixed half-life is kept, and without time left so is start's.
func (t *tuner) halfLife(start Recipe) RecencyOptions {
	rc, fx := start.Recency, t.opts.Fixed
	if !t.timed {
		if !fx.PopularityHalfLife {
			rc.HalfLifeHours = 0
		}
		if !fx.RecencyWeight {
			rc.Weight = 0
		}
		return rc
	}
	if fx.PopularityHalfLife || !t.fits("popularity", float64(len(halfLives)), start) {
		return rc
	}
	s := time.Now()
	best := -1.0
	for _, h := range halfLives {
		ms := make([]Metrics, len(t.folds))
		for f := range t.folds {
			fd := &t.folds[f]
			pop := fd.popularity(h)
			ms[f] = Evaluate(fd.fit, fd.all, t.opts.K, func(_ int32, dst []float32) { copy(dst, pop) })
		}
		m := meanMetrics(ms)
		o := RecencyOptions{HalfLifeHours: h}
		t.res.Popularity = append(t.res.Popularity, Trial{Model: "popularity", Params: o.String(), NDCG: m.NDCG, Prec: m.Precision})
		if m.NDCG > best {
			best, rc.HalfLifeHours = m.NDCG, h
		}
	}
	t.took("popularity", float64(len(halfLives)), time.Since(s))
	return rc
}

// recencies searches the recency weight of the current recipe on
// recencyWeights, outwards from its current weight (up, then down), each
// direction stopping after two weights in a row that do not beat the best
// so far; false when the time is up. It does nothing without event times,
// with the weight fixed, or when the recipe does not serve it
// (servesRecency). Each trial only scores (no training), but on a large
// shop a scoring costs as much as a fit of EASE: the early stop keeps a
// log where recency does not matter from paying for the whole grid.
func (t *tuner) recencies() bool {
	r := t.cur.r
	if !t.timed || t.opts.Fixed.RecencyWeight || !r.hasItem() || r.Blend >= 1 {
		return true
	}
	at := 0
	for k, w := range recencyWeights {
		if math.Abs(float64(w-r.Recency.Weight)) < math.Abs(float64(recencyWeights[at]-r.Recency.Weight)) {
			at = k
		}
	}
	best := t.cur.m.NDCG
	for _, dir := range []int{1, -1} {
		worse := 0
		for k := at + dir; k >= 0 && k < len(recencyWeights) && worse < 2; k += dir {
			r.Recency.Weight = recencyWeights[k]
			m, ok := t.rescore("recency", r)
			if !ok {
				return false
			}
			if m.NDCG > best {
				best, worse = m.NDCG, 0
			} else {
				worse++
			}
		}
	}
	return true
}

// record adds a measured trial and keeps it if it is the best so far.
func (t *tuner) record(model string, p tunePoint) {
	key := p.r.String()
	t.tried[key] = p.m
	t.res.Trials = append(t.res.Trials, Trial{Model: model, Params: key, NDCG: p.m.NDCG, Prec: p.m.Precision})
	if p.m.NDCG > t.cur.m.NDCG {
		t.cur = p
	}
	if p.m.NDCG > t.best.m.NDCG {
		t.best = p
	}
}

// fits reports whether a trial of the given kind and size, measuring
// cand, may start: the time left until its end (trialEnd) is at least the
// last such trial's time per unit times units.
func (t *tuner) fits(kind string, units float64, cand Recipe) bool {
	if t.stopped != "" {
		return false
	}
	end := t.trialEnd(cand)
	if end.IsZero() {
		return true
	}
	left := time.Until(end)
	if left <= 0 || time.Duration(float64(t.perUnit[kind])*units) > left {
		t.stopped = TuneStoppedTime
		return false
	}
	return true
}

// trialEnd is when a trial measuring cand must be done: the end of the
// time budget, or the deadline less what the caller needs after the
// search for the costlier of cand and the best recipe so far, whichever
// comes first. Zero: no bound.
func (t *tuner) trialEnd(cand Recipe) time.Time {
	var end time.Time
	if t.opts.TimeBudget > 0 {
		end = t.began.Add(t.opts.TimeBudget)
	}
	if d := t.opts.Deadline; !d.IsZero() {
		if t.opts.After != nil {
			d = d.Add(-max(t.opts.After(t.cost(t.best.r)), t.opts.After(t.cost(cand))))
		}
		if end.IsZero() || d.Before(end) {
			end = d
		}
	}
	return end
}

// trialCtx returns the context a trial measuring cand trains under: it
// ends at trialEnd.
func (t *tuner) trialCtx(cand Recipe) (context.Context, context.CancelFunc) {
	if end := t.trialEnd(cand); !end.IsZero() {
		return context.WithDeadline(t.ctx, end)
	}
	return context.WithCancel(t.ctx)
}

// timedOut reports whether err is a trial stopped at its end rather than
// a failure or the caller's cancellation; the search then stops.
func (t *tuner) timedOut(err error) bool {
	if t.ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
		t.stopped = TuneStoppedTime
		return true
	}
	return false
}

// cost estimates r's TrialCost from the last trials' times: its iALS
// scaled by factors × iterations, its item-item model as the last one of
// its kind (nothing when none was trained yet).
func (t *tuner) cost(r Recipe) TrialCost {
	n := time.Duration(len(t.folds))
	fit := time.Duration(float64(t.perUnit["als"]) * alsUnits(r.ALS))
	if r.hasItem() {
		fit += t.perUnit[itemKind(r)]
	}
	return TrialCost{Fit: fit / n, Score: t.perUnit["blend"] / n, FitInteractions: t.fitNNZ, ScoredUsers: t.scored}
}

func (t *tuner) took(kind string, units float64, d time.Duration) {
	t.perUnit[kind] = time.Duration(float64(d) / units)
}

func (t *tuner) trainALS(ctx context.Context, o ALSOptions) ([]*Factors, error) {
	fs := make([]*Factors, len(t.folds))
	for f, fd := range t.folds {
		var err error
		if fs[f], err = TrainALS(ctx, fd.fit, o, nil); err != nil {
			return nil, err
		}
	}
	return fs, nil
}

// trainItem trains r's item-item model on every fold.
func (t *tuner) trainItem(ctx context.Context, r Recipe) ([]ItemScorer, error) {
	iis := make([]ItemScorer, len(t.folds))
	for f, fd := range t.folds {
		var err error
		if iis[f], err = r.FitItemModel(ctx, fd.fit); err != nil {
			return nil, err
		}
	}
	return iis, nil
}

// itemKind names r's item-item model for the time estimates and trials.
func itemKind(r Recipe) string {
	if r.RP3 != nil {
		return "rp3"
	}
	return "ease"
}

func alsUnits(o ALSOptions) float64 { return float64(o.Factors * o.Iterations) }

// measureStart trains and measures the starting recipe, whatever the
// budgets.
func (t *tuner) measureStart(r Recipe) error {
	s := time.Now()
	fs, err := t.trainALS(t.ctx, r.ALS)
	if err != nil {
		return err
	}
	t.took("als", alsUnits(r.ALS), time.Since(s))
	t.trainedALS++
	p := tunePoint{r: r, factors: fs}
	if r.hasItem() {
		s := time.Now()
		if p.ii, err = t.trainItem(t.ctx, r); err != nil {
			return err
		}
		t.took(itemKind(r), 1, time.Since(s))
	}
	s = time.Now()
	p.m = t.measure(p)
	t.took("blend", 1, time.Since(s))
	t.best, t.cur = p, p
	t.record("start", p)
	t.res.StartValidation = p.m
	return nil
}

// tryALS measures the best recipe with its iALS options replaced by o. ok
// is false when a budget is spent.
func (t *tuner) tryALS(o ALSOptions) (p tunePoint, ok bool, err error) {
	r := t.cur.r
	r.ALS = o
	if m, seen := t.tried[r.String()]; seen {
		return tunePoint{r: r, m: m}, true, nil
	}
	if t.opts.Budget > 0 && t.trainedALS >= t.opts.Budget {
		t.countHit = true
		return tunePoint{}, false, nil
	}
	if !t.fits("als", alsUnits(o), r) {
		return tunePoint{}, false, nil
	}
	ctx, cancel := t.trialCtx(r)
	defer cancel()
	s := time.Now()
	fs, err := t.trainALS(ctx, o)
	if err != nil {
		if t.timedOut(err) {
			return tunePoint{}, false, nil
		}
		return tunePoint{}, false, err
	}
	t.took("als", alsUnits(o), time.Since(s))
	t.trainedALS++
	p = tunePoint{r: r, factors: fs, ii: t.cur.ii}
	p.m = t.measure(p)
	t.record("als", p)
	return p, true, nil
}

// tryEASE measures the current recipe with EASE's λ and ρ replaced.
func (t *tuner) tryEASE(lambda, rho float64) (bool, error) {
	r := t.cur.r
	e := *r.EASE
	e.Lambda, e.DiagonalScale = lambda, rho
	r.EASE = &e
	_, ok, err := t.tryItem(r)
	return ok, err
}

// tryRP3 measures the current recipe with RP3beta's options replaced.
func (t *tuner) tryRP3(o RP3Options) (bool, error) {
	r := t.cur.r
	r.RP3 = &o
	_, ok, err := t.tryItem(r)
	return ok, err
}

// tryItem measures r, the current recipe with another item-item model;
// ok is false when the time is up. A recipe measured before is not
// trained again, and p then has no models.
func (t *tuner) tryItem(r Recipe) (p tunePoint, ok bool, err error) {
	if m, seen := t.tried[r.String()]; seen {
		return tunePoint{r: r, m: m}, true, nil
	}
	kind := itemKind(r)
	if !t.fits(kind, 1, r) {
		return tunePoint{}, false, nil
	}
	ctx, cancel := t.trialCtx(r)
	defer cancel()
	s := time.Now()
	iis, err := t.trainItem(ctx, r)
	if err != nil {
		if t.timedOut(err) {
			return tunePoint{}, false, nil
		}
		return tunePoint{}, false, err
	}
	t.took(kind, 1, time.Since(s))
	p = tunePoint{r: r, factors: t.cur.factors, ii: iis}
	p.m = t.measure(p)
	t.record(kind, p)
	return p, true, nil
}

// tryBlend measures the current recipe with the blend weight w.
func (t *tuner) tryBlend(w float32) bool {
	r := t.cur.r
	r.Blend = w
	_, ok := t.rescore("blend", r)
	return ok
}

// rescore measures r, the current recipe with other blend or recency
// weights, on the current models (scoring only, timed as a "blend"
// trial) and records it as a trial of model, unless it was measured
// before; false when the time is up.
func (t *tuner) rescore(model string, r Recipe) (Metrics, bool) {
	if m, seen := t.tried[r.String()]; seen {
		return m, true
	}
	if !t.fits("blend", 1, r) {
		return Metrics{}, false
	}
	s := time.Now()
	p := t.cur.withItem(r)
	p.m = t.measure(p)
	t.took("blend", 1, time.Since(s))
	t.record(model, p)
	return p.m, true
}

func (t *tuner) search() error {
	if t.cur.r.hasItem() {
		if ok, err := t.itemSearch(); err != nil || !ok {
			return err
		}
	}
	if !t.opts.Fixed.ItemModel && (t.cur.r.hasItem() || !t.opts.Fixed.Blend) {
		for _, r := range t.switches() {
			if ok, err := t.switchTo(r); err != nil || !ok {
				return err
			}
			if ok, err := t.itemSearch(); err != nil || !ok {
				return err
			}
		}
	}
	t.cur = t.best
	hasItem := t.cur.r.hasItem()
	if !hasItem || t.cur.r.Blend > 0 {
		if ok, err := t.alsSearch(); err != nil || (!ok && t.stopped != "") {
			return err
		}
	}
	if hasItem {
		t.blends()
	}
	return nil
}

// switches returns the recipes of the other item-item models to try, in
// the order EASE, RP3beta, each with the current factors and blend (0.5
// when the current recipe has none).
func (t *tuner) switches() []Recipe {
	base := t.cur.r
	base.EASE, base.RP3 = nil, nil
	if !t.cur.r.hasItem() && !t.opts.Fixed.Blend {
		base.Blend = 0.5
	}
	var rs []Recipe
	if sw := t.opts.Switch.EASE; sw != nil && t.cur.r.EASE == nil {
		r, e := base, *sw
		r.EASE = &e
		rs = append(rs, r)
	}
	if sw := t.opts.Switch.RP3; sw != nil && t.cur.r.RP3 == nil {
		r, o := base, *sw
		r.RP3 = &o
		rs = append(rs, r)
	}
	return rs
}

// switchTo measures r, a recipe with another kind of item-item model, and
// makes it the current recipe whether or not it is the best; false when
// the time is up.
func (t *tuner) switchTo(r Recipe) (bool, error) {
	p, ok, err := t.tryItem(r)
	if err != nil || !ok {
		return false, err
	}
	if p.ii == nil { // measured before: train its models again
		ctx, cancel := t.trialCtx(r)
		defer cancel()
		if p.ii, err = t.trainItem(ctx, r); err != nil {
			if t.timedOut(err) {
				return false, nil
			}
			return false, err
		}
		p.factors = t.cur.factors
	}
	t.cur = p
	return true, nil
}

// itemSearch searches the current recipe's item-item model and the blend:
// the blend grid, then (below 1) the model's own parameters, then the
// blend again; false when the time is up.
func (t *tuner) itemSearch() (bool, error) {
	if !t.blends() {
		return false, nil
	}
	if t.cur.r.Blend < 1 {
		var ok bool
		var err error
		if t.cur.r.RP3 != nil {
			ok, err = t.rp3s()
		} else {
			ok, err = t.eases()
		}
		if err != nil || !ok {
			return false, err
		}
		if !t.blends() {
			return false, nil
		}
	}
	return true, nil
}

// blends runs the blend grid, then the recency weight's (recencies);
// false when the time is up.
func (t *tuner) blends() bool {
	if !t.opts.Fixed.Blend {
		for step := range 11 {
			if !t.tryBlend(float32(step) / 10) {
				return false
			}
		}
	}
	return t.recencies()
}

// eases searches EASE's λ and ρ; false when the time is up.
func (t *tuner) eases() (bool, error) {
	fx := t.opts.Fixed
	rho := t.cur.r.EASE.DiagonalScale
	if !fx.EASELambda {
		l0 := t.cur.r.EASE.Lambda
		for _, m := range []float64{1.0 / 8, 1.0 / 4, 1.0 / 2, 2, 4, 8} {
			if ok, err := t.tryEASE(l0*m, rho); err != nil || !ok {
				return false, err
			}
		}
		c := t.cur.r.EASE.Lambda
		for _, m := range []float64{1 / math.Sqrt2, math.Sqrt2} {
			if ok, err := t.tryEASE(c*m, rho); err != nil || !ok {
				return false, err
			}
		}
	}
	if !fx.EASEDiagonalScale {
		lambda := t.cur.r.EASE.Lambda
		for _, rho := range []float64{0, 0.25, 0.5, 1} {
			if ok, err := t.tryEASE(lambda, rho); err != nil || !ok {
				return false, err
			}
		}
	}
	return true, nil
}

// rp3s searches RP3beta's β, α and the number of weights kept per item by
// coordinate search from the current recipe; false when the time is up.
func (t *tuner) rp3s() (bool, error) {
	if t.opts.Fixed.RP3 {
		return true, nil
	}
	steps := []struct {
		values []float64
		apply  func(o *RP3Options, v float64)
	}{
		{[]float64{0, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8}, func(o *RP3Options, v float64) { o.Beta = v }},
		{[]float64{0.4, 0.6, 0.8, 1, 1.2}, func(o *RP3Options, v float64) { o.Alpha = v }},
		{[]float64{0.25, 0.5, 2, 4}, func(o *RP3Options, v float64) { o.TopK = max(1, int(math.Round(float64(o.TopK)*v))) }},
		{[]float64{-0.1, -0.05, 0.05, 0.1}, func(o *RP3Options, v float64) { o.Beta = max(0, o.Beta+v) }},
	}
	for _, st := range steps {
		base := *t.cur.r.RP3
		for _, v := range st.values {
			o := base
			st.apply(&o, v)
			if ok, err := t.tryRP3(o); err != nil || !ok {
				return false, err
			}
		}
	}
	return true, nil
}

// alsAxis is one direction of the iALS coordinate search.
type alsAxis struct {
	values []float64
	apply  func(o *ALSOptions, base ALSOptions, v float64) bool // false: skip
	use    bool                                                 // the parameters it moves are not fixed
}

// alsSearch runs the iALS coordinate search; false when a budget is
// spent.
func (t *tuner) alsSearch() (bool, error) {
	fx := t.opts.Fixed
	alpha := func(o *ALSOptions, b ALSOptions, m float64) bool {
		o.Alpha = b.Alpha * float32(m)
		return o.Alpha > 0
	}
	reg := func(o *ALSOptions, b ALSOptions, m float64) bool {
		o.Regularization = b.Regularization * float32(m)
		return true
	}
	// Scaling alpha and λ together moves along the valley where their
	// ratio is right; it amounts to changing the weight of the unobserved
	// cells against the observed ones (α₀ in Rendle et al. 2022).
	both := func(o *ALSOptions, b ALSOptions, m float64) bool {
		o.Alpha, o.Regularization = b.Alpha*float32(m), b.Regularization*float32(m)
		return o.Alpha > 0
	}
	useBoth, useReg, useAlpha := !fx.Alpha && !fx.Regularization, !fx.Regularization, !fx.Alpha
	// run runs the axes in order by coordinate search from the best
	// recipe; false when a budget is spent.
	run := func(axes []alsAxis) (bool, error) {
		for _, ax := range axes {
			if !ax.use {
				continue
			}
			base := t.cur.r.ALS
			for _, v := range ax.values {
				o := base
				if !ax.apply(&o, base, v) {
					continue
				}
				if _, ok, err := t.tryALS(o); err != nil || !ok {
					return false, err
				}
			}
		}
		return true, nil
	}
	half := []float64{1 / math.Sqrt2, math.Sqrt2}
	quarter := []float64{1 / math.Pow(2, 0.25), math.Pow(2, 0.25)}
	coarse := []float64{0.25, 0.5, 2, 4}
	if ok, err := run([]alsAxis{{coarse, both, useBoth}, {coarse, reg, useReg}}); err != nil || !ok {
		return false, err
	}
	// The exponent jointly with (alpha, λ): the best (alpha, λ) moves with
	// the exponent, so each exponent gets its own local search (both and
	// λ alone by √2) from the current best before exponents are compared.
	if !fx.RegularizationExponent {
		start := t.cur.r.ALS
		for _, nu := range []float32{0, 0.5, 0.75, 1} {
			o := start
			o.RegularizationExponent = nu
			local, ok, err := t.tryALS(o)
			if err != nil || !ok {
				return false, err
			}
			for _, ax := range []alsAxis{{half, both, useBoth}, {half, reg, useReg}} {
				if !ax.use {
					continue
				}
				base := local.r.ALS
				for _, v := range ax.values {
					o := base
					ax.apply(&o, base, v)
					p, ok, err := t.tryALS(o)
					if err != nil || !ok {
						return false, err
					}
					if p.m.NDCG > local.m.NDCG {
						local = p
					}
				}
			}
		}
	}
	return run([]alsAxis{
		{quarter, both, useBoth},
		{quarter, reg, useReg},
		{half, alpha, useAlpha},
		{quarter, alpha, useAlpha},
		{[]float64{0.5, 2}, func(o *ALSOptions, b ALSOptions, m float64) bool {
			o.Factors = int(math.Round(float64(b.Factors) * m))
			return o.Factors >= 1
		}, !fx.Factors},
		{[]float64{0.5, 2}, func(o *ALSOptions, b ALSOptions, m float64) bool {
			o.Iterations = int(math.Round(float64(b.Iterations) * m))
			return o.Iterations >= 1
		}, !fx.Iterations},
	})
}

// meanMetrics averages the rate metrics of per-fold results.
func meanMetrics(ms []Metrics) Metrics {
	var r Metrics
	for _, m := range ms {
		r.K = m.K
		r.Users += m.Users
		r.Precision += m.Precision
		r.Recall += m.Recall
		r.NDCG += m.NDCG
		r.MAP += m.MAP
		r.MAPAtK += m.MAPAtK
		r.HitRate += m.HitRate
		r.Coverage += m.Coverage
	}
	n := float64(len(ms))
	r.Users /= len(ms)
	r.Precision /= n
	r.Recall /= n
	r.NDCG /= n
	r.MAP /= n
	r.MAPAtK /= n
	r.HitRate /= n
	r.Coverage /= n
	return r
}
