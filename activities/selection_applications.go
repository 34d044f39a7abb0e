package activities

import (
	"context"
	"errors"
	"fmt"

	"go.temporal.io/sdk/temporal"

	"keytask/app"
	"keytask/domain"
	"keytask/domain/selection"
	"keytask/events"
	"keytask/eventtypes"
)

// readApplication folds one application's stream as the log has it now.
func (a *Activities) readApplication(ctx context.Context, id string) (selection.Application, []events.Event, error) {
	evs, err := a.Store.ReadStream(ctx, selection.ApplicationStream(id), events.ReadOptions{})
	if err != nil {
		return selection.Application{}, nil, err
	}
	var app selection.Application
	for _, e := range evs {
		p, ok, err := events.DecodeIf[selection.ApplicationEvent](eventtypes.Registry, e)
		if err != nil {
			return selection.Application{}, nil, temporal.NewNonRetryableApplicationError(err.Error(), "BadApplicationEvent", err)
		}
		if !ok {
			continue
		}
		if err := app.Apply(p); err != nil {
			return selection.Application{}, nil, temporal.NewNonRetryableApplicationError(err.Error(), "BadApplicationEvent", err)
		}
	}
	return app, evs, nil
}

// ApplicationFactsRequest names the applications whose facts a batch command
// needs before it decides.
type ApplicationFactsRequest struct {
	Applications []string `json:"applications"`
}

// ReadApplicationFacts reads each application's stream (store.ReadStream) and
// returns what the batch's checks judge: whether it exists, its status,
// province, task item and school, and the school's selection for the task
// item in another batch (app.SelectionsOf). It writes nothing; the workflow decides with
// selection.BatchState.CheckRecommendable or selection.CheckResubmitted.
func (a *Activities) ReadApplicationFacts(ctx context.Context, req ApplicationFactsRequest) ([]selection.ApplicationFacts, error) {
	out := make([]selection.ApplicationFacts, len(req.Applications))
	// A school selected for the task item in another batch is told by the
	// published lists of the item's batches, read once per item.
	selections := map[string]func(batchID, school string) []selection.PriorSelection{}
	for i, id := range req.Applications {
		if selection.ValidateApplicationID(id) != nil {
			out[i] = selection.ApplicationFacts{ID: id} // cannot name a stream: does not exist
			continue
		}
		ap, _, err := a.readApplication(ctx, id)
		if err != nil {
			return nil, err
		}
		out[i] = selection.FactsOf(id, ap)
		if !ap.Exists() {
			continue
		}
		prior, ok := selections[ap.TaskItem]
		if !ok {
			if prior, err = app.SelectionsOf(ctx, a.Store, ap.TaskItem); err != nil {
				return nil, err
			}
			selections[ap.TaskItem] = prior
		}
		if p := prior(ap.BatchID, ap.School); len(p) > 0 {
			out[i].SelectedIn = &p[0]
		}
	}
	return out, nil
}

// ReturnApplicationsRequest returns the applications of a qualification
// decision for correction, each on its own stream. Step is the decision's step
// in the batch; every ApplicationReturned id derives from WorkflowID, Step and
// the application, so a retry appends nothing twice.
type ReturnApplicationsRequest struct {
	WorkflowID string                            `json:"workflow_id"`
	Step       string                            `json:"step"`
	Metadata   events.Metadata                   `json:"metadata"`
	Decisions  []selection.QualificationDecision `json:"decisions"` // outcome Returned
}

// ReturnApplicationsResult tells which applications became editable, and which
// were not submitted (so there was nothing to reopen).
type ReturnApplicationsResult struct {
	Returned []string `json:"returned,omitempty"`
	Skipped  []string `json:"skipped,omitempty"`
}

// ReturnApplications appends selection.ApplicationReturned (decided by
// selection.Reopen) to each returned application's stream, making it editable
// again until the decision's Until.
func (a *Activities) ReturnApplications(ctx context.Context, req ReturnApplicationsRequest) (ReturnApplicationsResult, error) {
	var out ReturnApplicationsResult
	for _, d := range req.Decisions {
		if d.Outcome != selection.Returned {
			continue
		}
		id := events.DeriveID("workflow", req.WorkflowID, req.Step+"/"+d.Application)
		app, evs, err := a.readApplication(ctx, d.Application)
		if err != nil {
			return out, err
		}
		done := false
		for _, e := range evs {
			done = done || e.ID == id
		}
		if done { // an earlier attempt appended it
			out.Returned = append(out.Returned, d.Application)
			continue
		}
		e, err := selection.Reopen(app, d.Reason, d.Until)
		var ce *domain.ConflictError
		switch {
		case errors.As(err, &ce):
			out.Skipped = append(out.Skipped, d.Application)
			continue
		case err != nil:
			return out, temporal.NewNonRetryableApplicationError(err.Error(), "BadReturn", err)
		}
		spec, err := SelectionStep{WorkflowID: req.WorkflowID, Metadata: req.Metadata}.specID(id.String(), selection.TypeApplicationReturned, e)
		if err != nil {
			return out, err
		}
		// Expected is the version read: a concurrent write makes this attempt
		// fail (retryably) and the retry reads and decides again.
		if _, err := a.Append(ctx, AppendRequest{Stream: selection.ApplicationStream(d.Application), Expected: evs[len(evs)-1].StreamVersion, Events: []EventSpec{spec}}); err != nil {
			var ae *temporal.ApplicationError
			if errors.As(err, &ae) && ae.Type() == ConflictErrorType {
				return out, fmt.Errorf("return %s: %w", d.Application, errors.New(ae.Message()))
			}
			return out, err
		}
		out.Returned = append(out.Returned, d.Application)
	}
	return out, nil
}
