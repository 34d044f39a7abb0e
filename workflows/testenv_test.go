package workflows_test

import (
	"time"

	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"
)

// newTestEnv is the suite's environment with a deadlock timeout far above the
// default second: on a loaded machine a workflow task of the national-scale
// tests can be descheduled for longer than that without being stuck. For the
// same reason the environment waits up to two minutes, not three seconds, for
// a running activity to report before it declares the workflow stuck (the
// overlap tests hold appends for up to overlapWait on purpose).
func newTestEnv(s *testsuite.WorkflowTestSuite) *testsuite.TestWorkflowEnvironment {
	env := s.NewTestWorkflowEnvironment()
	env.SetWorkerOptions(worker.Options{DeadlockDetectionTimeout: time.Minute})
	env.SetTestTimeout(2 * time.Minute)
	return env
}

// updateAt sends an update (under id; the environment picks one when it is
// empty) at the instant at of simulated time, env having started at start,
// and returns what becomes of it.
func updateAt(env *testsuite.TestWorkflowEnvironment, start, at time.Time, id, name string, arg any) *outcome {
	o := &outcome{name: name}
	env.RegisterDelayedCallback(func() {
		o.at = env.Now()
		env.UpdateWorkflow(name, id, &testsuite.TestUpdateCallback{
			OnAccept:   func() { o.accepted = true },
			OnReject:   func(err error) { o.rejected, o.err = true, err },
			OnComplete: func(res any, err error) { o.completed, o.result, o.err = true, res, err },
		}, arg)
	}, at.Sub(start))
	return o
}
