package workflows

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"keytask/activities"
	"keytask/domain"
	"keytask/domain/calendar"
	"keytask/domain/selection"
	"keytask/events"
)

// selectionUpdatesPerRun bounds the updates one run handles before it
// continues as new (each adds about ten history events); a variable so tests
// can lower it.
var selectionUpdatesPerRun = 300

// selectionBatch is one run of a batch's workflow.
type selectionBatch struct {
	SelectionBatchCarry
	params SelectionBatchParams
	clock  Clock
	cal    *calendar.Calendar
	// updates runs the commands, and the timer's work, one at a time: each
	// holds the whole batch.
	updates *updates
}

// selectionRuntimeChange names the version marker of runs whose commands run
// through the update runtime's keyed lock, which refuses commands as busy
// while the run closes and answers the ones it closes on in a task of their
// own (see keyLock.closeRun). Runs begun before hold one mutex, as they did.
const selectionRuntimeChange = "selection-batch-update-runtime"

// SelectionPanelsChange names the version marker of batches opened with
// panel rules (selection.BatchState.Panels); the rules then travel in the
// state, so later runs need no marker of their own.
const SelectionPanelsChange = "selection-batch-panels"

// SelectionBatchWorkflow carries one selection batch from recommendation to
// publication (see selection_contract.go). It completes once the batch is
// published. It runs on workflow time; see selectionBatchWorkflow for another
// clock.
func SelectionBatchWorkflow(ctx workflow.Context, p SelectionBatchParams) error {
	return runSelectionBatch(ctx, p, WorkflowClock{}, calendar.Default())
}

// selectionBatchWorkflow is the batch's workflow function on clock (nil for
// workflow time) and holiday calendar cal (nil for the embedded one), as
// RegisterWith registers it.
func selectionBatchWorkflow(clock Clock, cal *calendar.Calendar) func(workflow.Context, SelectionBatchParams) error {
	if clock == nil {
		clock = WorkflowClock{}
	}
	if cal == nil {
		cal = calendar.Default()
	}
	return func(ctx workflow.Context, p SelectionBatchParams) error { return runSelectionBatch(ctx, p, clock, cal) }
}

func runSelectionBatch(ctx workflow.Context, p SelectionBatchParams, clock Clock, cal *calendar.Calendar) error {
	b := &selectionBatch{params: p, clock: clock, cal: cal}
	b.updates = newUpdates(ctx, selectionRuntimeChange, &b.Recent, selectionUpdatesPerRun, clock.Now)
	if p.Carry != nil {
		b.SelectionBatchCarry = *p.Carry
		b.Runs++
		if err := b.register(ctx); err != nil {
			return err
		}
		if err := b.upsert(ctx); err != nil {
			return err
		}
		return b.run(ctx)
	}
	// Batches opened since panel rules keep panels of at least three,
	// declarations before scoring, reminders and silent experts reported.
	panels := workflow.GetVersion(ctx, SelectionPanelsChange, workflow.DefaultVersion, 1) >= 1
	if panels {
		if err := selection.CheckPanel(p.Batch.PerApplication); err != nil {
			return RejectionError(err)
		}
	}
	o, state, err := selection.OpenBatch(p.Batch, b.clock.Now(ctx))
	if err != nil {
		return RejectionError(err)
	}
	state.Panels = panels
	b.State = state
	unlock, err := b.updates.lockAll(ctx)
	if err != nil {
		return err
	}
	if err := b.register(ctx); err != nil {
		return err
	}
	if err := b.upsert(ctx); err != nil {
		return err
	}
	if err := b.record(ctx, "opened", selection.TypeSelectionBatchOpened, o, p.Actor); err != nil {
		return err
	}
	unlock()
	return b.run(ctx)
}

