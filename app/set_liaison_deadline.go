package app

import (
	"context"
	"fmt"
	"time"

	"keytask/domain/intent"
	"keytask/events"
)

// SetLiaisonDeadline sets (or moves) the date by which provinces register
// their liaisons.
type SetLiaisonDeadline struct {
	Request
	Deadline time.Time
}

// SetLiaisonDeadline records the deadline; the deadline it already has
// appends nothing and answers replayed. Errors: *domain.FieldError.
func (a *App) SetLiaisonDeadline(ctx context.Context, cmd SetLiaisonDeadline) (set intent.LiaisonDeadlineSet, replay bool, err error) {
	decided, err := intent.SetLiaisonDeadline(intent.LiaisonDeadlineSet{Deadline: cmd.Deadline}, time.Now())
	if err != nil {
		return decided, false, err
	}
	stream := intent.LiaisonDeadlineStream
	recorded, err := a.store.ReadStream(ctx, stream, events.ReadOptions{})
	if err != nil {
		return decided, false, err
	}
	version := int64(len(recorded))
	id := EventID(cmd.Meta, cmd.Key, intent.TypeLiaisonDeadlineSet, fmt.Sprint(version), decided.Deadline.Format(time.RFC3339Nano))
	if replay, err = repeatsLast(recorded, id, decided, cmd.Key); replay || err != nil {
		return decided, replay, err
	}
	return decided, false, a.appendOne(ctx, stream, version, id, intent.TypeLiaisonDeadlineSet, decided, cmd.Meta)
}
