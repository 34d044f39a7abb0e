package workflows_test

import (
	"context"
	"testing"
	"time"

	"keytask/domain/selection"
	"keytask/events"
	"keytask/workflows"
)

// On a dilated clock the batch's deadlines pass after their dilated length of
// workflow time, and what it decides and records reads the dilated time.
func TestSelectionBatchDilatedClock(t *testing.T) {
	const factor = 60
	bt := newBatchTest(t, workflows.Options{Clock: workflows.DilatedClock{Origin: selStart, Factor: factor}})
	at := func(d time.Duration) time.Time { return selStart.Add(d) }
	// The recommendation deadline is two days out: 48 minutes of workflow time.
	before := bt.status(at(47 * time.Minute))
	after := bt.status(at(49 * time.Minute))
	// Extending to three days after the start: 50 minutes of workflow time
	// read as 50 hours, so the new deadline is still ahead.
	extend := bt.update(at(50*time.Minute), workflows.UpdateExtendStageDeadline, val(workflows.ExtendStageCommand{Stage: selection.StageRecommendation, Deadline: at(3 * day), Actor: ministry}))
	// Extending to 60 hours after the start is refused at 61 minutes: that is 61 hours on the batch's clock.
	past := bt.update(at(61*time.Minute), workflows.UpdateExtendStageDeadline, val(workflows.ExtendStageCommand{Stage: selection.StageRecommendation, Deadline: at(60 * time.Hour).Add(time.Hour), Actor: ministry}))
	extended := bt.status(at(71 * time.Minute))
	passedAgain := bt.status(at(73 * time.Minute))
	bt.env.RegisterDelayedCallback(bt.env.CancelWorkflow, 80*time.Minute)
	bt.env.ExecuteWorkflow(workflows.SelectionBatchWorkflowName, bt.params)

	if before.Overdue || !after.Overdue || !after.Deadline.Equal(at(2*day)) {
		t.Fatalf("before: %+v; after: %+v", before, after)
	}
	if !extend.completed || extend.err != nil {
		t.Fatalf("extend: %+v", extend)
	}
	if !past.rejected {
		t.Fatalf("an extension to a past moment on the dilated clock: %+v", past)
	}
	if extended.Overdue || !extended.Deadline.Equal(at(3*day)) || !passedAgain.Overdue {
		t.Fatalf("extended: %+v; then %+v", extended, passedAgain)
	}
	recorded, err := bt.store.ReadStream(context.Background(), selection.SelectionBatchStream("b1"), events.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var passed []time.Time
	for _, e := range recorded {
		if e.Type == selection.TypeStageDeadlinePassed {
			passed = append(passed, e.RecordedAt)
		}
	}
	// Recorded in workflow time: 48 and 72 minutes after the start.
	if len(passed) != 2 || !passed[0].Equal(at(48*time.Minute)) || !passed[1].Equal(at(72*time.Minute)) {
		t.Fatalf("deadlines passed at %v", passed)
	}
}
