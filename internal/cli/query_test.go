package cli

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/google/go-cmp/cmp"

	polecamv1 "github.com/polecam/polecam/api/polecam/v1"
	"github.com/polecam/polecam/training/eventlog"
)

// shopRow is one row of a generated catalogue.
type shopRow struct {
	category, brand, price string
	inStock                bool
}

// readShopCatalog reads a catalogue written by gen.
func readShopCatalog(t *testing.T, file string) map[string]shopRow {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]shopRow{}
	for _, r := range recs[1:] {
		out[r[0]] = shopRow{category: r[1], brand: r[2], price: r[3], inStock: r[4] == "true"}
	}
	return out
}

// serveQueries generates a shop log with its catalogue, trains on both
// and serves the snapshot on a loopback port; it returns a client, the
// catalogue and the log file.
func serveQueries(t *testing.T) (polecamv1.RecommendationServiceClient, map[string]shopRow, string) {
	t.Helper()
	return serveQueriesWith(t, func(*ServeOptions) {})
}

// serveQueriesWith is serveQueries with the serve options modified.
func serveQueriesWith(t *testing.T, modify func(*ServeOptions)) (polecamv1.RecommendationServiceClient, map[string]shopRow, string) {
	t.Helper()
	tmp := t.TempDir()
	logFile := filepath.Join(tmp, "events.csv.gz")
	dataDir := filepath.Join(tmp, "data")
	run(t, "gen", "--out", logFile, "--users", "600", "--items", "400", "--events", "60000", "--seed", "5")
	catFile := CatalogBeside(logFile)
	run(t, "train", "--log-level", "warn", "--data-dir", dataDir, "--events", logFile, "--catalog", catFile,
		"--factors", "16", "--iterations", "6", "--no-gate")
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	opts := DefaultServeOptions()
	opts.DataDir = dataDir
	opts.MetricsAddr = "127.0.0.1:0"
	opts.Server.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	modify(&opts)
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- Serve(ctx, lis, opts) }()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		cancel()
		if err := <-served; err != nil {
			t.Errorf("Serve() = %v, want nil after cancel", err)
		}
	})
	waitServing(t, healthpb.NewHealthClient(conn))
	return polecamv1.NewRecommendationServiceClient(conn), readShopCatalog(t, catFile), logFile
}

func ids(items []*polecamv1.ScoredItem) []string {
	var out []string
	for _, it := range items {
		out = append(out, it.GetItemId())
	}
	return out
}

func under(cat, c string) bool { return cat == c || strings.HasPrefix(cat, c+"/") }

