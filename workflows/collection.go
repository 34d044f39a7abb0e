package workflows

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"keytask/activities"
	"keytask/domain"
	"keytask/domain/identity"
	"keytask/domain/performance"
	"keytask/events"
)

// PerformanceCollectionCarry is what a collection hands to its next run when
// it continues as new.
type PerformanceCollectionCarry struct {
	State             performance.Collection `json:"state"`
	CloseAt           time.Time              `json:"close_at"`
	Offsets           []time.Duration        `json:"offsets"`
	CollectionVersion int64                  `json:"collection_version"`
	ReportVersions    map[string]int64       `json:"report_versions"`
	Steps             map[string]int         `json:"steps"` // events appended per report, for step names
	RemindersDone     []time.Duration        `json:"reminders_done"`
	// Extensions counts the deadline's extensions, for their step names.
	Extensions int `json:"extensions,omitempty"`
	// Recent holds the ids of the updates completed lately, so that one sent
	// again after the run continued as new is not executed twice.
	Recent RecentUpdates `json:"recent,omitzero"`
}

// Batch sizes of the collection's activities: reports opened per activity, and
// events per append to the collection stream. Variables so tests can lower them.
var (
	collectionOpenChunk   = 200
	collectionAppendChunk = 500
	// collectionUpdatesPerRun bounds the updates one run handles before it
	// continues as new (each adds about ten history events).
	collectionUpdatesPerRun = 400
)

// shanghai is Asia/Shanghai, which has kept UTC+8 without daylight saving
// since 1991; a fixed zone keeps the workflow free of tz lookups.
var shanghai = time.FixedZone("CST", 8*3600)

type collection struct {
	PerformanceCollectionCarry
	params PerformanceCollectionParams

	// updates runs the commands: one report's commands, and
	// whole-collection work, run alone; different reports' run side by side.
	updates *updates
	// collMu serialises the commands' appends to the collection stream (a
	// late submission's mark), whose expected version they share.
	collMu workflow.Mutex
}

// reportConcurrencyChange names the version marker of per-report commands
// (see keyLock).
const reportConcurrencyChange = "collection-per-report-commands"

// PerformanceCollectionWorkflow runs one year's performance collection; see
// collection_contract.go. A run handles collectionUpdatesPerRun updates; see
// performanceCollectionWorkflow for another bound.
func PerformanceCollectionWorkflow(ctx workflow.Context, p PerformanceCollectionParams) (PerformanceCollectionResult, error) {
	return runPerformanceCollection(ctx, p, collectionUpdatesPerRun)
}

// performanceCollectionWorkflow is the collection's workflow function with
// perRun updates per run (0 for the default), as RegisterWith registers it.
func performanceCollectionWorkflow(perRun int) func(workflow.Context, PerformanceCollectionParams) (PerformanceCollectionResult, error) {
	if perRun <= 0 {
		return PerformanceCollectionWorkflow
	}
	return func(ctx workflow.Context, p PerformanceCollectionParams) (PerformanceCollectionResult, error) {
		return runPerformanceCollection(ctx, p, perRun)
	}
}

