package workflows

import (
	"errors"
	"fmt"
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
	params  SelectionBatchParams
	clock   Clock
	cal     *calendar.Calendar
	mu      workflow.Mutex // one command or timer action at a time
	updates int
}

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
	b := &selectionBatch{params: p, clock: clock, cal: cal, mu: workflow.NewMutex(ctx)}
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
	o, state, err := selection.OpenBatch(p.Batch, b.clock.Now(ctx))
	if err != nil {
		return RejectionError(err)
	}
	b.State = state
	if err := b.mu.Lock(ctx); err != nil {
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
	b.mu.Unlock()
	return b.run(ctx)
}

func (b *selectionBatch) run(ctx workflow.Context) error {
	for {
		if b.State.Stage == selection.StagePublished {
			return workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) })
		}
		if b.updates >= selectionUpdatesPerRun || workflow.GetInfo(ctx).GetContinueAsNewSuggested() {
			if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
				return err
			}
			next := b.params
			carry := b.SelectionBatchCarry
			next.Carry = &carry
			return workflow.NewContinueAsNewError(ctx, SelectionBatchWorkflowName, next)
		}
		stage, deadline, overdue := b.State.Stage, b.State.Deadline, b.State.Overdue
		changed := func() bool {
			return b.State.Stage != stage || !b.State.Deadline.Equal(deadline) || b.State.Overdue != overdue ||
				b.updates >= selectionUpdatesPerRun || workflow.GetInfo(ctx).GetContinueAsNewSuggested()
		}
		if overdue {
			if err := workflow.Await(ctx, changed); err != nil {
				return err
			}
			continue
		}
		if d := deadline.Sub(b.clock.Now(ctx)); d > 0 {
			fired, err := b.clock.AwaitWithTimeout(ctx, d, changed)
			if err != nil {
				return err
			}
			if fired {
				continue // something changed: recompute the wait
			}
		}
		if err := b.mu.Lock(ctx); err != nil {
			return err
		}
		err := b.deadlinePassed(ctx)
		b.mu.Unlock()
		if err != nil {
			return err
		}
	}
}

