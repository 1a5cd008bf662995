package recommender

import (
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/polecam/polecam/recommender/ann"
	"github.com/polecam/polecam/store"
)

// Snapshot is what a Model reads: one opened, read-only model version.
// *store.Snapshot implements it. All methods but Close must be safe for
// concurrent use; the Model calls Close once, after its last request.
type Snapshot interface {
	Version() string
	NumItems() int
	NumUsers() int
	// ItemFactors and UserFactors are read in place and never written.
	ItemFactors() store.Matrix
	UserFactors() store.Matrix
	ItemIndex(id string) (int32, bool, error)
	UserIndex(id string) (int32, bool, error)
	ItemID(idx int32) (string, error)
	// Seen appends the user's training items to buf[:0], ascending.
	Seen(user int32, buf []int32) ([]int32, error)
	// Neighbors appends the item's co-occurrence neighbours to buf[:0],
	// best first.
	Neighbors(item int32, buf []store.Neighbor) ([]store.Neighbor, error)
	// Popularity returns one score per item; it is called once, by NewModel.
	Popularity() ([]float32, error)
	Close() error
}

// popularHead is how many of the most popular items NewModel ranks. A
// popularity answer walks this list; only a request whose exclusions
// swallow more than popularHead-MaxN of it falls back to a catalogue scan.
const popularHead = 2 * MaxN

// defaultANNDirectMax is Model.annDirectMax: 50,000 rows scored in their
// groups of four cost about as much as a filtered walk of a 1M index.
const defaultANNDirectMax = 50000

// Model is one loaded snapshot ready to serve. It is immutable once built
// and safe for concurrent use. Every request holds a reference to the
// Model while it runs; Close waits for the last one before closing the
// snapshot.
type Model struct {
	snap    Snapshot
	version string
	n       int          // number of items
	items   store.Matrix // item factors, read in place
	users   store.Matrix // user factors, read in place

	// invNorm[i] is 1/‖item i‖, or 0 for an item without a factor vector.
	invNorm []float32
	// cold lists the items without a factor vector (an all-zero row),
	// ascending. They are never ranked by factors.
	cold []int32
	// pop is the popularity score of every item; popOrder the indices of
	// the min(n, popularHead) most popular, best first.
	pop      []float32
	popOrder []int32
	// ii is the optional item-item model blended into Recommend, or nil.
	ii *itemItem
	// cat is the snapshot's catalogue, or nil; unavail (ascending) and
	// unavailBits are its items that cannot be sold now, never returned.
	cat         ItemCatalog
	unavail     []int32
	unavailBits []uint64
	// fold holds the fold-in parameters, or nil: session items are then
	// excluded but not folded in.
	fold      *foldIn
	foldUsers bool // ModelOptions.FoldInUsers
	// events reads a trained user's latest event times (nil when the
	// snapshot has none), eventKinds names their kinds; now is
	// ModelOptions.Now.
	events     func(user int32, buf []store.SeenEvent) ([]store.SeenEvent, error)
	eventKinds []string
	now        func() time.Time
	// ruleItems is the catalogue as merchandising rules read it.
	ruleItems *ruleItems
	// lists are the non-personal score lists by metric (trending,
	// bestsellers), each with the order of its best items.
	lists map[string]scoreList

	scratch sync.Pool // *scratch sized to this catalogue

	// workers is how many lanes a scan may use; pool runs workers-1 of
	// them, or is nil when scans are not split (see ModelOptions).
	workers int
	pool    *scanPool
	// splitFloat and splitInt8 say whether float and int8 scans use the
	// pool: whether the catalogue reaches ParallelMinItems and
	// Int8ParallelMinItems.
	splitFloat, splitInt8 bool
	// i8 is the int8 copy of the item vectors, or nil; maxL1 is the
	// largest ‖item‖₁, for bounding its quantisation error.
	i8 *int8Items
	// catBlocks are the int8 rows in category order (ModelOptions.
	// CategoryBlocks), or nil.
	catBlocks     *categoryBlocks
	maxL1         float64
	int8Fallbacks atomic.Uint64
	int8Widened   atomic.Uint64 // requests that needed the wide shortlist
	// ann is the approximate index over the item vectors, or nil;
	// annEfOpt is ModelOptions.ANNEf.
	ann      *ann.Index
	annEfOpt int
	// annDirectMax is the most rows a filter may pass for its rows to be
	// scored directly rather than through the index (directCheaper);
	// negative (tests only) always walks the index.
	annDirectMax int

	// refs is 1 for the owner until Close, plus 1 per request in flight.
	// When it drops to zero drained is closed and no reference can be
	// taken any more.
	refs      atomic.Int64
	drained   chan struct{}
	closeOnce sync.Once
	closeErr  error
}

