package rules

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"
)

// benchItems is a synthetic catalogue of n items in 10 departments × 10
// categories, with a brand and a price.
func benchItems(n int) *fakeItems {
	f := &fakeItems{}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range n {
		f.ids = append(f.ids, "sku-"+strconv.Itoa(i))
		f.cats = append(f.cats, fmt.Sprintf("d%d/c%d", rng.IntN(10), rng.IntN(10)))
		f.attrs = append(f.attrs, map[string]string{
			"brand": "b" + strconv.Itoa(rng.IntN(50)),
			"price": strconv.Itoa(rng.IntN(500)),
		})
	}
	return f
}

const benchRules = `rules:
- {name: b1, boost: {multiplier: 1.5, match: {attributes: [{name: brand, any_of: [b1, b2, b3]}]}}}
- {name: b2, boost: {multiplier: 0.5, match: {categories: [d1, d2/c3]}}}
- {name: b3, boost: {multiplier: 1.2, match: {attributes: [{name: price, range: {max: 50}}]}}}
- {name: p, pin: [{item: sku-7, slot: 1}, {item: sku-99, slot: 5}]}
- {name: cap, diversity: {depth: 1, max: 3}}
- {name: x1, exclude: {events: [purchase], match: {categories: d5}, for: 14d}}
- {name: x2, exclude: {events: [purchase], for: forever}}
- {name: x3, exclude: {events: [view], for: 7d}}
`

func BenchmarkCompile(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		items := benchItems(n)
		f, err := Parse("bench.yaml", []byte(benchRules))
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("items=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Compile(f, items)
			}
		})
	}
}

func BenchmarkApply(b *testing.B) {
	items := benchItems(100_000)
	r := mustCompile(b, benchRules, items)
	rng := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{10, 100} {
		m := r.Candidates(ScopeRecommend, n)
		cands := make([]Candidate, m)
		for i := range cands {
			cands[i] = Candidate{Row: int32((i*7919 + rng.IntN(7)) % 100_000), Score: float32(m - i), Source: int8(1 + i*2/m)}
		}
		var hist fakeHistory
		for i := range 20 {
			ev := "view"
			if i%4 == 0 {
				ev = "purchase"
			}
			hist = append(hist, event{cands[(i*3)%m].Row, ev, now.Add(-time.Duration(i) * 24 * time.Hour)})
		}
		req := ApplyRequest{N: n, Candidates: cands, History: hist, Now: now, Eligible: func(int32) bool { return true }}
		b.Run(fmt.Sprintf("n=%d/candidates=%d", n, m), func(b *testing.B) {
			var out Output
			b.ReportAllocs()
			for b.Loop() {
				if err := r.Apply(req, &out); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
