package training

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"sync"
	"time"
)

// Interactions is a sparse user × item matrix of aggregated event weights,
// stored twice: in compressed sparse row form (by user) and compressed sparse
// column form (by item), together with the maps between dense indexes and
// shop ids.
//
// User u's items are UserItems[UserPtr[u]:UserPtr[u+1]], sorted by item
// index, with their weights at the same positions of UserWeights; item i's
// users are ItemUsers[ItemPtr[i]:ItemPtr[i+1]], sorted by user index, with
// their weights in ItemWeights. Every stored weight is positive.
//
// An Interactions is immutable once built and safe for concurrent use.
// Values are created by Builder.Build or SplitRandom; one assembled by hand
// should be checked with Validate.
type Interactions struct {
	Users []string // dense user index -> shop user id
	Items []string // dense item index -> shop item id

	UserPtr     []int64 // len NumUsers()+1
	UserItems   []int32
	UserWeights []float32

	ItemPtr     []int64 // len NumItems()+1
	ItemUsers   []int32
	ItemWeights []float32

	// EventKinds names the kinds of events (the event types as logged)
	// whose latest times EventTimes holds; nil when the matrix was built
	// without times (Builder.Add) or by a split.
	EventKinds []string
	// EventTimes holds, for entry k of UserItems and kind j of EventKinds,
	// at k·len(EventKinds)+j, the time of the pair's latest event of that
	// kind in seconds since the Unix epoch, 0 when it had none.
	EventTimes []uint32

	idxOnce sync.Once
	idx     *idIndex // set at construction, or lazily under idxOnce
}

// idIndex maps shop ids back to dense indexes. It is read-only once built and
// may be shared between matrices over the same index spaces.
type idIndex struct {
	users map[string]int32
	items map[string]int32
}

// NumUsers returns the number of users (rows).
func (x *Interactions) NumUsers() int { return len(x.Users) }

// NumItems returns the number of items (columns).
func (x *Interactions) NumItems() int { return len(x.Items) }

// NNZ returns the number of stored (user, item) entries.
func (x *Interactions) NNZ() int { return len(x.UserItems) }

// UserIndex returns the dense index of the shop user id, and whether it is
// known.
func (x *Interactions) UserIndex(id string) (int32, bool) {
	u, ok := x.index().users[id]
	return u, ok
}

// ItemIndex returns the dense index of the shop item id, and whether it is
// known.
func (x *Interactions) ItemIndex(id string) (int32, bool) {
	i, ok := x.index().items[id]
	return i, ok
}

// UserRow returns user u's item indexes and weights. The slices alias the
// matrix and must not be modified.
func (x *Interactions) UserRow(u int32) ([]int32, []float32) {
	lo, hi := x.UserPtr[u], x.UserPtr[u+1]
	return x.UserItems[lo:hi], x.UserWeights[lo:hi]
}

// ItemColumn returns item i's user indexes and weights. The slices alias the
// matrix and must not be modified.
func (x *Interactions) ItemColumn(i int32) ([]int32, []float32) {
	lo, hi := x.ItemPtr[i], x.ItemPtr[i+1]
	return x.ItemUsers[lo:hi], x.ItemWeights[lo:hi]
}

func (x *Interactions) index() *idIndex {
	x.idxOnce.Do(func() {
		if x.idx != nil {
			return // built with the matrix
		}
		// A matrix assembled by hand: derive the maps from the id slices.
		idx := &idIndex{
			users: make(map[string]int32, len(x.Users)),
			items: make(map[string]int32, len(x.Items)),
		}
		for u, id := range x.Users {
			idx.users[id] = int32(u)
		}
		for i, id := range x.Items {
			idx.items[id] = int32(i)
		}
		x.idx = idx
	})
	return x.idx
}

// Validate checks that the CSR and CSC forms are well formed, agree with each
// other and hold only positive finite weights, and that ids are unique.
func (x *Interactions) Validate() error {
	nu, ni := len(x.Users), len(x.Items)
	if nu > math.MaxInt32 || ni > math.MaxInt32 {
		return fmt.Errorf("interactions: %d users, %d items exceed int32 indexes", nu, ni)
	}
	if err := checkCompressed("user", x.UserPtr, x.UserItems, x.UserWeights, nu, ni); err != nil {
		return err
	}
	if err := checkCompressed("item", x.ItemPtr, x.ItemUsers, x.ItemWeights, ni, nu); err != nil {
		return err
	}
	if len(x.UserItems) != len(x.ItemUsers) {
		return fmt.Errorf("interactions: %d entries by user, %d by item", len(x.UserItems), len(x.ItemUsers))
	}
	// The transpose of the CSR form must equal the CSC form exactly.
	t := transpose(x.UserPtr, x.UserItems, x.UserWeights, ni)
	if !slices.Equal(t.ptr, x.ItemPtr) || !slices.Equal(t.idx, x.ItemUsers) || !slices.Equal(t.w, x.ItemWeights) {
		return fmt.Errorf("interactions: item columns do not match user rows")
	}
	if want := len(x.UserItems) * len(x.EventKinds); len(x.EventTimes) != want {
		return fmt.Errorf("interactions: %d event times for %d entries of %d kinds", len(x.EventTimes), len(x.UserItems), len(x.EventKinds))
	}
	if err := checkUnique("user", x.Users); err != nil {
		return err
	}
	return checkUnique("item", x.Items)
}

