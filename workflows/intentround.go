package workflows

import (
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"keytask/activities"
	"keytask/domain"
	"keytask/domain/identity"
	"keytask/domain/intent"
	"keytask/events"
)

// IntentRoundCarry is what a round hands to its next run when it continues as
// new: its state and the bookkeeping that keeps event ids unique and stream
// versions expected.
type IntentRoundCarry struct {
	State         intent.RoundState `json:"state"`
	RoundVersion  int64             `json:"round_version"`  // of intent.RoundStream
	FormVersions  map[string]int64  `json:"form_versions"`  // of each intent.FormStream
	Steps         map[string]int    `json:"steps"`          // events appended per province, for step names
	RemindersDone []time.Duration   `json:"reminders_done"` // offsets sent or skipped
	FiledAt       time.Time         `json:"filed_at,omitzero"`
	// Recent holds the ids of the updates completed lately, so that one sent
	// again after the run continued as new is not executed twice.
	Recent RecentUpdates `json:"recent,omitzero"`
}

// intentRoundUpdatesPerRun bounds the updates one run handles before it
// continues as new, so the history stays small even if the server never
// suggests it (each update adds about ten events). A variable so tests can
// lower it.
var intentRoundUpdatesPerRun = 400

// systemActor is who causes what the clock does: reminders and closing.
var systemActor = events.Metadata{ActorID: "system", Role: string(identity.RoleMinistry), Organisation: identity.MinistryOrganisation}

// intentRound is one run of a round's workflow.
type intentRound struct {
	IntentRoundCarry
	params IntentRoundParams
	// updates runs the commands: one province's commands, and the round's
	// own work (opening, reminders, closing, filing), run alone, each
	// deciding on the state the last one left; different provinces' run side
	// by side.
	updates *updates
}

// IntentRoundWorkflow carries one intent round from opening to filing and
// feedback: it records the opening, reminds provinces that have not submitted
// at each offset before the deadline, closes the round at the deadline, and
// takes the provinces' and the ministry's commands as Workflow Updates (see
// intent_contract.go). Parameters the rules refuse fail the workflow at once
// with a non-retryable UpdateFieldErrorType error.
func IntentRoundWorkflow(ctx workflow.Context, p IntentRoundParams) error {
	r := &intentRound{params: p}
	r.updates = newUpdates(ctx, provinceConcurrencyChange, &r.Recent, intentRoundUpdatesPerRun, workflow.Now)
	fresh := p.Carry == nil
	if fresh {
		opened, state, err := intent.OpenRound(intent.IntentRoundOpened{
			RoundID: p.RoundID, BatchID: p.BatchID, Items: p.Items, Provinces: p.Provinces,
			Deadline: p.Deadline, ReminderOffsets: p.ReminderOffsets,
		}, workflow.Now(ctx))
		if err != nil {
			return RejectionError(err)
		}
		r.params.Provinces = opened.Provinces
		r.State = state
		r.FormVersions = map[string]int64{}
		r.Steps = map[string]int{}
		// Reminders whose time has passed when the round opens would arrive
		// after the fact; they are skipped, not sent late.
		for _, o := range state.ReminderOffsets {
			if !state.Deadline.Add(-o).After(workflow.Now(ctx)) {
				r.RemindersDone = append(r.RemindersDone, o)
			}
		}
		// Hold the lock until the opening is recorded, so that no form event
		// precedes it in the log.
		unlock, err := r.updates.lockAll(ctx)
		if err != nil {
			return err
		}
		if err := r.register(ctx); err != nil {
			return err
		}
		if err := r.upsertStage(ctx); err != nil {
			return err
		}
		spec, err := NewEventSpec(ctx, "opened", intent.TypeIntentRoundOpened, opened, p.Actor)
		if err != nil {
			return err
		}
		res, err := AppendEvents(ctx, intent.RoundStream(state.RoundID), r.RoundVersion, spec)
		if err != nil {
			return err
		}
		r.RoundVersion = last(res)
		unlock()
	} else {
		r.IntentRoundCarry = *p.Carry
		if err := r.register(ctx); err != nil {
			return err
		}
		if err := r.upsertStage(ctx); err != nil {
			return err
		}
	}
	return r.run(ctx)
}

