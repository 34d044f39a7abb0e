package workflows

import (
	"time"

	"go.temporal.io/sdk/workflow"

	"keytask/events"
)

// updates is the update runtime of a long-running workflow. The workflow
// declares each of its commands once (see command); the runtime makes the
// validator and the handler from that one declaration, holds the command's
// key (keyLock), remembers its update id across continue-as-new
// (RecentUpdates), refuses it as busy while the run closes, and tells the run
// when it has handled enough to continue as new.
type updates struct {
	keys   *keyLock
	recent *RecentUpdates
	now    func(workflow.Context) time.Time
	perRun int
	// handled counts the commands this run has executed.
	handled int
	// refusal, while set, refuses every command: the workflow is opening, or
	// completing and takes nothing more.
	refusal error
}

// newUpdates makes the runtime of one run. change names the version marker of
// keyed commands (see newKeyLock); recent is the carried id memory, perRun the
// commands a run executes before it continues as new, now the workflow's
// clock.
func newUpdates(ctx workflow.Context, change string, recent *RecentUpdates, perRun int, now func(workflow.Context) time.Time) *updates {
	return &updates{keys: newKeyLock(ctx, change), recent: recent, perRun: perRun, now: now}
}

// none is the result of a command that answers nothing but its success; its
// handler is registered as returning only an error, as before the runtime.
type none = struct{}

// command declares one update: its name, the key it holds, the domain's
// decision and what follows from it. Temporal decodes the argument into C.
type command[C, D, R any] struct {
	name string
	// key is the part of the state the command touches (a province, a
	// report); commands on different keys run side by side. Nil holds the
	// whole workflow.
	key func(C) string
	// decide is the rule, on the state as it is now: the validator runs it to
	// refuse without recording anything, and the handler runs it again under
	// the key, since another command may have moved the state meanwhile. A
	// *domain.FieldError or *domain.ConflictError is the update's refusal.
	decide func(ctx workflow.Context, c C, now time.Time) (D, error)
	// record appends the decided events through the activity and applies
	// them to the state; now is the instant decide ran at.
	record func(ctx workflow.Context, c C, d D, now time.Time) (R, error)
	// again answers an update that completed before (see RecentUpdates) from
	// the current state, recording nothing; nil answers the zero R.
	again func(ctx workflow.Context, c C) R
}

// recorder appends a command's one event e, its id derived from step, to
// key's stream, applies it, and answers the stream's version.
type recorder func(ctx workflow.Context, key, step, typ string, e any, md events.Metadata) (int64, error)

// keyed declares a command on one key (a province, a report) that decides
// and records its one event to the key's stream; of tells the key and who
// sent it, result what the caller is answered.
func keyed[C, E, R any](name, step, typ string, record recorder, of func(C) (key string, md events.Metadata),
	decide func(c C, now time.Time) (E, error), result func(e E, version int64) R) command[C, E, R] {
	return command[C, E, R]{
		name:   name,
		key:    func(c C) string { key, _ := of(c); return key },
		decide: func(_ workflow.Context, c C, now time.Time) (E, error) { return decide(c, now) },
		record: func(ctx workflow.Context, c C, e E, _ time.Time) (R, error) {
			key, md := of(c)
			v, err := record(ctx, key, step, typ, e, actor(ctx, md))
			if err != nil {
				return *new(R), err
			}
			return result(e, v), nil
		},
	}
}

// noResult is the result of a keyed command that answers only its success.
func noResult[E any](E, int64) none { return none{} }

// registrar is a command of any types, for a workflow's list of them.
type registrar interface {
	register(ctx workflow.Context, u *updates) error
}

// register installs the query and the commands' update handlers.
func (u *updates) register(ctx workflow.Context, query string, status any, cmds ...registrar) error {
	if err := workflow.SetQueryHandler(ctx, query, status); err != nil {
		return err
	}
	for _, c := range cmds {
		if err := c.register(ctx, u); err != nil {
			return err
		}
	}
	return nil
}