func (b *selectionBatch) run(ctx workflow.Context) error {
	for {
		if b.State.Stage == selection.StagePublished {
			return b.updates.end(ctx, nil)
		}
		if b.updates.continueAsNew(ctx) {
			return b.updates.continueAsNewError(ctx, SelectionBatchWorkflowName, func() any {
				next := b.params
				carry := b.SelectionBatchCarry
				next.Carry = &carry
				return next
			})
		}
		stage, deadline, overdue := b.State.Stage, b.State.Deadline, b.State.Overdue
		changed := func() bool {
			return b.State.Stage != stage || !b.State.Deadline.Equal(deadline) || b.State.Overdue != overdue ||
				b.updates.continueAsNew(ctx)
		}
		if overdue {
			if err := workflow.Await(ctx, changed); err != nil {
				return err
			}
			continue
		}
		wake := deadline
		reminded := b.State.Reminded
		if r := b.State.NextReminder(); !r.IsZero() && r.Before(wake) {
			wake = r
		}
		changedOrReminded := func() bool { return changed() || b.State.Reminded != reminded }
		if d := wake.Sub(b.clock.Now(ctx)); d > 0 {
			fired, err := b.clock.AwaitWithTimeout(ctx, d, changedOrReminded)
			if err != nil {
				return err
			}
			if fired {
				continue // something changed: recompute the wait
			}
		}
		unlock, err := b.updates.lockAll(ctx)
		if err != nil {
			return err
		}
		err = b.deadlinePassed(ctx)
		unlock()
		if err != nil {
			return err
		}
	}
}

func (b *selectionBatch) deadlinePassed(ctx workflow.Context) error {
	now := b.clock.Now(ctx)
	if r, due := b.State.ReminderDue(now); due {
		b.Steps++
		return b.recordApply(ctx, fmt.Sprintf("reminder/%d", b.Steps), selection.TypeScoringReminderDue, r, systemActor)
	}
	e, due := b.State.DeadlinePassed(now)
	if !due {
		// A reminder whose time came after the deadline moved is skipped.
		if !b.State.NextReminder().IsZero() && !now.Before(b.State.NextReminder()) && now.Before(b.State.Deadline) {
			b.State.Reminded++
		}
		return nil
	}
	// The ministry hears who was silent when scoring closed, in the same
	// step as the deadline.
	silent, report := b.State.SilentAtDeadline()
	b.Steps++
	step := fmt.Sprintf("deadline/%d", b.Steps)
	if err := b.recordApply(ctx, step, selection.TypeStageDeadlinePassed, e, systemActor); err != nil {
		return err
	}
	if report {
		return b.recordApply(ctx, step+"/silent", selection.TypeExpertsSilent, silent, systemActor)
	}
	return nil
}

// record appends one event to the batch stream.
func (b *selectionBatch) record(ctx workflow.Context, step, typ string, data any, md events.Metadata) error {
	spec, err := NewEventSpec(ctx, step, typ, data, md)
	if err != nil {
		return err
	}
	res, err := AppendEvents(ctx, selection.SelectionBatchStream(b.State.BatchID), b.Version, spec)
	if err != nil {
		return err
	}
	b.Version = last(res)
	return nil
}

func (b *selectionBatch) recordApply(ctx workflow.Context, step, typ string, e any, md events.Metadata) error {
	if err := b.record(ctx, step, typ, e, md); err != nil {
		return err
	}
	return b.State.Apply(e)
}

func (b *selectionBatch) upsert(ctx workflow.Context) error {
	return workflow.UpsertTypedSearchAttributes(ctx, StageKey.ValueSet(string(b.State.Stage)),
		TaskItemKey.ValueSet(b.State.TaskItem), BatchKey.ValueSet(b.State.BatchID))
}

// step names a command's events uniquely in the batch.
func (b *selectionBatch) step(name string) string {
	b.Steps++
	return fmt.Sprintf("%s/%d", name, b.Steps)
}

// recordEvent appends a command's one event e to the batch stream as its
// next step and applies it (a recorder; every command holds the whole
// batch, so there is no key).
func (b *selectionBatch) recordEvent(ctx workflow.Context, _, step, typ string, e any, md events.Metadata) (int64, error) {
	if err := b.recordApply(ctx, b.step(step), typ, e, md); err != nil {
		return 0, err
	}
	return b.Version, nil
}

