package workflows_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/testsuite"

	"keytask/activities"
	"keytask/db/pgtest"
	"keytask/domain/selection"
	"keytask/domain/tracking"
	"keytask/events"
	"keytask/workflows"
)

// rectTest runs one flag's timer with time skipping against a real log.
type rectTest struct {
	t     *testing.T
	env   *testsuite.TestWorkflowEnvironment
	store *events.Store
}

func newRectTest(t *testing.T, pool *events.Store, start time.Time, project string, flagVersion int64) *rectTest {
	var s testsuite.WorkflowTestSuite
	rt := &rectTest{t: t, env: newTestEnv(&s)}
	rt.store = events.NewStore(pool.Pool(), events.WithClock(rt.env.Now))
	rt.env.SetStartTime(start)
	rt.env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: workflows.RectificationWorkflowID(project, flagVersion)})
	workflows.Register(rt.env, &activities.Activities{Store: rt.store})
	return rt
}

func (rt *rectTest) add(stream, typ string, data any) {
	rt.t.Helper()
	b, _ := json.Marshal(data)
	if _, err := rt.store.Append(context.Background(), stream, events.AnyVersion, events.NewEvent{
		ID: events.DeriveID("seed", stream, typ), Type: typ, SchemaVersion: 1, Data: b, Metadata: ministry}); err != nil {
		rt.t.Fatal(err)
	}
}

func (rt *rectTest) run(p workflows.RectificationParams) workflows.RectificationResult {
	rt.t.Helper()
	rt.env.ExecuteWorkflow(workflows.RectificationWorkflowName, p)
	if !rt.env.IsWorkflowCompleted() {
		rt.t.Fatal("timer did not complete")
	}
	if err := rt.env.GetWorkflowError(); err != nil {
		rt.t.Fatal(err)
	}
	var res workflows.RectificationResult
	if err := rt.env.GetWorkflowResult(&res); err != nil {
		rt.t.Fatal(err)
	}
	return res
}

// A flag left unrectified is reminded 7 days and 1 day before its deadline
// and escalated to the ministry when the deadline passes, each once and at
// its time; a flag rectified between the reminders gets no second reminder
// and no escalation.
func TestRectificationRemindsThenEscalates(t *testing.T) {
	store := events.NewStore(pgtest.New(t).Pool)
	sh := time.FixedZone("CST", 8*3600)
	start := time.Date(2024, 3, 1, 9, 0, 0, 0, sh)
	deadline := time.Date(2024, 4, 1, 0, 0, 0, 0, sh) // end of 31 March
	seed := func(rt *rectTest, project string) {
		stream := selection.ProjectStream(project)
		rt.add(stream, selection.TypeProjectCreated, selection.ProjectCreated{ProjectID: project, BatchID: "b1", TaskItem: "2.1",
			TaskType: "YZYX", Application: "a-" + project, Province: "11", Rank: 1})
		rt.add(stream, tracking.TypeProjectFlagged, tracking.ProjectFlagged{ProjectID: project, Reason: "建设进度滞后", RectifyBy: deadline})
	}

	// Left unrectified.
	rt := newRectTest(t, store, start, "b1.p1", 2)
	seed(rt, "b1.p1")
	res := rt.run(workflows.RectificationParams{ProjectID: "b1.p1", FlagVersion: 2, RectifyBy: deadline, Actor: ministry})
	if res != (workflows.RectificationResult{Reminders: 2, Escalated: true}) {
		t.Fatalf("unrectified: %+v", res)
	}
	evs := eventsOf(t, store, selection.ProjectStream("b1.p1"))
	if len(evs) != 5 {
		t.Fatalf("%d events on the stream", len(evs))
	}
	wantAt := []time.Time{deadline.Add(-7 * 24 * time.Hour), deadline.Add(-24 * time.Hour), deadline}
	wantType := []string{tracking.TypeRectificationReminded, tracking.TypeRectificationReminded, tracking.TypeRectificationOverdue}
	for i, e := range evs[2:] {
		if e.Type != wantType[i] || !e.RecordedAt.Equal(wantAt[i]) {
			t.Fatalf("event %d: %s at %s, want %s at %s", i, e.Type, e.RecordedAt, wantType[i], wantAt[i])
		}
	}
	var overdue tracking.RectificationOverdue
	if err := json.Unmarshal(evs[4].Data, &overdue); err != nil || overdue.FlagVersion != 2 || overdue.Reason != "建设进度滞后" {
		t.Fatalf("overdue %+v %v", overdue, err)
	}
	// A second timer of the same flag (a retried start that slipped
	// through) records nothing again: the ids derive from the workflow.
	again := newRectTest(t, store, deadline.Add(time.Hour), "b1.p1", 2)
	if res := again.run(workflows.RectificationParams{ProjectID: "b1.p1", FlagVersion: 2, RectifyBy: deadline, Actor: ministry}); !res.Escalated || res.Reminders != 0 {
		t.Fatalf("second timer %+v", res)
	}
	if n := len(eventsOf(t, store, selection.ProjectStream("b1.p1"))); n != 5 {
		t.Fatalf("second timer appended: %d events", n)
	}

	// Rectified three days before the deadline.
	rt = newRectTest(t, store, start, "b1.p2", 2)
	seed(rt, "b1.p2")
	rt.env.RegisterDelayedCallback(func() {
		rt.add(selection.ProjectStream("b1.p2"), tracking.TypeRectificationConfirmed, tracking.RectificationConfirmed{ProjectID: "b1.p2", Note: "已整改"})
	}, deadline.Add(-3*24*time.Hour).Sub(start))
	res = rt.run(workflows.RectificationParams{ProjectID: "b1.p2", FlagVersion: 2, RectifyBy: deadline, Actor: ministry})
	if res != (workflows.RectificationResult{Reminders: 1, Lifted: true}) {
		t.Fatalf("rectified: %+v", res)
	}
	evs = eventsOf(t, store, selection.ProjectStream("b1.p2"))
	if len(evs) != 4 || evs[2].Type != tracking.TypeRectificationReminded || evs[3].Type != tracking.TypeRectificationConfirmed {
		types := []string{}
		for _, e := range evs {
			types = append(types, e.Type)
		}
		t.Fatalf("rectified stream %v", types)
	}
}
