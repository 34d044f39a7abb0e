package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"

	"github.com/google/uuid"

	"keytask/events"
)

// EventID is the id of the event a request appends: derived from the caller's
// idempotency key when there is one, else from natural parts that identify the
// command (its stream, the version it was decided on, its content), so that a
// retried request appends nothing twice (DESIGN.md rule 3).
func EventID(meta events.Metadata, key, typ string, natural ...string) uuid.UUID {
	if key != "" {
		return events.DeriveID("idempotency-key", meta.ActorID, key, typ)
	}
	return events.DeriveID(append([]string{"command", typ}, natural...)...)
}

// appendOne records one decided event at expected. An id already recorded in
// another stream means the idempotency key was used for another request.
func (a *App) appendOne(ctx context.Context, stream string, expected int64, id uuid.UUID, typ string, payload any, meta events.Metadata) error {
	data, err := json.Marshal(payload)
	if err != nil {
		return err
	}
	_, err = a.store.Append(ctx, stream, expected, events.NewEvent{ID: id, Type: typ, SchemaVersion: 1, Data: data, Metadata: meta})
	if errors.Is(err, events.ErrPartialRetry) {
		return KeyReused(err)
	}
	return err
}

// replayed reports whether the stream already holds the event with id, which a
// retry of this very command would have appended. The same id with other
// content means an idempotency key reused for another request (*domain.FieldError);
// without a key, ids derive from the content, so that cannot happen.
func replayed(recorded []events.Event, id uuid.UUID, want any, key string) (bool, error) {
	for _, e := range recorded {
		if e.ID != id {
			continue
		}
		same, err := sameJSON(e.Data, want)
		if err != nil || same {
			return same, err
		}
		if key != "" {
			return false, KeyReused(fmt.Errorf("key %q: event %s holds other content", key, e.ID))
		}
		return false, nil
	}
	return false, nil
}

// repeatsLast reports whether the command was already carried out: its own
// event is recorded, or the stream's last event already says the same.
func repeatsLast(recorded []events.Event, id uuid.UUID, want any, key string) (bool, error) {
	again, err := replayed(recorded, id, want, key)
	if err != nil || again || len(recorded) == 0 {
		return again, err
	}
	return sameJSON(recorded[len(recorded)-1].Data, want)
}

// sameJSON reports whether recorded, decoded into want's type and encoded
// again, encodes as want does: a comparison that ignores the formatting of the
// stored JSON and the representation of times.
func sameJSON(recorded []byte, want any) (bool, error) {
	wantJSON, err := json.Marshal(want)
	if err != nil {
		return false, err
	}
	was := reflect.New(reflect.TypeOf(want)).Interface()
	if err := json.Unmarshal(recorded, was); err != nil {
		return false, err
	}
	wasJSON, err := json.Marshal(was)
	if err != nil {
		return false, err
	}
	return bytes.Equal(wasJSON, wantJSON), nil
}
