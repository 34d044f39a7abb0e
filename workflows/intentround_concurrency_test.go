package workflows_test

import (
	"errors"
	"testing"
	"time"

	"keytask/domain"
	"keytask/domain/intent"
	"keytask/workflows"
)

// Provinces' commands run side by side: their appends are in flight together.
// One province's commands still take turns, so the second of two identical
// submissions decides on the state the first left and is refused, and each
// form stream holds each command's event once.
func TestIntentRoundProvincesSideBySide(t *testing.T) {
	rt := newRoundTest(t, nil)
	appends := trackAppends(rt.env, rt.acts, 3,
		intent.FormStream("2022-1", "44"), intent.FormStream("2022-1", "65"), intent.FormStream("2022-1", "11"))
	at := opened.Add(time.Hour)
	s44 := rt.update(at, workflows.UpdateSubmitIntent, formCmd("44", goodForm))
	s65 := rt.update(at, workflows.UpdateSubmitIntent, formCmd("65", goodForm))
	d11 := rt.update(at, workflows.UpdateSaveIntentDraft, formCmd("11", `{"lines":[]}`))
	again := rt.update(at, workflows.UpdateSubmitIntent, formCmd("44", goodForm))
	s11 := rt.update(at.Add(time.Hour), workflows.UpdateSubmitIntent, formCmd("11", goodForm))
	file := rt.update(deadline.Add(2*day), workflows.UpdateFileIntentRound, workflows.FileCommand{Actor: ministry})
	rt.run()
	if err := rt.env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	for _, o := range []*outcome{s44, s65, d11, s11, file} {
		o.ok(t)
	}
	var ce *domain.ConflictError
	if !again.completed || !errors.As(workflows.DomainError(again.err), &ce) {
		t.Fatalf("a second submission of 44 at the same instant: completed=%v err=%v; want a conflict", again.completed, again.err)
	}
	if appends.max() < 3 {
		t.Fatalf("at most %d appends in flight at once; want three together", appends.max())
	}
	wantTypes(t, "44", rt.stream(intent.FormStream("2022-1", "44")), intent.TypeIntentSubmitted)
	wantTypes(t, "65", rt.stream(intent.FormStream("2022-1", "65")), intent.TypeIntentSubmitted)
	wantTypes(t, "11", rt.stream(intent.FormStream("2022-1", "11")), intent.TypeIntentDraftSaved, intent.TypeIntentSubmitted)
}
