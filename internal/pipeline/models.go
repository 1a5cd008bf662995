package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/polecam/polecam/recommender"
	"github.com/polecam/polecam/store"
	"github.com/polecam/polecam/training"
)

// DefaultBlend is the default Options.Blend: BlendAuto, the data-scaled
// blend of ScaledDefaults. (Before the data-scaled defaults it was 0.8,
// MovieLens-100K's validation optimum.)
const DefaultBlend = BlendAuto

// DefaultALSOptions returns training.DefaultALSOptions with the number of
// factors and iterations left to ScaledDefaults (zero) and the penalty and
// confidence chosen by validation on MovieLens-100K's training part (seed
// 42; benchmarks/quality.md): λ 43.56 scaled per row with exponent 1
// (Rendle et al. 2022), so each row's penalty follows its confidence mass
// and λ keeps its meaning on other data, and alpha 6.727. With binary
// interactions that is a confidence of 7.7 per interaction; a shop log
// weighted view 1, add to cart 4, purchase 10 reaches larger confidences,
// so alpha is the one default that depends on the scale of the weights.
func DefaultALSOptions() training.ALSOptions {
	o := training.DefaultALSOptions()
	o.Factors = 0
	o.Iterations = 0
	o.Regularization = 43.56
	o.RegularizationExponent = 1
	o.Alpha = 6.727
	return o
}

// DefaultEASEOptions returns training.DefaultEASEOptions with λ left to
// ScaledDefaults (zero).
func DefaultEASEOptions() training.EASEOptions {
	o := training.DefaultEASEOptions()
	o.Lambda = 0
	return o
}

// The item-item models of Options.ItemModel.
const (
	ItemModelAuto = "auto"
	ItemModelEASE = "ease"
	ItemModelRP3  = "rp3"
)

// validateModels checks the model options.
func (o Options) validateModels() error {
	switch o.ItemModel {
	case ItemModelAuto, ItemModelEASE, ItemModelRP3:
	default:
		return fmt.Errorf("item model %q, want %s, %s or %s", o.ItemModel, ItemModelAuto, ItemModelEASE, ItemModelRP3)
	}
	if err := o.RP3.Validate(); err != nil {
		return fmt.Errorf("rp3 options: %w", err)
	}
	if o.Blend != BlendAuto && !(o.Blend >= 0 && o.Blend <= 1) {
		return fmt.Errorf("blend %v, want between 0 and 1 (or %v: scaled to the data)", o.Blend, BlendAuto)
	}
	// Automatic values are checked as any data would fill them in.
	o = o.scaled(ScaledDefaults(1, 1, 1))
	if err := o.ALS.Validate(); err != nil {
		return fmt.Errorf("als options: %w", err)
	}
	if err := o.CoOccurrence.Validate(); err != nil {
		return fmt.Errorf("co-occurrence options: %w", err)
	}
	if err := o.EASE.Validate(); err != nil {
		return fmt.Errorf("ease options: %w", err)
	}
	if !(o.Blend >= 0 && o.Blend <= 1) {
		return fmt.Errorf("blend %v, want between 0 and 1", o.Blend)
	}
	return nil
}

// models are the trained models of one run.
type models struct {
	als       training.ALSOptions // as trained
	factors   *training.Factors
	neighbors [][]training.Neighbor
	itemItem  training.ItemScorer // nil when not trained
	recipe    training.Recipe     // of the item-item model: EASE or RP3 set
	blend     float32             // 1 when itemItem is nil
	// recency is the popularity list's half-life and its weight in the
	// ranking (0 when itemItem is nil: the factors-only scan has none).
	recency training.RecencyOptions
}

// recency returns the recency options the models are trained with.
func (o Options) recency() training.RecencyOptions {
	return training.RecencyOptions{HalfLifeHours: o.PopularityHalfLife.Hours(), Weight: o.RecencyWeight}
}

// trainModels trains iALS, co-occurrence and the item-item model (EASE,
// exact up to EASE.MaxItems items and sparse beyond, or RP3beta) on x,
// with the tuned recipe when opts has one.
func trainModels(ctx context.Context, x *training.Interactions, opts Options) (*models, error) {
	opts = opts.tunedFor(x)
	log := opts.Logger
	t := time.Now()
	factors, err := training.TrainALS(ctx, x, opts.ALS, func(s training.IterationStats) {
		log.Info("als iteration", "iteration", s.Iteration, "loss", s.Loss, "elapsed", s.Duration.Round(time.Millisecond))
	})
	if err != nil {
		return nil, err
	}
	log.Info("trained als", "factors", factors.Dims, "elapsed", time.Since(t).Round(time.Millisecond))

	t = time.Now()
	neighbors, err := training.CoOccurrence(ctx, x, opts.CoOccurrence)
	if err != nil {
		return nil, err
	}
	log.Info("computed co-occurrence", "elapsed", time.Since(t).Round(time.Millisecond))

	ms := &models{als: opts.ALS, factors: factors, neighbors: neighbors, blend: 1, recency: opts.recency()}
	ms.recency.Weight = 0 // until an item-item model serves it
	r := training.Recipe{Blend: opts.Blend}
	switch opts.ItemModel {
	case ItemModelEASE:
		e := opts.EASE
		r.EASE = &e
	case ItemModelRP3:
		o := opts.RP3
		r.RP3 = &o
	}
	switch {
	case opts.Blend >= 1:
		log.Info("skipped the item-item model: blend 1 serves factors only")
	case r.EASE != nil || r.RP3 != nil:
		t = time.Now()
		ii, err := r.FitItemModel(ctx, x)
		if err != nil {
			return nil, err
		}
		ms.itemItem, ms.recipe, ms.blend = ii, r, opts.Blend
		ms.recency.Weight = opts.RecencyWeight
		log.Info("trained item-item model", "model", opts.ItemModel, "items", ii.NumItems(), "params", r.String(),
			"elapsed", time.Since(t).Round(time.Millisecond))
	}
	return ms, nil
}

