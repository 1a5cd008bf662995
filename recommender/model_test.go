package recommender

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/polecam/polecam/store"
)

// smallData is a hand-made model with 2-dimensional factors whose rankings
// can be worked out on paper:
//
//	item  vector     popularity  neighbours
//	a     [1, 0]     5           c 0.9, a 1.0 (itself), b 0.4
//	b     [0, 1]     3           -
//	c     [0.5, 0.5] 9           -
//	d     [-1, 0]    1           -
//	e     [0, 0]     7           -           (no factor vector: cold)
//	f     [1, 1]     3           e 0.2, d 0.8 (not sorted)
//
//	user  vector  seen
//	u1    [1, 0]  a
//	u2    [0, 2]  b, c
//	u0    [0, 0]  e       (no factor vector)
func smallData() *modelData {
	return &modelData{
		items:    []string{"a", "b", "c", "d", "e", "f"},
		itemVecs: [][]float32{{1, 0}, {0, 1}, {0.5, 0.5}, {-1, 0}, {0, 0}, {1, 1}},
		users:    []string{"u1", "u2", "u0"},
		userVecs: [][]float32{{1, 0}, {0, 2}, {0, 0}},
		seen:     map[int32][]int32{0: {0}, 1: {2, 1}, 2: {4}},
		nbrs: map[int32][]store.Neighbor{
			0: {{Item: 2, Score: 0.9}, {Item: 0, Score: 1.0}, {Item: 1, Score: 0.4}},
			5: {{Item: 4, Score: 0.2}, {Item: 3, Score: 0.8}},
		},
		pop: []float32{5, 3, 9, 1, 7, 3},
	}
}

// backend opens modelData as a Snapshot: the in-memory fake, or a real
// store snapshot (see store_test.go).
type backend struct {
	name string
	open func(t testing.TB, version string, d *modelData) Snapshot
}

func openFake(t testing.TB, version string, d *modelData) Snapshot {
	return newFake(version, d)
}

var backends = []backend{{"fake", openFake}, {"store", openStore}}

// newTestModel builds a Model over d and closes it when the test ends.
func newTestModel(t testing.TB, open func(testing.TB, string, *modelData) Snapshot, d *modelData) *Model {
	t.Helper()
	s := open(t, "v1", d)
	m, err := NewModel(s)
	if err != nil {
		t.Fatalf("NewModel: %v", err)
	}
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return m
}

const (
	fac = SourceFactors
	coo = SourceCoOccurrence
	pop = SourcePopularity
)

// cos45 is the cosine of 45 degrees as the model computes it in float32.
const cos45 = float32(math.Sqrt2 / 2)

var approx = cmpopts.EquateApprox(0, 1e-6)