func checkCompressed(side string, ptr []int64, idx []int32, w []float32, n, m int) error {
	if len(ptr) != n+1 {
		return fmt.Errorf("interactions: %s pointer length %d, want %d", side, len(ptr), n+1)
	}
	if len(idx) != len(w) {
		return fmt.Errorf("interactions: %d %s indexes but %d weights", len(idx), side, len(w))
	}
	if ptr[0] != 0 || ptr[n] != int64(len(idx)) {
		return fmt.Errorf("interactions: %s pointers span [%d, %d], want [0, %d]", side, ptr[0], ptr[n], len(idx))
	}
	for r := range n {
		lo, hi := ptr[r], ptr[r+1]
		if hi < lo {
			return fmt.Errorf("interactions: %s %d pointers decrease", side, r)
		}
		for k := lo; k < hi; k++ {
			if idx[k] < 0 || int(idx[k]) >= m {
				return fmt.Errorf("interactions: %s %d has index %d out of range [0, %d)", side, r, idx[k], m)
			}
			if k > lo && idx[k] <= idx[k-1] {
				return fmt.Errorf("interactions: %s %d indexes not strictly increasing", side, r)
			}
			if !(w[k] > 0) || math.IsInf(float64(w[k]), 0) {
				return fmt.Errorf("interactions: %s %d has weight %v, want positive and finite", side, r, w[k])
			}
		}
	}
	return nil
}

func checkUnique(side string, ids []string) error {
	seen := make(map[string]struct{}, len(ids))
	for _, id := range ids {
		if _, dup := seen[id]; dup {
			return fmt.Errorf("interactions: duplicate %s id %q", side, id)
		}
		seen[id] = struct{}{}
	}
	return nil
}

// compressed is one compressed sparse form (rows of ptr/idx/w).
type compressed struct {
	ptr []int64
	idx []int32
	w   []float32
}

// transpose converts a compressed form with sorted rows into the compressed
// form of its transpose, m rows long; the output rows are sorted too because
// the input rows are visited in order.
func transpose(ptr []int64, idx []int32, w []float32, m int) compressed {
	t := compressed{
		ptr: make([]int64, m+1),
		idx: make([]int32, len(idx)),
		w:   make([]float32, len(w)),
	}
	for _, j := range idx {
		t.ptr[j+1]++
	}
	for j := range m {
		t.ptr[j+1] += t.ptr[j]
	}
	next := slices.Clone(t.ptr[:m])
	for r := range len(ptr) - 1 {
		for k := ptr[r]; k < ptr[r+1]; k++ {
			j := idx[k]
			t.idx[next[j]] = int32(r)
			t.w[next[j]] = w[k]
			next[j]++
		}
	}
	return t
}

// fromCSR assembles an Interactions from a CSR form whose rows are sorted,
// computing the CSC form. The id slices and index are shared, not copied.
func fromCSR(users, items []string, idx *idIndex, ptr []int64, cols []int32, w []float32) *Interactions {
	t := transpose(ptr, cols, w, len(items))
	return &Interactions{
		Users: users, Items: items,
		UserPtr: ptr, UserItems: cols, UserWeights: w,
		ItemPtr: t.ptr, ItemUsers: t.idx, ItemWeights: t.w,
		idx: idx,
	}
}

// Builder accumulates (user, item, weight) events into an Interactions. Its
// memory grows with the number of distinct users, items and (user, item)
// pairs, not with the number of events added, so a log can be streamed
// through it.
//
// A Builder is not safe for concurrent use.
type Builder struct {
	users   []string
	items   []string
	userIdx map[string]int32
	itemIdx map[string]int32
	pairs   map[uint64]float32 // user<<32 | item -> summed weight
	kinds   []string           // of AddEvent, in the order first seen
	kindIdx map[string]uint8
	times   map[eventKey]uint32 // latest event time of a pair and kind, Unix seconds
}

// eventKey is a (user, item) pair key of Builder.pairs and a kind.
type eventKey struct {
	pair uint64
	kind uint8
}

// MaxEventKinds bounds the kinds of events whose times a Builder records:
// the events of further kinds count (their weights are added) without a
// time.
const MaxEventKinds = 16