// TestQueriesEndToEnd drives every RPC of the query path through a real
// gRPC client against a server answering from a snapshot trained on a
// generated shop log and its catalogue.
func TestQueriesEndToEnd(t *testing.T) {
	c, cat, logFile := serveQueries(t)
	ctx := context.Background()
	seen, items := history(t, logFile)
	var users []string
	for u := range seen {
		users = append(users, u)
	}
	slices.Sort(users)
	users = users[:40]
	var outOfStock []string
	for id, r := range cat {
		if !r.inStock {
			outOfStock = append(outOfStock, id)
		}
	}
	if len(outOfStock) == 0 {
		t.Fatal("the generated catalogue has no out-of-stock item")
	}
	noneOutOfStock := func(call string, got []*polecamv1.ScoredItem) {
		t.Helper()
		for _, it := range got {
			if slices.Contains(outOfStock, it.GetItemId()) {
				t.Errorf("%s returned out-of-stock item %s", call, it.GetItemId())
			}
		}
	}

	t.Run("out of stock is never recommended", func(t *testing.T) {
		for _, u := range users {
			res, err := c.Recommend(ctx, &polecamv1.RecommendRequest{UserId: u, N: 100})
			if err != nil {
				t.Fatal(err)
			}
			noneOutOfStock("Recommend", res.GetItems())
		}
		tr, err := c.Trending(ctx, &polecamv1.TrendingRequest{N: 400})
		if err != nil {
			t.Fatal(err)
		}
		noneOutOfStock("Trending", tr.GetItems())
		if len(tr.GetItems()) == 0 || tr.GetItems()[0].GetSource() != polecamv1.ItemSource_ITEM_SOURCE_TRENDING {
			t.Errorf("Trending first item %v, want the trending list", tr.GetItems())
		}
		sim, err := c.SimilarItems(ctx, &polecamv1.SimilarItemsRequest{ItemId: items[0], N: 100})
		if err != nil {
			t.Fatal(err)
		}
		noneOutOfStock("SimilarItems", sim.GetItems())
	})

	t.Run("filters and pages", func(t *testing.T) {
		lo, hi := 10.0, 40.0
		filters := []*polecamv1.ItemFilter{
			{Categories: []string{"books"}},
			{Categories: []string{"books/fiction", "electronics"}, ExcludeCategories: []string{"electronics/laptops"}},
			{Attributes: []*polecamv1.AttributeCondition{{Name: "price", Condition: &polecamv1.AttributeCondition_Range{Range: &polecamv1.Range{Min: &lo, Max: &hi}}}}},
			{Attributes: []*polecamv1.AttributeCondition{{Name: "brand", Condition: &polecamv1.AttributeCondition_AnyOf{AnyOf: &polecamv1.StringList{Values: []string{"brand-1", "brand-2"}}}}}},
			{Attributes: []*polecamv1.AttributeCondition{{Name: "brand", Condition: &polecamv1.AttributeCondition_NotEquals{NotEquals: "brand-1"}}}},
			// Lists intersected: a range with a category and a brand.
			{Categories: []string{"books", "electronics"}, Attributes: []*polecamv1.AttributeCondition{
				{Name: "price", Condition: &polecamv1.AttributeCondition_Range{Range: &polecamv1.Range{Min: &lo, Max: &hi}}},
				{Name: "brand", Condition: &polecamv1.AttributeCondition_AnyOf{AnyOf: &polecamv1.StringList{Values: []string{"brand-1", "brand-2", "brand-3"}}}}}},
		}
		passes := func(f *polecamv1.ItemFilter, r shopRow) bool {
			if len(f.GetCategories()) > 0 && !slices.ContainsFunc(f.GetCategories(), func(c string) bool { return under(r.category, c) }) {
				return false
			}
			if slices.ContainsFunc(f.GetExcludeCategories(), func(c string) bool { return under(r.category, c) }) {
				return false
			}
			for _, a := range f.GetAttributes() {
				v := map[string]string{"brand": r.brand, "price": r.price}[a.GetName()]
				switch x := a.GetCondition().(type) {
				case *polecamv1.AttributeCondition_Range:
					var p float64
					fmt.Sscan(v, &p)
					if p < x.Range.GetMin() || p > x.Range.GetMax() {
						return false
					}
				case *polecamv1.AttributeCondition_AnyOf:
					if !slices.Contains(x.AnyOf.GetValues(), v) {
						return false
					}
				case *polecamv1.AttributeCondition_NotEquals:
					if v == x.NotEquals {
						return false
					}
				}
			}
			return r.inStock
		}
		for fi, f := range filters {
			for _, u := range users[:5] {
				one, err := c.Recommend(ctx, &polecamv1.RecommendRequest{UserId: u, N: 30, Filter: f})
				if err != nil {
					t.Fatal(err)
				}
				avail := 0
				for id, r := range cat {
					if passes(f, r) && !seen[u][id] {
						avail++
					}
				}
				if want := min(30, avail); len(one.GetItems()) != want {
					t.Errorf("filter %d user %s: %d items, want %d (of %d passing and unseen)", fi, u, len(one.GetItems()), want, avail)
				}
				// Every passing item can be reached.
				every, err := c.Recommend(ctx, &polecamv1.RecommendRequest{UserId: u, N: 1000, Filter: f})
				if err != nil {
					t.Fatal(err)
				}
				if len(every.GetItems()) != avail || !every.GetExhausted() {
					t.Errorf("filter %d user %s: n=1000 gives %d items (exhausted %v), want all %d passing and unseen", fi, u, len(every.GetItems()), every.GetExhausted(), avail)
				}
				var paged []string
				tok := ""
				for page := range 3 {
					res, err := c.Recommend(ctx, &polecamv1.RecommendRequest{UserId: u, N: 10, Filter: f, PageToken: tok, ReturnAttributes: []string{"category"}})
					if err != nil {
						t.Fatalf("filter %d page %d: %v", fi, page+1, err)
					}
					for _, it := range res.GetItems() {
						if !passes(f, cat[it.GetItemId()]) {
							t.Errorf("filter %d page %d: %s (%+v) fails the filter", fi, page+1, it.GetItemId(), cat[it.GetItemId()])
						}
						if got := it.GetAttributes()["category"]; got != cat[it.GetItemId()].category {
							t.Errorf("%s attributes[category] = %q, want %q", it.GetItemId(), got, cat[it.GetItemId()].category)
						}
					}
					paged = append(paged, ids(res.GetItems())...)
					if tok = res.GetNextPageToken(); tok == "" {
						break
					}
				}
				if want := ids(one.GetItems()); !slices.Equal(paged, want) {
					t.Errorf("filter %d user %s: 3 pages of 10 = %q, one request for 30 = %q", fi, u, paged, want)
				}
			}
		}
		_, err := c.Recommend(ctx, &polecamv1.RecommendRequest{UserId: users[0], N: 5, Filter: &polecamv1.ItemFilter{
			Attributes: []*polecamv1.AttributeCondition{{Name: "colour", Condition: &polecamv1.AttributeCondition_Equals{Equals: "red"}}}}})
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(status.Convert(err).Message(), `"colour"`) {
			t.Errorf("unknown attribute: error = %v, want INVALID_ARGUMENT naming colour", err)
		}
		_, err = c.Recommend(ctx, &polecamv1.RecommendRequest{UserId: users[0], N: 5, PageToken: "not-a-token"})
		if status.Code(err) != codes.InvalidArgument {
			t.Errorf("bad page token: error = %v, want INVALID_ARGUMENT", err)
		}
	})

	t.Run("a visitor's session makes the answer personal", func(t *testing.T) {
		// Three clicks in one sub-category: the visitor should mostly get
		// it and what its buyers bought with it.
		target := "books/fiction"
		var clicks []string
		for _, id := range items {
			if cat[id].category == target && cat[id].inStock && len(clicks) < 3 {
				clicks = append(clicks, id)
			}
		}
		bought := coPurchased(t, logFile, clicks)
		res, err := c.Recommend(ctx, &polecamv1.RecommendRequest{UserId: "visitor-x", N: 10, RecentItemIds: clicks, Explain: true})
		if err != nil {
			t.Fatal(err)
		}
		if res.GetFallback() {
			t.Fatal("visitor with three clicks: fallback = true, want a personal answer")
		}
		related := 0
		for _, it := range res.GetItems() {
			if slices.Contains(clicks, it.GetItemId()) {
				t.Errorf("session item %s returned", it.GetItemId())
			}
			if under(cat[it.GetItemId()].category, strings.Split(target, "/")[0]) || bought[it.GetItemId()] {
				related++
			}
			if b := it.GetBecauseItemIds(); len(b) == 0 || !slices.Contains(clicks, b[0]) {
				t.Errorf("%s because %q, want a session item", it.GetItemId(), b)
			}
		}
		if related < 6 {
			t.Errorf("visitor with three %s clicks: %d of 10 in its department or bought with the clicks, want most: %q", target, related, ids(res.GetItems()))
		}
		anon, err := c.Recommend(ctx, &polecamv1.RecommendRequest{UserId: "visitor-y", N: 10})
		if err != nil || !anon.GetFallback() {
			t.Errorf("visitor without a session: %v, fallback %v; want popular items", err, anon.GetFallback())
		}
	})

	t.Run("rank keeps Recommend's order", func(t *testing.T) {
		for _, u := range users[:10] {
			rec, err := c.Recommend(ctx, &polecamv1.RecommendRequest{UserId: u, N: 100})
			if err != nil {
				t.Fatal(err)
			}
			cands := ids(rec.GetItems())
			slices.Reverse(cands)
			got, err := c.Rank(ctx, &polecamv1.RankRequest{UserId: u, CandidateItemIds: append(cands, "no-such-sku")})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(rec.GetItems(), got.GetItems(), protocmp.Transform()); diff != "" {
				t.Errorf("Rank(%s, Recommend's top 100) (-recommend +rank):\n%s", u, diff)
			}
			if !slices.Equal(got.GetUnknownItemIds(), []string{"no-such-sku"}) {
				t.Errorf("Rank unknown = %q", got.GetUnknownItemIds())
			}
		}
	})

	t.Run("baskets", func(t *testing.T) {
		for k := range 10 {
			basket := []string{items[k*3], items[k*3+1]}
			res, err := c.RecommendForBasket(ctx, &polecamv1.RecommendForBasketRequest{ItemIds: basket, N: 10})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.GetItems()) != 10 {
				t.Errorf("basket %q: %d items", basket, len(res.GetItems()))
			}
			noneOutOfStock("RecommendForBasket", res.GetItems())
			for _, it := range res.GetItems() {
				if slices.Contains(basket, it.GetItemId()) {
					t.Errorf("basket %q: answer holds %s", basket, it.GetItemId())
				}
				if it.GetSource() != polecamv1.ItemSource_ITEM_SOURCE_POPULARITY && !slices.Contains(basket, it.GetBecauseItemIds()[0]) {
					t.Errorf("basket %q: %s because %q", basket, it.GetItemId(), it.GetBecauseItemIds())
				}
			}
			if k == 0 && res.GetItems()[0].GetSource() != polecamv1.ItemSource_ITEM_SOURCE_BASKET {
				t.Errorf("basket %q: first item from %v, want the basket co-occurrence", basket, res.GetItems()[0].GetSource())
			}
		}
	})

	t.Run("batch answers as unary calls do", func(t *testing.T) {
		stream, err := c.BatchRecommend(ctx)
		if err != nil {
			t.Fatal(err)
		}
		reqs := make([]*polecamv1.RecommendRequest, 0, len(users)+1)
		for _, u := range users {
			reqs = append(reqs, &polecamv1.RecommendRequest{UserId: u, N: 5})
		}
		reqs = append(reqs, &polecamv1.RecommendRequest{UserId: "", N: 5})
		go func() {
			for i, r := range reqs {
				if stream.Send(&polecamv1.BatchRecommendRequest{RequestId: fmt.Sprint(i), Request: r}) != nil {
					return
				}
			}
			stream.CloseSend()
		}()
		for i, r := range reqs {
			got, err := stream.Recv()
			if err != nil {
				t.Fatal(err)
			}
			want, werr := c.Recommend(ctx, r)
			if werr != nil {
				if got.GetError().GetCode() != int32(status.Code(werr)) {
					t.Errorf("entry %d: error %v, unary %v", i, got.GetError(), werr)
				}
				continue
			}
			if !proto.Equal(want, got.GetResponse()) {
				t.Errorf("entry %d: batch %v, unary %v", i, got.GetResponse(), want)
			}
		}
		if _, err := stream.Recv(); !errors.Is(err, io.EOF) {
			t.Errorf("after the batch: %v, want EOF", err)
		}
	})
}

