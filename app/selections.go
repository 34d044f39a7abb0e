package app

import (
	"context"

	"keytask/domain/selection"
	"keytask/events"
	"keytask/eventtypes"
)

// ApplicationIDFor is the id of school's application to batch. One school has
// one application per batch, so the pair names it: the application's stream
// is created once, and a second application of the school to the batch finds
// the first (selection.CheckFirstInBatch) under the log's own uniqueness.
func ApplicationIDFor(batchID, school string) string {
	return events.DeriveID("application", batchID, school).String()
}

// PriorSelections lists the batches of taskItem other than batchID in which
// school's application was published, as the log holds them.
func PriorSelections(ctx context.Context, store *events.Store, batchID, taskItem, school string) ([]selection.PriorSelection, error) {
	prior, err := SelectionsOf(ctx, store, taskItem)
	if err != nil {
		return nil, err
	}
	return prior(batchID, school), nil
}

// SelectionsOf reads taskItem's published batches once, from the log: the
// batches from their opening events, each one's published list from its
// stream. The function it returns lists, in the order the batches opened,
// those other than batchID in which school's application was published.
func SelectionsOf(ctx context.Context, store *events.Store, taskItem string) (func(batchID, school string) []selection.PriorSelection, error) {
	streams, err := store.StreamsWith(ctx, selection.TypeSelectionBatchOpened, "task_item", taskItem)
	if err != nil {
		return nil, err
	}
	type batch struct {
		id        string
		published map[string]bool
	}
	var batches []batch
	for _, stream := range streams {
		evs, err := store.ReadStream(ctx, stream, events.ReadOptions{})
		if err != nil {
			return nil, err
		}
		var b batch
		for _, e := range evs {
			switch e.Type {
			case selection.TypeSelectionBatchOpened:
				o, err := events.DecodeAs[selection.SelectionBatchOpened](eventtypes.Registry, e)
				if err != nil {
					return nil, err
				}
				b.id = o.BatchID
			case selection.TypeSelectionBatchPublished:
				p, err := events.DecodeAs[selection.SelectionBatchPublished](eventtypes.Registry, e)
				if err != nil {
					return nil, err
				}
				b.published = make(map[string]bool, len(p.List))
				for _, id := range p.List {
					b.published[id] = true
				}
			}
		}
		if b.published != nil {
			batches = append(batches, b)
		}
	}
	return func(batchID, school string) []selection.PriorSelection {
		var out []selection.PriorSelection
		for _, b := range batches {
			if id := ApplicationIDFor(b.id, school); b.id != batchID && b.published[id] {
				out = append(out, selection.PriorSelection{BatchID: b.id, Application: id})
			}
		}
		return out
	}, nil
}