// run waits for the clock and acts on it until the round completes or
// continues as new.
func (r *intentRound) run(ctx workflow.Context) error {
	for {
		now := workflow.Now(ctx)
		if r.State.Stage == intent.StageFiled && !now.Before(r.FiledAt.Add(r.feedbackPeriod())) {
			return r.updates.end(ctx, domain.Conflict("", "本轮承接意向已结束，不再受理", "round is completing"))
		}
		if r.updates.continueAsNew(ctx) {
			return r.updates.continueAsNewError(ctx, IntentRoundWorkflowName, func() any {
				next := r.params
				next.Carry = &r.IntentRoundCarry
				return next
			})
		}
		stage := r.State.Stage
		wakeUp := func() bool { return r.State.Stage != stage || r.updates.continueAsNew(ctx) }
		if at, ok := r.nextWake(); !ok {
			if err := workflow.Await(ctx, wakeUp); err != nil {
				return err
			}
		} else if d := at.Sub(now); d > 0 {
			if _, err := workflow.AwaitWithTimeout(ctx, d, wakeUp); err != nil {
				return err
			}
		}
		unlock, err := r.updates.lockAll(ctx)
		if err != nil {
			return err
		}
		err = r.tick(ctx)
		unlock()
		if err != nil {
			return err
		}
	}
}

func (r *intentRound) feedbackPeriod() time.Duration {
	if r.params.FeedbackPeriod > 0 {
		return r.params.FeedbackPeriod
	}
	return DefaultFeedbackPeriod
}

// nextWake is the next instant the clock has something to do: a reminder, the
// deadline, or the end of the feedback period. A closed round waits for
// commands only.
func (r *intentRound) nextWake() (time.Time, bool) {
	switch r.State.Stage {
	case intent.StageOpen:
		at := r.State.Deadline
		for _, o := range r.State.ReminderOffsets {
			if t := r.State.Deadline.Add(-o); !slices.Contains(r.RemindersDone, o) && t.Before(at) {
				at = t
			}
		}
		return at, true
	case intent.StageFiled:
		return r.FiledAt.Add(r.feedbackPeriod()), true
	}
	return time.Time{}, false
}

// tick does what is due: the reminders, then the closing.
func (r *intentRound) tick(ctx workflow.Context) error {
	now := workflow.Now(ctx)
	var due []time.Duration
	for _, o := range r.State.ReminderOffsets {
		if !slices.Contains(r.RemindersDone, o) && !r.State.Deadline.Add(-o).After(now) {
			due = append(due, o)
		}
	}
	if len(due) > 0 && r.State.Stage == intent.StageOpen {
		// After a delay (a worker down for days) several offsets may be due at
		// once; only the latest is worth sending.
		if err := r.remind(ctx, slices.Min(due)); err != nil {
			return err
		}
	}
	r.RemindersDone = append(r.RemindersDone, due...)

	if r.State.Stage == intent.StageOpen && !now.Before(r.State.Deadline) {
		closed, err := r.State.Close(now)
		if err != nil {
			return err
		}
		if err := r.appendRound(ctx, "closed", intent.TypeIntentRoundClosed, closed, systemActor); err != nil {
			return err
		}
		if err := r.State.Apply(closed); err != nil {
			return err
		}
		return r.upsertStage(ctx)
	}
	return nil
}

// remind sends one reminder to every province that has not submitted, in one
// activity whose event ids are derived here: exactly one per province per offset.
func (r *intentRound) remind(ctx workflow.Context, offset time.Duration) error {
	due := r.State.Reminders(offset)
	if len(due) == 0 {
		return nil
	}
	req := activities.IntentRemindersRequest{
		Stream:   intent.RoundStream(r.State.RoundID),
		Expected: r.RoundVersion,
		RoundID:  r.State.RoundID,
		Offset:   offset,
		Metadata: systemActor,
	}
	req.Metadata.WorkflowID = workflow.GetInfo(ctx).WorkflowExecution.ID
	for _, e := range due {
		req.Provinces = append(req.Provinces, e.Province)
		req.IDs = append(req.IDs, EventID(ctx, fmt.Sprintf("remind/%s/%s", offset, e.Province)))
	}
	var a *activities.Activities
	var res activities.AppendResult
	if err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, appendOptions()), a.SendIntentReminders, req).Get(ctx, &res); err != nil {
		return err
	}
	r.RoundVersion = last(res)
	return nil
}

