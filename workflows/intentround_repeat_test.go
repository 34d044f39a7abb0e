package workflows_test

import (
	"errors"
	"testing"
	"time"

	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/workflow"

	"keytask/db/pgtest"
	"keytask/domain/intent"
	"keytask/events"
	"keytask/workflows"
)

// updateWithID sends an update under a given id at the given instant.
func (rt *roundTest) updateWithID(at time.Time, id, name string, arg any) *outcome {
	return updateAt(rt.env, rt.start, at, id, name, arg)
}

// A province's command completed in one run and sent again under the same id
// to the next run is answered, not executed again: the repeated submission is
// not refused as already submitted, and the draft is recorded once.
func TestIntentRoundRepeatedUpdateAcrossContinueAsNew(t *testing.T) {
	store := events.NewStore(pgtest.New(t).Pool)
	first := newRoundTest(t, store)
	d11 := first.updateWithID(opened.Add(time.Hour), "u-draft-11", workflows.UpdateSaveIntentDraft, formCmd("11", `{"lines":[]}`))
	s44 := first.updateWithID(opened.Add(time.Hour), "u-submit-44", workflows.UpdateSubmitIntent, formCmd("44", goodForm))
	first.env.RegisterDelayedCallback(func() { first.env.SetContinueAsNewSuggested(true) }, 2*time.Hour)
	first.run()
	d11.ok(t)
	s44.ok(t)
	var can *workflow.ContinueAsNewError
	if !errors.As(first.env.GetWorkflowError(), &can) {
		t.Fatalf("workflow error %v, want continue-as-new", first.env.GetWorkflowError())
	}
	var next workflows.IntentRoundParams
	if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &next); err != nil {
		t.Fatal(err)
	}

	second := newRoundTest(t, store)
	second.params = next
	second.startAt(opened.Add(3 * time.Hour))
	d11again := second.updateWithID(opened.Add(4*time.Hour), "u-draft-11", workflows.UpdateSaveIntentDraft, formCmd("11", `{"lines":[]}`))
	s44again := second.updateWithID(opened.Add(4*time.Hour), "u-submit-44", workflows.UpdateSubmitIntent, formCmd("44", goodForm))
	second.env.RegisterDelayedCallback(func() { second.env.CancelWorkflow() }, 5*time.Hour-3*time.Hour)
	second.run()
	d11again.ok(t)
	s44again.ok(t)
	if res, ok := s44again.result.(workflows.FormResult); !ok || res.Version != 1 {
		t.Errorf("repeated submission answered %#v, want the form at version 1", s44again.result)
	}
	wantTypes(t, "44", second.stream(intent.FormStream("2022-1", "44")), intent.TypeIntentSubmitted)
	wantTypes(t, "11", second.stream(intent.FormStream("2022-1", "11")), intent.TypeIntentDraftSaved)
}