func runPerformanceCollection(ctx workflow.Context, p PerformanceCollectionParams, perRun int) (PerformanceCollectionResult, error) {
	c := &collection{params: p}
	c.updates = newUpdates(ctx, reportConcurrencyChange, &c.Recent, perRun, workflow.Now)
	c.collMu = workflow.NewMutex(ctx)
	if p.Carry != nil {
		c.PerformanceCollectionCarry = *p.Carry
		if err := c.register(ctx); err != nil {
			return PerformanceCollectionResult{}, err
		}
		if err := c.upsert(ctx); err != nil {
			return PerformanceCollectionResult{}, err
		}
		return c.run(ctx)
	}

	start := p.OpensAt
	if start.IsZero() {
		start = scheduledStart(ctx)
	}
	year := start.In(shanghai).Year()
	if year < 2000 || year > 2100 {
		return PerformanceCollectionResult{}, RejectionError(domain.Invalid("year", fmt.Sprintf("采集年度 %d 不正确", year), fmt.Sprintf("year %d out of range", year)))
	}
	deadlineAfter, closeAfter := orDefault(p.DeadlineAfter, DefaultCollectionDeadlineAfter), orDefault(p.CloseAfter, DefaultCollectionCloseAfter)
	offsets, err := reminderOffsets(p.ReminderOffsets, deadlineAfter)
	if err != nil {
		return PerformanceCollectionResult{}, RejectionError(err)
	}
	deadline := start.Add(deadlineAfter)
	c.State = performance.Collection{Year: year, Deadline: deadline}
	c.CloseAt, c.Offsets = deadline.Add(closeAfter), offsets
	c.ReportVersions, c.Steps = map[string]int64{}, map[string]int{}
	c.updates.refusal = domain.Conflict("", "绩效采集正在开启，请稍后再试", "collection is opening")
	if err := c.register(ctx); err != nil {
		return PerformanceCollectionResult{}, err
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx, YearKey.ValueSet(int64(year)), StageKey.ValueSet("opening")); err != nil {
		return PerformanceCollectionResult{}, err
	}
	unlock, err := c.updates.lockAll(ctx)
	if err != nil {
		return PerformanceCollectionResult{}, err
	}
	skipped, err := c.open(ctx)
	c.updates.refusal = nil
	unlock()
	if err != nil || skipped {
		return PerformanceCollectionResult{Year: year, Skipped: skipped}, err
	}
	return c.run(ctx)
}

