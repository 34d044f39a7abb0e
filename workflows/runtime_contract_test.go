package workflows_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"keytask/activities"
	"keytask/db/pgtest"
	"keytask/domain/intent"
	"keytask/domain/performance"
	"keytask/domain/selection"
	"keytask/events"
	"keytask/workflows"
)

// updateContract is one long-running workflow as its callers see the update
// runtime: every workflow whose commands run through it passes the same
// checks (TestUpdateRuntimeContract).
type updateContract struct {
	name     string
	workflow string // as registered
	id       string // the workflow id
	start    time.Time
	at       time.Time // when the first run is sent commands
	seed     func(t *testing.T, store *events.Store)
	params   any
	next     func(can *workflow.ContinueAsNewError) (any, error) // the continued run's parameters
	perRun   func(n int) (restore func())
	good     [2]contractCommand // accepted by the rules, on different keys
	bad      contractCommand    // refused by the rules
}

// contractCommand is an update and the stream it appends to.
type contractCommand struct {
	name   string
	arg    any
	stream string
}

func decodeNext[P any](can *workflow.ContinueAsNewError) (any, error) {
	var p P
	err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &p)
	return p, err
}

func updateContracts() []updateContract {
	return []updateContract{
		{
			name: "intent round", workflow: workflows.IntentRoundWorkflowName, id: workflows.IntentRoundWorkflowID("2022-1"),
			start: opened, at: opened.Add(time.Hour),
			params: workflows.IntentRoundParams{
				RoundID: "2022-1", BatchID: "2022-1", Items: batch1(), Provinces: []string{"65", "44", "11"},
				Deadline: deadline, ReminderOffsets: []time.Duration{day}, Actor: ministry,
			},
			next:   decodeNext[workflows.IntentRoundParams],
			perRun: workflows.SetIntentRoundUpdatesPerRun,
			good: [2]contractCommand{
				{workflows.UpdateSaveIntentDraft, formCmd("44", goodForm), intent.FormStream("2022-1", "44")},
				{workflows.UpdateSubmitIntent, formCmd("11", goodForm), intent.FormStream("2022-1", "11")},
			},
			bad: contractCommand{workflows.UpdateSubmitIntent, formCmd("65", `{"lines":[{"item":"9","undertake":true}]}`), intent.FormStream("2022-1", "65")},
		},
		{
			name: "performance collection", workflow: workflows.PerformanceCollectionWorkflowName, id: "performance-collection-contract",
			start: collectionStart, at: collectionStart.Add(4 * day), seed: seedProjects,
			params: workflows.PerformanceCollectionParams{Actor: ministry},
			next:   decodeNext[workflows.PerformanceCollectionParams],
			perRun: workflows.SetCollectionUpdatesPerRun,
			good: [2]contractCommand{
				{workflows.UpdateSaveReportDraft, workflows.ReportCommand{ProjectID: "b1.a1", Input: report("90"), Actor: school("s1")}, performance.ReportStream(2022, "b1.a1")},
				{workflows.UpdateSubmitReport, workflows.ReportCommand{ProjectID: "b1.a2", Input: report("80"), Actor: school("s2")}, performance.ReportStream(2022, "b1.a2")},
			},
			bad: contractCommand{workflows.UpdateSubmitReport, workflows.ReportCommand{ProjectID: "b1.a3", Input: report("70"), Actor: school("s1")}, performance.ReportStream(2022, "b1.a3")},
		},
		{
			name: "selection batch", workflow: workflows.SelectionBatchWorkflowName, id: workflows.SelectionBatchWorkflowID("b1"),
			start: selStart, at: selStart.Add(time.Hour),
			// A batch opened now has panels of at least three.
			params: func() workflows.SelectionBatchParams { p := batchParams(); p.Batch.PerApplication = 3; return p }(),
			next:   decodeNext[workflows.SelectionBatchParams],
			perRun: workflows.SetSelectionUpdatesPerRun,
			// Every command holds the whole batch: the second waits for the first.
			good: [2]contractCommand{
				{workflows.UpdateRaiseProvinceQuota, workflows.RaiseQuotaCommand{Province: "11", Quota: 3, Reason: "名额不足", Actor: ministry}, selection.SelectionBatchStream("b1")},
				{workflows.UpdateRaiseProvinceQuota, workflows.RaiseQuotaCommand{Province: "44", Quota: 2, Reason: "名额不足", Actor: ministry}, selection.SelectionBatchStream("b1")},
			},
			bad: contractCommand{workflows.UpdateRaiseProvinceQuota, workflows.RaiseQuotaCommand{Province: "11", Quota: 1, Reason: "名额不足", Actor: ministry}, selection.SelectionBatchStream("b1")},
		},
	}
}

// contractRun is one run of a contract's workflow against the real log.
type contractRun struct {
	t      *testing.T
	c      updateContract
	env    *testsuite.TestWorkflowEnvironment
	store  *events.Store
	start  time.Time
	before map[string]int // events per stream just before the commands
}

func (c updateContract) newRun(t *testing.T, store *events.Store, start time.Time) *contractRun {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	r := &contractRun{t: t, c: c, env: newTestEnv(&s), start: start, before: map[string]int{}}
	r.store = events.NewStore(store.Pool(), events.WithClock(r.env.Now))
	r.env.SetStartTime(start)
	r.env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: c.id})
	workflows.RegisterWith(r.env, &activities.Activities{Store: r.store}, workflows.Options{})
	r.env.OnUpsertTypedSearchAttributes(mock.Anything).Return(nil)
	return r
}