// coPurchased returns the items put in a cart or bought by the users who
// put in a cart or bought one of items.
func coPurchased(t *testing.T, logFile string, items []string) map[string]bool {
	t.Helper()
	baskets := map[string][]string{}
	_, err := eventlog.Read(context.Background(), []string{logFile}, eventlog.DefaultOptions(), func(e eventlog.Event) error {
		if e.Type != "view" {
			baskets[e.User] = append(baskets[e.User], e.Item)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, b := range baskets {
		if slices.ContainsFunc(b, func(i string) bool { return slices.Contains(items, i) }) {
			for _, i := range b {
				out[i] = true
			}
		}
	}
	return out
}

// TestRulesEndToEnd serves with a rules file, checks a pin and a
// diversity cap through gRPC with explain, then rewrites the file and
// waits for the server to apply the new rules without a restart.
func TestRulesEndToEnd(t *testing.T) {
	rulesFile := filepath.Join(t.TempDir(), "rules.yaml")
	write := func(pinned string) {
		t.Helper()
		body := "rules:\n" +
			"  - name: pin-campaign\n    scope: [recommend]\n    pin: [{item: " + pinned + ", slot: 1}]\n" +
			"  - name: two-per-department\n    diversity: {depth: 1, max: 2}\n"
		if err := os.WriteFile(rulesFile, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// The first run only learns the catalogue's items.
	first := ""
	write("sku-000")
	c, cat, logFile := serveQueriesWith(t, func(o *ServeOptions) {
		o.RulesFile = rulesFile
		o.PollInterval = 20 * time.Millisecond
	})
	_, items := history(t, logFile)
	for _, id := range items {
		if cat[id].inStock {
			if first == "" {
				first = id
			} else {
				write(first) // pin the first in-stock item
				break
			}
		}
	}
	ctx := context.Background()
	dept := func(id string) string { return strings.Split(cat[id].category, "/")[0] }
	waitPinned := func(pinned string) *polecamv1.RecommendResponse {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			res, err := c.Recommend(ctx, &polecamv1.RecommendRequest{UserId: "visitor-rules", N: 8, Explain: true})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.GetItems()) > 0 && res.GetItems()[0].GetItemId() == pinned {
				return res
			}
			if time.Now().After(deadline) {
				t.Fatalf("slot 1 is %q after 10 s, want the pinned %s", ids(res.GetItems()), pinned)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	res := waitPinned(first)
	if !slices.Contains(res.GetItems()[0].GetRules(), "pin-campaign") {
		t.Errorf("pinned item rules %q, want pin-campaign", res.GetItems()[0].GetRules())
	}
	per := map[string]int{}
	for _, it := range res.GetItems() {
		if per[dept(it.GetItemId())]++; per[dept(it.GetItemId())] > 2 {
			t.Errorf("a third item of %s in %q", dept(it.GetItemId()), ids(res.GetItems()))
		}
	}
	// Rank applies the rules of its scope (the cap has none, so it
	// applies everywhere) and still returns every candidate.
	cands := slices.Clone(items[:min(40, len(items))])
	rk, err := c.Rank(ctx, &polecamv1.RankRequest{UserId: "visitor-rules", CandidateItemIds: cands, Explain: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(rk.GetItems()); len(got) != len(cands) {
		t.Errorf("Rank of %d candidates under rules returned %d", len(cands), len(got))
	}
	per = map[string]int{}
	for _, it := range rk.GetItems()[:4] {
		if per[dept(it.GetItemId())]++; per[dept(it.GetItemId())] > 2 {
			t.Errorf("Rank: a third item of %s in the top 4 %q", dept(it.GetItemId()), ids(rk.GetItems()[:4]))
		}
	}
	// A new file is applied without a restart; a broken one keeps it.
	second := ""
	for _, id := range items[len(items)/2:] {
		if cat[id].inStock {
			second = id
			break
		}
	}
	write(second)
	waitPinned(second)
	if err := os.WriteFile(rulesFile, []byte("rules: [{name: x, boost: {multiplier: -1}}]"), 0o644); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	waitPinned(second)
}