// NewModel is NewModelWithOptions with DefaultModelOptions.
func NewModel(s Snapshot) (*Model, error) {
	return NewModelWithOptions(s, DefaultModelOptions())
}

// NewModelWithOptions validates s and prepares it for serving: it checks
// that the factor matrices match the catalogue and each other, computes
// the item norms (rejecting non-finite factors), ranks the most popular
// items and, with opts.Int8, checks the snapshot's int8 item vectors if it
// has any; with opts.ANN it loads the snapshot's ANN index if it has one
// (checking its checksums and links, about 20 ms per million items). It reads every item vector once, so it costs O(items × dims).
// A catalogue of at least opts.ParallelMinItems items (or
// opts.Int8ParallelMinItems, with int8 vectors) gets opts.Workers-1 scan
// goroutines, which Close stops.
//
// On success the Model owns s and closes it in Close; on error the caller
// still owns s.
func NewModelWithOptions(s Snapshot, opts ModelOptions) (*Model, error) {
	if s == nil {
		return nil, errors.New("new model: nil snapshot")
	}
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("new model: %w", err)
	}
	m := &Model{
		snap:    s,
		version: s.Version(),
		n:       s.NumItems(),
		items:   s.ItemFactors(),
		users:   s.UserFactors(),
		drained: make(chan struct{}),
	}
	if err := m.validateShapes(s.NumUsers()); err != nil {
		return nil, fmt.Errorf("new model from version %s: %w", m.version, err)
	}
	if err := m.computeNorms(); err != nil {
		return nil, fmt.Errorf("new model from version %s: %w", m.version, err)
	}
	pop, err := s.Popularity()
	if err != nil {
		return nil, fmt.Errorf("new model from version %s: read popularity: %w", m.version, err)
	}
	if len(pop) != m.n {
		return nil, fmt.Errorf("new model from version %s: %d popularity scores for %d items", m.version, len(pop), m.n)
	}
	for i, p := range pop {
		if math.IsNaN(float64(p)) || math.IsInf(float64(p), 0) {
			return nil, fmt.Errorf("new model from version %s: popularity of item %d is %v", m.version, i, p)
		}
	}
	m.pop = pop
	var top topN
	top.reset(min(m.n, popularHead))
	top.pushScores(pop, 0)
	for _, c := range top.appendSorted(nil) {
		m.popOrder = append(m.popOrder, c.Index)
	}
	if err := m.loadItemItem(s); err != nil {
		return nil, fmt.Errorf("new model from version %s: %w", m.version, err)
	}
	if err := m.loadServingInputs(s); err != nil {
		return nil, fmt.Errorf("new model from version %s: %w", m.version, err)
	}

	if opts.Int8 {
		if err := m.loadInt8(s); err != nil {
			return nil, fmt.Errorf("new model from version %s: %w", m.version, err)
		}
	}

	if m.i8 != nil && m.cat != nil && opts.CategoryBlocks {
		m.catBlocks = newCategoryBlocks(m.cat, m.i8, m.n, func(r int32) bool { return m.invNorm[r] == 0 })
	}

	if opts.ANN {
		if err := m.loadANN(s); err != nil {
			return nil, fmt.Errorf("new model from version %s: %w", m.version, err)
		}
		m.annEfOpt = opts.ANNEf
	}

	m.workers = 1
	m.splitFloat = m.n >= opts.ParallelMinItems
	m.splitInt8 = m.i8 != nil && m.n >= opts.Int8ParallelMinItems
	if opts.Workers > 1 && (m.splitFloat || m.splitInt8) {
		m.workers = min(opts.Workers, (m.n+chunkRows-1)/chunkRows)
	}
	m.annDirectMax = defaultANNDirectMax
	m.ruleItems = &ruleItems{m}
	m.foldUsers = opts.FoldInUsers
	m.now = opts.Now
	if m.now == nil {
		m.now = time.Now
	}
	m.refs.Store(1)
	m.scratch.New = m.newScratch
	if m.workers > 1 {
		m.pool = newScanPool(m.workers - 1)
	}
	return m, nil
}

// validateShapes checks the catalogue size and both factor matrices.
func (m *Model) validateShapes(numUsers int) error {
	switch {
	case m.n <= 0:
		return errors.New("the model has no items")
	case m.n > math.MaxInt32:
		return fmt.Errorf("%d items exceed the int32 index range", m.n)
	case m.items.Rows != m.n:
		return fmt.Errorf("item factors have %d rows for %d items", m.items.Rows, m.n)
	case m.items.Dims <= 0:
		return fmt.Errorf("item factors have %d dimensions", m.items.Dims)
	case m.users.Rows != numUsers:
		return fmt.Errorf("user factors have %d rows for %d users", m.users.Rows, numUsers)
	case m.users.Rows > 0 && m.users.Dims != m.items.Dims:
		return fmt.Errorf("user factors have %d dimensions, item factors %d", m.users.Dims, m.items.Dims)
	}
	if err := checkMatrix(m.items); err != nil {
		return fmt.Errorf("item factors: %w", err)
	}
	if err := checkMatrix(m.users); err != nil {
		return fmt.Errorf("user factors: %w", err)
	}
	return nil
}