func (b *selectionBatch) deadlinePassed(ctx workflow.Context) error {
	e, due := b.State.DeadlinePassed(b.clock.Now(ctx))
	if !due {
		return nil
	}
	b.Steps++
	return b.recordApply(ctx, fmt.Sprintf("deadline/%d", b.Steps), selection.TypeStageDeadlinePassed, e, systemActor)
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

// command runs a handler's body under the lock, counting it toward the
// continue-as-new bound. The rule is decided again here: another command may
// have moved the state since the validator ran.
func (b *selectionBatch) command(ctx workflow.Context, body func(now time.Time) error) error {
	if err := b.mu.Lock(ctx); err != nil {
		return err
	}
	defer b.mu.Unlock()
	b.updates++
	return body(b.clock.Now(ctx))
}

// simple decides with rule and records its one event.
func simple[E any](b *selectionBatch, ctx workflow.Context, name, typ string, md events.Metadata, rule func(now time.Time) (E, error)) error {
	return b.command(ctx, func(now time.Time) error {
		e, err := rule(now)
		if err != nil {
			return RejectionError(err)
		}
		return b.recordApply(ctx, b.step(name), typ, e, actor(ctx, md))
	})
}

func validate[E any](b *selectionBatch, rule func(now time.Time) (E, error)) func(ctx workflow.Context) error {
	return func(ctx workflow.Context) error {
		_, err := rule(b.clock.Now(ctx))
		return RejectionError(err)
	}
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

func (b *selectionBatch) register(ctx workflow.Context) error {
	if err := workflow.SetQueryHandler(ctx, QuerySelectionBatchStatus, b.status); err != nil {
		return err
	}
	s := &b.State
	type reg struct {
		name               string
		handler, validator any
	}
	regs := []reg{
		{UpdateRaiseProvinceQuota,
			func(ctx workflow.Context, c RaiseQuotaCommand) error {
				return simple(b, ctx, "quota", selection.TypeProvinceQuotaRaised, c.Actor, func(time.Time) (selection.ProvinceQuotaRaised, error) {
					return s.RaiseQuota(c.Province, c.Quota, c.Reason)
				})
			},
			func(ctx workflow.Context, c RaiseQuotaCommand) error {
				return validate(b, func(time.Time) (selection.ProvinceQuotaRaised, error) {
					return s.RaiseQuota(c.Province, c.Quota, c.Reason)
				})(ctx)
			}},
		{UpdateRecommendApplications,
			b.recommend,
			func(ctx workflow.Context, c RecommendCommand) error {
				return validate(b, func(now time.Time) (selection.ApplicationsRecommended, error) {
					return s.Recommend(c.Province, c.Applications, now)
				})(ctx)
			}},
		{UpdateDecideQualification,
			b.qualify,
			func(ctx workflow.Context, c QualifyCommand) error {
				return validate(b, func(now time.Time) (selection.QualificationDecided, error) { return s.Qualify(c.Decisions, now) })(ctx)
			}},
		{UpdateResubmitCorrection,
			b.resubmit,
			func(ctx workflow.Context, c ResubmitCommand) error {
				return validate(b, func(now time.Time) (selection.CorrectionResubmitted, error) { return s.Resubmit(c.Application, now) })(ctx)
			}},
		{UpdateAdvanceStage,
			func(ctx workflow.Context, c AdvanceCommand) error {
				if err := simple(b, ctx, "advance", selection.TypeStageAdvanced, c.Actor, func(now time.Time) (selection.StageAdvanced, error) {
					return s.AdvanceOn(b.cal, c.From, c.To, now)
				}); err != nil {
					return err
				}
				return b.upsert(ctx)
			},
			func(ctx workflow.Context, c AdvanceCommand) error {
				return validate(b, func(now time.Time) (selection.StageAdvanced, error) { return s.AdvanceOn(b.cal, c.From, c.To, now) })(ctx)
			}},
		{UpdateReopenStage,
			func(ctx workflow.Context, c ReopenCommand) error {
				if err := simple(b, ctx, "reopen", selection.TypeStageReopened, c.Actor, func(now time.Time) (selection.StageReopened, error) {
					return s.Reopen(c.Stage, c.Reason, now)
				}); err != nil {
					return err
				}
				return b.upsert(ctx)
			},
			func(ctx workflow.Context, c ReopenCommand) error {
				return validate(b, func(now time.Time) (selection.StageReopened, error) { return s.Reopen(c.Stage, c.Reason, now) })(ctx)
			}},
		{UpdateExtendStageDeadline,
			func(ctx workflow.Context, c ExtendStageCommand) error {
				return simple(b, ctx, "extend", selection.TypeStageDeadlineExtended, c.Actor, func(now time.Time) (selection.StageDeadlineExtended, error) {
					return s.ExtendDeadline(c.Stage, c.Deadline, now)
				})
			},
			func(ctx workflow.Context, c ExtendStageCommand) error {
				return validate(b, func(now time.Time) (selection.StageDeadlineExtended, error) {
					return s.ExtendDeadline(c.Stage, c.Deadline, now)
				})(ctx)
			}},
		{UpdateSubmitScores,
			func(ctx workflow.Context, c ScoresCommand) error {
				return simple(b, ctx, "scores", selection.TypeScoresSubmitted, c.Actor, func(now time.Time) (selection.ScoresSubmitted, error) {
					return s.SubmitScores(c.Expert, c.Scores, now)
				})
			},
			func(ctx workflow.Context, c ScoresCommand) error {
				return validate(b, func(now time.Time) (selection.ScoresSubmitted, error) { return s.SubmitScores(c.Expert, c.Scores, now) })(ctx)
			}},
		{UpdateConfirmRanking,
			func(ctx workflow.Context, c ConfirmRankingCommand) error {
				return simple(b, ctx, "confirm", selection.TypeRankingConfirmed, c.Actor, func(time.Time) (selection.RankingConfirmed, error) {
					return s.ConfirmRanking(c.Round)
				})
			},
			func(ctx workflow.Context, c ConfirmRankingCommand) error {
				return validate(b, func(time.Time) (selection.RankingConfirmed, error) { return s.ConfirmRanking(c.Round) })(ctx)
			}},
		{UpdateFileObjection, b.fileObjection,
			func(ctx workflow.Context, c ObjectionCommand) error {
				if again, err := s.Refiled(b.objection(ctx, c)); again || err != nil {
					return RejectionError(err)
				}
				return validate(b, func(now time.Time) (selection.ObjectionFiled, error) {
					return s.FileObjection(b.objection(ctx, c), now)
				})(ctx)
			}},
		{UpdateAdjudicateObjection,
			func(ctx workflow.Context, c AdjudicateCommand) error {
				return simple(b, ctx, "adjudicate", selection.TypeObjectionAdjudicated, c.Actor, func(time.Time) (selection.ObjectionAdjudicated, error) {
					return s.Adjudicate(c.ObjectionID, c.Outcome, c.Reason)
				})
			},
			func(ctx workflow.Context, c AdjudicateCommand) error {
				return validate(b, func(time.Time) (selection.ObjectionAdjudicated, error) {
					return s.Adjudicate(c.ObjectionID, c.Outcome, c.Reason)
				})(ctx)
			}},
		{UpdateAssignExperts, b.assignExperts,
			func(ctx workflow.Context, c AssignCommand) error { return RejectionError(s.MayAssign()) }},
		{UpdateProposeRanking, b.proposeRanking,
			func(ctx workflow.Context, c RankCommand) error { return RejectionError(s.MayRank()) }},
		{UpdatePublishSelection, b.publish,
			func(ctx workflow.Context, c PublishCommand) error {
				_, _, err := s.Publish(b.clock.Now(ctx))
				return RejectionError(err)
			}},
	}
	for _, u := range regs {
		if err := workflow.SetUpdateHandlerWithOptions(ctx, u.name, u.handler, workflow.UpdateHandlerOptions{Validator: u.validator}); err != nil {
			return err
		}
	}
	return nil
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
func (b *selectionBatch) recommend(ctx workflow.Context, c RecommendCommand) error {
	return b.command(ctx, func(now time.Time) error {
		if _, err := b.State.Recommend(c.Province, c.Applications, now); err != nil {
			return RejectionError(err)
		}
		facts, err := b.applicationFacts(ctx, c.Applications)
		if err != nil {
			return err
		}
		if err := b.State.CheckRecommendable(c.Province, c.Applications, facts); err != nil {
			return RejectionError(err)
		}
		// The activity took time: decide again on the state as it is now.
		e, err := b.State.Recommend(c.Province, c.Applications, b.clock.Now(ctx))
		if err != nil {
			return RejectionError(err)
		}
		return b.recordApply(ctx, b.step("recommend"), selection.TypeApplicationsRecommended, e, actor(ctx, c.Actor))
	})
}

// qualify records the decisions and then makes every returned application
// editable again: ApplicationReturned on its own stream, with ids derived from
// the decision's step, so a retry or replay appends nothing twice.
func (b *selectionBatch) qualify(ctx workflow.Context, c QualifyCommand) error {
	return b.command(ctx, func(now time.Time) error {
		e, err := b.State.Qualify(c.Decisions, now)
		if err != nil {
			return RejectionError(err)
		}
		md := actor(ctx, c.Actor)
		step := b.step("qualify")
		if err := b.recordApply(ctx, step, selection.TypeQualificationDecided, e, md); err != nil {
			return err
		}
		var returned []selection.QualificationDecision
		for _, d := range e.Decisions {
			if d.Outcome == selection.Returned {
				returned = append(returned, d)
			}
		}
		if len(returned) == 0 {
			return nil
		}
		md.WorkflowID = workflow.GetInfo(ctx).WorkflowExecution.ID
		req := activities.ReturnApplicationsRequest{WorkflowID: md.WorkflowID, Step: step + "/return", Metadata: md, Decisions: returned}
		var a *activities.Activities
		var res activities.ReturnApplicationsResult
		opts := appendOptions()
		opts.StartToCloseTimeout = 5 * time.Minute
		return workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, opts), a.ReturnApplications, req).Get(ctx, &res)
	})
}

// resubmit records that a returned application came back corrected, once the
// school has submitted it again on its own stream (checked in the handler
// through ReadApplicationFacts, after validation).
func (b *selectionBatch) resubmit(ctx workflow.Context, c ResubmitCommand) error {
	return b.command(ctx, func(now time.Time) error {
		if _, err := b.State.Resubmit(c.Application, now); err != nil {
			return RejectionError(err)
		}
		facts, err := b.applicationFacts(ctx, []string{c.Application})
		if err != nil {
			return err
		}
		f := selection.ApplicationFacts{ID: c.Application}
		if len(facts) == 1 {
			f = facts[0]
		}
		if err := selection.CheckResubmitted(f); err != nil {
			return RejectionError(err)
		}
		e, err := b.State.Resubmit(c.Application, b.clock.Now(ctx))
		if err != nil {
			return RejectionError(err)
		}
		return b.recordApply(ctx, b.step("resubmit"), selection.TypeCorrectionResubmitted, e, actor(ctx, c.Actor))
	})
}

func (b *selectionBatch) objection(ctx workflow.Context, c ObjectionCommand) selection.ObjectionFiled {
	return selection.ObjectionFiled{ObjectionID: objectionID(ctx, c), Application: c.Application, Name: c.Name, Contact: c.Contact, Text: c.Text}
}

func (b *selectionBatch) fileObjection(ctx workflow.Context, c ObjectionCommand) (string, error) {
	var id string
	err := b.command(ctx, func(now time.Time) error {
		o := b.objection(ctx, c)
		// The same objection sent again (a double submission of the form, a
		// retry after continue-as-new) answers its id and records nothing.
		if again, err := b.State.Refiled(o); again || err != nil {
			id = o.ObjectionID
			return RejectionError(err)
		}
		e, err := b.State.FileObjection(o, now)
		if err != nil {
			return RejectionError(err)
		}
		id = e.ObjectionID
		return b.recordApply(ctx, b.step("objection"), selection.TypeObjectionFiled, e, actor(ctx, c.Actor))
	})
	return id, err
}

// batchStep is the idempotent append position of a batched activity.
func (b *selectionBatch) batchStep(ctx workflow.Context, name string, md events.Metadata) activities.SelectionStep {
	md = actor(ctx, md)
	md.WorkflowID = workflow.GetInfo(ctx).WorkflowExecution.ID
	return activities.SelectionStep{Stream: selection.SelectionBatchStream(b.State.BatchID), Expected: b.Version,
		WorkflowID: md.WorkflowID, Step: b.step(name), Metadata: md}
}

func (b *selectionBatch) assignExperts(ctx workflow.Context, c AssignCommand) (AssignResult, error) {
	var out AssignResult
	err := b.command(ctx, func(time.Time) error {
		if err := b.State.MayAssign(); err != nil {
			return RejectionError(err)
		}
		round := b.State.AssignRound + 1
		req := activities.AssignExpertsRequest{SelectionStep: b.batchStep(ctx, "assign", c.Actor), Round: round,
			PerApplication: b.State.PerApplication, Applications: b.State.Unassigned(), UsedLoads: b.State.ExpertLoads()}
		var a *activities.Activities
		var res activities.AssignExpertsResult
		opts := appendOptions()
		opts.StartToCloseTimeout = 10 * time.Minute // the solver on a national batch
		if err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, opts), a.AssignSelectionExperts, req).Get(ctx, &res); err != nil {
			return infeasible(err)
		}
		b.Version = res.Version
		if err := b.State.Apply(selection.ExpertsAssigned{Round: round, Assignments: res.Assignments}); err != nil {
			return err
		}
		used := map[string]bool{}
		for _, as := range res.Assignments {
			for _, e := range as.Experts {
				used[e] = true
			}
		}
		out = AssignResult{Round: round, Applications: len(res.Assignments), Experts: len(used), TotalLevel: res.TotalLevel}
		return nil
	})
	return out, err
}