// appendOptions are those of AppendEvents: retried until the database answers,
// except for a version conflict.
func appendOptions() workflow.ActivityOptions {
	return workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        200 * time.Millisecond,
			BackoffCoefficient:     2,
			MaximumInterval:        10 * time.Second,
			NonRetryableErrorTypes: []string{activities.ConflictErrorType},
		},
	}
}

func (r *intentRound) appendRound(ctx workflow.Context, step, typ string, data any, md events.Metadata) error {
	return appendOne(ctx, intent.RoundStream(r.State.RoundID), &r.RoundVersion, step, typ, data, md)
}

// appendForm appends one event to a province's form stream; the step name
// ("submit/44/3") counts that province's events, so it is unique in the round.
func (r *intentRound) appendForm(ctx workflow.Context, province, step, typ string, data any, md events.Metadata) (int64, error) {
	r.Steps[province]++
	v := r.FormVersions[province]
	err := appendOne(ctx, intent.FormStream(r.State.RoundID, province), &v, fmt.Sprintf("%s/%s/%d", step, province, r.Steps[province]), typ, data, md)
	if err != nil {
		return 0, err
	}
	r.FormVersions[province] = v
	return v, nil
}

// appendOne appends one event, its id derived from step, to stream at
// *version, and moves *version to where it landed; on an error *version is
// left as it was.
func appendOne(ctx workflow.Context, stream string, version *int64, step, typ string, data any, md events.Metadata) error {
	spec, err := NewEventSpec(ctx, step, typ, data, md)
	if err != nil {
		return err
	}
	res, err := AppendEvents(ctx, stream, *version, spec)
	if err != nil {
		return err
	}
	*version = last(res)
	return nil
}

func last(res activities.AppendResult) int64 {
	if len(res.Versions) == 0 {
		return 0
	}
	return res.Versions[len(res.Versions)-1]
}

func (r *intentRound) upsertStage(ctx workflow.Context) error {
	return workflow.UpsertTypedSearchAttributes(ctx,
		StageKey.ValueSet(string(r.State.Stage)), BatchKey.ValueSet(r.State.BatchID))
}

// provinceConcurrencyChange names the version marker of per-province
// commands (see keyLock).
const provinceConcurrencyChange = "intent-round-per-province-commands"

