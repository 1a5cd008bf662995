package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"time"

	"github.com/polecam/polecam/store"
	"github.com/polecam/polecam/training"
	"github.com/polecam/polecam/training/catalog"
	"github.com/polecam/polecam/training/eventlog"
)

// TrendingOptions say how the non-personal lists are counted.
type TrendingOptions struct {
	// Window is how far back from the log's last event events count.
	// Default (and when zero) 168h.
	Window time.Duration
	// HalfLife decays each event of the trending list by its age relative
	// to the log's last event: 0.5^(age/HalfLife). Default (and when
	// zero) 24h.
	HalfLife time.Duration
}

// DefaultTrendingOptions returns a window of a week and a half-life of a
// day.
func DefaultTrendingOptions() TrendingOptions {
	return TrendingOptions{Window: 168 * time.Hour, HalfLife: 24 * time.Hour}
}

// Validate reports whether the options can be used.
func (o TrendingOptions) Validate() error {
	if o.Window < 0 || o.HalfLife < 0 {
		return fmt.Errorf("trending window %v and half-life %v, want both ≥ 0 (0: the default)", o.Window, o.HalfLife)
	}
	return nil
}

// withDefaults returns o with zero fields set to the defaults.
func (o TrendingOptions) withDefaults() TrendingOptions {
	d := DefaultTrendingOptions()
	if o.Window == 0 {
		o.Window = d.Window
	}
	if o.HalfLife == 0 {
		o.HalfLife = d.HalfLife
	}
	return o
}

// TrendingParams are the TrendingOptions as recorded in the manifest.
type TrendingParams struct {
	Window   string `json:"window"`
	HalfLife string `json:"half_life"`
}

func (o TrendingOptions) params() *TrendingParams {
	o = o.withDefaults()
	return &TrendingParams{Window: o.Window.String(), HalfLife: o.HalfLife.String()}
}

// servingInputs collects, while the logs are read, what the serving
// inputs need besides the interaction matrix: the events of the trending
// window and a second aggregation of the add-to-cart and purchase events
// only, for the basket co-occurrence.
type servingInputs struct {
	window int64 // nanoseconds

	items  map[string]int32 // item id -> index into names
	names  []string
	recent []recentEvent
	newest int64
	limit  int // prune recent when it reaches this length

	basket      *training.Builder
	basketCount int64
}

type recentEvent struct {
	t        int64 // UnixNano
	item     int32
	purchase bool
}

func newServingInputs(o TrendingOptions) *servingInputs {
	o = o.withDefaults()
	return &servingInputs{window: int64(o.Window), items: map[string]int32{}, limit: 1 << 16, basket: training.NewBuilder()}
}

// observe records one event the ingestion counted.
func (si *servingInputs) observe(e eventlog.Event) {
	purchase := eventlog.IsPurchaseType(e.Type)
	if purchase || eventlog.IsCartType(e.Type) {
		si.basket.Add(e.User, e.Item, e.Weight)
		si.basketCount++
	}
	t := e.Time.UnixNano()
	if t < si.newest-si.window {
		return // older than any window ending at the log's last event
	}
	si.newest = max(si.newest, t)
	it, ok := si.items[e.Item]
	if !ok {
		it = int32(len(si.names))
		si.items[e.Item] = it
		si.names = append(si.names, e.Item)
	}
	si.recent = append(si.recent, recentEvent{t: t, item: it, purchase: purchase})
	if len(si.recent) >= si.limit {
		si.recent = slices.DeleteFunc(si.recent, func(r recentEvent) bool { return r.t < si.newest-si.window })
		si.limit = max(si.limit, 2*len(si.recent))
	}
}

// scores returns the trending and bestseller lists over x's items, for a
// window ending at last: trending counts every event of the window
// 0.5^(age/halfLife), bestsellers every purchase event once.
func (si *servingInputs) scores(x *training.Interactions, last time.Time, halfLife time.Duration) (trending, bestsellers []float32) {
	rows := make([]int32, len(si.names))
	for k, id := range si.names {
		rows[k] = -1
		if i, ok := x.ItemIndex(id); ok {
			rows[k] = i
		}
	}
	tr := make([]float64, x.NumItems())
	bs := make([]float64, x.NumItems())
	end := last.UnixNano()
	hl := float64(halfLife)
	for _, r := range si.recent {
		row := rows[r.item]
		if row < 0 || r.t < end-si.window || r.t > end {
			continue
		}
		tr[row] += math.Exp2(-float64(end-r.t) / hl)
		if r.purchase {
			bs[row]++
		}
	}
	trending, bestsellers = make([]float32, len(tr)), make([]float32, len(bs))
	for i := range tr {
		trending[i], bestsellers[i] = float32(tr[i]), float32(bs[i])
	}
	return trending, bestsellers
}

