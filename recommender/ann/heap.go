package ann

import "slices"

// cand is a node and its similarity to the query.
type cand struct {
	sim float32
	id  uint32
}

// maxHeap pops the most similar candidate first.
type maxHeap []cand

func (h *maxHeap) push(c cand) {
	*h = append(*h, c)
	a := *h
	i := len(a) - 1
	for i > 0 {
		p := (i - 1) / 2
		if a[p].sim >= a[i].sim {
			break
		}
		a[p], a[i] = a[i], a[p]
		i = p
	}
}

func (h *maxHeap) pop() cand {
	a := *h
	top := a[0]
	n := len(a) - 1
	a[0] = a[n]
	a = a[:n]
	*h = a
	i := 0
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		c := l
		if r := l + 1; r < n && a[r].sim > a[l].sim {
			c = r
		}
		if a[i].sim >= a[c].sim {
			break
		}
		a[i], a[c] = a[c], a[i]
		i = c
	}
	return top
}

// minHeap pops the least similar candidate first; it holds the best ef
// results found so far, its top the worst of them.
type minHeap []cand

func (h *minHeap) push(c cand) {
	*h = append(*h, c)
	a := *h
	i := len(a) - 1
	for i > 0 {
		p := (i - 1) / 2
		if a[p].sim <= a[i].sim {
			break
		}
		a[p], a[i] = a[i], a[p]
		i = p
	}
}

func (h *minHeap) pop() cand {
	a := *h
	top := a[0]
	n := len(a) - 1
	a[0] = a[n]
	a = a[:n]
	*h = a
	i := 0
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		c := l
		if r := l + 1; r < n && a[r].sim < a[l].sim {
			c = r
		}
		if a[i].sim <= a[c].sim {
			break
		}
		a[i], a[c] = a[c], a[i]
		i = c
	}
	return top
}

// drainSorted pops every element of h into dst[:0], most similar first.
func (h *minHeap) drainSorted(dst []cand) []cand {
	n := len(*h)
	dst = slices.Grow(dst[:0], n)[:n]
	for i := n - 1; i >= 0; i-- {
		dst[i] = h.pop()
	}
	return dst
}