// register installs the query and the commands: a province's hold that
// province, filing holds the whole round.
func (r *intentRound) register(ctx workflow.Context) error {
	s := &r.State
	form := func(e intent.IntentDraftSaved, v int64) FormResult { return FormResult{Form: e.Form, Version: v} }
	draft := keyed(UpdateSaveIntentDraft, "draft", intent.TypeIntentDraftSaved, r.recordForm, FormCommand.by,
		func(c FormCommand, now time.Time) (intent.IntentDraftSaved, error) {
			return s.SaveDraft(c.Province, c.Input, c.Schools, now)
		}, form)
	draft.again = r.repeated
	submit := keyed(UpdateSubmitIntent, "submit", intent.TypeIntentSubmitted, r.recordForm, FormCommand.by,
		func(c FormCommand, now time.Time) (intent.IntentSubmitted, error) {
			return s.Submit(c.Province, c.Input, c.Schools, now)
		},
		func(e intent.IntentSubmitted, v int64) FormResult { return FormResult{Form: e.Form, Version: v} })
	submit.again = r.repeated
	return r.updates.register(ctx, QueryIntentRoundStatus, r.status, draft, submit,
		keyed(UpdateReturnIntent, "return", intent.TypeIntentReturned, r.recordForm, ReturnCommand.by,
			func(c ReturnCommand, _ time.Time) (intent.IntentReturned, error) {
				return s.Return(c.Province, c.Reason)
			}, noResult),
		keyed(UpdateExtendProvince, "extend", intent.TypeProvinceDeadlineExtended, r.recordForm, ExtendCommand.by,
			func(c ExtendCommand, now time.Time) (intent.ProvinceDeadlineExtended, error) {
				return s.Extend(c.Province, c.Deadline, now)
			}, noResult),
		keyed(UpdateRecordFeedback, "feedback", intent.TypeIntentFeedbackRecorded, r.recordForm, FeedbackCommand.by,
			func(c FeedbackCommand, _ time.Time) (intent.IntentFeedbackRecorded, error) {
				return s.Feedback(c.Province, c.Text)
			}, noResult),
		keyed(UpdateRecordLetter, "letter", intent.TypeIntentLetterRecorded, r.recordForm, LetterCommand.by,
			func(c LetterCommand, now time.Time) (intent.IntentLetterRecorded, error) {
				return s.RecordLetter(c.Province, c.Letter, now)
			}, noResult),
		keyed(UpdateLetterArrived, "arrived", intent.TypeIntentLetterArrived, r.recordForm, ArrivalCommand.by,
			func(c ArrivalCommand, _ time.Time) (intent.IntentLetterArrived, error) {
				return s.MarkLetterArrived(c.Province)
			}, noResult),
		command[FileCommand, intent.IntentRoundFiled, none]{
			name: UpdateFileIntentRound,
			decide: func(_ workflow.Context, _ FileCommand, now time.Time) (intent.IntentRoundFiled, error) {
				return s.File(now)
			},
			record: func(ctx workflow.Context, c FileCommand, e intent.IntentRoundFiled, now time.Time) (none, error) {
				if err := r.appendRound(ctx, "filed", intent.TypeIntentRoundFiled, e, actor(ctx, c.Actor)); err != nil {
					return none{}, err
				}
				if err := s.Apply(e); err != nil {
					return none{}, err
				}
				r.FiledAt = now
				return none{}, r.upsertStage(ctx)
			},
		},
	)
}

// recordForm appends a province's event e to its form, step naming it, and
// applies it.
func (r *intentRound) recordForm(ctx workflow.Context, province, step, typ string, e any, md events.Metadata) (int64, error) {
	v, err := r.appendForm(ctx, province, step, typ, e, md)
	if err != nil {
		return 0, err
	}
	return v, r.State.Apply(e)
}

// by tells the runtime which province a command holds and who sent it.
func (c FormCommand) by() (string, events.Metadata)     { return c.Province, c.Actor }
func (c ReturnCommand) by() (string, events.Metadata)   { return c.Province, c.Actor }
func (c ExtendCommand) by() (string, events.Metadata)   { return c.Province, c.Actor }
func (c FeedbackCommand) by() (string, events.Metadata) { return c.Province, c.Actor }
func (c LetterCommand) by() (string, events.Metadata)   { return c.Province, c.Actor }
func (c ArrivalCommand) by() (string, events.Metadata)  { return c.Province, c.Actor }

// repeated answers a form command that completed before (see RecentUpdates)
// from the current state, recording nothing.
func (r *intentRound) repeated(_ workflow.Context, c FormCommand) FormResult {
	form, _ := intent.Validate(r.State.Items, c.Input)
	if named, err := intent.CheckUnits(form, c.Input, c.Province, c.Schools); err == nil {
		form = named
	}
	return FormResult{Form: form, Version: r.FormVersions[c.Province]}
}

func (r *intentRound) status() (IntentRoundStatus, error) {
	out := IntentRoundStatus{
		RoundID:   r.State.RoundID,
		Stage:     string(r.State.Stage),
		Deadline:  r.State.Deadline,
		Provinces: make(map[string]FormState, len(r.State.Provinces)),
	}
	for code, ps := range r.State.Provinces {
		out.Provinces[code] = FormState{Status: string(ps.Status), Extension: ps.Extension, Late: ps.Late, Feedbacks: ps.Feedbacks, Letter: ps.Letter}
	}
	return out, nil
}
