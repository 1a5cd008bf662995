package pipeline

import (
	"math"

	"github.com/polecam/polecam/training"
)

// Data-scaled defaults.
//
// With tuning off, the recipe follows the size and density of the data
// instead of one data set's optimum. Zero Options.ALS.Factors,
// ALS.Iterations and EASE.Lambda and a negative Blend (BlendAuto, the
// defaults) are filled in by ScaledTo from ScaledDefaults; values set
// explicitly are kept. The rule, with its constants chosen on validation
// splits carved from training parts only (the synthetic generator's logs
// and MovieLens-100K's training part; TestScaledDefaultsSweep,
// benchmarks/quality.md "Data-scaled defaults"):
//
//   - factors = 8·⌈c_f · log₂(1 + nnz/users) / 8⌉, clamped to [16, 256] and
//     to at most items/2: the factors a user's history can support grow
//     with the log of its length;
//   - iterations = 15 (CG warm-started; the loss is flat well before);
//   - the item-item model: EASE up to easeItems items, with λ = c_λ ·
//     nnz/items (λ in co-occurrence counts, so it follows an item's mean
//     count), exact up to EASE.MaxItems items and sparse beyond
//     (training.FitEASE: its cost grows linearly with the catalogue, 80 s
//     on 2 cores for 100,000 items); it beat RP3beta on the validation
//     parts of every generated log measured, by 3–7 %. RP3beta with its
//     defaults on larger catalogues (its cost is that of counting
//     co-occurrences);
//   - blend (the weight of the factors against the item-item model) = 0.3
//     up to 26 interactions per user, rising linearly in log₂ of them to
//     0.8 at 64 and beyond: item-item scores carry sparse histories,
//     factors dense ones.
const (
	factorsPerLogHistory         = 16
	minScaledFactors             = 16
	maxScaledFactors             = 256
	scaledIterations             = 15
	easeItems                    = 200000
	easeLambdaPerItemInteraction = 3
	sparseBlend, sparseHistory   = 0.3, 26
	denseBlend, denseHistory     = 0.8, 64
)

// BlendAuto is the Options.Blend that ScaledTo replaces by the data-scaled
// blend.
const BlendAuto = -1

// Recipe is the data-scaled recipe ScaledDefaults returns.
type Recipe struct {
	Factors, Iterations int
	Item                string // ItemModelEASE up to easeItems items, ItemModelRP3 beyond
	EASELambda          float64
	Blend               float32
}

// ScaledDefaults returns the recipe of the rule above for a matrix of the
// given size.
func ScaledDefaults(users, items, nnz int) Recipe {
	r := Recipe{Iterations: scaledIterations, Item: ItemModelRP3}
	perUser := float64(nnz) / float64(max(users, 1))
	f := int(math.Ceil(factorsPerLogHistory*math.Log2(1+perUser)/8)) * 8
	f = min(max(f, minScaledFactors), maxScaledFactors, max(items/2/8*8, 8))
	r.Factors = f
	r.EASELambda = max(easeLambdaPerItemInteraction*float64(nnz)/float64(max(items, 1)), 1)
	r.Blend = scaledBlendOf(perUser)
	if easeAffordable(items) {
		r.Item = ItemModelEASE
	}
	return r
}

// easeAffordable reports whether EASE's cost on a catalogue of the given
// size fits a nightly run: the data-scaled item model, and whether the
// tuning may switch to it.
func easeAffordable(items int) bool { return items <= easeItems }

// ScaledTo returns o with its automatic model options (zero factors,
// iterations or EASE λ; Blend BlendAuto) replaced by ScaledDefaults for x.
func (o Options) ScaledTo(x *training.Interactions) Options {
	return o.scaled(ScaledDefaults(x.NumUsers(), x.NumItems(), x.NNZ()))
}

func (o Options) scaled(r Recipe) Options {
	if o.ALS.Factors == 0 {
		o.ALS.Factors = r.Factors
	}
	if o.ALS.Iterations == 0 {
		o.ALS.Iterations = r.Iterations
	}
	if o.EASE.Lambda == 0 {
		o.EASE.Lambda = r.EASELambda
	}
	if o.Blend == BlendAuto {
		o.Blend = r.Blend
	}
	if o.ItemModel == ItemModelAuto {
		o.ItemModel = r.Item
	}
	return o
}

// scaledEASELambda returns the data-scaled EASE λ of x.
func scaledEASELambda(x *training.Interactions) float64 {
	return ScaledDefaults(x.NumUsers(), x.NumItems(), x.NNZ()).EASELambda
}

// scaledBlendOf returns the data-scaled blend for a mean history length.
func scaledBlendOf(perUser float64) float32 {
	lo, hi := math.Log2(sparseHistory), math.Log2(denseHistory)
	t := (math.Log2(max(perUser, 1)) - lo) / (hi - lo)
	t = min(max(t, 0), 1)
	return float32(sparseBlend + t*(denseBlend-sparseBlend))
}
