package app

import (
	"context"
	"encoding/json"
	"strconv"

	"keytask/domain/selection"
	"keytask/events"
)

// UpdateExpert replaces a registered expert's record.
type UpdateExpert struct {
	Request
	Expert selection.ExpertRegistered // ExpertID names the expert
}

// UpdateExpert records the new record; an unchanged one appends nothing.
// Errors: *NotFoundError, *domain.FieldError.
func (a *App) UpdateExpert(ctx context.Context, cmd UpdateExpert) (updated selection.ExpertUpdated, changed bool, err error) {
	stream := selection.ExpertStream(cmd.Expert.ExpertID)
	recorded, err := a.store.ReadStream(ctx, stream, events.ReadOptions{})
	if err != nil {
		return updated, false, err
	}
	if len(recorded) == 0 {
		return updated, false, notFound("专家不存在", "no expert "+clip(cmd.Expert.ExpertID))
	}
	current, err := lastExpertRecord(recorded)
	if err != nil {
		return updated, false, err
	}
	if updated, changed, err = selection.UpdateExpert(current, cmd.Expert); err != nil || !changed {
		return updated, changed, err
	}
	content, err := json.Marshal(updated)
	if err != nil {
		return updated, false, err
	}
	version := int64(len(recorded))
	id := EventID(cmd.Meta, cmd.Key, selection.TypeExpertUpdated, cmd.Expert.ExpertID, strconv.FormatInt(version, 10), string(content))
	return updated, true, a.appendOne(ctx, stream, version, id, selection.TypeExpertUpdated, updated, cmd.Meta)
}
