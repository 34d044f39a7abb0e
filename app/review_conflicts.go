package app

import (
	"context"

	"keytask/domain/assign"
	"keytask/domain/selection"
	"keytask/events"
	"keytask/eventtypes"
)

// ReviewConflicts returns, by application, the conflicts of interest that keep
// expert from reviewing the applications named: what the expert's record
// declares now (a conflict declared after the assignment included) against
// each application's school, province, alliance and member schools, and the
// expert's former employers as of now, all read from the log.
// An expert without a record in the pool has none.
func (a *App) ReviewConflicts(ctx context.Context, expert string, applications []string) (map[string][]assign.Reason, error) {
	recorded, err := a.store.ReadStream(ctx, selection.ExpertStream(expert), events.ReadOptions{})
	if err != nil || len(recorded) == 0 {
		return nil, err
	}
	current, err := lastExpertRecord(recorded)
	if err != nil {
		return nil, err
	}
	e := current.AssignExpert()
	out := map[string][]assign.Reason{}
	for _, id := range applications {
		app, err := a.Application(ctx, id)
		if err != nil {
			return nil, err
		}
		members := selection.MemberSchools(app.TaskType, app.Fields.Encode())
		if rs := assign.ConflictsAsOf(assign.Application{ID: app.ID, TaskType: app.TaskType, School: app.School,
			Province: app.Province, Alliances: app.Alliances, Members: members}, e, a.batchNow()); len(rs) > 0 {
			out[id] = rs
		}
	}
	return out, nil
}

// lastExpertRecord is the expert's current record: every expert event carries
// the whole record, so the last one is current.
func lastExpertRecord(recorded []events.Event) (selection.ExpertRegistered, error) {
	last, err := eventtypes.Registry.Decode(recorded[len(recorded)-1])
	if err != nil {
		return selection.ExpertRegistered{}, err
	}
	rec, _ := selection.ExpertRecord(last)
	return rec, nil
}
