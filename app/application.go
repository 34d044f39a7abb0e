package app

import (
	"context"
	"fmt"
	"regexp"

	"keytask/domain"
	"keytask/domain/selection"
	"keytask/events"
	"keytask/eventtypes"
)

// Application folds the stream of application id. Errors: *NotFoundError when
// there is none.
func (a *App) Application(ctx context.Context, id string) (selection.Application, error) {
	app, _, err := a.application(ctx, id)
	return app, err
}

// application folds the stream of application id and returns its events too.
func (a *App) application(ctx context.Context, id string) (selection.Application, []events.Event, error) {
	var app selection.Application
	if selection.ValidateApplicationID(id) != nil {
		return app, nil, notFound("申报不存在", "malformed application id")
	}
	recorded, err := a.store.ReadStream(ctx, selection.ApplicationStream(id), events.ReadOptions{})
	if err != nil {
		return app, nil, err
	}
	for _, e := range recorded {
		p, ok, err := events.DecodeIf[selection.ApplicationEvent](eventtypes.Registry, e)
		if err != nil {
			return app, nil, err
		}
		if ok {
			if err := app.Apply(p); err != nil {
				return app, nil, err
			}
		}
	}
	// Version counts every event of the stream: it is the expected version of the next append.
	app.Version = int64(len(recorded))
	if !app.Exists() {
		return app, nil, notFound("申报不存在", "no application "+id)
	}
	return app, recorded, nil
}

var batchIDForm = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

// selectionBatch returns the opening of the selection batch an application is
// for. Errors: *domain.FieldError for "batch_id".
func (a *App) selectionBatch(ctx context.Context, batchID string) (selection.SelectionBatchOpened, error) {
	var b selection.SelectionBatchOpened
	missing := domain.Invalid("batch_id", "遴选批次不存在，请选择已开启的遴选批次", fmt.Sprintf("no selection batch %q", clip(batchID)))
	if !batchIDForm.MatchString(batchID) {
		return b, missing
	}
	recorded, err := a.store.ReadStream(ctx, selection.SelectionBatchStream(batchID), events.ReadOptions{UpToVersion: 1})
	if err != nil {
		return b, err
	}
	if len(recorded) == 0 || recorded[0].Type != selection.TypeSelectionBatchOpened {
		return b, missing
	}
	return events.DecodeAs[selection.SelectionBatchOpened](eventtypes.Registry, recorded[0])
}

// clip shortens client input quoted in a log detail.
func clip(s string) string {
	if r := []rune(s); len(r) > 32 {
		return string(r[:32]) + "…"
	}
	return s
}
