package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/sdk/temporal"

	"keytask/app"
	"keytask/domain/selection"
	"keytask/domain/tracking"
	"keytask/events"
)

// RectificationStepRequest is one step of a flagged project's rectification
// timer: a reminder Offset before the deadline, or (Offset 0) the
// escalation when the deadline has passed.
type RectificationStepRequest struct {
	ProjectID   string          `json:"project_id"`
	FlagVersion int64           `json:"flag_version"`
	Offset      time.Duration   `json:"offset"`
	Escalate    bool            `json:"escalate"`
	WorkflowID  string          `json:"workflow_id"`
	Metadata    events.Metadata `json:"metadata"`
}

// RectificationStepResult tells the timer whether the flag is still open.
type RectificationStepResult struct {
	Pending  bool `json:"pending"`  // the flag is still the project's open one
	Recorded bool `json:"recorded"` // the step's event is in the log
}

// RectificationStepID is the id of a step's event, derived from the workflow
// as workflows.EventID does, so a retry finds it recorded.
func RectificationStepID(workflowID string, offset time.Duration, escalate bool) uuid.UUID {
	step := fmt.Sprintf("remind/%s", offset)
	if escalate {
		step = "overdue"
	}
	return events.DeriveID("workflow", workflowID, step)
}

// RectificationStep decides against the project's stream (rule 11) whether
// the flag the timer was started for is still open and, if so, records the
// reminder or the escalation on the stream. A rectified, replaced, revoked or
// accepted flag records nothing and ends the timer.
func (a *Activities) RectificationStep(ctx context.Context, req RectificationStepRequest) (RectificationStepResult, error) {
	stream := selection.ProjectStream(req.ProjectID)
	recorded, err := a.Store.ReadStream(ctx, stream, events.ReadOptions{})
	if err != nil {
		return RectificationStepResult{}, err
	}
	id := RectificationStepID(req.WorkflowID, req.Offset, req.Escalate)
	for _, e := range recorded {
		if e.ID == id {
			return RectificationStepResult{Pending: true, Recorded: true}, nil
		}
	}
	p, err := app.FoldProject(recorded)
	if err != nil {
		return RectificationStepResult{}, temporal.NewNonRetryableApplicationError("fold project "+req.ProjectID, "BadProject", err)
	}
	if !p.RectificationPending(req.FlagVersion) {
		return RectificationStepResult{}, nil
	}
	var typ string
	var data any
	if req.Escalate {
		typ, data = tracking.TypeRectificationOverdue, tracking.RectificationOverdue{ProjectID: p.ID, FlagVersion: req.FlagVersion,
			Reason: p.Flag.Reason, RectifyBy: p.Flag.RectifyBy}
	} else {
		typ, data = tracking.TypeRectificationReminded, tracking.RectificationReminded{ProjectID: p.ID, FlagVersion: req.FlagVersion,
			RectifyBy: p.Flag.RectifyBy, Offset: req.Offset}
	}
	b, err := json.Marshal(data)
	if err != nil {
		return RectificationStepResult{}, temporal.NewNonRetryableApplicationError("encode "+typ, "BadAppend", err)
	}
	md := req.Metadata
	md.WorkflowID = req.WorkflowID
	// At the version just read: a command appended meanwhile (a confirmation,
	// say) conflicts, and the retry decides again on the longer stream.
	_, err = a.Store.Append(ctx, stream, p.Version, events.NewEvent{ID: id, Type: typ, SchemaVersion: 1, Data: b, Metadata: md})
	if conflict := (*events.ErrConflict)(nil); errors.As(err, &conflict) {
		return RectificationStepResult{}, fmt.Errorf("project %s moved while recording %s: %w", p.ID, typ, err)
	}
	if err != nil {
		return RectificationStepResult{}, err
	}
	return RectificationStepResult{Pending: true, Recorded: true}, nil
}
