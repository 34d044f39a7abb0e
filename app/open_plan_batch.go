package app

import (
	"context"
	"errors"

	"keytask/domain"
	"keytask/domain/intent"
	"keytask/events"
)

// OpenPlanBatch opens a plan batch with its catalogue of task items.
type OpenPlanBatch struct {
	Request
	Batch intent.PlanBatchOpened
}

// OpenPlanBatch records the batch. A repeated request (the same batch and
// content, or the same key) appends nothing and answers replayed. Errors:
// *domain.FieldError, *domain.ConflictError when the batch id is taken.
func (a *App) OpenPlanBatch(ctx context.Context, cmd OpenPlanBatch) (batch intent.PlanBatchOpened, replay bool, err error) {
	decided, err := intent.OpenPlanBatch(false, cmd.Batch)
	if err != nil {
		return decided, false, err
	}
	stream := intent.PlanStream(decided.BatchID)
	recorded, err := a.store.ReadStream(ctx, stream, events.ReadOptions{})
	if err != nil {
		return decided, false, err
	}
	id := EventID(cmd.Meta, cmd.Key, intent.TypePlanBatchOpened, decided.BatchID)
	if replay, err = replayed(recorded, id, decided, cmd.Key); replay || err != nil {
		return decided, replay, err
	}
	if _, err := intent.OpenPlanBatch(len(recorded) > 0, decided); err != nil {
		return decided, false, err
	}
	if err := a.appendOne(ctx, stream, events.NoStream, id, intent.TypePlanBatchOpened, decided, cmd.Meta); err != nil {
		if conflict := (*events.ErrConflict)(nil); errors.As(err, &conflict) {
			return decided, false, domain.Conflict("batch_id", "该批次编号已存在", err.Error())
		}
		return decided, false, err
	}
	return decided, false, nil
}
