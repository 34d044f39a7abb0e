package app

import (
	"context"
	"encoding/json"
	"errors"

	"keytask/domain"
	"keytask/domain/identity"
	"keytask/domain/register"
	"keytask/domain/selection"
	"keytask/events"
)

// CreateApplication starts an application in a selection batch. The key is
// required: the events' ids derive from it, so a retry appends nothing twice.
// The application's id derives from the batch and the school (ApplicationIDFor).
type CreateApplication struct {
	Request
	By       identity.Principal
	BatchID  string
	Title    string
	School   string // a province filing: the lead school
	Province string // a school filing: its province
	Fields   map[string]json.RawMessage
}

// ErrKeyRequired refuses a new application without an idempotency key.
var ErrKeyRequired = &domain.FieldError{Field: "Idempotency-Key", Message: "创建申报须提供幂等键（Idempotency-Key），重试时使用同一个键",
	Detail: "Idempotency-Key is required"}

// CreatedApplication is what creating an application recorded.
type CreatedApplication struct {
	selection.ApplicationCreated
	Replayed bool // the same request had created it before
}

// CreateApplication decides and records a new application. Errors:
// *domain.FieldError (for "Idempotency-Key" when it is missing or was used for
// another request), *domain.ConflictError on batch_id when the school already
// applied to the batch (naming that application) or was selected for the task
// item in another batch (naming that batch).
func (a *App) CreateApplication(ctx context.Context, cmd CreateApplication) (CreatedApplication, error) {
	var out CreatedApplication
	if cmd.Key == "" {
		return out, ErrKeyRequired
	}
	batch, err := a.selectionBatch(ctx, cmd.BatchID)
	if err != nil {
		return out, err
	}
	// The school and the batch name the application: one per school per batch.
	school := selection.ApplicantSchool(cmd.By, cmd.School)
	id := ApplicationIDFor(batch.BatchID, school)
	// The school's province comes from the register, read from the log.
	var registered *register.School
	if selection.ValidateApplicationID(school) == nil {
		r, found, err := LoadSchool(ctx, a.store, school)
		if err != nil {
			return out, err
		}
		if found {
			registered = &r
		}
	}
	decided, err := selection.Create(false, selection.CreateApplication{ApplicationID: id, By: cmd.By, Batch: batch,
		Title: cmd.Title, School: cmd.School, Province: cmd.Province, Fields: cmd.Fields, Registered: registered})
	if err != nil {
		return out, err
	}
	out.ApplicationCreated = decided[0].Payload.(selection.ApplicationCreated)
	stream := selection.ApplicationStream(id)
	existing, recorded, err := a.application(ctx, id)
	var nf *NotFoundError
	if err != nil && !errors.As(err, &nf) {
		return out, err
	}
	if out.Replayed, err = replayed(recorded, EventID(cmd.Meta, cmd.Key, selection.TypeApplicationCreated), out.ApplicationCreated, cmd.Key); out.Replayed || err != nil {
		return out, err
	}
	if err := selection.CheckFirstInBatch(existing); err != nil {
		return out, err
	}
	prior, err := PriorSelections(ctx, a.store, batch.BatchID, batch.TaskItem, out.School)
	if err != nil {
		return out, err
	}
	if err := selection.CheckNotSelected("batch_id", out.School, batch.TaskItem, prior); err != nil {
		return out, err
	}
	evs := make([]events.NewEvent, len(decided))
	for i, d := range decided {
		data, err := json.Marshal(d.Payload)
		if err != nil {
			return out, err
		}
		evs[i] = events.NewEvent{ID: EventID(cmd.Meta, cmd.Key, d.Type), Type: d.Type, SchemaVersion: 1, Data: data, Metadata: cmd.Meta}
	}
	if _, err := a.store.Append(ctx, stream, events.NoStream, evs...); err != nil {
		if errors.Is(err, events.ErrPartialRetry) {
			return out, KeyReused(err)
		}
		// Another request of the school created its application to the
		// batch meanwhile: refuse, naming it.
		if conflict := (*events.ErrConflict)(nil); errors.As(err, &conflict) {
			if existing, _, rerr := a.application(ctx, id); rerr == nil {
				return out, selection.CheckFirstInBatch(existing)
			}
		}
		return out, err
	}
	return out, nil
}