func TestRecommend(t *testing.T) {
	tests := []struct {
		name         string
		req          RecommendRequest
		want         []ScoredItem
		wantFallback bool
	}{
		{
			name: "seen excluded, ties by index",
			req:  RecommendRequest{UserID: "u1", N: 3},
			want: []ScoredItem{{ID: "f", Score: 1, Source: fac}, {ID: "c", Score: 0.5, Source: fac}, {ID: "b", Score: 0, Source: fac}},
		},
		{
			name: "include seen",
			req:  RecommendRequest{UserID: "u1", N: 3, IncludeSeen: true},
			want: []ScoredItem{{ID: "a", Score: 1, Source: fac}, {ID: "f", Score: 1, Source: fac}, {ID: "c", Score: 0.5, Source: fac}},
		},
		{
			name: "exclude, unknown ids ignored",
			req:  RecommendRequest{UserID: "u1", N: 3, Exclude: []string{"f", "no-such-item", "", "f"}},
			want: []ScoredItem{{ID: "c", Score: 0.5, Source: fac}, {ID: "b", Score: 0, Source: fac}, {ID: "d", Score: -1, Source: fac}},
		},
		{
			name: "tiny catalogue filled from popularity, cold item only there",
			req:  RecommendRequest{UserID: "u1", N: 6},
			want: []ScoredItem{{ID: "f", Score: 1, Source: fac}, {ID: "c", Score: 0.5, Source: fac}, {ID: "b", Score: 0, Source: fac}, {ID: "d", Score: -1, Source: fac}, {ID: "e", Score: 7, Source: pop}},
		},
		{
			name: "everything excluded",
			req:  RecommendRequest{UserID: "u1", N: 3, Exclude: []string{"b", "c", "d", "e", "f"}},
			want: []ScoredItem{},
		},
		{
			name: "zero-score ties by index",
			req:  RecommendRequest{UserID: "u2", N: 3},
			want: []ScoredItem{{ID: "f", Score: 2, Source: fac}, {ID: "a", Score: 0, Source: fac}, {ID: "d", Score: 0, Source: fac}},
		},
		{
			name: "top-score ties by index",
			req:  RecommendRequest{UserID: "u2", N: 2, IncludeSeen: true},
			want: []ScoredItem{{ID: "b", Score: 2, Source: fac}, {ID: "f", Score: 2, Source: fac}},
		},
		{
			name:         "unknown user gets popularity",
			req:          RecommendRequest{UserID: "stranger", N: 3},
			want:         []ScoredItem{{ID: "c", Score: 9, Source: pop}, {ID: "e", Score: 7, Source: pop}, {ID: "a", Score: 5, Source: pop}},
			wantFallback: true,
		},
		{
			name:         "unknown user with exclusions, popularity ties by index",
			req:          RecommendRequest{UserID: "stranger", N: 3, Exclude: []string{"c", "a"}},
			want:         []ScoredItem{{ID: "e", Score: 7, Source: pop}, {ID: "b", Score: 3, Source: pop}, {ID: "f", Score: 3, Source: pop}},
			wantFallback: true,
		},
		{
			name:         "user without factors gets popularity minus seen",
			req:          RecommendRequest{UserID: "u0", N: 2},
			want:         []ScoredItem{{ID: "c", Score: 9, Source: pop}, {ID: "a", Score: 5, Source: pop}},
			wantFallback: true,
		},
		{
			name:         "user without factors, include seen",
			req:          RecommendRequest{UserID: "u0", N: 2, IncludeSeen: true},
			want:         []ScoredItem{{ID: "c", Score: 9, Source: pop}, {ID: "e", Score: 7, Source: pop}},
			wantFallback: true,
		},
	}
	for _, be := range backends {
		m := newTestModel(t, be.open, smallData())
		for _, tt := range tests {
			t.Run(be.name+"/"+tt.name, func(t *testing.T) {
				got, err := m.Recommend(context.Background(), tt.req)
				if err != nil {
					t.Fatalf("Recommend(%+v): %v", tt.req, err)
				}
				if diff := cmp.Diff(tt.want, got.Items, approx, cmpopts.EquateEmpty()); diff != "" {
					t.Errorf("Recommend(%+v) items mismatch (-want +got):\n%s", tt.req, diff)
				}
				if got.Fallback != tt.wantFallback {
					t.Errorf("Recommend(%+v).Fallback = %v, want %v", tt.req, got.Fallback, tt.wantFallback)
				}
				if got.Version != m.Version() {
					t.Errorf("Recommend(%+v).Version = %q, want %q", tt.req, got.Version, m.Version())
				}
			})
		}
	}
}

func TestSimilarItems(t *testing.T) {
	tests := []struct {
		name         string
		req          SimilarRequest
		want         []ScoredItem
		wantFallback bool
	}{
		{
			name: "neighbours without the item itself",
			req:  SimilarRequest{ItemID: "a", N: 2},
			want: []ScoredItem{{ID: "c", Score: 0.9, Source: coo}, {ID: "b", Score: 0.4, Source: coo}},
		},
		{
			name: "neighbours then cosine, cold item skipped",
			req:  SimilarRequest{ItemID: "a", N: 4},
			want: []ScoredItem{{ID: "c", Score: 0.9, Source: coo}, {ID: "b", Score: 0.4, Source: coo}, {ID: "f", Score: cos45, Source: fac}, {ID: "d", Score: -1, Source: fac}},
		},
		{
			name: "neighbours, cosine, then popularity",
			req:  SimilarRequest{ItemID: "a", N: 10},
			want: []ScoredItem{{ID: "c", Score: 0.9, Source: coo}, {ID: "b", Score: 0.4, Source: coo}, {ID: "f", Score: cos45, Source: fac}, {ID: "d", Score: -1, Source: fac}, {ID: "e", Score: 7, Source: pop}},
		},
		{
			name: "exclusions apply to every tier",
			req:  SimilarRequest{ItemID: "a", N: 10, Exclude: []string{"c", "d", "e", "zzz"}},
			want: []ScoredItem{{ID: "b", Score: 0.4, Source: coo}, {ID: "f", Score: cos45, Source: fac}},
		},
		{
			name: "neighbours reordered best first",
			req:  SimilarRequest{ItemID: "f", N: 2},
			want: []ScoredItem{{ID: "d", Score: 0.8, Source: coo}, {ID: "e", Score: 0.2, Source: coo}},
		},
		{
			name: "no neighbours: cosine ties by index",
			req:  SimilarRequest{ItemID: "b", N: 3},
			want: []ScoredItem{{ID: "c", Score: cos45, Source: fac}, {ID: "f", Score: cos45, Source: fac}, {ID: "a", Score: 0, Source: fac}},
		},
		{
			name:         "cold item without neighbours falls back to popularity",
			req:          SimilarRequest{ItemID: "e", N: 3},
			want:         []ScoredItem{{ID: "c", Score: 9, Source: pop}, {ID: "a", Score: 5, Source: pop}, {ID: "b", Score: 3, Source: pop}},
			wantFallback: true,
		},
	}
	for _, be := range backends {
		m := newTestModel(t, be.open, smallData())
		for _, tt := range tests {
			t.Run(be.name+"/"+tt.name, func(t *testing.T) {
				got, err := m.SimilarItems(context.Background(), tt.req)
				if err != nil {
					t.Fatalf("SimilarItems(%+v): %v", tt.req, err)
				}
				if diff := cmp.Diff(tt.want, got.Items, approx, cmpopts.EquateEmpty()); diff != "" {
					t.Errorf("SimilarItems(%+v) items mismatch (-want +got):\n%s", tt.req, diff)
				}
				if got.Fallback != tt.wantFallback {
					t.Errorf("SimilarItems(%+v).Fallback = %v, want %v", tt.req, got.Fallback, tt.wantFallback)
				}
			})
		}
	}
}

