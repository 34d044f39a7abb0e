package workflows

import (
	"slices"

	"go.temporal.io/sdk/workflow"
)

// recentUpdatesKept bounds RecentUpdates: enough for every update a caller can
// still be waiting on (the API waits at most a request's lifetime, and a run
// handles hundreds of updates), small enough to carry (about 40 bytes each).
const recentUpdatesKept = 1000

// RecentUpdates remembers the ids of the updates a workflow completed, and is
// carried across continue-as-new. Temporal deduplicates update ids only
// within a run: a caller whose wait for a completed update timed out (on a
// loaded server the wait can pass the client's long-poll limit) sends the
// same update again, and if the run has continued as new meanwhile, the next
// run would execute it a second time. With the ids carried, the next run
// recognises it and answers with the current state instead.
type RecentUpdates struct {
	IDs []string `json:"ids,omitempty"`
}

// seen tells whether the update being validated or handled completed before.
func (r *RecentUpdates) seen(ctx workflow.Context) bool {
	info := workflow.GetCurrentUpdateInfo(ctx)
	return info != nil && slices.Contains(r.IDs, info.ID)
}

// done records that the update being handled completed.
func (r *RecentUpdates) done(ctx workflow.Context) {
	info := workflow.GetCurrentUpdateInfo(ctx)
	if info == nil || info.ID == "" {
		return
	}
	r.IDs = append(r.IDs, info.ID)
	if n := len(r.IDs) - recentUpdatesKept; n > 0 {
		r.IDs = slices.Delete(r.IDs, 0, n)
	}
}