// basketNeighbors returns every item of x's basket co-occurrence
// neighbours — training.CoOccurrence over the add-to-cart and purchase
// events only, in x's item indexes — or nil when the logs had no such
// events.
func (si *servingInputs) basketNeighbors(ctx context.Context, x *training.Interactions, opts training.CoOccurrenceOptions) ([][]training.Neighbor, error) {
	if si.basketCount == 0 {
		return nil, nil
	}
	bx := si.basket.Build()
	if bx.NNZ() == 0 {
		return nil, nil
	}
	nbrs, err := training.CoOccurrence(ctx, bx, opts)
	if err != nil {
		return nil, fmt.Errorf("basket %w", err)
	}
	toX := make([]int32, bx.NumItems())
	for j, id := range bx.Items {
		toX[j] = -1
		if i, ok := x.ItemIndex(id); ok {
			toX[j] = i
		}
	}
	out := make([][]training.Neighbor, x.NumItems())
	for j, nn := range nbrs {
		i := toX[j]
		if i < 0 {
			continue
		}
		var l []training.Neighbor
		for _, n := range nn {
			if k := toX[n.Item]; k >= 0 {
				l = append(l, training.Neighbor{Item: k, Score: n.Score})
			}
		}
		out[i] = l
	}
	return out, nil
}

// servingAux returns the serving inputs to write with the snapshot: the
// score lists, and the basket neighbours when the logs had cart or
// purchase events.
func servingAux(ctx context.Context, opts Options, si *servingInputs, x *training.Interactions, last time.Time, log *slog.Logger) ([]auxFile, error) {
	to := opts.Trending.withDefaults()
	trending, bestsellers := si.scores(x, last, to.HalfLife)
	basket, err := si.basketNeighbors(ctx, x, opts.CoOccurrence)
	if err != nil {
		return nil, err
	}
	log.Info("computed serving lists", "trending_window", to.Window, "trending_half_life", to.HalfLife,
		"recent_events", len(si.recent), "basket_events", si.basketCount, "basket_neighbors", basket != nil)
	files := []auxFile{
		{name: store.ItemScoresFile(store.ScoresTrending), set: func(b *store.Builder) error { return b.SetItemScores(store.ScoresTrending, trending) }},
		{name: store.ItemScoresFile(store.ScoresBestsellers), set: func(b *store.Builder) error {
			return b.SetItemScores(store.ScoresBestsellers, bestsellers)
		}},
	}
	if basket != nil {
		files = append(files, auxFile{name: store.BasketNeighborsFile, set: func(b *store.Builder) error {
			var buf []store.Neighbor
			for i, nn := range basket {
				if len(nn) == 0 {
					continue
				}
				buf = buf[:0]
				for _, n := range nn {
					buf = append(buf, store.Neighbor{Item: n.Item, Score: n.Score})
				}
				if err := b.PutBasketNeighbors(int32(i), buf); err != nil {
					return err
				}
			}
			return nil
		}})
	}
	return files, nil
}

// foldInAux returns foldin.bin: the confidence and user penalty the
// factors f were trained with on x, the weight of a view, and YᵀY of the
// item factors as stored.
func foldInAux(opts Options, x *training.Interactions, f *training.Factors) auxFile {
	return auxFile{name: store.FoldInFile, set: func(b *store.Builder) error {
		p := training.UserPenalty(x, opts.ALS)
		view := 1.0
		if w, ok := opts.Log.Weights["view"]; ok {
			view = float64(w)
		}
		return b.SetFoldIn(store.FoldIn{
			Dims: f.Dims, Alpha: p.Alpha, Lambda: p.Lambda, RegExponent: p.Exponent,
			RegItems: p.Other, RegMeanWeight: p.Mean, ViewWeight: view,
			YtY: store.ItemGram(f.Dims, f.Item),
		})
	}}
}

// catalogIndex collects the catalogue rows of the model's items while
// catalogAux stores catalog.jsonl, and writes catalog.idx from them.
type catalogIndex struct {
	attributes []string
	rows       []store.CatalogRow
	read       bool
}

func (ci *catalogIndex) add(x *training.Interactions, it catalog.Item) {
	if i, ok := x.ItemIndex(it.ID); ok {
		ci.rows = append(ci.rows, store.CatalogRow{Row: i, Category: it.Category, Attrs: it.Attrs})
	}
}

func (ci *catalogIndex) aux() auxFile {
	return auxFile{name: store.CatalogFile, set: func(b *store.Builder) error {
		if !ci.read {
			return errors.New("catalogue not read before its index is written")
		}
		return b.SetCatalog(ci.attributes, ci.rows)
	}}
}