// recordAdjudication is recordEvent for an objection's adjudication: when it
// strikes an application off the notice, the next-ranked one moves up and
// goes on notice in the same command (递补).
func (b *selectionBatch) recordAdjudication(ctx workflow.Context, key, step, typ string, e any, md events.Metadata) (int64, error) {
	// Who moves up is decided before anything is recorded, so a refusal
	// (a notice the holiday calendar cannot count) records nothing.
	var next selection.SuccessorNoticed
	found := false
	if adj, ok := e.(selection.ObjectionAdjudicated); ok && adj.Outcome == selection.Upheld {
		var err error
		if next, found, err = b.State.MoveUp(b.cal, adj.Application, adj.ObjectionID, b.clock.Now(ctx)); err != nil {
			return 0, RejectionError(err)
		}
	}
	v, err := b.recordEvent(ctx, key, step, typ, e, md)
	if err != nil || !found {
		return v, err
	}
	return b.recordEvent(ctx, key, "successor", selection.TypeSuccessorNoticed, next, md)
}

// recordStage is recordEvent for an event that moves the stage.
func (b *selectionBatch) recordStage(ctx workflow.Context, key, step, typ string, e any, md events.Metadata) (int64, error) {
	v, err := b.recordEvent(ctx, key, step, typ, e, md)
	if err != nil {
		return v, err
	}
	return v, b.upsert(ctx)
}

// by tells the runtime that a command holds the whole batch, and who sent it.
func (c RaiseQuotaCommand) by() (string, events.Metadata)        { return wholeWorkflow, c.Actor }
func (c AdvanceCommand) by() (string, events.Metadata)           { return wholeWorkflow, c.Actor }
func (c ReopenCommand) by() (string, events.Metadata)            { return wholeWorkflow, c.Actor }
func (c ExtendStageCommand) by() (string, events.Metadata)       { return wholeWorkflow, c.Actor }
func (c ScoresCommand) by() (string, events.Metadata)            { return wholeWorkflow, c.Actor }
func (c ConfirmRankingCommand) by() (string, events.Metadata)    { return wholeWorkflow, c.Actor }
func (c AdjudicateCommand) by() (string, events.Metadata)        { return wholeWorkflow, c.Actor }
func (c ConsensusCommand) by() (string, events.Metadata)         { return wholeWorkflow, c.Actor }
func (c OverruleCommand) by() (string, events.Metadata)          { return wholeWorkflow, c.Actor }
func (c DeclareNoConflictCommand) by() (string, events.Metadata) { return wholeWorkflow, c.Actor }
func (c DeclineCommand) by() (string, events.Metadata)           { return wholeWorkflow, c.Actor }