// scheduledStart is the instant the collection is for: the schedule's
// nominal time when a schedule started it (also for backfills), else the
// workflow's start.
func scheduledStart(ctx workflow.Context) time.Time {
	key := temporal.NewSearchAttributeKeyTime(performanceScheduledStartSA)
	if t, ok := workflow.GetTypedSearchAttributes(ctx).GetTime(key); ok && !t.IsZero() {
		return t
	}
	return workflow.GetInfo(ctx).WorkflowStartTime
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// reminderOffsets checks the offsets and sorts them earliest reminder first.
func reminderOffsets(in []time.Duration, deadlineAfter time.Duration) ([]time.Duration, error) {
	if len(in) == 0 {
		in = DefaultCollectionReminders
	}
	out := slices.Clone(in)
	for i, o := range out {
		if o <= 0 || o >= deadlineAfter {
			return nil, domain.Invalid(fmt.Sprintf("reminder_offsets[%d]", i), "提醒时间须在采集开始之后、截止之前",
				fmt.Sprintf("reminder offset %s outside (0, %s)", o, deadlineAfter))
		}
	}
	slices.Sort(out)
	slices.Reverse(out)
	return slices.Compact(out), nil
}

// open records the collection and opens every active project's report. A
// year another run already opened is left alone.
func (c *collection) open(ctx workflow.Context) (skipped bool, err error) {
	var a *activities.Activities
	var projects []performance.ReportOpened
	actx := workflow.WithActivityOptions(ctx, collectionActivityOptions())
	if err := workflow.ExecuteActivity(actx, a.ActivePerformanceProjects, activities.ActiveProjectsRequest{Year: c.State.Year}).Get(ctx, &projects); err != nil {
		return false, err
	}
	opened := performance.CollectionOpened{Year: c.State.Year, Deadline: c.State.Deadline, ReminderOffsets: c.Offsets, Projects: len(projects)}
	spec, err := NewEventSpec(ctx, "opened", performance.TypeCollectionOpened, opened, c.params.Actor)
	if err != nil {
		return false, err
	}
	res, err := AppendEvents(ctx, performance.CollectionStream(c.State.Year), events.NoStream, spec)
	var ae *temporal.ApplicationError
	if errors.As(err, &ae) && ae.Type() == activities.ConflictErrorType {
		workflow.GetLogger(ctx).Info("year already collected by another run", "year", c.State.Year)
		return true, nil
	}
	if err != nil {
		return false, err
	}
	c.CollectionVersion = last(res)
	step := c.step(ctx)
	for i := 0; i < len(projects); i += collectionOpenChunk {
		chunk := projects[i:min(i+collectionOpenChunk, len(projects))]
		req := activities.OpenReportsRequest{CollectionStep: step, Deadline: c.State.Deadline, Reports: chunk}
		if err := workflow.ExecuteActivity(actx, a.OpenPerformanceReports, req).Get(ctx, nil); err != nil {
			return false, err
		}
	}
	c.State = *performance.NewCollection(c.State.Year, c.State.Deadline, projects)
	for _, p := range projects {
		c.ReportVersions[p.ProjectID] = 1
	}
	// Reminders whose time passed before the collection opened (a backfill, a
	// late start) would arrive after the fact: skipped, not sent late.
	now := workflow.Now(ctx)
	for _, o := range c.Offsets {
		if !c.State.Deadline.Add(-o).After(now) {
			c.RemindersDone = append(c.RemindersDone, o)
		}
	}
	return false, c.upsert(ctx)
}

func collectionActivityOptions() workflow.ActivityOptions {
	o := appendOptions()
	o.StartToCloseTimeout = 2 * time.Minute
	return o
}

func (c *collection) step(ctx workflow.Context) activities.CollectionStep {
	return activities.CollectionStep{
		Stream: performance.CollectionStream(c.State.Year), Expected: c.CollectionVersion,
		WorkflowID: workflow.GetInfo(ctx).WorkflowExecution.ID, Metadata: systemActor,
	}
}

func (c *collection) stage() string {
	switch {
	case c.State.Closed:
		return "closed"
	case c.State.Passed:
		return "passed"
	}
	return "open"
}

func (c *collection) upsert(ctx workflow.Context) error {
	return workflow.UpsertTypedSearchAttributes(ctx, YearKey.ValueSet(int64(c.State.Year)), StageKey.ValueSet(c.stage()))
}

func (c *collection) run(ctx workflow.Context) (PerformanceCollectionResult, error) {
	for {
		if c.State.Closed {
			ended := domain.Conflict("", fmt.Sprintf("%d年度绩效采集已结束，不再受理", c.State.Year), "collection is completing")
			if err := c.updates.end(ctx, ended); err != nil {
				return PerformanceCollectionResult{}, err
			}
			return PerformanceCollectionResult{Year: c.State.Year, Summary: c.State.Summary()}, nil
		}
		if c.updates.continueAsNew(ctx) {
			return PerformanceCollectionResult{}, c.updates.continueAsNewError(ctx, PerformanceCollectionWorkflowName, func() any {
				next := c.params
				next.Carry = &c.PerformanceCollectionCarry
				return next
			})
		}
		if d := c.nextWake().Sub(workflow.Now(ctx)); d > 0 {
			// An extension moves the deadline, and with it the reminders not
			// yet sent and the close: the wait ends, its timer is cancelled
			// (the SDK leaves it running), and the next wake is computed anew.
			// Recorded runs have no extension, so for them the condition is
			// unchanged and nothing is cancelled.
			deadline := c.State.Deadline
			moved := func() bool { return !c.State.Deadline.Equal(deadline) }
			wctx, cancel := workflow.WithCancel(ctx)
			if _, err := workflow.AwaitWithTimeout(wctx, d, func() bool { return c.updates.continueAsNew(ctx) || moved() }); err != nil {
				cancel()
				return PerformanceCollectionResult{}, err
			}
			if moved() {
				cancel()
				continue
			}
		}
		unlock, err := c.updates.lockAll(ctx)
		if err != nil {
			return PerformanceCollectionResult{}, err
		}
		err = c.tick(ctx)
		unlock()
		if err != nil {
			return PerformanceCollectionResult{}, err
		}
	}
}

// nextWake is the next reminder, the deadline, or the close.
func (c *collection) nextWake() time.Time {
	if c.State.Passed {
		return c.CloseAt
	}
	at := c.State.Deadline
	for _, o := range c.Offsets {
		if t := c.State.Deadline.Add(-o); !slices.Contains(c.RemindersDone, o) && t.Before(at) {
			at = t
		}
	}
	return at
}

// tick does what is due: a reminder, the deadline's late marks and
// escalations, the close.
func (c *collection) tick(ctx workflow.Context) error {
	now := workflow.Now(ctx)
	var due []time.Duration
	for _, o := range c.Offsets {
		if !slices.Contains(c.RemindersDone, o) && !c.State.Deadline.Add(-o).After(now) {
			due = append(due, o)
		}
	}
	if len(due) > 0 && now.Before(c.State.Deadline) {
		// After a delay several offsets may be due at once; only the latest
		// is worth sending.
		if err := c.remind(ctx, slices.Min(due)); err != nil {
			return err
		}
	}
	c.RemindersDone = append(c.RemindersDone, due...)

	if !c.State.Passed && !now.Before(c.State.Deadline) {
		if err := c.passDeadline(ctx); err != nil {
			return err
		}
	}
	if c.State.Passed && !c.State.Closed && !now.Before(c.CloseAt) {
		closed := c.State.Summary()
		if err := c.appendCollection(ctx, "closed", performance.TypeCollectionClosed, closed, systemActor); err != nil {
			return err
		}
		if err := c.State.Apply(closed); err != nil {
			return err
		}
		return c.upsert(ctx)
	}
	return nil
}

// remind records one ReminderSent per report still owed, in batched appends.
func (c *collection) remind(ctx workflow.Context, offset time.Duration) error {
	var refs []activities.ReportRef
	for _, r := range c.State.Unsubmitted() {
		refs = append(refs, activities.ReportRef{ProjectID: r.ProjectID, School: r.School, Province: r.Province})
	}
	var a *activities.Activities
	actx := workflow.WithActivityOptions(ctx, collectionActivityOptions())
	for i := 0; i < len(refs); i += collectionAppendChunk {
		req := activities.PerformanceRemindersRequest{CollectionStep: c.step(ctx), Year: c.State.Year, Offset: offset,
			Deadline: c.State.Deadline, Reports: refs[i:min(i+collectionAppendChunk, len(refs))]}
		var res activities.AppendResult
		if err := workflow.ExecuteActivity(actx, a.SendPerformanceReminders, req).Get(ctx, &res); err != nil {
			return err
		}
		c.CollectionVersion = last(res)
	}
	return nil
}

// passDeadline marks every report never submitted late, then tells each
// province's liaison which of its reports are still owed.
func (c *collection) passDeadline(ctx workflow.Context) error {
	var late []string
	for _, r := range c.State.Missing() {
		if !r.Late {
			late = append(late, r.ProjectID)
		}
	}
	var a *activities.Activities
	actx := workflow.WithActivityOptions(ctx, collectionActivityOptions())
	for i := 0; i < len(late); i += collectionAppendChunk {
		chunk := late[i:min(i+collectionAppendChunk, len(late))]
		var res activities.AppendResult
		if err := workflow.ExecuteActivity(actx, a.MarkPerformanceLate, activities.MarkLateRequest{CollectionStep: c.step(ctx), Year: c.State.Year, Projects: chunk}).Get(ctx, &res); err != nil {
			return err
		}
		c.CollectionVersion = last(res)
		for _, p := range chunk {
			if err := c.State.Apply(performance.ReportMarkedLate{Year: c.State.Year, ProjectID: p}); err != nil {
				return err
			}
		}
	}
	esc := c.State.Escalations()
	for i := 0; i < len(esc); i += collectionAppendChunk {
		var specs []activities.EventSpec
		for _, e := range esc[i:min(i+collectionAppendChunk, len(esc))] {
			spec, err := NewEventSpec(ctx, "escalate/"+e.Province, performance.TypeEscalated, e, systemActor)
			if err != nil {
				return err
			}
			specs = append(specs, spec)
		}
		res, err := AppendEvents(ctx, performance.CollectionStream(c.State.Year), c.CollectionVersion, specs...)
		if err != nil {
			return err
		}
		c.CollectionVersion = last(res)
	}
	c.State.Passed = true
	return c.upsert(ctx)
}

// appendCollection appends one event to the collection stream. Commands
// running side by side take turns; whole-collection work holds every command
// off already.
func (c *collection) appendCollection(ctx workflow.Context, step, typ string, data any, md events.Metadata) error {
	if err := c.collMu.Lock(ctx); err != nil {
		return err
	}
	defer c.collMu.Unlock()
	return appendOne(ctx, performance.CollectionStream(c.State.Year), &c.CollectionVersion, step, typ, data, md)
}

// appendReport appends one event to a report's stream; the step name
// ("submit/<project>/2") counts that report's events.
func (c *collection) appendReport(ctx workflow.Context, project, step, typ string, data any, md events.Metadata) (int64, error) {
	c.Steps[project]++
	v := c.ReportVersions[project]
	err := appendOne(ctx, performance.ReportStream(c.State.Year, project), &v, fmt.Sprintf("%s/%s/%d", step, project, c.Steps[project]), typ, data, md)
	if err != nil {
		return 0, err
	}
	c.ReportVersions[project] = v
	return v, nil
}

func by(md events.Metadata) performance.Actor {
	return performance.Actor{Role: identity.Role(md.Role), Organisation: md.Organisation}
}

// register installs the query and the commands: a report's hold that
// report, the deadline's extension holds the whole collection.
func (c *collection) register(ctx workflow.Context) error {
	s := &c.State
	draft := keyed(UpdateSaveReportDraft, "draft", performance.TypeReportDraftSaved, c.recordReport, ReportCommand.by,
		func(cmd ReportCommand, now time.Time) (performance.ReportDraftSaved, error) {
			return s.SaveDraft(cmd.ProjectID, by(cmd.Actor), cmd.Input, now)
		},
		func(e performance.ReportDraftSaved, v int64) ReportResult {
			return ReportResult{Report: e.Report, Version: v}
		})
	draft.again = func(_ workflow.Context, cmd ReportCommand) ReportResult { return c.repeated(cmd, false) }
	return c.updates.register(ctx, QueryPerformanceCollection, c.status, draft,
		command[ReportCommand, performance.ReportSubmitted, ReportResult]{
			name: UpdateSubmitReport, key: func(cmd ReportCommand) string { return cmd.ProjectID },
			decide: func(_ workflow.Context, cmd ReportCommand, now time.Time) (performance.ReportSubmitted, error) {
				return s.Submit(cmd.ProjectID, by(cmd.Actor), cmd.Input, now)
			},
			record: c.submit,
			again:  func(_ workflow.Context, cmd ReportCommand) ReportResult { return c.repeated(cmd, true) },
		},
		keyed(UpdateReturnReport, "return", performance.TypeReportReturned, c.recordReport, ReportReturnCommand.by,
			func(cmd ReportReturnCommand, _ time.Time) (performance.ReportReturned, error) {
				return s.Return(cmd.ProjectID, by(cmd.Actor), cmd.Reason)
			}, noResult),
		keyed(UpdateLockReport, "lock", performance.TypeReportLocked, c.recordReport, ReportLockCommand.by,
			func(cmd ReportLockCommand, _ time.Time) (performance.ReportLocked, error) {
				return s.Lock(cmd.ProjectID, by(cmd.Actor))
			}, noResult),
		command[ExtendCollectionCommand, performance.CollectionDeadlineExtended, none]{
			name: UpdateExtendCollection,
			decide: func(_ workflow.Context, cmd ExtendCollectionCommand, now time.Time) (performance.CollectionDeadlineExtended, error) {
				return s.Extend(cmd.Deadline, cmd.Reason, by(cmd.Actor), now)
			},
			record: c.extend,
		},
	)
}

// recordReport appends a report's event e to its stream, step naming it, and
// applies it.
func (c *collection) recordReport(ctx workflow.Context, project, step, typ string, e any, md events.Metadata) (int64, error) {
	v, err := c.appendReport(ctx, project, step, typ, e, md)
	if err != nil {
		return 0, err
	}
	return v, c.State.Apply(e)
}

// by tells the runtime which report a command holds and who sent it.
func (c ReportCommand) by() (string, events.Metadata)       { return c.ProjectID, c.Actor }
func (c ReportReturnCommand) by() (string, events.Metadata) { return c.ProjectID, c.Actor }
func (c ReportLockCommand) by() (string, events.Metadata)   { return c.ProjectID, c.Actor }

// repeated answers a report command that completed before (see
// RecentUpdates) from the current state, recording nothing.
func (c *collection) repeated(cmd ReportCommand, final bool) ReportResult {
	out := ReportResult{Version: c.ReportVersions[cmd.ProjectID]}
	if r := c.State.Reports[cmd.ProjectID]; r != nil {
		out.Late = r.Late
		out.Report, _ = performance.Validate(performance.Indicators, r.TaskType, cmd.Input, final)
	}
	return out
}

// submit records a submission. A late one the deadline has not marked yet
// (the clock's tick may follow it) is marked here, with the same event id the
// deadline would use, so it is marked once.
func (c *collection) submit(ctx workflow.Context, cmd ReportCommand, e performance.ReportSubmitted, _ time.Time) (ReportResult, error) {
	v, err := c.recordReport(ctx, e.ProjectID, "submit", performance.TypeReportSubmitted, e, actor(ctx, cmd.Actor))
	if err != nil {
		return ReportResult{}, err
	}
	out := ReportResult{Report: e.Report, Version: v, Late: e.Late}
	if e.Late && !c.State.Reports[e.ProjectID].Late {
		mark := performance.ReportMarkedLate{Year: c.State.Year, ProjectID: e.ProjectID}
		if err := c.appendCollection(ctx, activities.LateStep(e.ProjectID), performance.TypeReportMarkedLate, mark, systemActor); err != nil {
			return ReportResult{}, err
		}
		return out, c.State.Apply(mark)
	}
	return out, nil
}

// extend moves the deadline. It holds the whole collection, so no report
// command runs meanwhile: a submission is judged late or on time against one
// deadline. The close keeps its distance to the deadline; the run loop's wait
// ends on the change (see run), so the reminders not yet sent and the
// deadline's pass follow the new deadline.
func (c *collection) extend(ctx workflow.Context, cmd ExtendCollectionCommand, e performance.CollectionDeadlineExtended, _ time.Time) (none, error) {
	// The count moves before the append, like a report's steps: an append
	// that failed never lends its id to a different extension.
	c.Extensions++
	step := fmt.Sprintf("extend/%d", c.Extensions)
	if err := c.appendCollection(ctx, step, performance.TypeCollectionDeadlineExtended, e, actor(ctx, cmd.Actor)); err != nil {
		return none{}, err
	}
	if err := c.State.Apply(e); err != nil {
		return none{}, err
	}
	c.CloseAt = c.CloseAt.Add(e.To.Sub(e.From))
	return none{}, nil
}

func (c *collection) status() (PerformanceCollectionStatus, error) {
	out := PerformanceCollectionStatus{Year: c.State.Year, Stage: c.stage(), Deadline: c.State.Deadline, CloseAt: c.CloseAt,
		Reports: make(map[string]performance.ReportState, len(c.State.Reports))}
	for id, r := range c.State.Reports {
		out.Reports[id] = *r
	}
	return out, nil
}
