package recommender

import (
	"fmt"
	"slices"

	"github.com/polecam/polecam/store"
)

// storeInputs is what a store snapshot offers besides the factors; each
// part is optional (older versions have none of them).
type storeInputs interface {
	Catalog() (*store.Catalog, bool)
	HasSeenWeights() bool
	SeenWeights(user int32, buf []store.Neighbor) ([]store.Neighbor, error)
	FoldIn() (store.FoldIn, bool)
	SeenEventKinds() []string
	SeenEvents(user int32, buf []store.SeenEvent) ([]store.SeenEvent, error)
	ItemScores(name string) ([]float32, bool)
}

var _ storeInputs = (*store.Snapshot)(nil)

// storeCatalog adapts the store's mapped catalogue to ItemCatalog. Its
// strings alias the mapping: callers that keep one past the request
// clone it (see result).
type storeCatalog struct{ *store.Catalog }

func (c storeCatalog) LookupAttribute(name string) (CatalogAttribute, bool) {
	a, ok := c.Attribute(name)
	if !ok {
		return nil, false
	}
	return storeAttr{a}, true
}

// storeAttr adapts a store attribute: RowsInRange ascending by row, as
// the filter's list intersections need (the store's own is in value
// order).
type storeAttr struct{ *store.Attribute }

func (a storeAttr) RowsInRange(lo, hi float64) []int32 { return a.AppendRowsInRange(nil, lo, hi) }

var _ ItemCatalog = storeCatalog{}

// loadStoreInputs loads the serving inputs of a store snapshot: its
// catalogue, fold-in parameters and non-personal lists.
func (m *Model) loadStoreInputs(s Snapshot) error {
	si, ok := s.(storeInputs)
	if !ok {
		return nil
	}
	if cat, ok := si.Catalog(); ok {
		if cat.NumItems() != m.n {
			return fmt.Errorf("catalogue of %d items for %d", cat.NumItems(), m.n)
		}
		m.setCatalog(storeCatalog{cat})
	}
	if f, ok := si.FoldIn(); ok {
		if f.Dims != m.items.Dims || len(f.YtY) != f.Dims*f.Dims {
			return fmt.Errorf("fold-in parameters of %d dimensions for %d-dimensional factors", f.Dims, m.items.Dims)
		}
		m.fold = &foldIn{
			dims:       f.Dims,
			alpha:      f.Alpha,
			viewWeight: f.ViewWeight,
			yty:        f.YtY,
			yty32:      toFloat32(f.YtY),
			reg:        f.RegFor,
		}
		if si.HasSeenWeights() {
			m.fold.seenW = si.SeenWeights
		}
	}
	if kinds := si.SeenEventKinds(); kinds != nil {
		m.events, m.eventKinds = si.SeenEvents, kinds
	}
	for _, name := range []string{MetricTrending, MetricBestsellers} {
		if sc, ok := si.ItemScores(name); ok {
			if len(sc) != m.n {
				return fmt.Errorf("%s list of %d scores for %d items", name, len(sc), m.n)
			}
			if !slices.ContainsFunc(sc, func(v float32) bool { return v > 0 }) {
				continue // e.g. bestsellers of a log without purchases: popularity answers
			}
			if m.lists == nil {
				m.lists = make(map[string]scoreList)
			}
			m.lists[name] = newScoreList(sc)
		}
	}
	return nil
}

// toFloat32 converts v.
func toFloat32(v []float64) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}
