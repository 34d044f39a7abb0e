package workflows_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"keytask/activities"
	"keytask/db/pgtest"
	"keytask/events"
	"keytask/workflows"
)

// noteWorkflow appends two events in two steps, as a real workflow would.
func noteWorkflow(ctx workflow.Context, stream string) error {
	md := events.Metadata{ActorID: "system", Role: "ministry"}
	for _, step := range []string{"opened", "noted"} {
		spec, err := workflows.NewEventSpec(ctx, step, "Note"+step, map[string]string{"step": step}, md)
		if err != nil {
			return err
		}
		if _, err := workflows.AppendEvents(ctx, stream, events.AnyVersion, spec); err != nil {
			return err
		}
	}
	return nil
}

// The activity's reply is lost after its append committed: Temporal retries it,
// and the retry appends nothing.
func TestAppendRetryIsIdempotent(t *testing.T) {
	d := pgtest.New(t)
	store := events.NewStore(d.Pool)
	acts := &activities.Activities{Store: store}

	var s testsuite.WorkflowTestSuite
	env := newTestEnv(&s)
	env.RegisterWorkflow(noteWorkflow)
	var calls atomic.Int32
	env.RegisterActivityWithOptions(func(ctx context.Context, req activities.AppendRequest) (activities.AppendResult, error) {
		res, err := acts.Append(ctx, req)
		if calls.Add(1) == 1 {
			return res, errors.New("connection reset before the reply")
		}
		return res, err
	}, activity.RegisterOptions{Name: "Append"})

	env.ExecuteWorkflow(noteWorkflow, "note-1")
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 3 {
		t.Fatalf("activity ran %d times, want 3 (one retry)", calls.Load())
	}
	got, err := store.ReadStream(context.Background(), "note-1", events.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Type != "Noteopened" || got[1].Type != "Notenoted" {
		t.Fatalf("stream holds %d events, want exactly the two steps", len(got))
	}
	if got[0].Metadata.WorkflowID == "" {
		t.Fatal("event does not record its workflow")
	}
}

// A version conflict is not retried: the workflow sees it at once.
func TestAppendConflictNotRetried(t *testing.T) {
	d := pgtest.New(t)
	store := events.NewStore(d.Pool)
	if _, err := store.Append(context.Background(), "taken", events.NoStream,
		events.NewEvent{ID: events.DeriveID("x"), Type: "A", Data: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	acts := &activities.Activities{Store: store}
	var s testsuite.WorkflowTestSuite
	env := newTestEnv(&s)
	var calls atomic.Int32
	env.RegisterActivityWithOptions(func(ctx context.Context, req activities.AppendRequest) (activities.AppendResult, error) {
		calls.Add(1)
		return acts.Append(ctx, req)
	}, activity.RegisterOptions{Name: "Append"})
	env.ExecuteWorkflow(func(ctx workflow.Context) error {
		spec, _ := workflows.NewEventSpec(ctx, "claim", "Claimed", map[string]int{}, events.Metadata{})
		_, err := workflows.AppendEvents(ctx, "taken", events.NoStream, spec)
		return err
	})
	err := env.GetWorkflowError()
	if err == nil || calls.Load() != 1 {
		t.Fatalf("err = %v after %d calls, want a conflict after 1", err, calls.Load())
	}
}
