package load

import (
	"fmt"
	"math/rand/v2"

	polecamv1 "github.com/polecam/polecam/api/polecam/v1"
	"github.com/polecam/polecam/benchmarks/fixture"
)

// Method names a called RPC in results.
const (
	MethodRecommend    = "Recommend"
	MethodSimilarItems = "SimilarItems"
)

// Request is one request of the mix: exactly one of Recommend and Similar
// is set.
type Request struct {
	Recommend *polecamv1.RecommendRequest
	Similar   *polecamv1.SimilarItemsRequest
}

// Method returns the RPC the request calls.
func (r Request) Method() string {
	if r.Similar != nil {
		return MethodSimilarItems
	}
	return MethodRecommend
}

// Mix draws requests. The user and item rankings are shared by all
// workers (the same users are hot for everyone); each worker draws from
// its own stream. A Mix is not safe for concurrent use.
type Mix struct {
	o     Options
	rng   *rand.Rand
	users *fixture.Zipf
	items *fixture.Zipf
}

// NewMixes returns the request streams of workers 0..workers-1 for o.
func NewMixes(o Options, workers int) ([]*Mix, error) {
	userRank, itemRank := ranking(o.Seed, 1, o.Users), ranking(o.Seed, 2, o.Items)
	mixes := make([]*Mix, workers)
	for w := range mixes {
		seed := o.Seed + uint64(w+1)*0x9e3779b97f4a7c15
		users, err := fixture.NewZipfOver(seed, userRank, o.ZipfExponent)
		if err != nil {
			return nil, fmt.Errorf("users: %w", err)
		}
		items, err := fixture.NewZipfOver(seed+1, itemRank, o.ZipfExponent)
		if err != nil {
			return nil, fmt.Errorf("items: %w", err)
		}
		mixes[w] = &Mix{o: o, rng: rand.New(rand.NewPCG(seed, 0x6d6978)), users: users, items: items}
	}
	return mixes, nil
}

// ranking returns a seeded permutation of [0, n): rank -> index. It is
// the same for every worker of a run.
func ranking(seed, stream uint64, n int) []int32 {
	rng := rand.New(rand.NewPCG(seed, stream))
	r := make([]int32, n)
	for i, j := range rng.Perm(n) {
		r[i] = int32(j)
	}
	return r
}

// Next returns the next request.
func (m *Mix) Next() Request {
	n := int32(m.o.N)
	if m.rng.Float64() < m.o.Similar {
		return Request{Similar: &polecamv1.SimilarItemsRequest{ItemId: fixture.ItemID(m.items.Next()), N: n}}
	}
	var user string
	if m.rng.Float64() < m.o.Unknown {
		user = fmt.Sprintf("visitor-%016x", m.rng.Uint64())
	} else {
		user = fixture.UserID(m.users.Next())
	}
	return Request{Recommend: &polecamv1.RecommendRequest{UserId: user, N: n, Exact: m.o.Exact}}
}
