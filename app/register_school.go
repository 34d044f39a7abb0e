package app

import (
	"context"
	"errors"

	"keytask/domain/register"
	"keytask/events"
)

// RegisterSchool adds a school to the register.
type RegisterSchool struct {
	Request
	School register.School
}

// RegisterSchool records the normalised school; a repeated request (the same
// key, or the same record without one) appends nothing and answers replayed.
// Errors: *domain.FieldError, *domain.ConflictError when the code is taken.
func (a *App) RegisterSchool(ctx context.Context, cmd RegisterSchool) (school register.School, replay bool, err error) {
	decided, err := register.Normalize(cmd.School)
	if err != nil {
		return decided, false, err
	}
	stream := register.SchoolStream(decided.Code)
	recorded, err := a.store.ReadStream(ctx, stream, events.ReadOptions{})
	if err != nil {
		return decided, false, err
	}
	id := EventID(cmd.Meta, cmd.Key, register.TypeSchoolRegistered, decided.Code)
	if replay, err = replayed(recorded, id, register.SchoolRegistered(decided), cmd.Key); err != nil || replay {
		return decided, replay, err
	}
	registered, err := register.RegisterSchool(len(recorded) > 0, decided)
	if err != nil {
		return decided, false, err
	}
	if err := a.appendOne(ctx, stream, events.NoStream, id, register.TypeSchoolRegistered, registered, cmd.Meta); err != nil {
		// Another request registered the code in between.
		if conflict := (*events.ErrConflict)(nil); errors.As(err, &conflict) {
			_, err = register.RegisterSchool(true, decided)
		}
		return decided, false, err
	}
	return decided, false, nil
}