// infeasible turns the solver's refusal into the update's conflict, so the
// ministry sees which applications the pool cannot staff.
func infeasible(err error) error {
	if ae := asApplicationError(err); ae != nil && ae.Type() == activities.InfeasibleErrorType {
		return RejectionError(domain.Conflict("experts", ae.Message(), ae.Error()))
	}
	return err
}

func (b *selectionBatch) proposeRanking(ctx workflow.Context, c RankCommand) (RankResult, error) {
	var out RankResult
	err := b.command(ctx, func(time.Time) error {
		if err := b.State.MayRank(); err != nil {
			return RejectionError(err)
		}
		round := b.State.Proposed + b.Steps // unique per proposal
		req := activities.RankSelectionRequest{SelectionStep: b.batchStep(ctx, "rank", c.Actor), Round: round,
			Rubric: b.State.Rubric, Quota: b.State.Quota, OutlierThreshold: b.State.OutlierThreshold, Applications: b.State.Ranked()}
		var a *activities.Activities
		var res activities.RankSelectionResult
		opts := appendOptions()
		opts.StartToCloseTimeout = 5 * time.Minute
		if err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, opts), a.RankSelection, req).Get(ctx, &res); err != nil {
			return err
		}
		b.Version = res.Version
		out = RankResult{Round: round, Selected: res.Selected, Cut: res.Cut, Outliers: res.Outliers}
		return b.State.Apply(selection.RankingProposed{Round: round, Selected: res.Selected})
	})
	return out, err
}

func (b *selectionBatch) publish(ctx workflow.Context, c PublishCommand) error {
	return b.command(ctx, func(now time.Time) error {
		pub, projects, err := b.State.Publish(now)
		if err != nil {
			return RejectionError(err)
		}
		req := activities.PublishSelectionRequest{SelectionStep: b.batchStep(ctx, "publish", c.Actor), Published: pub, Projects: projects}
		var a *activities.Activities
		var res activities.AppendResult
		opts := appendOptions()
		opts.StartToCloseTimeout = 5 * time.Minute
		if err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, opts), a.PublishSelection, req).Get(ctx, &res); err != nil {
			return err
		}
		b.Version = last(res)
		if err := b.State.Apply(pub); err != nil {
			return err
		}
		return b.upsert(ctx)
	})
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
