package app

import (
	"context"
	"encoding/json"
	"strconv"
	"time"

	"keytask/domain/selection"
	"keytask/domain/tracking"
)

// TrackProject is one command on a published project (an evaluator assigned,
// an inspection, a flag, a revocation, the final acceptance, …).
type TrackProject struct {
	Request
	ProjectID string
	// Decide is the domain decision on the project as its stream has it, at
	// now: the event's type and payload, and whether it changes anything.
	Decide func(p tracking.Project, now time.Time) (typ string, payload any, changed bool, err error)
}

// Tracked is the event a project command recorded, or had recorded before.
type Tracked struct {
	ProjectID string
	Event     string
	Data      any // the payload; the recorded JSON when Replayed
	Changed   bool
	Replayed  bool  // the key's event was in the stream already
	Version   int64 // the event's version in the project's stream (0 when nothing changed)
}

// TrackProject decides the command on the project and records its event. A
// command repeated with the same key finds its event in the stream and
// answers it again without deciding anew. Errors: *NotFoundError, and what
// Decide returns.
func (a *App) TrackProject(ctx context.Context, cmd TrackProject) (Tracked, error) {
	p, recorded, err := a.project(ctx, cmd.ProjectID)
	if err != nil {
		return Tracked{}, err
	}
	if cmd.Key != "" {
		for _, e := range recorded {
			if e.ID == EventID(cmd.Meta, cmd.Key, e.Type) {
				return Tracked{ProjectID: p.ID, Event: e.Type, Data: e.Data, Replayed: true, Version: e.StreamVersion}, nil
			}
		}
	}
	typ, payload, changed, err := cmd.Decide(p, time.Now())
	if err != nil {
		return Tracked{}, err
	}
	out := Tracked{ProjectID: p.ID, Event: typ, Data: payload, Changed: changed}
	if !changed {
		return out, nil
	}
	content, err := json.Marshal(payload)
	if err != nil {
		return out, err
	}
	id := EventID(cmd.Meta, cmd.Key, typ, p.ID, strconv.FormatInt(p.Version, 10), string(content))
	out.Version = p.Version + 1
	return out, a.appendOne(ctx, selection.ProjectStream(p.ID), p.Version, id, typ, payload, cmd.Meta)
}
