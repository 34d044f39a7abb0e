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
	// keys orders the commands: one province's commands, and the round's own
	// work (opening, reminders, closing, filing), run alone, each deciding on
	// the state the last one left; different provinces' run side by side.
	keys    *keyLock
	updates int  // handled in this run
	ending  bool // the round is completing: refuse new commands
}

// IntentRoundWorkflow carries one intent round from opening to filing and
// feedback: it records the opening, reminds provinces that have not submitted
// at each offset before the deadline, closes the round at the deadline, and
// takes the provinces' and the ministry's commands as Workflow Updates (see
// intent_contract.go). Parameters the rules refuse fail the workflow at once
// with a non-retryable UpdateFieldErrorType error.
func IntentRoundWorkflow(ctx workflow.Context, p IntentRoundParams) error {
	r := &intentRound{params: p, keys: newKeyLock(ctx, provinceConcurrencyChange)}
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
		unlock, err := r.keys.lockAll(ctx)
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
			r.ending = true
			return drainUpdates(ctx)
		}
		if r.continueAsNew(ctx) {
			if err := r.keys.closeRun(ctx); err != nil {
				return err
			}
			next := r.params
			next.Carry = &r.IntentRoundCarry
			return workflow.NewContinueAsNewError(ctx, IntentRoundWorkflowName, next)
		}
		stage := r.State.Stage
		wakeUp := func() bool { return r.State.Stage != stage || r.continueAsNew(ctx) }
		if at, ok := r.nextWake(); !ok {
			if err := workflow.Await(ctx, wakeUp); err != nil {
				return err
			}
		} else if d := at.Sub(now); d > 0 {
			if _, err := workflow.AwaitWithTimeout(ctx, d, wakeUp); err != nil {
				return err
			}
		}
		unlock, err := r.keys.lockAll(ctx)
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

