package api

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"keytask/domain"
	"keytask/events"
	"keytask/workflows"
)

// processGone tells what a command meets when no workflow runs for its process.
type processGone struct {
	id             string       // the process, for the logs
	ended, missing string       // for users: the process has ended, or never was
	known          func() error // nil when a read model knows the process
}

// processUpdate sends a command to a process's workflow (see sendUpdate). When
// none runs, a process the read models know has ended (409); else there is
// no such process (404).
func (s *Server) processUpdate(r *http.Request, workflowID, name string, arg, result any, gone processGone) error {
	ended, err := s.sendUpdate(r, workflowID, name, arg, result)
	if !ended {
		return err
	}
	if gone.known() == nil {
		return domain.Conflict("", gone.ended, fmt.Sprintf("%s: %v", gone.id, err))
	}
	return notFound(gone.missing, fmt.Sprintf("%s: %v", gone.id, err))
}

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
	// A run about to continue as new refuses updates as busy for a moment;
	// the refusal recorded nothing, so the same update is sent again. A wait
	// that passed the client's long-poll limit while the request goes on is
	// sent again too, under the same id: the workflows remember the ids of
	// updates they completed, also across continue-as-new, and answer a
	// repeated one without executing it again.
	busy := false
	for wait := 20 * time.Millisecond; ; wait = min(2*wait, time.Second) {
		h, uerr := s.tc.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
			WorkflowID:   workflowID,
			UpdateID:     id,
			UpdateName:   name,
			Args:         []any{arg},
			WaitForStage: client.WorkflowUpdateStageCompleted,
		})
		if uerr == nil {
			uerr = h.Get(ctx, result)
		}
		var timedOut *client.WorkflowUpdateServiceTimeoutOrCanceledError
		if errors.As(uerr, &timedOut) && ctx.Err() == nil {
			s.log.WarnContext(ctx, "update wait timed out; sending it again", "workflow_id", workflowID, "update", name, "update_id", id, "err", uerr)
			continue
		}
		var ae *temporal.ApplicationError
		if !errors.As(uerr, &ae) || ae.Type() != workflows.UpdateBusyErrorType {
			if uerr != nil && busy && ctx.Err() != nil {
				// The request ended while sending a refused update again:
				// the same answer as when it ends between two sends.
				return false, unavailable("update refused as busy until the request ended")
			}
			err = uerr
			break
		}
		busy = true
		select {
		case <-ctx.Done():
			return false, unavailable("update refused as busy until the request ended")
		case <-time.After(wait):
		}
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
