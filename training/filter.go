package training

// Filter returns the matrix without the users who interacted with fewer
// than minUserItems distinct items and the items that fewer than
// minItemUsers distinct users interacted with. Removing items can take a
// user below the limit and the other way round, so Filter repeats until
// every remaining user and item meets its limit (the "k-core" of the
// matrix); the result may be empty. Limits of 0 or less keep everything on
// their side; a limit of 1 removes users or items without entries.
//
// Users and items keep their relative order and get new dense indexes.
// Filter returns x itself when nothing is removed.
func (x *Interactions) Filter(minUserItems, minItemUsers int) *Interactions {
	nu, ni := x.NumUsers(), x.NumItems()
	keepU := make([]bool, nu)
	keepI := make([]bool, ni)
	for u := range keepU {
		keepU[u] = true
	}
	for i := range keepI {
		keepI[i] = true
	}
	removed := false
	for changed := true; changed; {
		changed = false
		if minUserItems > 0 {
			for u := range nu {
				if !keepU[u] {
					continue
				}
				n := 0
				for _, i := range x.UserItems[x.UserPtr[u]:x.UserPtr[u+1]] {
					if keepI[i] {
						n++
					}
				}
				if n < minUserItems {
					keepU[u], changed = false, true
				}
			}
		}
		if minItemUsers > 0 {
			for i := range ni {
				if !keepI[i] {
					continue
				}
				n := 0
				for _, u := range x.ItemUsers[x.ItemPtr[i]:x.ItemPtr[i+1]] {
					if keepU[u] {
						n++
					}
				}
				if n < minItemUsers {
					keepI[i], changed = false, true
				}
			}
		}
		removed = removed || changed
	}
	if !removed {
		return x
	}

	newItem := make([]int32, ni)
	var items []string
	for i := range ni {
		newItem[i] = -1
		if keepI[i] {
			newItem[i] = int32(len(items))
			items = append(items, x.Items[i])
		}
	}
	var users []string
	ptr := []int64{0}
	var cols []int32
	var ws []float32
	var times []uint32
	nk := len(x.EventKinds)
	for u := range nu {
		if !keepU[u] {
			continue
		}
		users = append(users, x.Users[u])
		for k := x.UserPtr[u]; k < x.UserPtr[u+1]; k++ {
			if j := newItem[x.UserItems[k]]; j >= 0 {
				cols = append(cols, j) // increasing: the renumbering keeps order
				ws = append(ws, x.UserWeights[k])
				if nk > 0 {
					times = append(times, x.EventTimes[int(k)*nk:int(k+1)*nk]...)
				}
			}
		}
		ptr = append(ptr, int64(len(cols)))
	}
	f := fromCSR(users, items, nil, ptr, cols, ws)
	if nk > 0 {
		f.EventKinds, f.EventTimes = x.EventKinds, times
		if f.EventTimes == nil {
			f.EventTimes = []uint32{}
		}
	}
	return f
}

// Scale multiplies every summed weight added so far by f. It lets a caller
// that weighs events by time (such as an exponential decay relative to the
// newest event, which is known only at the end) keep the sums within
// float32 range by moving its reference time.
func (b *Builder) Scale(f float32) {
	for k, w := range b.pairs {
		b.pairs[k] = w * f
	}
}