// register installs the query and the commands; each holds the whole batch.
func (b *selectionBatch) register(ctx workflow.Context) error {
	s := &b.State
	return b.updates.register(ctx, QuerySelectionBatchStatus, b.status,
		keyed(UpdateRaiseProvinceQuota, "quota", selection.TypeProvinceQuotaRaised, b.recordEvent, RaiseQuotaCommand.by,
			func(c RaiseQuotaCommand, _ time.Time) (selection.ProvinceQuotaRaised, error) {
				return s.RaiseQuota(c.Province, c.Quota, c.Reason)
			}, noResult),
		command[RecommendCommand, selection.ApplicationsRecommended, none]{
			name: UpdateRecommendApplications, record: b.recommend,
			decide: func(_ workflow.Context, c RecommendCommand, now time.Time) (selection.ApplicationsRecommended, error) {
				return s.Recommend(c.Province, c.Applications, now)
			},
		},
		command[QualifyCommand, selection.QualificationDecided, none]{
			name: UpdateDecideQualification, record: b.qualify,
			decide: func(_ workflow.Context, c QualifyCommand, now time.Time) (selection.QualificationDecided, error) {
				return s.Qualify(c.Decisions, now)
			},
		},
		command[ResubmitCommand, selection.CorrectionResubmitted, none]{
			name: UpdateResubmitCorrection, record: b.resubmit,
			decide: func(_ workflow.Context, c ResubmitCommand, now time.Time) (selection.CorrectionResubmitted, error) {
				return s.Resubmit(c.Application, now)
			},
		},
		keyed(UpdateAdvanceStage, "advance", selection.TypeStageAdvanced, b.recordStage, AdvanceCommand.by,
			func(c AdvanceCommand, now time.Time) (selection.StageAdvanced, error) {
				return s.AdvanceOn(b.cal, c.From, c.To, now)
			}, noResult),
		keyed(UpdateReopenStage, "reopen", selection.TypeStageReopened, b.recordStage, ReopenCommand.by,
			func(c ReopenCommand, now time.Time) (selection.StageReopened, error) {
				return s.Reopen(c.Stage, c.Reason, now)
			}, noResult),
		keyed(UpdateExtendStageDeadline, "extend", selection.TypeStageDeadlineExtended, b.recordEvent, ExtendStageCommand.by,
			func(c ExtendStageCommand, now time.Time) (selection.StageDeadlineExtended, error) {
				return s.ExtendDeadline(c.Stage, c.Deadline, now)
			}, noResult),
		command[ScoresCommand, scoreDecision, none]{
			name: UpdateSubmitScores, record: b.submitScores,
			decide: func(_ workflow.Context, c ScoresCommand, now time.Time) (scoreDecision, error) {
				return b.decideScores(c, now)
			},
		},
		keyed(UpdateDeclareNoConflict, "declare", selection.TypeNoConflictDeclared, b.recordEvent, DeclareNoConflictCommand.by,
			func(c DeclareNoConflictCommand, now time.Time) (selection.NoConflictDeclared, error) {
				return s.DeclareNoConflict(c.Expert, c.Applications, now)
			}, noResult),
		keyed(UpdateDeclineAssignment, "decline", selection.TypeAssignmentDeclined, b.recordEvent, DeclineCommand.by,
			func(c DeclineCommand, now time.Time) (selection.AssignmentDeclined, error) {
				return s.Decline(c.Expert, c.Application, c.Reason, c.Conflict, now)
			}, noResult),
		command[ReplaceCommand, []selection.OpenPlace, ReplaceResult]{
			name: UpdateReplaceExperts, record: b.replaceExperts,
			decide: func(_ workflow.Context, c ReplaceCommand, _ time.Time) ([]selection.OpenPlace, error) {
				return s.MayReplace(c.Slots, c.Reason)
			},
		},
		keyed(UpdateConfirmRanking, "confirm", selection.TypeRankingConfirmed, b.recordEvent, ConfirmRankingCommand.by,
			func(c ConfirmRankingCommand, _ time.Time) (selection.RankingConfirmed, error) {
				return s.ConfirmRanking(c.Round)
			}, noResult),
		command[ObjectionCommand, objection, string]{
			name: UpdateFileObjection, decide: b.decideObjection, record: b.fileObjection, again: objectionID,
		},
		keyed(UpdateRecordConsensus, "consensus", selection.TypeConsensusRecorded, b.recordEvent, ConsensusCommand.by,
			func(c ConsensusCommand, _ time.Time) (selection.ConsensusRecorded, error) {
				return s.RecordConsensus(c.Expert, c.Application, c.Criteria, c.Rationale)
			}, noResult),
		keyed(UpdateOverruleRanking, "overrule", selection.TypeRankingOverruled, b.recordEvent, OverruleCommand.by,
			func(c OverruleCommand, _ time.Time) (selection.RankingOverruled, error) {
				return s.Overrule(c.Application, c.Decision, c.Reason)
			}, noResult),
		keyed(UpdateAdjudicateObjection, "adjudicate", selection.TypeObjectionAdjudicated, b.recordAdjudication, AdjudicateCommand.by,
			func(c AdjudicateCommand, _ time.Time) (selection.ObjectionAdjudicated, error) {
				return s.Adjudicate(c.ObjectionID, c.Outcome, c.Reason)
			}, noResult),
		command[AssignCommand, none, AssignResult]{
			name: UpdateAssignExperts, record: b.assignExperts,
			// Sent again, an assignment answers its round; its counts went
			// with the first answer.
			again:  func(workflow.Context, AssignCommand) AssignResult { return AssignResult{Round: s.AssignRound} },
			decide: func(workflow.Context, AssignCommand, time.Time) (none, error) { return none{}, s.MayAssign() },
		},
		command[RankCommand, none, RankResult]{
			name: UpdateProposeRanking, record: b.proposeRanking,
			// Sent again, a proposal answers its round and list; its cut and
			// outliers went with the first answer.
			again: func(workflow.Context, RankCommand) RankResult {
				return RankResult{Round: s.Proposed, Selected: s.Proposal}
			},
			decide: func(workflow.Context, RankCommand, time.Time) (none, error) { return none{}, s.MayRank() },
		},
		command[PublishCommand, publication, none]{
			name: UpdatePublishSelection, record: b.publish,
			decide: func(_ workflow.Context, _ PublishCommand, now time.Time) (publication, error) {
				pub, projects, err := s.Publish(now)
				return publication{pub, projects}, err
			},
		},
	)
}