func (cmd command[C, D, R]) register(ctx workflow.Context, u *updates) error {
	validator := func(ctx workflow.Context, c C) error {
		if err := u.refuse(ctx); err != nil || u.recent.seen(ctx) {
			return err // refused, or completed before and answered again
		}
		_, err := cmd.decide(ctx, c, u.now(ctx))
		return RejectionError(err)
	}
	handler := func(ctx workflow.Context, c C) (R, error) {
		var zero R
		if u.recent.seen(ctx) {
			if cmd.again == nil {
				return zero, nil
			}
			return cmd.again(ctx, c), nil
		}
		key := wholeWorkflow
		if cmd.key != nil {
			key = cmd.key(c)
		}
		unlock, err := u.lock(ctx, key)
		if err != nil {
			return zero, err
		}
		defer unlock()
		u.handled++
		now := u.now(ctx)
		d, err := cmd.decide(ctx, c, now)
		if err != nil {
			return zero, RejectionError(err)
		}
		out, err := cmd.record(ctx, c, d, now)
		if err != nil {
			return zero, err
		}
		u.recent.done(ctx)
		return out, nil
	}
	var h any = handler
	if _, ok := any(*new(R)).(none); ok {
		h = func(ctx workflow.Context, c C) error { _, err := handler(ctx, c); return err }
	}
	return workflow.SetUpdateHandlerWithOptions(ctx, cmd.name, h, workflow.UpdateHandlerOptions{Validator: validator})
}

// refuse is the validator's refusal before any rule: the workflow's own
// (opening, completing), or busy once the run has handled its bound or is
// closing. A busy command records nothing; the API sends it again to the
// next run.
func (u *updates) refuse(ctx workflow.Context) error {
	switch {
	case u.refusal != nil:
		return RejectionError(u.refusal)
	case u.handled >= u.perRun || u.keys.closing:
		return BusyError(workflow.GetInfo(ctx).WorkflowType.Name + " is continuing as new")
	}
	return nil
}

// wholeWorkflow is the key of a command on the workflow as a whole.
const wholeWorkflow = ""

// lock holds key, or the whole workflow for wholeWorkflow, until unlock.
func (u *updates) lock(ctx workflow.Context, key string) (unlock func(), err error) {
	if key == wholeWorkflow {
		return u.keys.lockAll(ctx)
	}
	return u.keys.lock(ctx, key)
}

// lockAll holds the whole workflow for its own work (opening, the clock's).
func (u *updates) lockAll(ctx workflow.Context) (unlock func(), err error) {
	return u.keys.lockAll(ctx)
}

// continueAsNew tells whether the run is due to continue as new: it has
// handled its bound of commands, or the server suggests it.
func (u *updates) continueAsNew(ctx workflow.Context) bool {
	return u.handled >= u.perRun || workflow.GetInfo(ctx).GetContinueAsNewSuggested()
}

// continueAsNewError closes the run (see keyLock.closeRun) and returns the
// error that continues workflowType as new with next, which carries the
// state; call it only once next's carry no longer changes, i.e. build next
// from pointers the commands still update until the run is closed.
func (u *updates) continueAsNewError(ctx workflow.Context, workflowType string, next func() any) error {
	if err := u.keys.closeRun(ctx); err != nil {
		return err
	}
	return workflow.NewContinueAsNewError(ctx, workflowType, next())
}

// end refuses every further command with refusal (nil refuses none) and
// returns once the accepted ones have finished: the workflow is completing.
func (u *updates) end(ctx workflow.Context, refusal error) error {
	u.refusal = refusal
	return drainUpdates(ctx)
}

// actor is the command's metadata with the update id as its cause, so the log
// tells which request produced the event.
func actor(ctx workflow.Context, md events.Metadata) events.Metadata {
	if info := workflow.GetCurrentUpdateInfo(ctx); info != nil && md.CausationID == "" {
		md.CausationID = "update:" + info.ID
	}
	return md
}
