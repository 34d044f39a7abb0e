package activities_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"keytask/activities"
	"keytask/db/pgtest"
	"keytask/domain/performance"
	"keytask/domain/selection"
	"keytask/domain/tracking"
	"keytask/events"
)

// Projects that were revoked or accepted get no report; the others carry
// their school from the application.
func TestActivePerformanceProjects(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := events.NewStore(pgtest.New(t).Pool)
	add := func(stream, typ string, data any) {
		b, _ := json.Marshal(data)
		if _, err := store.Append(ctx, stream, events.AnyVersion, events.NewEvent{ID: events.DeriveID("t", stream, typ), Type: typ,
			SchemaVersion: 1, Data: b}); err != nil {
			t.Fatal(err)
		}
	}
	for _, app := range []string{"a1", "a2", "a3"} {
		add(selection.ApplicationStream(app), selection.TypeApplicationCreated, selection.ApplicationCreated{ApplicationID: app,
			TaskType: "YZYX", School: "school-" + app, Province: "11"})
		add(selection.ProjectStream("b."+app), selection.TypeProjectCreated, selection.ProjectCreated{ProjectID: "b." + app,
			BatchID: "b", TaskType: "YZYX", Application: app, Province: "11"})
	}
	add(selection.ProjectStream("b.a2"), tracking.TypeProjectRevoked, tracking.ProjectRevoked{ProjectID: "b.a2", Reason: "撤销"})
	add(selection.ProjectStream("b.a3"), tracking.TypeProjectAccepted, tracking.ProjectAccepted{ProjectID: "b.a3", AcceptedAt: time.Now()})

	a := &activities.Activities{Store: store}
	got, err := a.ActivePerformanceProjects(ctx, activities.ActiveProjectsRequest{Year: 2023})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ProjectID != "b.a1" || got[0].School != "school-a1" || got[0].Year != 2023 {
		t.Fatalf("active %+v", got)
	}
}

// A retried reminder append, after a lost reply, records nothing more: one
// reminder per report per offset.
func TestSendPerformanceRemindersOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := events.NewStore(pgtest.New(t).Pool)
	a := &activities.Activities{Store: store}
	stream := performance.CollectionStream(2022)
	req := activities.PerformanceRemindersRequest{
		CollectionStep: activities.CollectionStep{Stream: stream, Expected: events.NoStream, WorkflowID: "performance-collection-2022"},
		Year:           2022, Offset: 7 * 24 * time.Hour,
		Reports: []activities.ReportRef{{ProjectID: "p1", School: "s1", Province: "11"}, {ProjectID: "p2", School: "s2", Province: "44"}},
	}
	first, err := a.SendPerformanceReminders(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	again, err := a.SendPerformanceReminders(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(first.Versions, []int64{1, 2}) || !slices.Equal(again.Versions, first.Versions) {
		t.Fatalf("versions %v then %v", first.Versions, again.Versions)
	}
	evs, err := store.ReadStream(ctx, stream, events.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 || evs[0].ID.String() != events.DeriveID("workflow", "performance-collection-2022", activities.RemindStep(7*24*time.Hour, "p1")).String() {
		t.Fatalf("%d events, first %s", len(evs), evs[0].ID)
	}
	// The same reminder at another offset is another event.
	req.Offset, req.Expected = 24*time.Hour, 2
	if _, err := a.SendPerformanceReminders(ctx, req); err != nil {
		t.Fatal(err)
	}
	if v, _ := store.StreamVersion(ctx, stream); v != 4 {
		t.Fatalf("version %d after the second offset", v)
	}
}
