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

// updateWithID sends an update under a given id, as the API does when it
// sends a request's update again.
func (ct *collTest) updateWithID(at time.Time, id, name string, arg any) *outcome {
	return updateAt(ct.env, ct.start, at, id, name, arg)
}

// An update completed in one run and sent again, under the same id, to the
// run that continued it (its caller's wait timed out) is answered without
// being executed a second time: no second draft, no conflict for a repeated
// submission. An update with another id is still executed.
func TestCollectionRepeatedUpdateAcrossContinueAsNew(t *testing.T) {
	store := events.NewStore(pgtest.New(t).Pool)
	seedProjects(t, store)
	restore := workflows.SetCollectionUpdatesPerRun(2)
	defer restore()

	const id = "performance-collection-repeat"
	draft := workflows.ReportCommand{ProjectID: "b1.a1", Input: performance.ReportInput{Summary: "草稿"}, Actor: school("s1")}
	submit := workflows.ReportCommand{ProjectID: "b1.a2", Input: report("80"), Actor: school("s2")}
	first := newCollTest(t, store, collectionStart, id)
	d1 := first.updateWithID(collectionStart.Add(4*day), "u-draft", workflows.UpdateSaveReportDraft, draft)
	s1 := first.updateWithID(collectionStart.Add(5*day), "u-submit", workflows.UpdateSubmitReport, submit)
	first.env.ExecuteWorkflow(workflows.PerformanceCollectionWorkflowName, workflows.PerformanceCollectionParams{Actor: ministry})
	d1.ok(t)
	s1.ok(t)
	var can *workflow.ContinueAsNewError
	if err := first.env.GetWorkflowError(); !errors.As(err, &can) {
		t.Fatalf("first run ended with %v, want continue-as-new", err)
	}
	var next workflows.PerformanceCollectionParams
	if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &next); err != nil {
		t.Fatal(err)
	}

	restore()
	at := collectionStart.Add(5*day + time.Minute)
	second := newCollTest(t, store, at, id)
	d2 := second.updateWithID(at.Add(time.Minute), "u-draft", workflows.UpdateSaveReportDraft, draft)
	s2 := second.updateWithID(at.Add(time.Minute), "u-submit", workflows.UpdateSubmitReport, submit)
	other := second.updateWithID(at.Add(2*time.Minute), "u-draft-2", workflows.UpdateSaveReportDraft, draft)
	second.run(next)
	for _, o := range []*outcome{d2, s2, other} {
		o.ok(t)
	}
	if res, ok := s2.result.(workflows.ReportResult); !ok || res.Version != 2 || res.Late {
		t.Errorf("repeated submission answered %#v, want version 2, on time", s2.result)
	}
	wantStream := func(project string, types ...string) {
		t.Helper()
		evs := eventsOf(t, store, performance.ReportStream(2022, project))
		var got []string
		for _, e := range evs {
			got = append(got, e.Type)
		}
		if len(got) != len(types) {
			t.Fatalf("report %s holds %v, want %v", project, got, types)
		}
		for i := range got {
			if got[i] != types[i] {
				t.Fatalf("report %s holds %v, want %v", project, got, types)
			}
		}
	}
	wantStream("b1.a1", performance.TypeReportOpened, performance.TypeReportDraftSaved, performance.TypeReportDraftSaved)
	wantStream("b1.a2", performance.TypeReportOpened, performance.TypeReportSubmitted)
}
