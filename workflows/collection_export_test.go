package workflows

// SetCollectionUpdatesPerRun lowers the updates a collection run handles
// before continuing as new, for tests; it returns a function restoring it.
func SetCollectionUpdatesPerRun(n int) (restore func()) {
	old := collectionUpdatesPerRun
	collectionUpdatesPerRun = n
	return func() { collectionUpdatesPerRun = old }
}
