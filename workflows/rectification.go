package workflows

import (
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"keytask/activities"
	"keytask/domain/tracking"
	"keytask/events"
)

// RectificationWorkflowName is the registered name of a flagged project's
// rectification timer.
const RectificationWorkflowName = "ProjectRectification"

// RectificationWorkflowID names the timer of the flag recorded at flagVersion
// of the project's stream: one per flag, so a project flagged again after a
// rectification gets a timer of its own and a repeated start finds the running
// one.
func RectificationWorkflowID(projectID string, flagVersion int64) string {
	return fmt.Sprintf("project-rectification-%s-%d", projectID, flagVersion)
}

// RectificationParams start the timer of one flag.
type RectificationParams struct {
	ProjectID   string    `json:"project_id"`
	FlagVersion int64     `json:"flag_version"`
	RectifyBy   time.Time `json:"rectify_by"`
	// Offsets before RectifyBy at which the school and province are
	// reminded; nil is tracking.RectificationOffsets.
	Offsets []time.Duration `json:"offsets,omitempty"`
	Actor   events.Metadata `json:"actor"`
}

// RectificationResult is how the timer ended.
type RectificationResult struct {
	Reminders int  `json:"reminders"`
	Escalated bool `json:"escalated"`
	Lifted    bool `json:"lifted"` // the flag was rectified, replaced, or the project ended
}

// RectificationWorkflow sleeps until each reminder offset before the flag's
// deadline and then until the deadline; at each it asks the log whether the
// flag is still open and records the reminder, then the escalation to the
// ministry. Its state is a handful of fields whatever the number of projects:
// one small workflow per flag (rule 14). A reminder whose time has passed when
// the timer starts is skipped, as a collection skips them.
func RectificationWorkflow(ctx workflow.Context, p RectificationParams) (RectificationResult, error) {
	var res RectificationResult
	offsets := p.Offsets
	if offsets == nil {
		offsets = tracking.RectificationOffsets
	}
	offsets = slices.Clone(offsets)
	slices.SortFunc(offsets, func(a, b time.Duration) int { return int(b - a) })
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: 200 * time.Millisecond, BackoffCoefficient: 2,
			MaximumInterval: 30 * time.Second, NonRetryableErrorTypes: []string{"BadProject", "BadAppend"}},
	})
	var a *activities.Activities
	step := func(offset time.Duration, escalate bool) (bool, error) {
		var out activities.RectificationStepResult
		err := workflow.ExecuteActivity(actx, a.RectificationStep, activities.RectificationStepRequest{
			ProjectID: p.ProjectID, FlagVersion: p.FlagVersion, Offset: offset, Escalate: escalate,
			WorkflowID: workflow.GetInfo(ctx).WorkflowExecution.ID, Metadata: p.Actor,
		}).Get(ctx, &out)
		return out.Pending, err
	}
	for _, off := range offsets {
		if off <= 0 {
			continue
		}
		wait := p.RectifyBy.Add(-off).Sub(workflow.Now(ctx))
		if wait <= 0 {
			continue
		}
		if err := workflow.Sleep(ctx, wait); err != nil {
			return res, err
		}
		pending, err := step(off, false)
		if err != nil {
			return res, err
		}
		if !pending {
			res.Lifted = true
			return res, nil
		}
		res.Reminders++
	}
	if wait := p.RectifyBy.Sub(workflow.Now(ctx)); wait > 0 {
		if err := workflow.Sleep(ctx, wait); err != nil {
			return res, err
		}
	}
	pending, err := step(0, true)
	if err != nil {
		return res, err
	}
	res.Escalated, res.Lifted = pending, !pending
	return res, nil
}