func (r *contractRun) count(stream string) int {
	r.t.Helper()
	evs, err := r.store.ReadStream(context.Background(), stream, events.ReadOptions{})
	if err != nil {
		r.t.Fatal(err)
	}
	return len(evs)
}

// send sends the commands at at, in order, in one instant: each handler runs
// until it blocks before the next is validated. Ids may be empty.
func (r *contractRun) send(at time.Time, ids []string, cmds ...contractCommand) []*outcome {
	out := make([]*outcome, len(cmds))
	for i, c := range cmds {
		out[i] = &outcome{name: c.name}
	}
	r.env.RegisterDelayedCallback(func() {
		for _, c := range append(cmds, r.c.good[0], r.c.good[1], r.c.bad) {
			if _, ok := r.before[c.stream]; !ok {
				r.before[c.stream] = r.count(c.stream)
			}
		}
		for i, c := range cmds {
			o := out[i]
			o.at = r.env.Now()
			r.env.UpdateWorkflow(c.name, ids[i], &testsuite.TestUpdateCallback{
				OnAccept:   func() { o.accepted = true },
				OnReject:   func(err error) { o.rejected, o.err = true, err },
				OnComplete: func(res any, err error) { o.completed, o.result, o.err = true, res, err },
			}, c.arg)
		}
	}, at.Sub(r.start))
	return out
}

// run executes the workflow with p, cancelling it after limit, and returns
// the parameters of the run that continues it, if it continued as new.
func (r *contractRun) run(p any, limit time.Duration) (next any) {
	r.t.Helper()
	r.env.RegisterDelayedCallback(r.env.CancelWorkflow, limit)
	r.env.ExecuteWorkflow(r.c.workflow, p)
	var can *workflow.ContinueAsNewError
	if !errors.As(r.env.GetWorkflowError(), &can) {
		return nil
	}
	next, err := r.c.next(can)
	if err != nil {
		r.t.Fatal(err)
	}
	return next
}

// appended asserts how many events each stream gained since the commands
// were sent.
func (r *contractRun) appended(want map[string]int) {
	r.t.Helper()
	for stream, n := range want {
		if got := r.count(stream) - r.before[stream]; got != n {
			r.t.Errorf("%s gained %d events, want %d", stream, got, n)
		}
	}
}

func refusedAs(t *testing.T, o *outcome, types ...string) {
	t.Helper()
	var ae *temporal.ApplicationError
	if !o.rejected || o.accepted || !errors.As(o.err, &ae) {
		t.Errorf("%s: rejected %v accepted %v err %v, want the validator to refuse it", o.name, o.rejected, o.accepted, o.err)
		return
	}
	for _, typ := range types {
		if ae.Type() == typ {
			return
		}
	}
	t.Errorf("%s refused as %s, want one of %v", o.name, ae.Type(), types)
}

// Every workflow whose commands run through the update runtime keeps its
// contract with callers: a command the rules refuse is refused by the
// validator and records nothing; an update completed in one run and sent
// again under its id to the next is answered without being executed again;
// a run that has executed its bound refuses the next command as busy,
// records nothing for it, and continues as new.
func TestUpdateRuntimeContract(t *testing.T) {
	for _, c := range updateContracts() {
		t.Run(c.name, func(t *testing.T) {
			// Each check starts the workflow afresh on a log of its own.
			newStore := func(t *testing.T) *events.Store {
				store := events.NewStore(pgtest.New(t).Pool)
				if c.seed != nil {
					c.seed(t, store)
				}
				return store
			}

			t.Run("RefusalRecordsNothing", func(t *testing.T) {
				r := c.newRun(t, newStore(t), c.start)
				bad := r.send(c.at, []string{""}, c.bad)[0]
				r.run(c.params, c.at.Add(time.Hour).Sub(c.start))
				refusedAs(t, bad, workflows.UpdateFieldErrorType, workflows.UpdateConflictErrorType)
				r.appended(map[string]int{c.bad.stream: 0})
			})

			restore := c.perRun(1)
			defer restore()

			t.Run("BusyBeforeContinueAsNew", func(t *testing.T) {
				r := c.newRun(t, newStore(t), c.start)
				out := r.send(c.at, []string{"", ""}, c.good[0], c.good[1])
				if next := r.run(c.params, c.at.Add(time.Hour).Sub(c.start)); next == nil {
					t.Errorf("the run ended with %v, want continue-as-new", r.env.GetWorkflowError())
				}
				out[0].ok(t)
				refusedAs(t, out[1], workflows.UpdateBusyErrorType)
				want := map[string]int{c.good[1].stream: 0}
				want[c.good[0].stream]++
				r.appended(want)
			})

			t.Run("RepeatedAcrossContinueAsNew", func(t *testing.T) {
				store := newStore(t)
				first := c.newRun(t, store, c.start)
				once := first.send(c.at, []string{"u-contract"}, c.good[0])[0]
				next := first.run(c.params, c.at.Add(time.Hour).Sub(c.start))
				once.ok(t)
				if next == nil {
					t.Fatalf("the first run ended with %v, want continue-as-new", first.env.GetWorkflowError())
				}
				at := c.at.Add(2 * time.Hour)
				second := c.newRun(t, store, at.Add(-time.Minute))
				again := second.send(at, []string{"u-contract"}, c.good[0])[0]
				second.run(next, time.Hour)
				again.ok(t)
				second.appended(map[string]int{c.good[0].stream: 0})
			})
		})
	}
}