// easeParams returns the EASE options to record, or nil without EASE.
func (ms *models) easeParams() *training.EASEOptions {
	if ms.itemItem == nil {
		return nil
	}
	return ms.recipe.EASE
}

// rp3Params returns the RP3beta options to record, or nil without RP3beta.
func (ms *models) rp3Params() *training.RP3Options {
	if ms.itemItem == nil {
		return nil
	}
	return ms.recipe.RP3
}

// writeItemItem stores the item-item model of n items, if any, as the
// files package recommender looks for: a dense model as the matrix
// recommender.ItemItemMatrix, a sparse one as the rows of
// store.ItemItemRowsFile (every row put, so that the file is there even
// when all are empty), each with recommender.ItemItemParams.
func (ms *models) writeItemItem(b *store.Builder, n int) error {
	if ms.itemItem == nil {
		return nil
	}
	if got := ms.itemItem.NumItems(); got != n {
		return fmt.Errorf("write item-item model: %d items for a catalogue of %d", got, n)
	}
	switch ii := ms.itemItem.(type) {
	case *training.ItemItem:
		if err := b.SetMatrix(recommender.ItemItemMatrix, ii.N, ii.N, ii.B); err != nil {
			return err
		}
	case *training.SparseItemItem:
		if len(ii.Ptr) != ii.N+1 || len(ii.Items) != len(ii.Weights) {
			return fmt.Errorf("write item-item model: %d offsets, %d items and %d weights for %d rows", len(ii.Ptr), len(ii.Items), len(ii.Weights), ii.N)
		}
		var row []store.Neighbor
		for i := range int32(ii.N) {
			if lo, hi := ii.Ptr[i], ii.Ptr[i+1]; lo < 0 || lo > hi || hi > int64(len(ii.Items)) {
				return fmt.Errorf("write item-item model: row %d spans [%d, %d) of %d weights", i, lo, hi, len(ii.Items))
			}
			items, weights := ii.Row(i)
			row = row[:0]
			for k, j := range items {
				row = append(row, store.Neighbor{Item: j, Score: weights[k]})
			}
			if err := b.PutItemItemRow(i, row); err != nil {
				return fmt.Errorf("write item-item model: %w", err)
			}
		}
	default:
		return fmt.Errorf("write item-item model: %T not supported", ii)
	}
	cfg, err := json.Marshal(recommender.ItemItemConfig{Blend: ms.blend, Recency: ms.recency.Weight})
	if err != nil {
		return fmt.Errorf("encode item-item parameters: %w", err)
	}
	return b.AddFile(recommender.ItemItemParams, func(w io.Writer) error {
		_, err := w.Write(cfg)
		return err
	})
}

// TrainMatrix trains the models on an interaction matrix already built
// (for example the training part of an evaluation split) and writes them
// into opts.DataDir as a new version, published if opts.Publish. The
// manifest records x's counts and the parameters; opts.Events and
// opts.Log are not used.
func TrainMatrix(ctx context.Context, x *training.Interactions, opts Options) (store.Manifest, error) {
	return trainMatrix(ctx, x, opts, false)
}

// trainMatrix is TrainMatrix; served also writes the int8 rows and ANN
// index opts asks for, so that the version is served as the final one
// will be.
func trainMatrix(ctx context.Context, x *training.Interactions, opts Options, served bool) (store.Manifest, error) {
	if opts.DataDir == "" {
		return store.Manifest{}, errors.New("train matrix: data directory is required")
	}
	if opts.Logger == nil {
		return store.Manifest{}, errors.New("train matrix: logger is required")
	}
	if err := opts.validateModels(); err != nil {
		return store.Manifest{}, fmt.Errorf("train matrix: %w", err)
	}
	if x.NumUsers() == 0 || x.NumItems() == 0 || x.NNZ() == 0 {
		return store.Manifest{}, errors.New("train matrix: no interactions")
	}
	opts = opts.ScaledTo(x)
	ms, err := trainModels(ctx, x, opts)
	if err != nil {
		return store.Manifest{}, fmt.Errorf("train matrix: %w", err)
	}
	params, err := json.Marshal(Params{ALS: ms.als, CoOccurrence: opts.CoOccurrence, EASE: ms.easeParams(), RP3: ms.rp3Params(), Blend: ms.blend, Recency: ms.recency})
	if err != nil {
		return store.Manifest{}, fmt.Errorf("train matrix: encode parameters: %w", err)
	}
	m := store.Manifest{
		CodeVersion: opts.CodeVersion,
		Params:      params,
		Counts: store.Counts{
			Users:        int64(x.NumUsers()),
			Items:        int64(x.NumItems()),
			Interactions: int64(x.NNZ()),
		},
	}
	aux := []auxFile{foldInAux(opts, x, ms.factors)}
	if served {
		aux = append(aux, append(int8Aux(opts, x, ms.factors), annAux(ctx, opts, x, ms.factors)...)...)
	}
	m, err = write(ctx, opts, x, ms, m, aux...)
	if err != nil {
		return store.Manifest{}, fmt.Errorf("train matrix: %w", err)
	}
	if opts.Publish {
		dir, err := store.OpenDir(opts.DataDir)
		if err != nil {
			return store.Manifest{}, fmt.Errorf("train matrix: %w", err)
		}
		if _, err := dir.PublishVerified(ctx, m.Version, store.DefaultPublishOptions()); err != nil {
			return store.Manifest{}, fmt.Errorf("train matrix: %w", err)
		}
	}
	return m, nil
}
