package recommender

// loadStoreInputs loads the serving inputs of a store snapshot: its
// catalogue, fold-in parameters and non-personal lists.
func (m *Model) loadStoreInputs(s Snapshot) error {
	return nil
}