func TestRequestErrors(t *testing.T) {
	m := newTestModel(t, openFake, smallData())
	ctx := context.Background()
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	tests := []struct {
		name    string
		call    func() (Result, error)
		wantErr error
		wantMsg string
	}{
		{"recommend empty user", func() (Result, error) { return m.Recommend(ctx, RecommendRequest{N: 1}) },
			ErrInvalidArgument, "user_id is required"},
		{"recommend n zero", func() (Result, error) { return m.Recommend(ctx, RecommendRequest{UserID: "u1"}) },
			ErrInvalidArgument, "n must be between 1 and 1000, got 0"},
		{"recommend n negative", func() (Result, error) { return m.Recommend(ctx, RecommendRequest{UserID: "u1", N: -3}) },
			ErrInvalidArgument, "got -3"},
		{"recommend n too large", func() (Result, error) { return m.Recommend(ctx, RecommendRequest{UserID: "u1", N: MaxN + 1}) },
			ErrInvalidArgument, "got 1001"},
		{"recommend cancelled", func() (Result, error) { return m.Recommend(cancelled, RecommendRequest{UserID: "u1", N: 1}) },
			context.Canceled, ""},
		{"similar empty item", func() (Result, error) { return m.SimilarItems(ctx, SimilarRequest{N: 1}) },
			ErrInvalidArgument, "item_id is required"},
		{"similar n too large", func() (Result, error) { return m.SimilarItems(ctx, SimilarRequest{ItemID: "a", N: 5000}) },
			ErrInvalidArgument, "got 5000"},
		{"similar unknown item", func() (Result, error) { return m.SimilarItems(ctx, SimilarRequest{ItemID: "zzz", N: 1}) },
			ErrNotFound, `item "zzz" is not in model version v1`},
		{"similar cancelled", func() (Result, error) { return m.SimilarItems(cancelled, SimilarRequest{ItemID: "a", N: 1}) },
			context.Canceled, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.call()
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("%s = %v, %v; want error %v", tt.name, got, err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("%s error = %q, want it to contain %q", tt.name, err, tt.wantMsg)
			}
		})
	}
}

// TestPopularityBeyondHead excludes most of the precomputed popularity
// head, so the fallback must rank the whole catalogue; the answer must
// equal a full sort.
func TestPopularityBeyondHead(t *testing.T) {
	const items = popularHead + MaxN
	rng := rand.New(rand.NewPCG(5, 6))
	d := &modelData{users: []string{"u"}, userVecs: [][]float32{{0, 0}}}
	for i := range items {
		d.items = append(d.items, fmt.Sprintf("item-%04d", i))
		d.itemVecs = append(d.itemVecs, []float32{1, 0})
		d.pop = append(d.pop, float32(rng.IntN(500))) // many ties
	}
	m := newTestModel(t, openFake, d)

	order := make([]int, items)
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return compareRank(candidate{int32(a), d.pop[a]}, candidate{int32(b), d.pop[b]}) })
	excluded := make([]string, 0, popularHead-100)
	for _, i := range order[:popularHead-100] {
		excluded = append(excluded, d.items[i])
	}
	var want []ScoredItem
	for _, i := range order[popularHead-100:][:MaxN] {
		want = append(want, ScoredItem{ID: d.items[i], Score: d.pop[i], Source: SourcePopularity})
	}

	req := RecommendRequest{UserID: "stranger", N: MaxN, Exclude: excluded}
	got, err := m.Recommend(context.Background(), req)
	if err != nil {
		t.Fatalf("Recommend(stranger): %v", err)
	}
	if diff := cmp.Diff(want, got.Items); diff != "" {
		t.Errorf("Recommend(stranger, %d excluded) mismatch (-want +got):\n%s", len(excluded), diff)
	}
}

