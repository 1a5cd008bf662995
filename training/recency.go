package training

import (
	"fmt"
	"math"
	"time"
)

// RecencyOptions say how the popularity list of a snapshot counts time and
// how much of it a known user's ranking gets. The zero value is the
// all-time list (distinct users) and no share: what polecam served before
// the options existed.
type RecencyOptions struct {
	// HalfLifeHours, when positive, counts each (user, item) pair of the
	// popularity list with weight 0.5^(age/HalfLife), its age the time
	// from the pair's latest event to the newest event of the matrix
	// (RecentPopularity): "popular now", what a shop whose catalogue moves
	// shows a visitor it does not know. 0 counts every pair once, however
	// old.
	HalfLifeHours float64 `json:"half_life_hours,omitempty"`
	// Weight is the share of the popularity list in a known user's
	// ranking: Weight·p_i/max(p) is added to the blend of the factor and
	// item-item scores (each scaled so that the user's best candidate is
	// 1, see Blend), so that items selling now rise among those the user's
	// history points to. It is served with an item-item model only (the
	// factors-only scan does not add it). 0: none.
	Weight float32 `json:"weight,omitempty"`
}

// maxRecencyWeight bounds RecencyOptions.Weight: far above it the list
// would rank everyone alike.
const maxRecencyWeight = 100

// HalfLife returns HalfLifeHours as a duration.
func (o RecencyOptions) HalfLife() time.Duration {
	return time.Duration(o.HalfLifeHours * float64(time.Hour))
}

// Validate reports whether the options can be used.
func (o RecencyOptions) Validate() error {
	switch {
	case math.IsNaN(o.HalfLifeHours) || math.IsInf(o.HalfLifeHours, 0) || o.HalfLifeHours < 0 || o.HalfLifeHours > 1e6:
		return fmt.Errorf("recency options: half-life %v hours, want 0 (all time) to 1e6", o.HalfLifeHours)
	case !(o.Weight >= 0 && o.Weight <= maxRecencyWeight):
		return fmt.Errorf("recency options: weight %v, want 0 to %d", o.Weight, maxRecencyWeight)
	}
	return nil
}

// String formats the options as Recipe.String does.
func (o RecencyOptions) String() string {
	return fmt.Sprintf("popularity half_life_hours=%g recency_weight=%g", o.HalfLifeHours, o.Weight)
}

// HasTimes reports whether x records its pairs' event times (EventTimes),
// which RecentPopularity needs.
func (x *Interactions) HasTimes() bool {
	return len(x.EventKinds) > 0 && len(x.EventTimes) == len(x.UserItems)*len(x.EventKinds)
}

// RecentPopularity returns, for every item, the number of its users
// counted by recency: each pair weighs 0.5^(age/halfLife), age being the
// time from the pair's latest event (of any kind) to the newest event of
// x. With halfLife ≤ 0, or when x records no times (HasTimes), it is
// Popularity(x); a pair without a time in a matrix that has them (an event
// logged without a type or time) counts 1, as if it were new.
func RecentPopularity(x *Interactions, halfLife time.Duration) []float32 {
	if halfLife <= 0 || !x.HasTimes() {
		return Popularity(x)
	}
	nk := len(x.EventKinds)
	var newest uint32
	for _, t := range x.EventTimes {
		newest = max(newest, t)
	}
	hl := halfLife.Seconds()
	p := make([]float64, x.NumItems())
	for k, i := range x.UserItems {
		var t uint32
		for _, s := range x.EventTimes[k*nk : (k+1)*nk] {
			t = max(t, s)
		}
		w := 1.0
		if t > 0 {
			w = math.Exp2(-float64(newest-t) / hl)
		}
		p[i] += w
	}
	out := make([]float32, len(p))
	for i, v := range p {
		out[i] = float32(v)
	}
	return out
}

// RecencyScorer returns score with weight·pop[i]/max(pop) added to every
// finite score, as the server adds the popularity list to a known user's
// blended ranking (RecencyOptions.Weight). weight 0 or a list without a
// positive entry returns score itself.
func RecencyScorer(score func(u int32, dst []float32), pop []float32, weight float32) func(u int32, dst []float32) {
	c := recencyScale(pop, weight)
	if c == 0 {
		return score
	}
	return func(u int32, dst []float32) {
		score(u, dst)
		for i, v := range dst {
			if isFinite(v) {
				dst[i] = v + c*pop[i]
			}
		}
	}
}

// recencyScale is the factor of the popularity list in a known user's
// score: weight/max(pop), 0 when weight is 0 or no entry is positive.
// (The server computes the same from the snapshot's list when it loads
// the item-item model; TestWriteItemItemServes checks that they agree.)
func recencyScale(pop []float32, weight float32) float32 {
	var m float32
	for _, v := range pop {
		m = max(m, v)
	}
	if !(m > 0) || weight == 0 {
		return 0
	}
	return weight / m
}
