package temporalx

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"
)

// find returns the metric family name from a gather, or nil.
func find(t *testing.T, g prometheus.Gatherer, name string) *dto.MetricFamily {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, mf := range mfs {
		// Counters are exposed with the _total suffix Prometheus expects.
		if mf.GetName() == name || (mf.GetType() == dto.MetricType_COUNTER && mf.GetName() == name+"_total") {
			return mf
		}
	}
	return nil
}

func labels(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, lp := range m.GetLabel() {
		out[lp.GetName()] = lp.GetValue()
	}
	return out
}

// The SDK emits one name with different tag sets; the handler must neither
// panic nor lose any of them.
func TestMetricsHandlerSameNameDifferentTags(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := NewMetricsHandler(reg)

	h.Counter("temporal_request").Inc(1)
	h.WithTags(map[string]string{"operation": "StartWorkflowExecution", "namespace": "default"}).
		Counter("temporal_request").Inc(2)
	h.WithTags(map[string]string{"operation": "StartWorkflowExecution", "namespace": "default"}).
		WithTags(map[string]string{"status_code": "UNAVAILABLE", "not_an_sdk_tag": "dropped"}).
		Counter("temporal_request").Inc(4)
	// Negative increments are ignored instead of panicking.
	h.Counter("temporal_request").Inc(-1)

	mf := find(t, reg, "temporal_request")
	if mf == nil {
		t.Fatal("temporal_request not gathered")
	}
	if mf.GetType() != dto.MetricType_COUNTER {
		t.Fatalf("type = %v", mf.GetType())
	}
	if len(mf.GetMetric()) != 3 {
		t.Fatalf("got %d series, want 3", len(mf.GetMetric()))
	}
	var total float64
	for _, m := range mf.GetMetric() {
		l := labels(m)
		if len(l) != len(sdkTagKeys) {
			t.Errorf("series has labels %v, want the full superset %v", l, sdkTagKeys)
		}
		if _, ok := l["not_an_sdk_tag"]; ok {
			t.Errorf("unknown tag became a label: %v", l)
		}
		if l["status_code"] == "UNAVAILABLE" && l["operation"] != "StartWorkflowExecution" {
			t.Errorf("WithTags lost the parent's tags: %v", l)
		}
		total += m.GetCounter().GetValue()
	}
	if total != 7 {
		t.Errorf("sum = %v, want 7", total)
	}
}

func TestMetricsHandlerKindsAndNames(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := NewMetricsHandler(reg).WithTags(map[string]string{"task_queue": "keytask"})

	h.Gauge("temporal_num_pollers").Update(3)
	h.WithTags(map[string]string{"poller_type": "activity_task"}).Gauge("temporal_num_pollers").Update(2)
	h.Timer("temporal_activity_execution_latency").Record(1500 * time.Millisecond)
	// Dots (as some SDK contrib packages and user code use) become
	// underscores; a leading digit is escaped.
	h.Counter("keytask.reviews.done").Inc(1)
	h.Counter("9lives").Inc(1)
	// The same name as another kind degrades to a no-op, not a panic.
	h.Gauge("keytask.reviews.done_total").Update(1)
	h.Timer("temporal_num_pollers").Record(time.Second)

	if mf := find(t, reg, "temporal_num_pollers"); mf == nil || mf.GetType() != dto.MetricType_GAUGE || len(mf.GetMetric()) != 2 {
		t.Errorf("temporal_num_pollers = %v", mf)
	}
	mf := find(t, reg, "temporal_activity_execution_latency")
	if mf == nil || mf.GetType() != dto.MetricType_HISTOGRAM {
		t.Fatalf("temporal_activity_execution_latency = %v", mf)
	}
	if got := mf.GetMetric()[0].GetHistogram().GetSampleSum(); got != 1.5 {
		t.Errorf("histogram sum = %v seconds, want 1.5", got)
	}
	if mf := find(t, reg, "keytask_reviews_done"); mf == nil || mf.GetType() != dto.MetricType_COUNTER {
		t.Errorf("keytask_reviews_done = %v", mf)
	}
	if mf := find(t, reg, "_9lives"); mf == nil {
		t.Error("_9lives not gathered")
	}
	// The registry must still gather cleanly (no duplicate or inconsistent
	// descriptors).
	if _, err := reg.Gather(); err != nil {
		t.Fatal(err)
	}
}