// applicationFacts reads what the log says of ids (an activity: the workflow
// does no I/O). It runs in an update handler, after the validator accepted.
func (b *selectionBatch) applicationFacts(ctx workflow.Context, ids []string) ([]selection.ApplicationFacts, error) {
	var a *activities.Activities
	var facts []selection.ApplicationFacts
	opts := appendOptions()
	opts.StartToCloseTimeout = 2 * time.Minute // a province's list, one stream each
	err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, opts), a.ReadApplicationFacts,
		activities.ApplicationFactsRequest{Applications: ids}).Get(ctx, &facts)
	return facts, err
}

// recommend records a province's recommendation. The validator checks the
// batch's own rule (quota, repeats, stage, deadline); what only the log knows —
// that each application exists, is submitted, is the province's own and
// applies to the batch's task item — is checked here in the handler, after
// validation, through the ReadApplicationFacts activity. A refusal then
// completes the accepted update with the field error ("applications[i]") and
// appends nothing.
func (b *selectionBatch) recommend(ctx workflow.Context, c RecommendCommand, _ selection.ApplicationsRecommended, _ time.Time) (none, error) {
	facts, err := b.applicationFacts(ctx, c.Applications)
	if err != nil {
		return none{}, err
	}
	if err := b.State.CheckRecommendable(c.Province, c.Applications, facts); err != nil {
		return none{}, RejectionError(err)
	}
	// Batches opened before the 实施单位 were handed over have none, so their
	// recorded histories decide as they did.
	reasons, err := b.State.OutsideUnits(c.Province, c.Applications, facts, c.Reasons)
	if err != nil {
		return none{}, RejectionError(err)
	}
	// The activity took time: decide again on the state as it is now.
	e, err := b.State.Recommend(c.Province, c.Applications, b.clock.Now(ctx))
	if err != nil {
		return none{}, RejectionError(err)
	}
	e.Reasons = reasons
	return none{}, b.recordApply(ctx, b.step("recommend"), selection.TypeApplicationsRecommended, e, actor(ctx, c.Actor))
}

// qualify records the decisions and then makes every returned application
// editable again: ApplicationReturned on its own stream, with ids derived from
// the decision's step, so a retry or replay appends nothing twice.
func (b *selectionBatch) qualify(ctx workflow.Context, c QualifyCommand, e selection.QualificationDecided, _ time.Time) (none, error) {
	md := actor(ctx, c.Actor)
	step := b.step("qualify")
	if err := b.recordApply(ctx, step, selection.TypeQualificationDecided, e, md); err != nil {
		return none{}, err
	}
	var returned []selection.QualificationDecision
	for _, d := range e.Decisions {
		if d.Outcome == selection.Returned {
			returned = append(returned, d)
		}
	}
	if len(returned) == 0 {
		return none{}, nil
	}
	md.WorkflowID = workflow.GetInfo(ctx).WorkflowExecution.ID
	req := activities.ReturnApplicationsRequest{WorkflowID: md.WorkflowID, Step: step + "/return", Metadata: md, Decisions: returned}
	var a *activities.Activities
	var res activities.ReturnApplicationsResult
	opts := appendOptions()
	opts.StartToCloseTimeout = 5 * time.Minute
	return none{}, workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, opts), a.ReturnApplications, req).Get(ctx, &res)
}