// checkMatrix checks that every row of a lies inside a.Data.
func checkMatrix(a store.Matrix) error {
	if a.Stride < a.Dims {
		return fmt.Errorf("stride %d is less than %d dimensions", a.Stride, a.Dims)
	}
	if a.Rows > 0 && len(a.Data) < (a.Rows-1)*a.Stride+a.Dims {
		return fmt.Errorf("%d floats of data are too few for %d rows of stride %d", len(a.Data), a.Rows, a.Stride)
	}
	return nil
}

// computeNorms fills invNorm and cold.
func (m *Model) computeNorms() error {
	m.invNorm = make([]float32, m.n)
	for i := range m.n {
		var ss, l1 float64
		for _, v := range m.items.Row(i) {
			ss += float64(v) * float64(v)
			l1 += math.Abs(float64(v))
		}
		m.maxL1 = max(m.maxL1, l1)
		switch {
		case math.IsNaN(ss) || math.IsInf(ss, 0):
			return fmt.Errorf("item %d has a non-finite factor vector", i)
		case ss == 0:
			m.cold = append(m.cold, int32(i))
		default:
			m.invNorm[i] = float32(1 / math.Sqrt(ss))
		}
	}
	return nil
}

// Version returns the snapshot version the model serves.
func (m *Model) Version() string { return m.version }

// NumItems returns the number of items in the catalogue.
func (m *Model) NumItems() int { return m.n }

// Close releases the owner's reference, waits until every request still
// using the model has returned, then closes the snapshot and returns its
// error. Requests that start after Close fail with ErrUnavailable. Close
// is idempotent; every call returns the same error. Requests are bounded
// by their contexts, so so is the wait.
func (m *Model) Close() error {
	m.closeOnce.Do(func() {
		m.release()
		<-m.drained
		if m.pool != nil {
			m.pool.close()
		}
		m.closeErr = m.snap.Close()
	})
	return m.closeErr
}

// acquire takes a reference for one request. It fails once the model has
// been closed (the count has reached zero).
func (m *Model) acquire() bool {
	for {
		n := m.refs.Load()
		if n <= 0 {
			return false
		}
		if m.refs.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// release drops a reference taken by acquire (or the owner's, in Close).
func (m *Model) release() {
	if m.refs.Add(-1) == 0 {
		close(m.drained)
	}
}

// errClosed is returned by requests made directly on a closed model.
func (m *Model) errClosed() error {
	return fmt.Errorf("%w: model version %s is closed", ErrUnavailable, m.version)
}

// scoreList is one non-personal ranking: a score per item and the
// indices of the best min(n, popularHead), best first.
type scoreList struct {
	scores []float32
	order  []int32
}

// newScoreList ranks the head of scores.
func newScoreList(scores []float32) scoreList {
	var top topN
	top.reset(min(len(scores), popularHead))
	top.pushScores(scores, 0)
	l := scoreList{scores: scores}
	for _, c := range top.appendSorted(nil) {
		l.order = append(l.order, c.Index)
	}
	return l
}

// setCatalog makes cat the model's catalogue and marks its unavailable
// items.
func (m *Model) setCatalog(cat ItemCatalog) {
	m.cat = cat
	m.unavail = nil
	m.unavailBits = nil
	for _, r := range cat.Unavailable() {
		if r >= 0 && int(r) < m.n {
			m.unavail = append(m.unavail, r)
		}
	}
	if len(m.unavail) > 0 {
		m.unavailBits = make([]uint64, (m.n+63)/64)
		for _, r := range m.unavail {
			m.unavailBits[r>>6] |= 1 << (uint(r) & 63)
		}
	}
}

// catalogSource is a snapshot that carries a catalogue in the form
// filters read.
type catalogSource interface {
	ItemCatalog() (ItemCatalog, bool)
}

// loadServingInputs loads what the snapshot offers besides the factors:
// the catalogue, the fold-in parameters and the non-personal lists.
func (m *Model) loadServingInputs(s Snapshot) error {
	if cs, ok := s.(catalogSource); ok {
		if cat, ok := cs.ItemCatalog(); ok {
			m.setCatalog(cat)
		}
	}
	return m.loadStoreInputs(s)
}