// NewBuilder returns an empty Builder.
func NewBuilder() *Builder {
	return &Builder{
		userIdx: make(map[string]int32),
		itemIdx: make(map[string]int32),
		pairs:   make(map[uint64]float32),
	}
}

// Add records an event of the given weight between user and item. Weights of
// repeated (user, item) pairs are summed. Users and items receive dense
// indexes in the order they are first seen by Add, so the same event stream
// always builds the same matrix.
//
// Pairs whose summed weight is not positive and finite are dropped at Build
// (iALS reads a weight as the strength of a positive preference); their user
// and item keep their indexes. Add panics if more than 2³¹−1 distinct users
// or items are added.
func (b *Builder) Add(user, item string, weight float32) {
	u, ok := b.userIdx[user]
	if !ok {
		if len(b.users) == math.MaxInt32 {
			panic("training: too many users for int32 indexes")
		}
		u = int32(len(b.users))
		b.userIdx[user] = u
		b.users = append(b.users, user)
	}
	i, ok := b.itemIdx[item]
	if !ok {
		if len(b.items) == math.MaxInt32 {
			panic("training: too many items for int32 indexes")
		}
		i = int32(len(b.items))
		b.itemIdx[item] = i
		b.items = append(b.items, item)
	}
	key := uint64(u)<<32 | uint64(uint32(i))
	b.pairs[key] += weight
}

// AddEvent is Add for an event of a kind (its type as logged: "view",
// "purchase") at a time: besides the weight, the Builder records the
// pair's latest time of each kind (whole seconds since the Unix epoch,
// clamped to [1, 2³²−1]), which Build returns in EventTimes. Only the
// first MaxEventKinds kinds get times.
func (b *Builder) AddEvent(user, item, kind string, weight float32, at time.Time) {
	b.Add(user, item, weight)
	k, ok := b.kindIdx[kind]
	if !ok {
		if len(b.kinds) == MaxEventKinds {
			return
		}
		if b.kindIdx == nil {
			b.kindIdx, b.times = map[string]uint8{}, map[eventKey]uint32{}
		}
		k = uint8(len(b.kinds))
		b.kindIdx[kind] = k
		b.kinds = append(b.kinds, kind)
	}
	key := eventKey{uint64(b.userIdx[user])<<32 | uint64(uint32(b.itemIdx[item])), k}
	sec := min(max(at.Unix(), 1), math.MaxUint32)
	if t := uint32(sec); t > b.times[key] {
		b.times[key] = t
	}
}

// Build returns the matrix of everything added so far. The Builder may be
// used again afterwards; later Adds do not affect the returned matrix.
func (b *Builder) Build() *Interactions {
	nu := len(b.users)
	ptr := make([]int64, nu+1)
	for key, w := range b.pairs {
		if keep(w) {
			ptr[key>>32+1]++
		}
	}
	for u := range nu {
		ptr[u+1] += ptr[u]
	}
	nnz := ptr[nu]
	cols := make([]int32, nnz)
	ws := make([]float32, nnz)
	next := slices.Clone(ptr[:nu])
	for key, w := range b.pairs {
		if !keep(w) {
			continue
		}
		u := key >> 32
		cols[next[u]] = int32(uint32(key))
		ws[next[u]] = w
		next[u]++
	}
	// Map iteration order is random; sorting each row by item index makes
	// the result deterministic (pairs are unique, so there are no ties).
	for u := range nu {
		lo, hi := ptr[u], ptr[u+1]
		sortRow(cols[lo:hi], ws[lo:hi])
	}
	users := slices.Clone(b.users)
	items := slices.Clone(b.items)
	idx := &idIndex{users: maps.Clone(b.userIdx), items: maps.Clone(b.itemIdx)}
	x := fromCSR(users, items, idx, ptr, cols, ws)
	if nk := len(b.kinds); nk > 0 {
		x.EventKinds = slices.Clone(b.kinds)
		x.EventTimes = make([]uint32, int(nnz)*nk)
		for key, t := range b.times {
			u, i := key.pair>>32, int32(uint32(key.pair))
			row := cols[ptr[u]:ptr[u+1]]
			if k, ok := slices.BinarySearch(row, i); ok { // else the pair was dropped
				x.EventTimes[(int(ptr[u])+k)*nk+int(key.kind)] = t
			}
		}
	}
	return x
}

func keep(w float32) bool { return w > 0 && !math.IsInf(float64(w), 1) }

// sortRow sorts idx ascending, permuting w alongside.
func sortRow(idx []int32, w []float32) {
	if slices.IsSorted(idx) {
		return
	}
	type entry struct {
		i int32
		w float32
	}
	es := make([]entry, len(idx))
	for k := range idx {
		es[k] = entry{idx[k], w[k]}
	}
	slices.SortFunc(es, func(a, b entry) int { return int(a.i) - int(b.i) })
	for k, e := range es {
		idx[k], w[k] = e.i, e.w
	}
}
