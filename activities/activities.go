// Package activities holds keytask's Temporal activities: the I/O that workflows
// decide on. Every write is an idempotent append whose event ids the workflow
// derived, so a retried activity appends nothing twice.
package activities

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/google/uuid"
	"go.temporal.io/sdk/temporal"

	"keytask/events"
)

// Activities carries the dependencies of every activity.
type Activities struct {
	Store *events.Store
}

// EventSpec is an event a workflow wants appended. ID was derived in the workflow
// (see workflows.EventID), so every attempt carries the same one.
type EventSpec struct {
	ID            string          `json:"id"`
	Type          string          `json:"type"`
	SchemaVersion int             `json:"schema_version"`
	Data          json.RawMessage `json:"data"`
	Metadata      events.Metadata `json:"metadata"`
}

// AppendRequest appends Events to Stream at Expected (events.AnyVersion to skip the check).
type AppendRequest struct {
	Stream   string      `json:"stream"`
	Expected int64       `json:"expected"`
	Events   []EventSpec `json:"events"`
}

// AppendResult tells where the events landed.
type AppendResult struct {
	Versions []int64 `json:"versions"`
}

// ConflictErrorType is the application error type of a version conflict; it is
// not retried, since retrying cannot change the stream's version.
const ConflictErrorType = "StreamVersionConflict"

// Append appends idempotently: a retry after a lost reply returns the original
// versions and writes nothing.
func (a *Activities) Append(ctx context.Context, req AppendRequest) (AppendResult, error) {
	evs := make([]events.NewEvent, len(req.Events))
	for i, s := range req.Events {
		id, err := uuid.Parse(s.ID)
		if err != nil {
			return AppendResult{}, temporal.NewNonRetryableApplicationError("bad event id", "BadEventID", err)
		}
		evs[i] = events.NewEvent{ID: id, Type: s.Type, SchemaVersion: s.SchemaVersion, Data: s.Data, Metadata: s.Metadata}
	}
	rec, err := a.Store.Append(ctx, req.Stream, req.Expected, evs...)
	var conflict *events.ErrConflict
	switch {
	case errors.As(err, &conflict):
		return AppendResult{}, temporal.NewNonRetryableApplicationError(err.Error(), ConflictErrorType, err, conflict.Actual)
	case errors.Is(err, events.ErrInvalid), errors.Is(err, events.ErrPartialRetry):
		return AppendResult{}, temporal.NewNonRetryableApplicationError(err.Error(), "BadAppend", err)
	case err != nil:
		return AppendResult{}, err
	}
	out := AppendResult{Versions: make([]int64, len(rec))}
	for i, r := range rec {
		out.Versions[i] = r.StreamVersion
	}
	return out, nil
}
