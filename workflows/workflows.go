// Package workflows holds keytask's Temporal workflows. They decide when things
// happen — stages, deadlines, reminders, who may act now — and never touch the
// database or the network themselves: every effect is an activity.
package workflows

import (
	"encoding/json"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"keytask/activities"
	"keytask/domain/calendar"
	"keytask/events"
)

// Search attributes keytask's workflows set, so staff can find them in the
// Temporal UI. They are registered on the namespace at start: an unregistered
// attribute leaves workflow tasks failing forever.
var (
	StageKey    = temporal.NewSearchAttributeKeyKeyword("KeytaskStage")
	TaskItemKey = temporal.NewSearchAttributeKeyKeyword("KeytaskTaskItem")
	BatchKey    = temporal.NewSearchAttributeKeyKeyword("KeytaskBatch")
	ProvinceKey = temporal.NewSearchAttributeKeyKeyword("KeytaskProvince")
	YearKey     = temporal.NewSearchAttributeKeyInt64("KeytaskYear")
)

// SearchAttributes lists the custom search attributes with their types.
func SearchAttributes() map[string]enumspb.IndexedValueType {
	return map[string]enumspb.IndexedValueType{
		StageKey.GetName():    enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		TaskItemKey.GetName(): enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		BatchKey.GetName():    enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		ProvinceKey.GetName(): enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		YearKey.GetName():     enumspb.INDEXED_VALUE_TYPE_INT,
	}
}

// Register registers every workflow and activity on a worker: the one place
// that lists them.
func Register(r worker.Registry, a *activities.Activities) {
	RegisterWith(r, a, Options{})
}

// Options change how registered workflows run. Production sets none.
type Options struct {
	// Clock is the selection batch's clock; nil is workflow time. A test
	// against a real server sets a DilatedClock to see weeks pass in seconds.
	Clock Clock
	// CollectionUpdatesPerRun is how many updates a performance collection
	// run handles before it continues as new; 0 is the default (400). A test
	// sets a few to see many runs, and the busy refusals between them.
	CollectionUpdatesPerRun int
	// Calendar is the holiday calendar public notices are counted on; nil is
	// the embedded one (calendar.Default). A process that loads an
	// operator's holiday file (calendar.Load, KEYTASK_HOLIDAYS) passes it
	// here rather than swapping a package-level calendar: the workflow reads
	// only what it was registered with, so what a replay computes does not
	// depend on which code ran first at startup. Replay stays deterministic
	// across restarts that load a longer file because calendar.Extend never
	// changes a year once loaded: a notice counted before counts the same.
	Calendar *calendar.Calendar
}

// RegisterWith is Register with options.
func RegisterWith(r worker.Registry, a *activities.Activities, o Options) {
	r.RegisterActivity(a)
	r.RegisterWorkflowWithOptions(IntentRoundWorkflow, workflow.RegisterOptions{Name: IntentRoundWorkflowName})
	r.RegisterWorkflowWithOptions(selectionBatchWorkflow(o.Clock, o.Calendar), workflow.RegisterOptions{Name: SelectionBatchWorkflowName})
	r.RegisterWorkflowWithOptions(performanceCollectionWorkflow(o.CollectionUpdatesPerRun), workflow.RegisterOptions{Name: PerformanceCollectionWorkflowName})
	r.RegisterWorkflowWithOptions(RectificationWorkflow, workflow.RegisterOptions{Name: RectificationWorkflowName})
}

// EventID derives an event id from the workflow's id and a step name that is
// unique within the workflow. Replays and activity retries derive the same id,
// which is what makes the append idempotent.
func EventID(ctx workflow.Context, step string) string {
	return events.DeriveID("workflow", workflow.GetInfo(ctx).WorkflowExecution.ID, step).String()
}

// NewEventSpec builds an event for AppendEvents with its id derived from step.
func NewEventSpec(ctx workflow.Context, step, typ string, data any, md events.Metadata) (activities.EventSpec, error) {
	b, err := json.Marshal(data)
	if err != nil {
		return activities.EventSpec{}, fmt.Errorf("event %s: %w", typ, err)
	}
	md.WorkflowID = workflow.GetInfo(ctx).WorkflowExecution.ID
	return activities.EventSpec{ID: EventID(ctx, step), Type: typ, SchemaVersion: 1, Data: b, Metadata: md}, nil
}

// AppendEvents appends through the Append activity with retries; a version
// conflict is not retried and comes back as an application error.
func AppendEvents(ctx workflow.Context, stream string, expected int64, evs ...activities.EventSpec) (activities.AppendResult, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        200 * time.Millisecond,
			BackoffCoefficient:     2,
			MaximumInterval:        10 * time.Second,
			NonRetryableErrorTypes: []string{activities.ConflictErrorType},
		},
	})
	var a *activities.Activities
	var res activities.AppendResult
	err := workflow.ExecuteActivity(ctx, a.Append, activities.AppendRequest{Stream: stream, Expected: expected, Events: evs}).Get(ctx, &res)
	return res, err
}
