package app

import (
	"context"
	"encoding/json"

	"keytask/domain/intent"
	"keytask/events"
	"keytask/eventtypes"
)

// AddPlanItems adds task items to an open plan batch.
type AddPlanItems struct {
	Request
	BatchID string
	Items   []intent.TaskItem
}

// PlanBatch is a batch's name and catalogue after a command.
type PlanBatch struct {
	BatchID  string
	Name     string
	Items    []intent.TaskItem
	Replayed bool
}

// AddPlanItems records the items, numbered and coded uniquely across the
// batch. Errors: *NotFoundError, *domain.FieldError.
func (a *App) AddPlanItems(ctx context.Context, cmd AddPlanItems) (PlanBatch, error) {
	out := PlanBatch{BatchID: cmd.BatchID}
	if err := intent.ValidateBatchID(cmd.BatchID); err != nil {
		return out, notFound("任务批次不存在", err.Error())
	}
	// The items on their own first, so that the id of a retry can be derived
	// from their normalised content before the batch is consulted.
	decided, err := intent.AddPlanItems(nil, intent.PlanItemsAdded{BatchID: cmd.BatchID, Items: cmd.Items})
	if err != nil {
		return out, err
	}
	stream := intent.PlanStream(cmd.BatchID)
	recorded, err := a.store.ReadStream(ctx, stream, events.ReadOptions{})
	if err != nil {
		return out, err
	}
	if len(recorded) == 0 {
		return out, notFound("任务批次不存在", "no plan batch "+cmd.BatchID)
	}
	content, err := json.Marshal(decided.Items)
	if err != nil {
		return out, err
	}
	id := EventID(cmd.Meta, cmd.Key, intent.TypePlanItemsAdded, cmd.BatchID, string(content))
	current, name, err := foldPlan(recorded)
	if err != nil {
		return out, err
	}
	out.Name, out.Items = name, current
	if out.Replayed, err = replayed(recorded, id, decided, cmd.Key); out.Replayed || err != nil {
		return out, err
	}
	if decided, err = intent.AddPlanItems(current, decided); err != nil {
		return out, err
	}
	if err := a.appendOne(ctx, stream, int64(len(recorded)), id, intent.TypePlanItemsAdded, decided, cmd.Meta); err != nil {
		return out, err
	}
	out.Items = append(current, decided.Items...)
	return out, nil
}

// foldPlan returns a batch's catalogue and name from its stream.
func foldPlan(recorded []events.Event) (items []intent.TaskItem, name string, err error) {
	for _, e := range recorded {
		switch e.Type {
		case intent.TypePlanBatchOpened:
			p, err := events.DecodeAs[intent.PlanBatchOpened](eventtypes.Registry, e)
			if err != nil {
				return nil, "", err
			}
			items, name = append(items, p.Items...), p.Name
		case intent.TypePlanItemsAdded:
			p, err := events.DecodeAs[intent.PlanItemsAdded](eventtypes.Registry, e)
			if err != nil {
				return nil, "", err
			}
			items = append(items, p.Items...)
		}
	}
	return items, name, nil
}
