package app

import (
	"context"
	"errors"

	"keytask/domain/selection"
	"keytask/events"
)

// RegisterExpert adds an expert to the pool.
type RegisterExpert struct {
	Request
	Expert selection.ExpertRegistered
}

// RegisterExpert records the normalised expert; a repeated request (the same
// key, or the same record without one) appends nothing and answers replayed.
// Errors: *domain.FieldError, *domain.ConflictError when the id is taken.
func (a *App) RegisterExpert(ctx context.Context, cmd RegisterExpert) (expert selection.ExpertRegistered, replay bool, err error) {
	decided, err := selection.NormalizeExpert(cmd.Expert)
	if err != nil {
		return decided, false, err
	}
	stream := selection.ExpertStream(decided.ExpertID)
	recorded, err := a.store.ReadStream(ctx, stream, events.ReadOptions{})
	if err != nil {
		return decided, false, err
	}
	id := EventID(cmd.Meta, cmd.Key, selection.TypeExpertRegistered, decided.ExpertID)
	if replay, err = replayed(recorded, id, decided, cmd.Key); err != nil || replay {
		return decided, replay, err
	}
	if decided, err = selection.RegisterExpert(len(recorded) > 0, decided); err != nil {
		return decided, false, err
	}
	if err := a.appendOne(ctx, stream, events.NoStream, id, selection.TypeExpertRegistered, decided, cmd.Meta); err != nil {
		// Another request registered the id in between.
		if conflict := (*events.ErrConflict)(nil); errors.As(err, &conflict) {
			_, err = selection.RegisterExpert(true, decided)
		}
		return decided, false, err
	}
	return decided, false, nil
}
