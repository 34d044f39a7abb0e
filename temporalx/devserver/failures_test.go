package devserver_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"keytask/temporalx"
	"keytask/temporalx/devserver"
)

func failingWorkflow(workflow.Context) error { return errors.New("the workflow gives up") }

// failures lists the temporal_workflow_failed_total series of a workflow type.
func failures(t *testing.T, g prometheus.Gatherer, workflowType string) []float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out []float64
	for _, mf := range mfs {
		if mf.GetName() != "temporal_workflow_failed_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "workflow_type" && l.GetValue() == workflowType {
					out = append(out, m.GetCounter().GetValue())
				}
			}
		}
	}
	return out
}

// The failure counter a worker starts at zero is the very series the SDK
// increments when a workflow fails, so an alert on increase() sees 0 → 1.
func TestWorkflowFailuresCountedFromZero(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	s, err := devserver.Start(ctx, devserver.Options{DataDir: t.TempDir(), UIAddr: "127.0.0.1:0", Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	reg := prometheus.NewRegistry()
	mh := temporalx.NewMetricsHandler(reg)
	c, err := temporalx.Dial(ctx, s.FrontendAddr(), "default", testLogger(t), mh)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	temporalx.CountFailuresFromZero(temporalx.NewMetricsHandler(reg), "default", temporalx.TaskQueue, "Failing")
	if got := failures(t, reg, "Failing"); len(got) != 1 || got[0] != 0 {
		t.Fatalf("before any failure the counter is %v, want one series at 0", got)
	}

	w := worker.New(c, temporalx.TaskQueue, worker.Options{})
	w.RegisterWorkflowWithOptions(failingWorkflow, workflow.RegisterOptions{Name: "Failing"})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "failing-1", TaskQueue: temporalx.TaskQueue}, "Failing")
	if err != nil {
		t.Fatal(err)
	}
	if err := run.Get(ctx, nil); err == nil {
		t.Fatal("the failing workflow succeeded")
	}
	if got := failures(t, reg, "Failing"); len(got) != 1 || got[0] != 1 {
		t.Fatalf("after one failure the counter is %v, want the one series at 1", got)
	}
}
