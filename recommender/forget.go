package recommender

// Forgotten is the set of users who asked to be forgotten (a tombstone
// list). Has must be safe for concurrent use; the set must not change once
// handed to SetForgotten — install a new one instead.
type Forgotten interface {
	Has(userID string) bool
}

// forgottenSet boxes a Forgotten so that it fits an atomic.Pointer.
type forgottenSet struct{ f Forgotten }

// SetForgotten installs the set of forgotten users, replacing the previous
// one; nil forgets nobody. From the next request on, a user in the set is
// served as a visitor the model does not know: popular items only, with
// Result.Fallback set, and neither their factor vector nor their history
// is read. It takes effect without a retrain and without a model swap.
func (r *Recommender) SetForgotten(f Forgotten) {
	if f == nil {
		r.forgotten.Store(nil)
		return
	}
	r.forgotten.Store(&forgottenSet{f: f})
}

// isForgotten reports whether user is in the current tombstone set.
func (r *Recommender) isForgotten(user string) bool {
	s := r.forgotten.Load()
	return s != nil && user != "" && s.f.Has(user)
}
