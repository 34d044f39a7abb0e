package app

import (
	"context"
	"encoding/json"
	"strconv"

	"keytask/domain/register"
	"keytask/events"
)

// UpdateSchool replaces a registered school's record.
type UpdateSchool struct {
	Request
	School register.School // Code names the school
}

// UpdateSchool records the new record as an update, keeping the earlier one
// in the school's history; an unchanged record appends nothing.
// Errors: *NotFoundError, *domain.FieldError.
func (a *App) UpdateSchool(ctx context.Context, cmd UpdateSchool) (school register.School, changed bool, err error) {
	stream := register.SchoolStream(cmd.School.Code)
	recorded, err := a.store.ReadStream(ctx, stream, events.ReadOptions{})
	if err != nil {
		return school, false, err
	}
	current, found, err := foldSchool(recorded)
	switch {
	case err != nil:
		return school, false, err
	case !found:
		return school, false, notFound("学校不在名录中", "no school "+clip(cmd.School.Code))
	}
	updated, changed, err := register.UpdateSchool(current, cmd.School)
	if err != nil || !changed {
		return register.School(updated), changed, err
	}
	content, err := json.Marshal(updated)
	if err != nil {
		return school, false, err
	}
	version := int64(len(recorded))
	id := EventID(cmd.Meta, cmd.Key, register.TypeSchoolUpdated, current.Code, strconv.FormatInt(version, 10), string(content))
	return register.School(updated), true, a.appendOne(ctx, stream, version, id, register.TypeSchoolUpdated, updated, cmd.Meta)
}
