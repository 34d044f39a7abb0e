package app

import (
	"context"
	"slices"

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
// school's application was published, as the log holds them: the batches come
// from their opening events, each batch's published list from its stream.
func PriorSelections(ctx context.Context, store *events.Store, batchID, taskItem, school string) ([]selection.PriorSelection, error) {
	streams, err := store.StreamsWith(ctx, selection.TypeSelectionBatchOpened, "task_item", taskItem)
	if err != nil {
		return nil, err
	}
	var out []selection.PriorSelection
	for _, stream := range streams {
		if stream == selection.SelectionBatchStream(batchID) {
			continue
		}
		evs, err := store.ReadStream(ctx, stream, events.ReadOptions{})
		if err != nil {
			return nil, err
		}
		var other string
		for _, e := range evs {
			switch e.Type {
			case selection.TypeSelectionBatchOpened:
				o, err := events.DecodeAs[selection.SelectionBatchOpened](eventtypes.Registry, e)
				if err != nil {
					return nil, err
				}
				other = o.BatchID
			case selection.TypeSelectionBatchPublished:
				p, err := events.DecodeAs[selection.SelectionBatchPublished](eventtypes.Registry, e)
				if err != nil {
					return nil, err
				}
				if id := ApplicationIDFor(other, school); slices.Contains(p.List, id) {
					out = append(out, selection.PriorSelection{BatchID: other, Application: id})
				}
			}
		}
	}
	return out, nil
}
