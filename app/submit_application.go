package app

import (
	"context"
	"strconv"

	"keytask/domain/selection"
)

// SubmitApplication submits a complete application.
type SubmitApplication struct {
	Request
	ApplicationID string
}

// SubmitApplication records the submission. Errors: *NotFoundError,
// *domain.FieldError naming the first missing field, *domain.ConflictError
// when the application is closed to changes.
func (a *App) SubmitApplication(ctx context.Context, cmd SubmitApplication) (selection.ApplicationSubmitted, error) {
	app, err := a.Application(ctx, cmd.ApplicationID)
	if err != nil {
		return selection.ApplicationSubmitted{}, err
	}
	sub, err := selection.Submit(app, a.batchNow())
	if err != nil {
		return sub, err
	}
	id := EventID(cmd.Meta, cmd.Key, selection.TypeApplicationSubmitted, app.ID, strconv.FormatInt(app.Version, 10))
	return sub, a.appendOne(ctx, selection.ApplicationStream(app.ID), app.Version, id, selection.TypeApplicationSubmitted, sub, cmd.Meta)
}
