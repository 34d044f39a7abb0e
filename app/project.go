package app

import (
	"context"
	"strings"

	"keytask/domain/selection"
	"keytask/domain/tracking"
	"keytask/events"
	"keytask/eventtypes"
)

// Project folds the stream of project id, and takes the school from the
// application's stream, so that scope never depends on a read model being
// current. Errors: *NotFoundError when there is no project.
func (a *App) Project(ctx context.Context, id string) (tracking.Project, error) {
	p, _, err := a.project(ctx, id)
	return p, err
}

// FoldProject folds a project's stream: its ProjectCreated and its tracking
// events, with Version counting every event (a flag's version names it).
func FoldProject(recorded []events.Event) (tracking.Project, error) {
	var p tracking.Project
	for _, e := range recorded {
		if e.Type == selection.TypeProjectCreated {
			c, err := events.DecodeAs[selection.ProjectCreated](eventtypes.Registry, e)
			if err != nil {
				return p, err
			}
			p.Created(c.ProjectID, c.BatchID, c.TaskItem, c.TaskType, c.Application, c.Province)
		} else {
			payload, ok, err := events.DecodeIf[tracking.Event](eventtypes.Registry, e)
			if err != nil {
				return p, err
			}
			if ok {
				p.Apply(payload)
			}
		}
		p.Version = e.StreamVersion
	}
	return p, nil
}

func (a *App) project(ctx context.Context, id string) (tracking.Project, []events.Event, error) {
	var p tracking.Project
	if id == "" || len(id) > 200 || strings.ContainsAny(id, " /") {
		return p, nil, notFound("项目不存在", "malformed project id")
	}
	recorded, err := a.store.ReadStream(ctx, selection.ProjectStream(id), events.ReadOptions{})
	if err != nil {
		return p, nil, err
	}
	p, err = FoldProject(recorded)
	if err != nil {
		return p, nil, err
	}
	if !p.Exists() {
		return p, nil, notFound("项目不存在", "no project "+id)
	}
	apps, err := a.store.ReadStream(ctx, selection.ApplicationStream(p.Application), events.ReadOptions{UpToVersion: 1})
	if err != nil {
		return p, nil, err
	}
	for _, e := range apps {
		if e.Type == selection.TypeApplicationCreated {
			c, err := events.DecodeAs[selection.ApplicationCreated](eventtypes.Registry, e)
			if err != nil {
				return p, nil, err
			}
			p.School = c.School
		}
	}
	if p.Deadline, err = a.ConstructionDeadline(ctx, p.BatchID); err != nil {
		return p, nil, err
	}
	return p, recorded, nil
}
