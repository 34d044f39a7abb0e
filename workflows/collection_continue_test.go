package workflows_test

import (
	"errors"
	"testing"
	"time"

	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/workflow"

	"keytask/db/pgtest"
	"keytask/domain/performance"
	"keytask/events"
	"keytask/workflows"
)

// A collection that continues as new hands its state to the next run, which
// picks up where it left off: it reminds only the school still owing its
// report, marks it late, closes with the right summary, and appends no event
// twice.
func TestCollectionContinuesAsNew(t *testing.T) {
	store := events.NewStore(pgtest.New(t).Pool)
	seedProjects(t, store)
	restore := workflows.SetCollectionUpdatesPerRun(2)
	defer restore()

	const id = "performance-collection-continue"
	first := newCollTest(t, store, collectionStart, id)
	a1 := first.update(collectionStart.Add(4*day), workflows.UpdateSubmitReport, workflows.ReportCommand{ProjectID: "b1.a1", Input: report("90"), Actor: school("s1")})
	a2 := first.update(collectionStart.Add(5*day), workflows.UpdateSubmitReport, workflows.ReportCommand{ProjectID: "b1.a2", Input: report("80"), Actor: school("s2")})
	first.env.ExecuteWorkflow(workflows.PerformanceCollectionWorkflowName, workflows.PerformanceCollectionParams{Actor: ministry})
	a1.ok(t)
	a2.ok(t)
	var can *workflow.ContinueAsNewError
	if err := first.env.GetWorkflowError(); !errors.As(err, &can) {
		t.Fatalf("first run ended with %v, want continue-as-new", err)
	}
	var next workflows.PerformanceCollectionParams
	if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &next); err != nil {
		t.Fatal(err)
	}
	if next.Carry == nil || next.Carry.State.Reports["b1.a1"].Status != performance.StatusSubmitted || next.Carry.ReportVersions["b1.a2"] != 2 {
		t.Fatalf("carry %+v", next.Carry)
	}

	restore()
	second := newCollTest(t, store, collectionStart.Add(5*day+time.Minute), id)
	res := second.run(next)
	if want := (performance.CollectionClosed{Year: 2022, Projects: 3, Submitted: 2, Late: 1, Missing: 1}); res.Summary != want {
		t.Fatalf("summary %+v, want %+v", res.Summary, want)
	}
	count := map[string]int{}
	for _, e := range eventsOf(t, store, performance.CollectionStream(2022)) {
		count[e.Type]++
		if e.Type == performance.TypeReminderSent {
			var r performance.ReminderSent
			mustJSON(t, e.Data, &r)
			if r.ProjectID != "b1.a3" {
				t.Errorf("reminded %s, which submitted before the continue-as-new", r.ProjectID)
			}
		}
	}
	if count[performance.TypeCollectionOpened] != 1 || count[performance.TypeReminderSent] != 4 || count[performance.TypeReportMarkedLate] != 1 ||
		count[performance.TypeEscalated] != 1 || count[performance.TypeCollectionClosed] != 1 {
		t.Fatalf("collection events %v", count)
	}
}
