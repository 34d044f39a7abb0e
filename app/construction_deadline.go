package app

import (
	"context"
	"time"

	"keytask/domain/intent"
	"keytask/domain/selection"
	"keytask/events"
	"keytask/eventtypes"
)

// ConstructionDeadline is the end of construction of the projects of
// selection batch batchID: the construction end its plan batch recorded when
// opened, read from the log (rule 11). A batch that names no plan batch, or a
// plan batch not in the log, has the zero time: the caller falls back to the
// first batch's deadline.
func (a *App) ConstructionDeadline(ctx context.Context, batchID string) (time.Time, error) {
	if batchID == "" {
		return time.Time{}, nil
	}
	opened, err := a.store.ReadStream(ctx, selection.SelectionBatchStream(batchID), events.ReadOptions{UpToVersion: 1})
	if err != nil || len(opened) == 0 || opened[0].Type != selection.TypeSelectionBatchOpened {
		return time.Time{}, err
	}
	b, err := events.DecodeAs[selection.SelectionBatchOpened](eventtypes.Registry, opened[0])
	if err != nil || b.PlanBatchID == "" {
		return time.Time{}, err
	}
	return a.PlanConstructionDeadline(ctx, b.PlanBatchID)
}

// PlanConstructionDeadline is the construction deadline plan batch planID
// recorded when opened; zero when the batch is not in the log.
func (a *App) PlanConstructionDeadline(ctx context.Context, planID string) (time.Time, error) {
	plan, err := a.store.ReadStream(ctx, intent.PlanStream(planID), events.ReadOptions{UpToVersion: 1})
	if err != nil || len(plan) == 0 || plan[0].Type != intent.TypePlanBatchOpened {
		return time.Time{}, err
	}
	p, err := events.DecodeAs[intent.PlanBatchOpened](eventtypes.Registry, plan[0])
	if err != nil {
		return time.Time{}, err
	}
	return p.ConstructionDeadline(), nil
}
