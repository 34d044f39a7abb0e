package app

import (
	"context"
	"strings"
	"time"

	"keytask/domain/development"
	"keytask/events"
	"keytask/eventtypes"
)

// DevelopmentProject folds the stream of development project id. Errors:
// *NotFoundError when there is none.
func (a *App) DevelopmentProject(ctx context.Context, id string) (development.Project, error) {
	p, _, err := a.developmentProject(ctx, id)
	return p, err
}

func (a *App) developmentProject(ctx context.Context, id string) (development.Project, []events.Event, error) {
	var p development.Project
	if id == "" || len(id) > 200 || strings.ContainsAny(id, " /") {
		return p, nil, notFound("开发项目不存在", "malformed development project id")
	}
	recorded, err := a.store.ReadStream(ctx, development.ProjectStream(id), events.ReadOptions{})
	if err != nil {
		return p, nil, err
	}
	for _, e := range recorded {
		payload, err := eventtypes.Registry.Decode(e)
		if err != nil {
			return p, nil, err
		}
		p.Apply(payload)
		p.Version = e.StreamVersion
	}
	if !p.Exists() {
		return p, nil, notFound("开发项目不存在", "no development project "+id)
	}
	return p, recorded, nil
}

// registeredUnits looks the schools up in the register, from their streams
// (rule 11); a code with no school is absent.
func (a *App) registeredUnits(ctx context.Context, codes ...string) (map[string]development.Unit, error) {
	out := map[string]development.Unit{}
	for _, code := range codes {
		code = strings.TrimSpace(code)
		if code == "" || len(code) > 64 || strings.ContainsAny(code, " /") {
			continue
		}
		if _, done := out[code]; done {
			continue
		}
		s, found, err := LoadSchool(ctx, a.store, code)
		if err != nil {
			return nil, err
		}
		if found {
			out[code] = development.Unit{Code: code, Name: s.Name, Province: s.Province}
		}
	}
	return out, nil
}

// AssignDevelopmentProject is the ministry assigning a development project.
type AssignDevelopmentProject struct {
	Request
	Project development.ProjectAssigned
}

// AssignDevelopmentProject records the assignment after checking its units
// against the register and its task item against the plan batch. A repeated
// request appends nothing and answers replayed.
func (a *App) AssignDevelopmentProject(ctx context.Context, cmd AssignDevelopmentProject) (development.ProjectAssigned, bool, error) {
	units, err := a.registeredUnits(ctx, append([]string{cmd.Project.LeadUnit}, cmd.Project.Participants...)...)
	if err != nil {
		return cmd.Project, false, err
	}
	decided, err := development.Assign(false, cmd.Project, units)
	if err != nil {
		return decided, false, err
	}
	stream := development.ProjectStream(decided.ProjectID)
	recorded, err := a.store.ReadStream(ctx, stream, events.ReadOptions{})
	if err != nil {
		return decided, false, err
	}
	id := EventID(cmd.Meta, cmd.Key, development.TypeProjectAssigned, decided.ProjectID)
	if again, err := replayed(recorded, id, decided, cmd.Key); again || err != nil {
		return decided, again, err
	}
	if _, err := development.Assign(len(recorded) > 0, decided, units); err != nil {
		return decided, false, err
	}
	return decided, false, a.appendOne(ctx, stream, events.NoStream, id, development.TypeProjectAssigned, decided, cmd.Meta)
}

// RecordDevelopmentMilestone records a milestone of a development project.
type RecordDevelopmentMilestone struct {
	Request
	ProjectID string
	Milestone development.Milestone
	Date      time.Time
	Note      string
	Reference string
}

// RecordDevelopmentMilestone decides against the project's stream and
// appends at the version it decided on; a repeated request (same key, or the
// milestone already recorded with the same content) answers replayed.
func (a *App) RecordDevelopmentMilestone(ctx context.Context, cmd RecordDevelopmentMilestone) (development.MilestoneRecorded, bool, error) {
	p, recorded, err := a.developmentProject(ctx, cmd.ProjectID)
	if err != nil {
		return development.MilestoneRecorded{}, false, err
	}
	want := development.MilestoneRecorded{ProjectID: p.ProjectID, Milestone: cmd.Milestone, Date: cmd.Date,
		Note: strings.TrimSpace(cmd.Note), Reference: strings.TrimSpace(cmd.Reference)}
	id := EventID(cmd.Meta, cmd.Key, development.TypeMilestoneRecorded, p.ProjectID, string(cmd.Milestone))
	if again, err := replayed(recorded, id, want, cmd.Key); again || err != nil {
		return want, again, err
	}
	e, err := development.RecordMilestone(p, cmd.Milestone, cmd.Date, cmd.Note, cmd.Reference, time.Now())
	if err != nil {
		return e, false, err
	}
	return e, false, a.appendOne(ctx, development.ProjectStream(p.ProjectID), p.Version, id, development.TypeMilestoneRecorded, e, cmd.Meta)
}
