package app

import (
	"context"
	"encoding/json"
	"fmt"

	"keytask/domain/intent"
	"keytask/events"
)

// RegisterLiaison registers a province's liaison, replacing any earlier one.
type RegisterLiaison struct {
	Request
	Liaison intent.LiaisonRegistered
}

// RegisterLiaison records the liaison; the liaison the province already has
// appends nothing and answers replayed. Errors: *domain.FieldError.
func (a *App) RegisterLiaison(ctx context.Context, cmd RegisterLiaison) (liaison intent.LiaisonRegistered, replay bool, err error) {
	decided, err := intent.RegisterLiaison(cmd.Liaison)
	if err != nil {
		return decided, false, err
	}
	stream := intent.LiaisonStream(decided.Province)
	recorded, err := a.store.ReadStream(ctx, stream, events.ReadOptions{})
	if err != nil {
		return decided, false, err
	}
	version := int64(len(recorded))
	content, err := json.Marshal(decided)
	if err != nil {
		return decided, false, err
	}
	id := EventID(cmd.Meta, cmd.Key, intent.TypeLiaisonRegistered, decided.Province, fmt.Sprint(version), string(content))
	if replay, err = repeatsLast(recorded, id, decided, cmd.Key); replay || err != nil {
		return decided, replay, err
	}
	return decided, false, a.appendOne(ctx, stream, version, id, intent.TypeLiaisonRegistered, decided, cmd.Meta)
}