// Two handlers on one registry (an API client and a worker client, say)
// share collectors instead of failing to register.
func TestMetricsHandlerSharedRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	a, b := NewMetricsHandler(reg), NewMetricsHandler(reg)
	a.Counter("temporal_workflow_completed").Inc(1)
	b.Counter("temporal_workflow_completed").Inc(1)
	mf := find(t, reg, "temporal_workflow_completed")
	if mf == nil || len(mf.GetMetric()) != 1 || mf.GetMetric()[0].GetCounter().GetValue() != 2 {
		t.Fatalf("temporal_workflow_completed = %v", mf)
	}

	// A nil registerer works too, registering nothing.
	NewMetricsHandler(nil).Counter("temporal_request").Inc(1)
}

func TestMetricsHandlerConcurrent(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := NewMetricsHandler(reg)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			hh := h.WithTags(map[string]string{"operation": strings.Repeat("x", i%3+1)})
			for range 100 {
				hh.Counter("temporal_request").Inc(1)
				hh.Timer("temporal_request_latency").Record(time.Millisecond)
			}
		}()
	}
	wg.Wait()
	mf := find(t, reg, "temporal_request")
	var total float64
	for _, m := range mf.GetMetric() {
		total += m.GetCounter().GetValue()
	}
	if total != 800 {
		t.Fatalf("total = %v, want 800", total)
	}
}

func echoActivity(ctx context.Context, s string) (string, error) {
	activity.GetMetricsHandler(ctx).Counter("keytask_test_echoes").Inc(1)
	return s, nil
}

func echoWorkflow(ctx workflow.Context, s string) (string, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: time.Minute})
	var out string
	err := workflow.ExecuteActivity(ctx, echoActivity, s).Get(ctx, &out)
	workflow.GetMetricsHandler(ctx).WithTags(map[string]string{"operation": "echo"}).
		Timer("keytask_test_echo_latency").Record(250 * time.Millisecond)
	return out, err
}

// Metrics that workflow and activity code emit through the SDK (which adds
// its own tags such as namespace, task_queue, workflow_type and
// activity_type) reach the registry. The test environment does not emit the
// SDK's internal worker metrics; the devserver tests check those against a
// real server.
func TestMetricsHandlerWithSDKTestSuite(t *testing.T) {
	reg := prometheus.NewRegistry()
	var suite testsuite.WorkflowTestSuite
	suite.SetMetricsHandler(NewMetricsHandler(reg))
	env := suite.NewTestWorkflowEnvironment()
	env.RegisterActivity(echoActivity)
	env.ExecuteWorkflow(echoWorkflow, "hi")
	if !env.IsWorkflowCompleted() || env.GetWorkflowError() != nil {
		t.Fatalf("workflow: completed=%v err=%v", env.IsWorkflowCompleted(), env.GetWorkflowError())
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, mf := range mfs {
		names = append(names, mf.GetName())
	}
	t.Logf("gathered: %v", names)
	for _, want := range []string{"keytask_test_echoes", "keytask_test_echo_latency"} {
		mf := find(t, reg, want)
		if mf == nil {
			t.Errorf("%s not gathered", want)
			continue
		}
		t.Logf("%s: %v", want, labels(mf.GetMetric()[0]))
	}
}

func TestDialGivesUpWhenContextEnds(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
	defer cancel()
	began := time.Now()
	// Port 1 on loopback refuses connections.
	_, err := Dial(ctx, "127.0.0.1:1", "default", nil, nil)
	if err == nil {
		t.Fatal("Dial succeeded against a closed port")
	}
	if d := time.Since(began); d > 5*time.Second {
		t.Fatalf("Dial took %s after its context ended", d)
	}
	if !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Errorf("error does not name the address: %v", err)
	}
}
