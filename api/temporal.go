package api

import (
	"errors"
	"net/http"

	"github.com/google/uuid"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"keytask/events"
	"keytask/workflows"
)

// sendUpdate sends a command to a workflow as a Workflow Update and waits for its
// result. The update id derives from the caller, the workflow and the
// Idempotency-Key, so a retried request gets the first one's outcome and records
// nothing more; without a key every request is a new command. A refusal comes
// back as the rule's *domain.FieldError or *domain.ConflictError (see
// workflows.DomainError). ended reports that no workflow runs under that id: it
// never started or has finished, which the caller tells apart.
func (s *Server) sendUpdate(r *http.Request, workflowID, name string, arg, result any) (ended bool, err error) {
	if s.tc == nil {
		return false, unavailable("no Temporal client")
	}
	key, err := idempotencyKey(r)
	if err != nil {
		return false, err
	}
	ctx, meta := r.Context(), metadata(r.Context())
	id := uuid.NewString()
	if key != "" {
		id = events.DeriveID("update", meta.ActorID, workflowID, name, key).String()
	}
	h, err := s.tc.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID:   workflowID,
		UpdateID:     id,
		UpdateName:   name,
		Args:         []any{arg},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err == nil {
		err = h.Get(ctx, result)
	}
	if err == nil {
		return false, nil
	}
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return true, err
	}
	return false, workflows.DomainError(err)
}
