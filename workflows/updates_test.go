package workflows

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"keytask/activities"
	"keytask/db/pgtest"
	"keytask/domain"
	"keytask/events"
)

// The runtime's own suite drives a small workflow that keeps a tally per key
// through the runtime alone: each addition is decided, takes an hour of
// simulated time, then is appended to the key's stream in the real event log.

const tallyWorkflowName = "Tally"

type tallyCarry struct {
	Totals   map[string]int   `json:"totals"`
	Versions map[string]int64 `json:"versions"`
	Recent   RecentUpdates    `json:"recent,omitzero"`
}

type tallyParams struct {
	PerRun int         `json:"per_run"`
	Carry  *tallyCarry `json:"carry,omitempty"`
}

type tallyAdd struct {
	Key string `json:"key"` // "" is the whole tally's, holding the whole
	N   int    `json:"n"`
}

func tallyStream(key string) string { return "tally-" + key }

func tallyWorkflow(ctx workflow.Context, p tallyParams) error {
	t := tallyCarry{Totals: map[string]int{}, Versions: map[string]int64{}}
	if p.Carry != nil {
		t = *p.Carry
	}
	u := newUpdates(ctx, "tally-keyed", &t.Recent, p.PerRun, workflow.Now)
	err := u.register(ctx, "totals", func() (map[string]int, error) { return t.Totals, nil },
		command[tallyAdd, int, int]{
			name: "add",
			key:  func(c tallyAdd) string { return c.Key },
			decide: func(_ workflow.Context, c tallyAdd, _ time.Time) (int, error) {
				if c.N <= 0 {
					return 0, domain.Invalid("n", "须为正数", fmt.Sprintf("n %d is not positive", c.N))
				}
				return t.Totals[c.Key] + c.N, nil
			},
			record: func(ctx workflow.Context, c tallyAdd, total int, _ time.Time) (int, error) {
				if err := workflow.Sleep(ctx, time.Hour); err != nil {
					return 0, err
				}
				v := t.Versions[c.Key]
				spec, err := NewEventSpec(ctx, fmt.Sprintf("add/%s/%d", c.Key, v+1), "TallyAdded", c, events.Metadata{ActorID: "test"})
				if err != nil {
					return 0, err
				}
				res, err := AppendEvents(ctx, tallyStream(c.Key), v, spec)
				if err != nil {
					return 0, err
				}
				t.Versions[c.Key], t.Totals[c.Key] = last(res), total
				return total, nil
			},
			again: func(_ workflow.Context, c tallyAdd) int { return t.Totals[c.Key] },
		})
	if err != nil {
		return err
	}
	if err := workflow.Await(ctx, func() bool { return u.continueAsNew(ctx) }); err != nil {
		return err
	}
	return u.continueAsNewError(ctx, tallyWorkflowName, func() any { return tallyParams{PerRun: p.PerRun, Carry: &t} })
}

var tallyStart = time.Date(2024, 3, 1, 9, 0, 0, 0, time.UTC)

type tallyRun struct {
	t     *testing.T
	env   *testsuite.TestWorkflowEnvironment
	store *events.Store
}

func newTallyRun(t *testing.T, store *events.Store) *tallyRun {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.SetWorkerOptions(worker.Options{DeadlockDetectionTimeout: time.Minute})
	env.SetTestTimeout(2 * time.Minute)
	env.SetStartTime(tallyStart)
	env.RegisterWorkflowWithOptions(tallyWorkflow, workflow.RegisterOptions{Name: tallyWorkflowName})
	env.RegisterActivity(&activities.Activities{Store: store})
	return &tallyRun{t: t, env: env, store: store}
}

// tallyOutcome is what became of one update, and when.
type tallyOutcome struct {
	accepted, rejected, completed bool
	total                         int
	err                           error
	doneAt                        time.Time
}

// add sends an addition under id after d of simulated time.
func (r *tallyRun) add(d time.Duration, id string, c tallyAdd) *tallyOutcome {
	o := &tallyOutcome{}
	r.env.RegisterDelayedCallback(func() {
		r.env.UpdateWorkflow("add", id, &testsuite.TestUpdateCallback{
			OnAccept: func() { o.accepted = true },
			OnReject: func(err error) { o.rejected, o.err = true, err },
			OnComplete: func(res any, err error) {
				o.completed, o.err, o.doneAt = true, err, r.env.Now()
				o.total, _ = res.(int)
			},
		}, c)
	}, d)
	return o
}

// run executes the workflow and returns the parameters of the run that
// continues it; the run is cancelled after limit if it has not continued.
func (r *tallyRun) run(p tallyParams, limit time.Duration) tallyParams {
	r.t.Helper()
	r.env.RegisterDelayedCallback(r.env.CancelWorkflow, limit)
	r.env.ExecuteWorkflow(tallyWorkflowName, p)
	var can *workflow.ContinueAsNewError
	if !errors.As(r.env.GetWorkflowError(), &can) {
		return tallyParams{}
	}
	var next tallyParams
	if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &next); err != nil {
		r.t.Fatal(err)
	}
	return next
}

func (r *tallyRun) events(key string) int {
	r.t.Helper()
	evs, err := r.store.ReadStream(context.Background(), tallyStream(key), events.ReadOptions{})
	if err != nil {
		r.t.Fatal(err)
	}
	return len(evs)
}

