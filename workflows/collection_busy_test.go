package workflows_test

import (
	"errors"
	"testing"
	"time"

	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"keytask/db/pgtest"
	"keytask/domain/performance"
	"keytask/events"
	"keytask/workflows"
)

// updatesAt sends several updates at one instant of simulated time, in order:
// each one's handler runs until it blocks (on the mutex or an activity)
// before the next one is validated.
func (ct *collTest) updatesAt(at time.Time, reqs ...collUpdate) []*outcome {
	out := make([]*outcome, len(reqs))
	for i, r := range reqs {
		out[i] = &outcome{name: r.name}
	}
	ct.env.RegisterDelayedCallback(func() {
		for i, r := range reqs {
			o := out[i]
			o.at = ct.env.Now()
			ct.env.UpdateWorkflow(r.name, "", &testsuite.TestUpdateCallback{
				OnAccept:   func() { o.accepted = true },
				OnReject:   func(err error) { o.rejected, o.err = true, err },
				OnComplete: func(res any, err error) { o.completed, o.result, o.err = true, res, err },
			}, r.arg)
		}
	}, at.Sub(ct.start))
	return out
}

type collUpdate struct {
	name string
	arg  any
}

// A run that has handled its bound of updates refuses the next one as busy
// while its last handler is still appending: the refusal is a "Busy"
// application error (which the API sends again), the update records nothing,
// and the next run takes it when it is sent again.
func TestCollectionRefusesBusyWhenDueToContinueAsNew(t *testing.T) {
	store := events.NewStore(pgtest.New(t).Pool)
	seedProjects(t, store)

	const id = "performance-collection-busy"
	first := newCollTestWith(t, store, collectionStart, id, workflows.Options{CollectionUpdatesPerRun: 2})
	a1 := first.update(collectionStart.Add(4*day), workflows.UpdateSubmitReport, workflows.ReportCommand{ProjectID: "b1.a1", Input: report("90"), Actor: school("s1")})
	third := workflows.ReportCommand{ProjectID: "b1.a3", Input: report("70"), Actor: school("s3")}
	at5 := first.updatesAt(collectionStart.Add(5*day),
		// The second update reaches the bound and blocks on its append...
		collUpdate{workflows.UpdateSubmitReport, workflows.ReportCommand{ProjectID: "b1.a2", Input: report("80"), Actor: school("s2")}},
		// ...so this one finds the run due to continue as new.
		collUpdate{workflows.UpdateSubmitReport, third},
		collUpdate{workflows.UpdateSaveReportDraft, workflows.ReportCommand{ProjectID: "b1.a3", Input: report("60"), Actor: school("s3")}},
	)
	first.env.ExecuteWorkflow(workflows.PerformanceCollectionWorkflowName, workflows.PerformanceCollectionParams{Actor: ministry})
	a1.ok(t)
	at5[0].ok(t)
	for _, o := range at5[1:] {
		if !o.rejected || o.accepted || o.completed {
			t.Fatalf("%s of b1.a3: rejected %v accepted %v completed %v err %v, want the validator to refuse it", o.name, o.rejected, o.accepted, o.completed, o.err)
		}
		// What the API's client gets back, after the failure crossed the wire.
		fc := temporal.GetDefaultFailureConverter()
		var ae *temporal.ApplicationError
		if err := fc.FailureToError(fc.ErrorToFailure(o.err)); !errors.As(err, &ae) || ae.Type() != workflows.UpdateBusyErrorType {
			t.Fatalf("%s of b1.a3 refused with %v, want an application error of type %q", o.name, err, workflows.UpdateBusyErrorType)
		}
	}

	var can *workflow.ContinueAsNewError
	if err := first.env.GetWorkflowError(); !errors.As(err, &can) {
		t.Fatalf("first run ended with %v, want continue-as-new", err)
	}
	var next workflows.PerformanceCollectionParams
	if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &next); err != nil {
		t.Fatal(err)
	}
	carry := next.Carry
	if carry == nil {
		t.Fatal("no carry")
	}
	for p, want := range map[string]performance.Status{"b1.a1": performance.StatusSubmitted, "b1.a2": performance.StatusSubmitted, "b1.a3": performance.StatusOpen} {
		if got := carry.State.Reports[p].Status; got != want {
			t.Errorf("%s is %s in the carry, want %s", p, got, want)
		}
	}
	if carry.ReportVersions["b1.a3"] != 1 || carry.Steps["b1.a3"] != 0 {
		t.Errorf("the refused updates moved b1.a3: version %d, steps %d", carry.ReportVersions["b1.a3"], carry.Steps["b1.a3"])
	}
	if evs := eventsOf(t, store, performance.ReportStream(2022, "b1.a3")); len(evs) != 1 || evs[0].Type != performance.TypeReportOpened {
		t.Fatalf("b1.a3's stream after the refusals: %v", typesOf(evs))
	}
	for _, p := range []string{"b1.a1", "b1.a2"} {
		if evs := eventsOf(t, store, performance.ReportStream(2022, p)); len(evs) != 2 || evs[1].Type != performance.TypeReportSubmitted {
			t.Fatalf("%s's stream: %v", p, typesOf(evs))
		}
	}

	// Sent again, the refused submission is the next run's.
	second := newCollTest(t, store, collectionStart.Add(5*day+time.Minute), id)
	again := second.update(collectionStart.Add(5*day+2*time.Minute), workflows.UpdateSubmitReport, third)
	res := second.run(next)
	again.ok(t)
	if res.Summary.Submitted != 3 || res.Summary.Missing != 0 {
		t.Errorf("summary %+v, want all three submitted", res.Summary)
	}
	if evs := eventsOf(t, store, performance.ReportStream(2022, "b1.a3")); len(evs) != 2 || evs[1].Type != performance.TypeReportSubmitted {
		t.Fatalf("b1.a3's stream: %v", typesOf(evs))
	}
}

func typesOf(evs []events.Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.Type)
	}
	return out
}
