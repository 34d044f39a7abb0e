package app

import (
	"context"
	"encoding/json"
	"strconv"

	"keytask/domain/selection"
)

// EditApplication replaces the title and fields of a draft (or returned)
// application, as the whole form sends them.
type EditApplication struct {
	Request
	ApplicationID string
	Title         string
	Fields        map[string]json.RawMessage
}

// EditApplication records the new content; unchanged content appends nothing
// (changed is false). Errors: *NotFoundError, *domain.FieldError,
// *domain.ConflictError when the application is closed to changes.
func (a *App) EditApplication(ctx context.Context, cmd EditApplication) (edited selection.ApplicationEdited, changed bool, err error) {
	app, err := a.Application(ctx, cmd.ApplicationID)
	if err != nil {
		return edited, false, err
	}
	edited, changed, err = selection.Edit(app, cmd.Title, cmd.Fields, a.batchNow())
	if err != nil || !changed {
		return edited, changed, err
	}
	content, err := json.Marshal(edited)
	if err != nil {
		return edited, false, err
	}
	id := EventID(cmd.Meta, cmd.Key, selection.TypeApplicationEdited, app.ID, strconv.FormatInt(app.Version, 10), string(content))
	return edited, true, a.appendOne(ctx, selection.ApplicationStream(app.ID), app.Version, id, selection.TypeApplicationEdited, edited, cmd.Meta)
}
