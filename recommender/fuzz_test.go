package recommender

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// tier is the order in which sources appear in an answer.
var tier = map[Source]int{SourceCoOccurrence: 0, SourceFactors: 1, SourcePopularity: 2}

// checkResult verifies what must hold for any answer: at most n items, no
// duplicates, nothing excluded, a known source on every item, and within
// each source scores never increasing,
// and the sources in tier order.
func checkResult(t *testing.T, call string, res Result, n int, exclude []string) {
	t.Helper()
	if len(res.Items) > n {
		t.Errorf("%s returned %d items, want at most %d", call, len(res.Items), n)
	}
	excluded := make(map[string]bool)
	for _, id := range exclude {
		excluded[id] = true
	}
	seen := make(map[string]bool)
	for k, it := range res.Items {
		if seen[it.ID] || excluded[it.ID] {
			t.Errorf("%s item %d = %q: duplicate or excluded", call, k, it.ID)
		}
		seen[it.ID] = true
		if it.Source < SourceFactors || it.Source > SourcePopularity {
			t.Errorf("%s item %d has source %v", call, k, it.Source)
		}
		if k > 0 {
			prev := res.Items[k-1]
			if prev.Source == it.Source && prev.Score < it.Score {
				t.Errorf("%s items %d, %d of source %v not ordered: %v < %v", call, k-1, k, it.Source, prev.Score, it.Score)
			}
			if tier[prev.Source] > tier[it.Source] {
				t.Errorf("%s item %d of source %v follows source %v", call, k, it.Source, prev.Source)
			}
		}
	}
}

// FuzzRequests sends arbitrary request fields, as a client could, to the
// small model. Requests must either fail with one of the package's errors
// or return a well-formed answer; nothing may panic.
func FuzzRequests(f *testing.F) {
	f.Add("u1", 3, "b,zzz", false, "a")
	f.Add("", 0, "", true, "")
	f.Add("stranger", 1000, "a,b,c,d,e,f", false, "e")
	f.Add("u2", -1, ",,", true, "f")
	f.Add("u0", 1001, "c", false, "nope")
	m := newTestModel(f, openFake, smallData())
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, user string, n int, exclude string, includeSeen bool, item string) {
		var excl []string
		if exclude != "" {
			excl = strings.Split(exclude, ",")
		}
		res, err := m.Recommend(ctx, RecommendRequest{UserID: user, N: n, Exclude: excl, IncludeSeen: includeSeen})
		if err != nil {
			if !errors.Is(err, ErrInvalidArgument) {
				t.Fatalf("Recommend(%q, n=%d) error %v is not ErrInvalidArgument", user, n, err)
			}
		} else {
			checkResult(t, "Recommend", res, n, excl)
		}
		res, err = m.SimilarItems(ctx, SimilarRequest{ItemID: item, N: n, Exclude: excl})
		if err != nil {
			if !errors.Is(err, ErrInvalidArgument) && !errors.Is(err, ErrNotFound) {
				t.Fatalf("SimilarItems(%q, n=%d) error %v is neither ErrInvalidArgument nor ErrNotFound", item, n, err)
			}
		} else {
			checkResult(t, "SimilarItems", res, n, append(excl, item))
		}
	})
}