// resubmit records that a returned application came back corrected, once the
// school has submitted it again on its own stream (checked in the handler
// through ReadApplicationFacts, after validation).
func (b *selectionBatch) resubmit(ctx workflow.Context, c ResubmitCommand, _ selection.CorrectionResubmitted, _ time.Time) (none, error) {
	facts, err := b.applicationFacts(ctx, []string{c.Application})
	if err != nil {
		return none{}, err
	}
	f := selection.ApplicationFacts{ID: c.Application}
	if len(facts) == 1 {
		f = facts[0]
	}
	if err := selection.CheckResubmitted(f); err != nil {
		return none{}, RejectionError(err)
	}
	e, err := b.State.Resubmit(c.Application, b.clock.Now(ctx))
	if err != nil {
		return none{}, RejectionError(err)
	}
	return none{}, b.recordApply(ctx, b.step("resubmit"), selection.TypeCorrectionResubmitted, e, actor(ctx, c.Actor))
}

func objectionID(ctx workflow.Context, c ObjectionCommand) string {
	if c.ObjectionID != "" {
		return c.ObjectionID
	}
	if info := workflow.GetCurrentUpdateInfo(ctx); info != nil {
		return info.ID
	}
	return ""
}

func (b *selectionBatch) objection(ctx workflow.Context, c ObjectionCommand) selection.ObjectionFiled {
	return selection.ObjectionFiled{ObjectionID: objectionID(ctx, c), Application: c.Application, Name: c.Name, Contact: c.Contact, Text: c.Text}
}

// objection is the decision on a filed objection: the event to record, or
// that it repeats one filed before.
type objection struct {
	filed selection.ObjectionFiled
	again bool
}

// decideObjection decides on an objection. The same objection sent again (a
// double submission of the form, a retry after continue-as-new) is accepted
// as a repeat: it answers its id and records nothing.
func (b *selectionBatch) decideObjection(ctx workflow.Context, c ObjectionCommand, now time.Time) (objection, error) {
	o := b.objection(ctx, c)
	if again, err := b.State.Refiled(o); again || err != nil {
		return objection{filed: o, again: true}, err
	}
	e, err := b.State.FileObjection(o, now)
	return objection{filed: e}, err
}

func (b *selectionBatch) fileObjection(ctx workflow.Context, c ObjectionCommand, o objection, _ time.Time) (string, error) {
	if o.again {
		return o.filed.ObjectionID, nil
	}
	return o.filed.ObjectionID, b.recordApply(ctx, b.step("objection"), selection.TypeObjectionFiled, o.filed, actor(ctx, c.Actor))
}

// batchStep is the idempotent append position of a batched activity.
func (b *selectionBatch) batchStep(ctx workflow.Context, name string, md events.Metadata) activities.SelectionStep {
	md = actor(ctx, md)
	md.WorkflowID = workflow.GetInfo(ctx).WorkflowExecution.ID
	return activities.SelectionStep{Stream: selection.SelectionBatchStream(b.State.BatchID), Expected: b.Version,
		WorkflowID: md.WorkflowID, Step: b.step(name), Metadata: md}
}

func (b *selectionBatch) assignExperts(ctx workflow.Context, c AssignCommand, _ none, _ time.Time) (AssignResult, error) {
	round := b.State.AssignRound + 1
	req := activities.AssignExpertsRequest{SelectionStep: b.batchStep(ctx, "assign", c.Actor), Round: round,
		PerApplication: b.State.PerApplication, Applications: b.State.Unassigned(), UsedLoads: b.State.ExpertLoads(),
		AsOf: b.clock.Now(ctx)}
	var a *activities.Activities
	var res activities.AssignExpertsResult
	opts := appendOptions()
	opts.StartToCloseTimeout = 10 * time.Minute // the solver on a national batch
	if err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, opts), a.AssignSelectionExperts, req).Get(ctx, &res); err != nil {
		return AssignResult{}, infeasible(err)
	}
	b.Version = res.Version
	if err := b.State.Apply(selection.ExpertsAssigned{Round: round, Assignments: res.Assignments}); err != nil {
		return AssignResult{}, err
	}
	used := map[string]bool{}
	for _, as := range res.Assignments {
		for _, e := range as.Experts {
			used[e] = true
		}
	}
	return AssignResult{Round: round, Applications: len(res.Assignments), Experts: len(used), TotalLevel: res.TotalLevel}, nil
}

