package cli

import (
	"github.com/spf13/pflag"

	"github.com/polecam/polecam/internal/pipeline"
	"github.com/polecam/polecam/training"
)

// addItemModelFlags adds the flags choosing the item-item model, its
// RP3beta and EASE options and the popularity list's recency, shared by
// train and eval.
func addItemModelFlags(f *pflag.FlagSet, o *pipeline.Options) {
	f.StringVar(&o.ItemModel, "item-model", o.ItemModel,
		"item-item model blended with the factors: auto (EASE up to 200,000 items, exact up to --ease-max-items and sparse beyond, RP3beta beyond; the tuning may switch), ease or rp3")
	f.Float64Var(&o.RP3.Alpha, "rp3-alpha", o.RP3.Alpha, "RP3beta: exponent of the random walk's transition probabilities")
	f.Float64Var(&o.RP3.Beta, "rp3-beta", o.RP3.Beta, "RP3beta: popularity penalty (a target's weight is divided by its users^beta)")
	f.IntVar(&o.RP3.TopK, "rp3-top-k", o.RP3.TopK, "RP3beta: weights kept per item")
	f.IntVar(&o.EASE.MaxItems, "ease-max-items", o.EASE.MaxItems, "largest catalogue EASE is solved exactly for (dense); beyond, sparse EASE regresses each item on its --ease-neighbors most similar items")
	f.IntVar(&o.EASE.Neighbors, "ease-neighbors", o.EASE.Neighbors, "sparse EASE: most similar items each item is regressed on (0: 256)")
	f.DurationVar(&o.PopularityHalfLife, "popularity-half-life", o.PopularityHalfLife,
		"count the popularity list (unknown visitors, fill) by recency with this half-life, e.g. 24h (0: every user once; the tuning chooses it on a time split unless given)")
	f.Float32Var(&o.RecencyWeight, "recency-weight", o.RecencyWeight,
		"share of the popularity list in a known user's ranking with an item-item model, 1 = the user's top item (0: none; the tuning chooses it on a time split unless given)")
}

// recencyFixed marks the recency options given as flags as fixed for the
// tuning.
func recencyFixed(f *pflag.FlagSet, fx *training.TuneFixed) {
	fx.PopularityHalfLife = f.Changed("popularity-half-life")
	fx.RecencyWeight = f.Changed("recency-weight")
}