func (o *tallyOutcome) ok(t *testing.T, name string, total int) {
	t.Helper()
	if !o.accepted || !o.completed || o.err != nil || o.total != total {
		t.Errorf("%s: accepted %v completed %v err %v total %d, want it done with total %d", name, o.accepted, o.completed, o.err, o.total, total)
	}
}

// refusedAs asserts the validator refused the update with an application
// error of type typ.
func (o *tallyOutcome) refusedAs(t *testing.T, name, typ string) {
	t.Helper()
	var ae *temporal.ApplicationError
	if !o.rejected || o.accepted || !errors.As(o.err, &ae) || ae.Type() != typ {
		t.Errorf("%s: rejected %v accepted %v err %v, want the validator to refuse it as %s", name, o.rejected, o.accepted, o.err, typ)
	}
}

// A command the rule refuses is refused by the validator: the update is never
// accepted and nothing is appended; the next good one is executed.
func TestUpdatesValidatorRefusalRecordsNothing(t *testing.T) {
	r := newTallyRun(t, events.NewStore(pgtest.New(t).Pool))
	zero := r.add(time.Minute, "", tallyAdd{Key: "a", N: 0})
	good := r.add(2*time.Minute, "", tallyAdd{Key: "a", N: 2})
	r.run(tallyParams{PerRun: 10}, day)
	zero.refusedAs(t, "n=0", UpdateFieldErrorType)
	good.ok(t, "n=2", 2)
	if n := r.events("a"); n != 1 {
		t.Errorf("stream a holds %d events, want 1 (the refused addition recorded nothing)", n)
	}
}

// An update completed in one run and sent again under its id, once in the
// same run and once to the run that continued it, is answered with the
// current state and executed once; another id is executed.
func TestUpdatesRepeatedIDAcrossContinueAsNew(t *testing.T) {
	store := events.NewStore(pgtest.New(t).Pool)
	first := newTallyRun(t, store)
	once := first.add(time.Minute, "u-1", tallyAdd{Key: "a", N: 1})
	next := first.run(tallyParams{PerRun: 1}, day)
	once.ok(t, "u-1", 1)
	if next.Carry == nil {
		t.Fatal("the first run did not continue as new after its one command")
	}

	second := newTallyRun(t, store)
	again := second.add(time.Minute, "u-1", tallyAdd{Key: "a", N: 1})
	other := second.add(2*time.Minute, "u-2", tallyAdd{Key: "a", N: 2})
	second.run(next, day)
	again.ok(t, "u-1 sent again", 1)
	if again.doneAt.After(tallyStart.Add(time.Minute)) {
		t.Errorf("u-1 sent again was answered at %s, want at once (not executed again)", again.doneAt)
	}
	other.ok(t, "u-2", 3)
	if n := second.events("a"); n != 2 {
		t.Errorf("stream a holds %d events, want 2: u-1 once, u-2 once", n)
	}
}

// A run that has executed its bound of commands refuses the next as busy
// while the last is still recording, records nothing for it, and continues
// as new once the last has finished.
func TestUpdatesBusyBeforeContinueAsNew(t *testing.T) {
	r := newTallyRun(t, events.NewStore(pgtest.New(t).Pool))
	last := r.add(time.Minute, "", tallyAdd{Key: "a", N: 1})
	busy := r.add(time.Minute, "", tallyAdd{Key: "b", N: 1})
	next := r.run(tallyParams{PerRun: 1}, day)
	last.ok(t, "the bound's command", 1)
	busy.refusedAs(t, "the command past the bound", UpdateBusyErrorType)
	if next.Carry == nil || next.Carry.Totals["a"] != 1 {
		t.Fatalf("continued with %+v, want a carry holding a's total", next.Carry)
	}
	if n := r.events("b"); n != 0 {
		t.Errorf("stream b holds %d events, want none", n)
	}
}

// Commands on one key run one after the other, each deciding on the state
// the last one left; a command on another key runs beside them; a command on
// the whole waits for those in flight and holds off those that come after.
func TestUpdatesKeyedLock(t *testing.T) {
	r := newTallyRun(t, events.NewStore(pgtest.New(t).Pool))
	a1 := r.add(time.Minute, "", tallyAdd{Key: "a", N: 1})
	a2 := r.add(time.Minute, "", tallyAdd{Key: "a", N: 2})
	b1 := r.add(time.Minute, "", tallyAdd{Key: "b", N: 5})
	whole := r.add(30*time.Minute, "", tallyAdd{Key: "", N: 7})
	c1 := r.add(40*time.Minute, "", tallyAdd{Key: "c", N: 1})
	r.run(tallyParams{PerRun: 10}, day)
	a1.ok(t, "a1", 1)
	a2.ok(t, "a2", 3)
	b1.ok(t, "b1", 5)
	whole.ok(t, "whole", 7)
	c1.ok(t, "c1", 1)
	h := func(n time.Duration) time.Duration { return n*time.Hour + time.Minute }
	for _, c := range []struct {
		name string
		o    *tallyOutcome
		want time.Duration
	}{
		{"a1", a1, h(1)},
		{"b1 beside a1", b1, h(1)},
		{"the whole after a1 and b1", whole, h(2)},
		{"a2 after the whole", a2, h(3)},
		{"c1 after the whole, beside a2", c1, h(3)},
	} {
		if got := c.o.doneAt.Sub(tallyStart); got < c.want || got >= c.want+time.Minute {
			t.Errorf("%s done at +%s, want +%s", c.name, got, c.want)
		}
	}
}

var day = 24 * time.Hour
