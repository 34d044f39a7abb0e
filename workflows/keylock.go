package workflows

import (
	"time"

	"go.temporal.io/sdk/workflow"
)

// keyLock orders a workflow's commands. Commands on different keys (a
// province's form, a project's report) touch only their own state and stream,
// so they run side by side and one's append need not wait for another's;
// commands on one key, and work on the whole (opening, reminders, deadlines,
// filing, closing), run alone.
//
// Runs begun before keys existed hold one mutex for everything, exactly as
// they did, so that their histories replay: which kind a run gets is decided
// once per run by a version marker (see newKeyLock).
type keyLock struct {
	perKey   bool
	mu       workflow.Mutex  // the whole, in a run without keys
	busy     map[string]bool // keys with a command in flight
	inflight int             // commands in flight
	whole    bool            // the whole is held or about to be
	closing  bool            // the run is about to continue as new: refuse commands as busy
}

// newKeyLock records, in a new run, that its commands are keyed; a run that
// began before change existed replays without the marker and serialises.
func newKeyLock(ctx workflow.Context, change string) *keyLock {
	return &keyLock{
		perKey: workflow.GetVersion(ctx, change, workflow.DefaultVersion, 1) == 1,
		mu:     workflow.NewMutex(ctx),
		busy:   map[string]bool{},
	}
}

// lock holds key until the returned unlock is called.
func (l *keyLock) lock(ctx workflow.Context, key string) (unlock func(), err error) {
	if !l.perKey {
		if err := l.mu.Lock(ctx); err != nil {
			return nil, err
		}
		return l.mu.Unlock, nil
	}
	if err := workflow.Await(ctx, func() bool { return !l.whole && !l.busy[key] }); err != nil {
		return nil, err
	}
	l.busy[key] = true
	l.inflight++
	return func() {
		delete(l.busy, key)
		l.inflight--
	}, nil
}

// lockAll holds the whole: new commands wait, and it returns once those in
// flight have finished.
func (l *keyLock) lockAll(ctx workflow.Context) (unlock func(), err error) {
	if !l.perKey {
		if err := l.mu.Lock(ctx); err != nil {
			return nil, err
		}
		return l.mu.Unlock, nil
	}
	if err := workflow.Await(ctx, func() bool { return !l.whole }); err != nil {
		return nil, err
	}
	l.whole = true
	if err := workflow.Await(ctx, func() bool { return l.inflight == 0 }); err != nil {
		l.whole = false
		return nil, err
	}
	return func() { l.whole = false }, nil
}

// drainUpdates waits until every accepted update has finished.
func drainUpdates(ctx workflow.Context) error {
	return workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) })
}

// closeRun readies the run to continue as new: every accepted update has
// finished (the carry is encoded when the error is made, so only after they
// have stopped changing it). In a keyed run new commands are refused as busy
// meanwhile, and the finished updates are answered in a workflow task of
// their own: one that also closed the run would have the server tell their
// callers they were aborted, and the callers would send them again to the next
// run, which knows nothing of their ids: a command done twice. A timer ends
// that task; the run closes in the next. Runs begun before close as they did.
func (l *keyLock) closeRun(ctx workflow.Context) error {
	l.closing = l.perKey
	if err := drainUpdates(ctx); err != nil {
		return err
	}
	if !l.perKey {
		return nil
	}
	if err := workflow.Sleep(ctx, time.Millisecond); err != nil {
		return err
	}
	return drainUpdates(ctx)
}