// scoreDecision is what a scores command records: the declaration it carries for
// applications not yet declared, then the scores.
type scoreDecision struct {
	declared *selection.NoConflictDeclared
	scores   selection.ScoresSubmitted
}

// decideScores decides on scores; a command that declares no conflict counts
// as signing the declaration for its applications first.
func (b *selectionBatch) decideScores(c ScoresCommand, now time.Time) (scoreDecision, error) {
	var out scoreDecision
	s := b.State
	if c.DeclareNoConflict && s.Panels {
		var apps []string
		for _, sc := range c.Scores {
			if !s.Signed(c.Expert, sc.Application) && !slices.Contains(apps, sc.Application) {
				apps = append(apps, sc.Application)
			}
		}
		if len(apps) > 0 {
			d, err := s.DeclareNoConflict(c.Expert, apps, now)
			if err != nil {
				return out, remapDeclared(err, c.Scores)
			}
			out.declared = &d
			// Decide the scores on the state as the declaration leaves it;
			// the copy shares maps, so it works on a clone of them.
			s.Apps = maps.Clone(s.Apps)
			if err := s.Apply(d); err != nil {
				return out, err
			}
		}
	}
	sc, err := s.SubmitScores(c.Expert, c.Scores, now)
	out.scores = sc
	return out, err
}

// remapDeclared names the scores' field in a declaration's refusal.
func remapDeclared(err error, scores []selection.ApplicationScores) error {
	var fe *domain.FieldError
	if errors.As(err, &fe) && strings.HasPrefix(fe.Field, "applications[") {
		for i := range scores {
			if strings.Contains(fe.Detail, scores[i].Application) {
				return domain.Invalid(fmt.Sprintf("scores[%d].application", i), fe.Message, fe.Detail)
			}
		}
	}
	return err
}

func (b *selectionBatch) submitScores(ctx workflow.Context, c ScoresCommand, d scoreDecision, _ time.Time) (none, error) {
	md := actor(ctx, c.Actor)
	if d.declared != nil {
		if err := b.recordApply(ctx, b.step("declare"), selection.TypeNoConflictDeclared, *d.declared, md); err != nil {
			return none{}, err
		}
	}
	return none{}, b.recordApply(ctx, b.step("scores"), selection.TypeScoresSubmitted, d.scores, md)
}

// replaceExperts fills the open places through the solver in an activity,
// which reads the pool and every open batch's load from the log; every other
// assignment stays as it was.
func (b *selectionBatch) replaceExperts(ctx workflow.Context, c ReplaceCommand, places []selection.OpenPlace, _ time.Time) (ReplaceResult, error) {
	round := b.State.AssignRound + 1
	used := b.State.ExpertLoads()
	for _, p := range places {
		for _, e := range p.Leaving {
			used[e]--
		}
	}
	req := activities.ReplaceExpertsRequest{SelectionStep: b.batchStep(ctx, "replace", c.Actor), Round: round,
		PerApplication: b.State.PerApplication, Places: places, Reason: strings.TrimSpace(c.Reason), UsedLoads: used, AsOf: b.clock.Now(ctx)}
	var a *activities.Activities
	var res activities.ReplaceExpertsResult
	opts := appendOptions()
	opts.StartToCloseTimeout = 5 * time.Minute
	if err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, opts), a.ReplaceSelectionExperts, req).Get(ctx, &res); err != nil {
		return ReplaceResult{}, infeasible(err)
	}
	b.Version = res.Version
	b.State.AssignRound = round
	if err := b.State.Apply(res.Replaced); err != nil {
		return ReplaceResult{}, err
	}
	out := ReplaceResult{Round: round}
	for _, r := range res.Replaced.Replacements {
		out.Replacements = append(out.Replacements, selection.Slot{Application: r.Application, Expert: r.Replacement})
	}
	return out, nil
}