func TestNewModelRejects(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(f *fakeSnapshot)
		wantMsg string
	}{
		{"item rows", func(f *fakeSnapshot) { f.itemF.Rows-- }, "item factors have 5 rows for 6 items"},
		{"user rows", func(f *fakeSnapshot) { f.userF.Rows = 1 }, "user factors have 1 rows for 3 users"},
		{"dims differ", func(f *fakeSnapshot) { f.userF.Dims = 3 }, "user factors have 3 dimensions, item factors 2"},
		{"short data", func(f *fakeSnapshot) { f.itemF.Data = f.itemF.Data[:40] }, "too few"},
		{"stride", func(f *fakeSnapshot) { f.itemF.Stride = 1 }, "stride 1 is less than 2 dimensions"},
		{"popularity length", func(f *fakeSnapshot) { f.d.pop = f.d.pop[:2] }, "2 popularity scores for 6 items"},
		{"popularity NaN", func(f *fakeSnapshot) { f.d.pop[3] = float32(math.NaN()) }, "popularity of item 3 is NaN"},
		{"factor NaN", func(f *fakeSnapshot) { f.itemF.Data[store.Stride(2)*4+1] = float32(math.Inf(1)) }, "item 4 has a non-finite factor vector"},
		{"no items", func(f *fakeSnapshot) { f.d.items = nil; f.itemF.Rows = 0 }, "the model has no items"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake("v1", smallData())
			tt.edit(f)
			m, err := NewModel(f)
			if err == nil {
				m.Close()
				t.Fatalf("NewModel(%s) succeeded, want error containing %q", tt.name, tt.wantMsg)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("NewModel(%s) error = %q, want it to contain %q", tt.name, err, tt.wantMsg)
			}
			if f.closes.Load() != 0 {
				t.Errorf("NewModel(%s) closed the snapshot on error; the caller owns it", tt.name)
			}
		})
	}
	if _, err := NewModel(nil); err == nil {
		t.Errorf("NewModel(nil) succeeded, want error")
	}
}

func TestModelClose(t *testing.T) {
	f := newFake("v1", smallData())
	m, err := NewModel(f)
	if err != nil {
		t.Fatal(err)
	}
	// A request in flight holds the model open.
	if !m.acquire() {
		t.Fatal("acquire on a fresh model failed")
	}
	done := make(chan error)
	go func() { done <- m.Close() }()
	// The in-flight request can still use the snapshot while Close waits.
	if _, err := m.similarItems(context.Background(), SimilarRequest{ItemID: "a", N: 2}, nil, false); err != nil {
		t.Errorf("request in flight during Close: %v", err)
	}
	m.release()
	if err := <-done; err != nil {
		t.Fatalf("Close: %v", err)
	}
	if got := f.closes.Load(); got != 1 {
		t.Errorf("snapshot closed %d times, want 1", got)
	}
	if err := m.Close(); err != nil || f.closes.Load() != 1 {
		t.Errorf("second Close = %v, snapshot closes %d; want nil, 1", err, f.closes.Load())
	}
	_, err = m.Recommend(context.Background(), RecommendRequest{UserID: "u1", N: 1})
	if !errors.Is(err, ErrUnavailable) {
		t.Errorf("Recommend after Close: err = %v, want %v", err, ErrUnavailable)
	}
	if n := f.callsAfterDone.Load(); n != 0 {
		t.Errorf("%d snapshot calls after Close", n)
	}
}

func TestSourceString(t *testing.T) {
	for s, want := range map[Source]string{
		SourceFactors: "factors", SourceCoOccurrence: "co_occurrence", SourcePopularity: "popularity", 0: "Source(0)",
	} {
		if got := s.String(); got != want {
			t.Errorf("Source(%d).String() = %q, want %q", int8(s), got, want)
		}
	}
}
