package training

import (
	"context"
	"fmt"
	"math"
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
func BlendScorer(train *Interactions, f *Factors, ii *ItemItem, weight float32) func(u int32, dst []float32) {
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
	// Budget is the number of iALS configurations trained (the starting
	// point included); each is trained once per fold. Default 40.
	Budget int `json:"budget"`
	// ValidationRatio is the share of each item's training interactions
	// held out for validation (SplitStratifiedItem). Default 0.15: the
	// fitting parts then hold 85% of train, close to the data the chosen
	// model is trained on (with 0.25 the optimum found for 75% moved away
	// from the one for all of train), and Folds averages out the extra
	// noise of the smaller validation parts.
	ValidationRatio float64 `json:"validation_ratio"`
	// Folds is the number of validation splits, drawn with seeds Seed,
	// Seed+1, …; every candidate is scored by its mean NDCG over them, so
	// that choices between close values are less noisy. Default 4.
	Folds int `json:"folds"`
	// K is the cut-off of the metric optimised, NDCG@K. Default 10.
	K int `json:"k"`
	// Seed seeds the validation splits.
	Seed int64 `json:"seed"`
}

// DefaultTuneOptions returns the defaults described on TuneOptions.
func DefaultTuneOptions() TuneOptions {
	return TuneOptions{Budget: 40, ValidationRatio: 0.15, Folds: 4, K: 10, Seed: 1}
}

// Validate reports the first option that is out of range.
func (o TuneOptions) Validate() error {
	switch {
	case o.Budget < 1:
		return fmt.Errorf("tune options: budget %d, want at least 1", o.Budget)
	case !(o.ValidationRatio > 0 && o.ValidationRatio < 1):
		return fmt.Errorf("tune options: validation ratio %v, want strictly between 0 and 1", o.ValidationRatio)
	case o.Folds < 1:
		return fmt.Errorf("tune options: folds %d, want at least 1", o.Folds)
	case o.K < 1:
		return fmt.Errorf("tune options: k %d, want at least 1", o.K)
	}
	return nil
}

// Trial is one configuration Tune evaluated on the validation splits
// (metrics averaged over the folds).
type Trial struct {
	Model  string  `json:"model"` // "als", "ease" or "blend"
	Params string  `json:"params"`
	NDCG   float64 `json:"ndcg"`
	Prec   float64 `json:"precision"`
}

// TuneResult is what Tune chose.
type TuneResult struct {
	ALS  ALSOptions  `json:"als"`
	EASE EASEOptions `json:"ease"`
	// EASEValidationLambda is the EASE λ that scored best on the
	// validation splits; EASE.Lambda is it scaled to the density of the
	// full training data (see Tune).
	EASEValidationLambda float64 `json:"ease_validation_lambda,omitempty"`
	// ALSValidationRegularization is the iALS λ that scored best on the
	// validation splits; ALS.Regularization is it scaled to the mean row
	// weight of the full training data (see Tune).
	ALSValidationRegularization float32 `json:"als_validation_regularization,omitempty"`
	// UseEASE is false when the catalogue is too large for EASE.
	UseEASE bool `json:"use_ease"`
	// Blend is the weight of the factor scores (see Blend); 1 means
	// factors only.
	Blend float32 `json:"blend"`
	// Validation are the metrics of the chosen configuration on the
	// validation splits, averaged over the folds.
	Validation Metrics `json:"validation"`
	Trials     []Trial `json:"trials"`
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

// tuneFold is one validation split of the training data.
type tuneFold struct {
	fit, val *Interactions
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

// Tune chooses hyper-parameters on validation splits carved from train
// (never from any test data): Folds splits SplitStratifiedItem(train,
// ValidationRatio, Seed+f) each give a fitting and a validation part, and
// every candidate is trained on each fitting part and scored by its NDCG@K
// on the validation part (Evaluate), averaged over the folds.
//
//  1. iALS, by coordinate search from als, keeping the best value of each
//     parameter before moving to the next, until Budget configurations
//     have been trained: alpha and regularisation scaled together × {1/4,
//     1/2, 2, 4} (the weight of the unobserved cells: the penalty acts
//     against confidences that grow with alpha, so the two are searched
//     along their ridge), regularisation alone × {1/4, 1/2, 2, 4}; then
//     the regularisation exponent over {0, 0.5, 0.75, 1} jointly with
//     (alpha, λ): each exponent gets its own local search (both together,
//     then λ alone, × {1/√2, √2}) from the point reached so far; then
//     both together and λ alone × 2^{±1/4}, alpha alone × {1/√2, √2} and
//     × 2^{±1/4}, factors × {1/2, 2} and iterations × {1/2, 2}. The λ
//     chosen is then scaled for the model trained on all of train: the
//     mean row's penalty is λ whatever the exponent, while the confidence
//     its squared errors carry, W̄ = N_other + α·Σw, grows with the
//     interactions, so λ is multiplied by W̄(train)/W̄(fitting parts)
//     (geometric mean of users and items; 1.07 on MovieLens-100K).
//  2. EASE λ over ease.Lambda × {1/8, 1/4, 1/2, 1, 2, 4, 8}, refined once
//     by √2 on each side of the best, then the DLAE diagonal scale ρ over
//     {0, 0.25, 0.5, 1} at that λ (skipped when the catalogue exceeds
//     ease.MaxItems). EASE's λ is in units of co-occurrence counts, which
//     grow with the number of interactions, so the λ chosen on the fitting
//     parts is scaled by nnz(train)/mean nnz(fitting part) for the model
//     trained on all of train.
//  3. The blend weight of the best two over {0, 0.1, …, 1}.
//
// The grids are relative to the starting values, so nothing in them is
// specific to one data set.
func Tune(ctx context.Context, train *Interactions, als ALSOptions, ease EASEOptions, opts TuneOptions) (TuneResult, error) {
	if err := opts.Validate(); err != nil {
		return TuneResult{}, err
	}
	if err := als.Validate(); err != nil {
		return TuneResult{}, err
	}
	if err := ease.Validate(); err != nil {
		return TuneResult{}, err
	}
	folds := make([]tuneFold, opts.Folds)
	fitNNZ := 0.0
	for f := range folds {
		fit, val, err := SplitStratifiedItem(train, opts.ValidationRatio, opts.Seed+int64(f))
		if err != nil {
			return TuneResult{}, err
		}
		folds[f] = tuneFold{fit, val}
		fitNNZ += float64(fit.NNZ()) / float64(len(folds))
	}
	res := TuneResult{ALS: als, EASE: ease}
	// evaluate averages a scorer's metrics over the folds.
	evaluate := func(scorer func(f int, fd tuneFold) func(u int32, dst []float32)) Metrics {
		ms := make([]Metrics, len(folds))
		for f, fd := range folds {
			ms[f] = Evaluate(fd.fit, fd.val, opts.K, scorer(f, fd))
		}
		return meanMetrics(ms)
	}

	// 1. iALS.
	type alsRun struct {
		opts ALSOptions
		f    []*Factors // per fold
		m    Metrics
	}
	tried := map[string]alsRun{}
	runALS := func(o ALSOptions) (alsRun, error) {
		key := fmt.Sprintf("factors=%d iterations=%d regularization=%g regularization_exponent=%g alpha=%g",
			o.Factors, o.Iterations, o.Regularization, o.RegularizationExponent, o.Alpha)
		if r, ok := tried[key]; ok {
			return r, nil
		}
		fs := make([]*Factors, len(folds))
		for f, fd := range folds {
			var err error
			if fs[f], err = TrainALS(ctx, fd.fit, o, nil); err != nil {
				return alsRun{}, err
			}
		}
		m := evaluate(func(f int, fd tuneFold) func(u int32, dst []float32) {
			return BlendScorer(fd.fit, fs[f], nil, 1)
		})
		r := alsRun{o, fs, m}
		tried[key] = r
		res.Trials = append(res.Trials, Trial{Model: "als", Params: key, NDCG: m.NDCG, Prec: m.Precision})
		return r, nil
	}
	best, err := runALS(als)
	if err != nil {
		return TuneResult{}, fmt.Errorf("tune: %w", err)
	}
	// try trains o unless the budget is spent (ok false) and keeps the
	// best run in best.
	try := func(o ALSOptions) (alsRun, bool, error) {
		if len(tried) >= opts.Budget {
			return alsRun{}, false, nil
		}
		r, err := runALS(o)
		if err != nil {
			return alsRun{}, false, fmt.Errorf("tune: %w", err)
		}
		if r.m.NDCG > best.m.NDCG {
			best = r
		}
		return r, true, nil
	}
	type axis struct {
		values []float64
		apply  func(o *ALSOptions, base ALSOptions, v float64) bool // false: skip
	}
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
	// search runs the axes in order by coordinate search from the best
	// run; it reports false when the budget is spent.
	search := func(axes []axis) (bool, error) {
		for _, ax := range axes {
			base := best.opts
			for _, v := range ax.values {
				o := base
				if !ax.apply(&o, base, v) {
					continue
				}
				if _, ok, err := try(o); err != nil || !ok {
					return false, err
				}
			}
		}
		return true, nil
	}
	half := []float64{1 / math.Sqrt2, math.Sqrt2}
	quarter := []float64{1 / math.Pow(2, 0.25), math.Pow(2, 0.25)}
	coarse := []float64{0.25, 0.5, 2, 4}
	more, err := search([]axis{{coarse, both}, {coarse, reg}})
	if err != nil {
		return TuneResult{}, err
	}
	// The exponent jointly with (alpha, λ): the best (alpha, λ) moves with
	// the exponent, so each exponent gets its own local search (both and
	// λ alone by √2) from the current best before exponents are compared.
	if more {
		start := best.opts
	exponents:
		for _, nu := range []float32{0, 0.5, 0.75, 1} {
			o := start
			o.RegularizationExponent = nu
			local, ok, err := try(o)
			if err != nil {
				return TuneResult{}, err
			}
			if !ok {
				more = false
				break
			}
			for _, ax := range []axis{{half, both}, {half, reg}} {
				base := local.opts
				for _, v := range ax.values {
					o := base
					ax.apply(&o, base, v)
					r, ok, err := try(o)
					if err != nil {
						return TuneResult{}, err
					}
					if !ok {
						more = false
						break exponents
					}
					if r.m.NDCG > local.m.NDCG {
						local = r
					}
				}
			}
		}
	}
	if more {
		if _, err := search([]axis{
			{quarter, both},
			{quarter, reg},
			{half, alpha},
			{quarter, alpha},
			{[]float64{0.5, 2}, func(o *ALSOptions, b ALSOptions, m float64) bool {
				o.Factors = int(math.Round(float64(b.Factors) * m))
				return o.Factors >= 1
			}},
			{[]float64{0.5, 2}, func(o *ALSOptions, b ALSOptions, m float64) bool {
				o.Iterations = int(math.Round(float64(b.Iterations) * m))
				return o.Iterations >= 1
			}},
		}); err != nil {
			return TuneResult{}, err
		}
	}
	res.ALS, res.Blend, res.Validation = best.opts, 1, best.m
	// The penalty of the mean row is λ whatever the exponent (λ_r is
	// relative to the mean row weight W̄), while that row's squared errors
	// carry W̄ = N_other + α·Σw, which grows with the interactions: the
	// fitting parts are sparser than train, so λ is scaled by the ratio of
	// W̄ on train to W̄ on the fitting parts (geometric mean of the two
	// sides) to keep the penalty's level against the loss it regularises.
	res.ALSValidationRegularization = best.opts.Regularization
	fitW := 0.0
	for _, fd := range folds {
		fitW += math.Log(meanRowWeight(fd.fit, best.opts.Alpha)) / float64(len(folds))
	}
	res.ALS.Regularization = float32(float64(best.opts.Regularization) * math.Exp(math.Log(meanRowWeight(train, best.opts.Alpha))-fitW))

	// 2. EASE.
	if train.NumItems() > ease.MaxItems {
		return res, nil
	}
	var (
		bestII   []*ItemItem // per fold
		bestEASE Metrics
	)
	runEASE := func(lambda, rho float64) error {
		o := ease
		o.Lambda, o.DiagonalScale = lambda, rho
		iis := make([]*ItemItem, len(folds))
		for f, fd := range folds {
			var err error
			if iis[f], err = TrainEASE(ctx, fd.fit, o); err != nil {
				return err
			}
		}
		m := evaluate(func(f int, fd tuneFold) func(u int32, dst []float32) {
			return BlendScorer(fd.fit, best.f[f], iis[f], 0)
		})
		res.Trials = append(res.Trials, Trial{Model: "ease", Params: fmt.Sprintf("lambda=%g diagonal_scale=%g", lambda, rho), NDCG: m.NDCG, Prec: m.Precision})
		if bestII == nil || m.NDCG > bestEASE.NDCG {
			bestII, bestEASE, res.EASE = iis, m, o
		}
		return nil
	}
	for _, m := range []float64{1.0 / 8, 1.0 / 4, 1.0 / 2, 1, 2, 4, 8} {
		if err := runEASE(ease.Lambda*m, ease.DiagonalScale); err != nil {
			return TuneResult{}, fmt.Errorf("tune: %w", err)
		}
	}
	center := res.EASE.Lambda
	for _, m := range half {
		if err := runEASE(center*m, ease.DiagonalScale); err != nil {
			return TuneResult{}, fmt.Errorf("tune: %w", err)
		}
	}
	lambda := res.EASE.Lambda
	for _, rho := range []float64{0, 0.25, 0.5, 1} {
		if rho != res.EASE.DiagonalScale {
			if err := runEASE(lambda, rho); err != nil {
				return TuneResult{}, fmt.Errorf("tune: %w", err)
			}
		}
	}
	res.UseEASE = true
	res.EASEValidationLambda = res.EASE.Lambda
	res.EASE.Lambda *= float64(train.NNZ()) / fitNNZ

	// 3. Blend.
	bestBlend := Metrics{NDCG: math.Inf(-1)}
	for step := range 11 {
		w := float32(step) / 10
		m := evaluate(func(f int, fd tuneFold) func(u int32, dst []float32) {
			return BlendScorer(fd.fit, best.f[f], bestII[f], w)
		})
		res.Trials = append(res.Trials, Trial{Model: "blend", Params: fmt.Sprintf("weight=%.1f", w), NDCG: m.NDCG, Prec: m.Precision})
		if m.NDCG > bestBlend.NDCG {
			bestBlend, res.Blend = m, w
		}
	}
	res.Validation = bestBlend
	if err := ctx.Err(); err != nil {
		return TuneResult{}, err
	}
	return res, nil
}