func (r *intentRound) continueAsNew(ctx workflow.Context) bool {
	return r.updates >= intentRoundUpdatesPerRun || workflow.GetInfo(ctx).GetContinueAsNewSuggested()
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

// register installs the query and the update handlers. Each validator runs
// the rule on the current state without recording anything; the handler runs
// it again under the lock, since another command may have moved the state
// between validation and execution.
func (r *intentRound) register(ctx workflow.Context) error {
	if err := workflow.SetQueryHandler(ctx, QueryIntentRoundStatus, r.status); err != nil {
		return err
	}
	type reg struct {
		name               string
		handler, validator any
	}
	for _, u := range []reg{
		{UpdateSaveIntentDraft, r.saveDraft, func(ctx workflow.Context, c FormCommand) error {
			return r.refuse(ctx, func() error { _, err := r.State.SaveDraft(c.Province, c.Input, workflow.Now(ctx)); return err })
		}},
		{UpdateSubmitIntent, r.submit, func(ctx workflow.Context, c FormCommand) error {
			return r.refuse(ctx, func() error { _, err := r.State.Submit(c.Province, c.Input, workflow.Now(ctx)); return err })
		}},
		{UpdateReturnIntent, r.returnForm, func(ctx workflow.Context, c ReturnCommand) error {
			return r.refuse(ctx, func() error { _, err := r.State.Return(c.Province, c.Reason); return err })
		}},
		{UpdateExtendProvince, r.extend, func(ctx workflow.Context, c ExtendCommand) error {
			return r.refuse(ctx, func() error { _, err := r.State.Extend(c.Province, c.Deadline, workflow.Now(ctx)); return err })
		}},
		{UpdateFileIntentRound, r.file, func(ctx workflow.Context, c FileCommand) error {
			return r.refuse(ctx, func() error { _, err := r.State.File(workflow.Now(ctx)); return err })
		}},
		{UpdateRecordFeedback, r.feedback, func(ctx workflow.Context, c FeedbackCommand) error {
			return r.refuse(ctx, func() error { _, err := r.State.Feedback(c.Province, c.Text); return err })
		}},
	} {
		if err := workflow.SetUpdateHandlerWithOptions(ctx, u.name, u.handler, workflow.UpdateHandlerOptions{Validator: u.validator}); err != nil {
			return err
		}
	}
	return nil
}

// refuse runs a rule for a validator and turns its refusal into the update's.
func (r *intentRound) refuse(ctx workflow.Context, rule func() error) error {
	if r.ending {
		return RejectionError(domain.Conflict("", "本轮承接意向已结束，不再受理", "round is completing"))
	}
	if r.keys.closing {
		// Nothing recorded; the API sends it again to the next run.
		return BusyError("intent round is continuing as new")
	}
	if r.Recent.seen(ctx) {
		return nil // completed before: the handler answers it again
	}
	return RejectionError(rule())
}

// provinceConcurrencyChange names the version marker of per-province
// commands (see keyLock).
const provinceConcurrencyChange = "intent-round-per-province-commands"

// wholeRound is command's key for a command on the whole round.
const wholeRound = ""

// command runs body holding key (a province, or wholeRound for a command on
// the round itself), unless the update completed before (see RecentUpdates),
// and counts it toward the continue-as-new bound.
func (r *intentRound) command(ctx workflow.Context, key string, body func(now time.Time) error) error {
	if r.Recent.seen(ctx) {
		return nil
	}
	var (
		unlock func()
		err    error
	)
	if key == wholeRound {
		unlock, err = r.keys.lockAll(ctx)
	} else {
		unlock, err = r.keys.lock(ctx, key)
	}
	if err != nil {
		return err
	}
	defer unlock()
	r.updates++
	if err := body(workflow.Now(ctx)); err != nil {
		return err
	}
	r.Recent.done(ctx)
	return nil
}

// repeated answers a form command that completed before (see RecentUpdates)
// from the current state, recording nothing.
func (r *intentRound) repeated(c FormCommand) FormResult {
	form, _ := intent.Validate(r.State.Items, c.Input)
	return FormResult{Form: form, Version: r.FormVersions[c.Province]}
}

// actor is the command's metadata with the update id as its cause, so the log
// tells which request produced the event.
func actor(ctx workflow.Context, md events.Metadata) events.Metadata {
	if info := workflow.GetCurrentUpdateInfo(ctx); info != nil && md.CausationID == "" {
		md.CausationID = "update:" + info.ID
	}
	return md
}

func (r *intentRound) saveDraft(ctx workflow.Context, c FormCommand) (FormResult, error) {
	if r.Recent.seen(ctx) {
		return r.repeated(c), nil
	}
	var out FormResult
	err := r.command(ctx, c.Province, func(now time.Time) error {
		e, err := r.State.SaveDraft(c.Province, c.Input, now)
		if err != nil {
			return RejectionError(err)
		}
		v, err := r.appendForm(ctx, c.Province, "draft", intent.TypeIntentDraftSaved, e, actor(ctx, c.Actor))
		if err != nil {
			return err
		}
		out = FormResult{Form: e.Form, Version: v}
		return r.State.Apply(e)
	})
	return out, err
}

func (r *intentRound) submit(ctx workflow.Context, c FormCommand) (FormResult, error) {
	if r.Recent.seen(ctx) {
		return r.repeated(c), nil
	}
	var out FormResult
	err := r.command(ctx, c.Province, func(now time.Time) error {
		e, err := r.State.Submit(c.Province, c.Input, now)
		if err != nil {
			return RejectionError(err)
		}
		v, err := r.appendForm(ctx, c.Province, "submit", intent.TypeIntentSubmitted, e, actor(ctx, c.Actor))
		if err != nil {
			return err
		}
		out = FormResult{Form: e.Form, Version: v}
		return r.State.Apply(e)
	})
	return out, err
}

func (r *intentRound) returnForm(ctx workflow.Context, c ReturnCommand) error {
	return r.command(ctx, c.Province, func(now time.Time) error {
		e, err := r.State.Return(c.Province, c.Reason)
		if err != nil {
			return RejectionError(err)
		}
		if _, err := r.appendForm(ctx, c.Province, "return", intent.TypeIntentReturned, e, actor(ctx, c.Actor)); err != nil {
			return err
		}
		return r.State.Apply(e)
	})
}

func (r *intentRound) extend(ctx workflow.Context, c ExtendCommand) error {
	return r.command(ctx, c.Province, func(now time.Time) error {
		e, err := r.State.Extend(c.Province, c.Deadline, now)
		if err != nil {
			return RejectionError(err)
		}
		if _, err := r.appendForm(ctx, c.Province, "extend", intent.TypeProvinceDeadlineExtended, e, actor(ctx, c.Actor)); err != nil {
			return err
		}
		return r.State.Apply(e)
	})
}

func (r *intentRound) file(ctx workflow.Context, c FileCommand) error {
	return r.command(ctx, wholeRound, func(now time.Time) error {
		e, err := r.State.File(now)
		if err != nil {
			return RejectionError(err)
		}
		if err := r.appendRound(ctx, "filed", intent.TypeIntentRoundFiled, e, actor(ctx, c.Actor)); err != nil {
			return err
		}
		if err := r.State.Apply(e); err != nil {
			return err
		}
		r.FiledAt = now
		return r.upsertStage(ctx)
	})
}

func (r *intentRound) feedback(ctx workflow.Context, c FeedbackCommand) error {
	return r.command(ctx, c.Province, func(now time.Time) error {
		e, err := r.State.Feedback(c.Province, c.Text)
		if err != nil {
			return RejectionError(err)
		}
		if _, err := r.appendForm(ctx, c.Province, "feedback", intent.TypeIntentFeedbackRecorded, e, actor(ctx, c.Actor)); err != nil {
			return err
		}
		return r.State.Apply(e)
	})
}

func (r *intentRound) status() (IntentRoundStatus, error) {
	out := IntentRoundStatus{
		RoundID:   r.State.RoundID,
		Stage:     string(r.State.Stage),
		Deadline:  r.State.Deadline,
		Provinces: make(map[string]FormState, len(r.State.Provinces)),
	}
	for code, ps := range r.State.Provinces {
		out.Provinces[code] = FormState{Status: string(ps.Status), Extension: ps.Extension, Late: ps.Late, Feedbacks: ps.Feedbacks}
	}
	return out, nil
}
