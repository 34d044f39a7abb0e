package workflows

// SetCollectionUpdatesPerRun lowers the updates a collection run handles
// before continuing as new, for tests; it returns a function restoring it.
func SetCollectionUpdatesPerRun(n int) (restore func()) {
	return setPerRun(&collectionUpdatesPerRun, n)
}

// SetIntentRoundUpdatesPerRun is SetCollectionUpdatesPerRun for intent rounds.
func SetIntentRoundUpdatesPerRun(n int) (restore func()) {
	return setPerRun(&intentRoundUpdatesPerRun, n)
}

// SetSelectionUpdatesPerRun is SetCollectionUpdatesPerRun for selection
// batches.
func SetSelectionUpdatesPerRun(n int) (restore func()) {
	return setPerRun(&selectionUpdatesPerRun, n)
}

func setPerRun(v *int, n int) (restore func()) {
	old := *v
	*v = n
	return func() { *v = old }
}