// infeasible turns the solver's refusal into the update's conflict, so the
// ministry sees which applications the pool cannot staff.
func infeasible(err error) error {
	if ae := asApplicationError(err); ae != nil && ae.Type() == activities.InfeasibleErrorType {
		return RejectionError(domain.Conflict("experts", ae.Message(), ae.Error()))
	}
	return err
}

func (b *selectionBatch) proposeRanking(ctx workflow.Context, c RankCommand, _ none, _ time.Time) (RankResult, error) {
	round := b.State.Proposed + b.Steps // unique per proposal
	o := b.State.RankOptions()
	req := activities.RankSelectionRequest{SelectionStep: b.batchStep(ctx, "rank", c.Actor), Round: round,
		Rubric: b.State.Rubric, Quota: b.State.Quota, OutlierThreshold: b.State.OutlierThreshold, Applications: b.State.Ranked(),
		PassTotal: o.PassTotal, PassCriteria: o.PassCriteria, ConsensusSpread: o.ConsensusSpread}
	var a *activities.Activities
	var res activities.RankSelectionResult
	opts := appendOptions()
	opts.StartToCloseTimeout = 5 * time.Minute
	if err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, opts), a.RankSelection, req).Get(ctx, &res); err != nil {
		if ae := asApplicationError(err); ae != nil && ae.Type() == activities.ConsensusRequiredErrorType {
			return RankResult{}, RejectionError(domain.Conflict("consensus", ae.Message(), ae.Error()))
		}
		return RankResult{}, err
	}
	b.Version = res.Version
	out := RankResult{Round: round, Selected: res.Selected, Cut: res.Cut, Outliers: res.Outliers, Vacant: res.Vacant}
	return out, b.State.Apply(selection.RankingProposed{Round: round, Selected: res.Selected, Reserve: res.Reserve})
}

// publication is what publishing records: the notice and the projects.
type publication struct {
	published selection.SelectionBatchPublished
	projects  []selection.ProjectCreated
}

func (b *selectionBatch) publish(ctx workflow.Context, c PublishCommand, p publication, _ time.Time) (none, error) {
	req := activities.PublishSelectionRequest{SelectionStep: b.batchStep(ctx, "publish", c.Actor), Published: p.published, Projects: p.projects}
	var a *activities.Activities
	var res activities.AppendResult
	opts := appendOptions()
	opts.StartToCloseTimeout = 5 * time.Minute
	if err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, opts), a.PublishSelection, req).Get(ctx, &res); err != nil {
		return none{}, err
	}
	b.Version = last(res)
	if err := b.State.Apply(p.published); err != nil {
		return none{}, err
	}
	return none{}, b.upsert(ctx)
}

func (b *selectionBatch) status() (SelectionBatchStatus, error) {
	s := b.State
	out := SelectionBatchStatus{BatchID: s.BatchID, TaskItem: s.TaskItem, Stage: s.Stage, Deadline: s.Deadline, Overdue: s.Overdue,
		Recommended: len(s.Apps), Outcomes: map[string]int{}, Proposed: s.Proposed, Confirmed: s.Confirmed, Notice: s.Notice,
		Objections: len(s.Objections), Published: s.Published, Runs: b.Runs + 1}
	for _, a := range s.Apps {
		o := string(a.Outcome)
		if o == "" {
			o = "pending"
		}
		out.Outcomes[o]++
		if len(a.Experts) > 0 {
			out.Assigned++
			if a.Scored == 1<<len(a.Experts)-1 {
				out.FullyScored++
			}
		}
	}
	for _, o := range s.Objections {
		if o.Outcome == "" {
			out.Pending++
		}
	}
	return out, nil
}

func asApplicationError(err error) *temporal.ApplicationError {
	var ae *temporal.ApplicationError
	if errors.As(err, &ae) {
		return ae
	}
	return nil
}
