package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"keytask/domain"
	"keytask/domain/identity"
	"keytask/domain/selection"
	"keytask/events"
)

// CreateApplication starts an application in a selection batch. The key is
// required: the application's id derives from it, so a retry appends nothing
// twice.
type CreateApplication struct {
	Request
	By       identity.Principal
	BatchID  string
	Title    string
	School   string // a province filing: the lead school
	Province string // a school filing: its province
	Fields   map[string]json.RawMessage
}

// ErrKeyRequired refuses a new application without an idempotency key.
var ErrKeyRequired = &domain.FieldError{Field: "Idempotency-Key", Message: "创建申报须提供幂等键（Idempotency-Key），重试时使用同一个键",
	Detail: "Idempotency-Key is required"}

// CreatedApplication is what creating an application recorded.
type CreatedApplication struct {
	selection.ApplicationCreated
	Replayed bool // the same request had created it before
}

// CreateApplication decides and records a new application. Errors:
// *domain.FieldError (for "Idempotency-Key" when it is missing or was used for
// another request), *domain.ConflictError.
func (a *App) CreateApplication(ctx context.Context, cmd CreateApplication) (CreatedApplication, error) {
	var out CreatedApplication
	if cmd.Key == "" {
		return out, ErrKeyRequired
	}
	batch, err := a.selectionBatch(ctx, cmd.BatchID)
	if err != nil {
		return out, err
	}
	id := events.DeriveID("application", cmd.Meta.ActorID, cmd.Key).String()
	stream := selection.ApplicationStream(id)
	recorded, err := a.store.ReadStream(ctx, stream, events.ReadOptions{})
	if err != nil {
		return out, err
	}
	decided, err := selection.Create(false, selection.CreateApplication{ApplicationID: id, By: cmd.By, Batch: batch,
		Title: cmd.Title, School: cmd.School, Province: cmd.Province, Fields: cmd.Fields})
	if err != nil {
		return out, err
	}
	out.ApplicationCreated = decided[0].Payload.(selection.ApplicationCreated)
	if out.Replayed, err = replayed(recorded, EventID(cmd.Meta, cmd.Key, selection.TypeApplicationCreated), out.ApplicationCreated, cmd.Key); out.Replayed || err != nil {
		return out, err
	}
	if len(recorded) > 0 {
		return out, KeyReused(fmt.Errorf("application %s exists", id))
	}
	evs := make([]events.NewEvent, len(decided))
	for i, d := range decided {
		data, err := json.Marshal(d.Payload)
		if err != nil {
			return out, err
		}
		evs[i] = events.NewEvent{ID: EventID(cmd.Meta, cmd.Key, d.Type), Type: d.Type, SchemaVersion: 1, Data: data, Metadata: cmd.Meta}
	}
	if _, err := a.store.Append(ctx, stream, events.NoStream, evs...); err != nil {
		if errors.Is(err, events.ErrPartialRetry) {
			return out, KeyReused(err)
		}
		return out, err
	}
	return out, nil
}
