package recommender

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// userSet is a Forgotten backed by a map.
type userSet map[string]bool

func (s userSet) Has(id string) bool { return s[id] }

// TestForgottenServedAsUnknown checks that a forgotten user gets exactly
// what a visitor the model has never seen gets, on both backends, and that
// the others are unaffected.
func TestForgottenServedAsUnknown(t *testing.T) {
	ctx := context.Background()
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			m := newTestModel(t, be.open, smallData())
			r := New()
			r.Swap(m)
			defer r.Swap(nil)
			r.SetForgotten(userSet{"u1": true})

			tests := []struct {
				name      string
				req       RecommendRequest
				asUnknown bool
			}{
				{"forgotten", RecommendRequest{UserID: "u1", N: 3}, true},
				{"forgotten with exclusions", RecommendRequest{UserID: "u1", N: 3, Exclude: []string{"c", "zz"}}, true},
				{"forgotten include seen", RecommendRequest{UserID: "u1", N: 6, IncludeSeen: true}, true},
				{"remembered", RecommendRequest{UserID: "u2", N: 3}, false},
			}
			for _, tt := range tests {
				got, err := r.Recommend(ctx, tt.req)
				if err != nil {
					t.Fatalf("%s: Recommend(%q) error = %v", tt.name, tt.req.UserID, err)
				}
				ref := tt.req
				if tt.asUnknown {
					ref.UserID = "never-seen-visitor"
				}
				want, err := m.Recommend(ctx, ref)
				if err != nil {
					t.Fatalf("%s: Model.Recommend(%q) error = %v", tt.name, ref.UserID, err)
				}
				// Page tokens name the request, so they differ.
				want.NextPageToken, got.NextPageToken = "", ""
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("%s: Recommend(%q) mismatch (-want +got):\n%s", tt.name, tt.req.UserID, diff)
				}
				if tt.asUnknown && !got.Fallback {
					t.Errorf("%s: Recommend(%q).Fallback = false, want true", tt.name, tt.req.UserID)
				}
			}

			// Personal answers come back once the tombstone set is cleared.
			personal, err := m.Recommend(ctx, RecommendRequest{UserID: "u1", N: 3})
			if err != nil {
				t.Fatal(err)
			}
			r.SetForgotten(nil)
			got, err := r.Recommend(ctx, RecommendRequest{UserID: "u1", N: 3})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(personal, got); diff != "" {
				t.Errorf("Recommend(u1) after SetForgotten(nil) mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestForgottenStillValidates(t *testing.T) {
	r := New()
	r.Swap(newTestModel(t, openFake, smallData()))
	defer r.Swap(nil)
	r.SetForgotten(userSet{"u1": true})
	for _, n := range []int{0, MaxN + 1} {
		if _, err := r.Recommend(context.Background(), RecommendRequest{UserID: "u1", N: n}); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("Recommend(u1, n=%d) error = %v, want %v", n, err, ErrInvalidArgument)
		}
	}
}

// TestForgottenEveryQuery checks that a forgotten user's vector and
// history reach none of the other queries: SimilarItems, baskets and
// Rank answer them as a visitor the model does not know.
func TestForgottenEveryQuery(t *testing.T) {
	ctx := context.Background()
	d := randomData(2000, 8)
	m := newTestModel(t, openFake, d)
	r := New()
	r.Swap(m)
	defer r.Swap(nil)
	user := d.users[5]
	r.SetForgotten(userSet{user: true})
	sim := func(u string) SimilarRequest { return SimilarRequest{ItemID: d.items[3], N: 20, UserID: u} }
	bas := func(u string) BasketRequest { return BasketRequest{Items: []string{d.items[3]}, N: 20, UserID: u} }
	rank := func(u string) RankRequest {
		return RankRequest{UserID: u, Recent: []string{d.items[9]}, Candidates: []string{d.items[1], d.items[2], d.items[40]}}
	}
	for name, pair := range map[string]func(string) (Result, error){
		"SimilarItems":       func(u string) (Result, error) { return r.SimilarItems(ctx, sim(u)) },
		"RecommendForBasket": func(u string) (Result, error) { return r.RecommendForBasket(ctx, bas(u)) },
		"Rank": func(u string) (Result, error) {
			res, err := r.Rank(ctx, rank(u))
			return res.Result, err
		},
	} {
		got, err := pair(user)
		if err != nil {
			t.Fatal(err)
		}
		want, err := pair("never-seen-visitor")
		if err != nil {
			t.Fatal(err)
		}
		got.NextPageToken, want.NextPageToken = "", ""
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s for a forgotten user differs from a visitor's (-visitor +forgotten):\n%s", name, diff)
		}
	}
}
