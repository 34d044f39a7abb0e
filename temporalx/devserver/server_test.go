package devserver_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"keytask/temporalx"
	"keytask/temporalx/devserver"
)

// stageKey is a custom search attribute; a workflow that sets an
// unregistered one would get stuck, so the test proves registration works.
var stageKey = temporal.NewSearchAttributeKeyKeyword("KeytaskStage")

var searchAttributes = map[string]enumspb.IndexedValueType{
	stageKey.GetName(): enumspb.INDEXED_VALUE_TYPE_KEYWORD,
}

func greetActivity(_ context.Context, name string) (string, error) {
	return "hello " + name, nil
}

var activityOptions = workflow.ActivityOptions{StartToCloseTimeout: 10 * time.Second}

// greetWorkflow runs one activity and records its stage in the search
// attribute.
func greetWorkflow(ctx workflow.Context, name string) (string, error) {
	ctx = workflow.WithActivityOptions(ctx, activityOptions)
	var out string
	if err := workflow.ExecuteActivity(ctx, greetActivity, name).Get(ctx, &out); err != nil {
		return "", err
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx, stageKey.ValueSet("greeted")); err != nil {
		return "", err
	}
	return out, nil
}

// waitWorkflow does some work, then waits for a "proceed" update carrying a
// name, then does more work. It stands for a keytask process that waits for
// a person across a server restart.
func waitWorkflow(ctx workflow.Context, first string) (string, error) {
	ctx = workflow.WithActivityOptions(ctx, activityOptions)
	var a string
	if err := workflow.ExecuteActivity(ctx, greetActivity, first).Get(ctx, &a); err != nil {
		return "", err
	}
	var second string
	if err := workflow.SetUpdateHandler(ctx, "proceed", func(ctx workflow.Context, name string) (string, error) {
		second = name
		return "accepted " + name, nil
	}); err != nil {
		return "", err
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx, stageKey.ValueSet("waiting")); err != nil {
		return "", err
	}
	if err := workflow.Await(ctx, func() bool { return second != "" }); err != nil {
		return "", err
	}
	var b string
	if err := workflow.ExecuteActivity(ctx, greetActivity, second).Get(ctx, &b); err != nil {
		return "", err
	}
	return a + ", " + b, nil
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// env is a client and a worker against one server start.
type env struct {
	c client.Client
	w worker.Worker
}

func startEnv(ctx context.Context, t *testing.T, s *devserver.Server, mh client.MetricsHandler) *env {
	t.Helper()
	c, err := temporalx.Dial(ctx, s.FrontendAddr(), "default", testLogger(t), mh)
	if err != nil {
		t.Fatal(err)
	}
	w := worker.New(c, temporalx.TaskQueue, worker.Options{})
	w.RegisterWorkflow(greetWorkflow)
	w.RegisterWorkflow(waitWorkflow)
	w.RegisterActivity(greetActivity)
	if err := w.Start(); err != nil {
		c.Close()
		t.Fatal(err)
	}
	return &env{c: c, w: w}
}

func (e *env) close() {
	e.w.Stop()
	e.c.Close()
}

func stage(ctx context.Context, t *testing.T, c client.Client, id string) string {
	t.Helper()
	d, err := c.DescribeWorkflow(ctx, id, "")
	if err != nil {
		t.Fatal(err)
	}
	v, _ := d.TypedSearchAttributes.GetKeyword(stageKey)
	return v
}

// TestRestartResumesWorkflows is the `keytask dev` story: start on a data
// dir, run workflows, stop, start again on the same dir, and finish a
// workflow that was waiting when the server stopped.
func TestRestartResumesWorkflows(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	dir := t.TempDir()
	opts := devserver.Options{
		DataDir:          dir,
		UIAddr:           "127.0.0.1:0",
		SearchAttributes: searchAttributes,
		Logger:           testLogger(t),
	}

	began := time.Now()
	s1, err := devserver.Start(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("first start took %s; frontend %s, UI %s", time.Since(began), s1.FrontendAddr(), s1.UIURL())
	stopped := false
	defer func() {
		if !stopped {
			_ = s1.Stop()
		}
	}()

	// The Web UI answers on its URL.
	checkUI(ctx, t, s1.UIURL())

	reg := prometheus.NewRegistry()
	e1 := startEnv(ctx, t, s1, temporalx.NewMetricsHandler(reg))

	// A trivial workflow runs to completion, using the custom search
	// attribute both at start and from inside the workflow.
	run, err := e1.c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                    "greet-1",
		TaskQueue:             temporalx.TaskQueue,
		TypedSearchAttributes: temporal.NewSearchAttributes(stageKey.ValueSet("started")),
	}, greetWorkflow, "keytask")
	if err != nil {
		t.Fatal(err)
	}
	var got string
	if err := run.Get(ctx, &got); err != nil {
		t.Fatal(err)
	}
	if got != "hello keytask" {
		t.Fatalf("greetWorkflow = %q", got)
	}
	if st := stage(ctx, t, e1.c, "greet-1"); st != "greeted" {
		t.Fatalf("KeytaskStage = %q, want greeted", st)
	}
	waitListed(ctx, t, e1.c, `KeytaskStage = "greeted"`, "greet-1")

	// The SDK's metrics reached the Prometheus registry.
	checkMetrics(t, reg, "temporal_request_total", "temporal_workflow_completed_total", "temporal_activity_execution_latency")

	// Start a workflow that will wait for an update, and let it get there.
	waitRun, err := e1.c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:        "wait-1",
		TaskQueue: temporalx.TaskQueue,
	}, waitWorkflow, "before")
	if err != nil {
		t.Fatal(err)
	}
	for stage(ctx, t, e1.c, "wait-1") != "waiting" {
		select {
		case <-ctx.Done():
			t.Fatal("wait-1 never reached its waiting stage")
		case <-time.After(50 * time.Millisecond):
		}
	}

	e1.close()
	began = time.Now()
	stopped = true
	if err := s1.Stop(); err != nil {
		t.Fatal(err)
	}
	t.Logf("stop took %s", time.Since(began))

	// Second start on the same directory: the schema exists, the namespace
	// and search attribute are already there, and the workflow resumes.
	began = time.Now()
	s2, err := devserver.Start(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("second start took %s", time.Since(began))
	stopped = false
	defer func() {
		if !stopped {
			_ = s2.Stop()
		}
	}()
	checkUI(ctx, t, s2.UIURL())
	e2 := startEnv(ctx, t, s2, nil)

	// The workflow that finished before the stop is still there.
	if st := stage(ctx, t, e2.c, "greet-1"); st != "greeted" {
		t.Fatalf("after restart KeytaskStage of greet-1 = %q, want greeted", st)
	}

	upd, err := e2.c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID:   "wait-1",
		UpdateID:     "proceed-1",
		UpdateName:   "proceed",
		Args:         []any{"after"},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err != nil {
		t.Fatal(err)
	}
	var ack string
	if err := upd.Get(ctx, &ack); err != nil {
		t.Fatal(err)
	}
	if ack != "accepted after" {
		t.Fatalf("update result = %q", ack)
	}
	if err := e2.c.GetWorkflow(ctx, "wait-1", waitRun.GetRunID()).Get(ctx, &got); err != nil {
		t.Fatal(err)
	}
	if got != "hello before, hello after" {
		t.Fatalf("waitWorkflow = %q", got)
	}
	e2.close()
	stopped = true
	if err := s2.Stop(); err != nil {
		t.Fatal(err)
	}

	// The database file alone carries the state. (Within one process the
	// SQLite plugin keeps its connection to a path open across restarts,
	// so a copy at a new path proves what a fresh `keytask dev` process
	// would see.)
	copyDir := t.TempDir()
	data, err := os.ReadFile(filepath.Join(dir, devserver.DBFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(copyDir, devserver.DBFile), data, 0o600); err != nil {
		t.Fatal(err)
	}
	opts.DataDir = copyDir
	opts.UIAddr = ""
	s3, err := devserver.Start(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := s3.Stop(); err != nil {
			t.Error(err)
		}
	}()
	c3, err := temporalx.Dial(ctx, s3.FrontendAddr(), "default", testLogger(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c3.Close()
	got = ""
	if err := c3.GetWorkflow(ctx, "wait-1", "").Get(ctx, &got); err != nil {
		t.Fatal(err)
	}
	if got != "hello before, hello after" {
		t.Fatalf("from the copied database: waitWorkflow = %q", got)
	}
}

// TestInMemory runs without a data dir, as tests of other packages may.
func TestInMemory(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, err := devserver.Start(ctx, devserver.Options{
		Namespace:        "keytask-test",
		SearchAttributes: searchAttributes,
		Logger:           testLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := s.Stop(); err != nil {
			t.Error(err)
		}
	}()
	if s.UIURL() != "" {
		t.Errorf("UIURL = %q with the UI disabled", s.UIURL())
	}
	c, err := temporalx.Dial(ctx, s.FrontendAddr(), "keytask-test", testLogger(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Registering again is a no-op.
	if err := temporalx.RegisterSearchAttributes(ctx, c, "keytask-test", searchAttributes); err != nil {
		t.Fatal(err)
	}
	// A type clash is reported, not ignored.
	err = temporalx.RegisterSearchAttributes(ctx, c, "keytask-test", map[string]enumspb.IndexedValueType{
		stageKey.GetName(): enumspb.INDEXED_VALUE_TYPE_INT,
	})
	if err == nil || !strings.Contains(err.Error(), "KeytaskStage") {
		t.Fatalf("type clash error = %v", err)
	}
	// A new attribute can be added to a running server.
	if err := temporalx.RegisterSearchAttributes(ctx, c, "keytask-test", map[string]enumspb.IndexedValueType{
		"KeytaskBatch": enumspb.INDEXED_VALUE_TYPE_INT,
	}); err != nil {
		t.Fatal(err)
	}

	w := worker.New(c, temporalx.TaskQueue, worker.Options{})
	w.RegisterWorkflow(greetWorkflow)
	w.RegisterActivity(greetActivity)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		TaskQueue: temporalx.TaskQueue,
		TypedSearchAttributes: temporal.NewSearchAttributes(
			temporal.NewSearchAttributeKeyInt64("KeytaskBatch").ValueSet(3),
		),
	}, greetWorkflow, "memory")
	if err != nil {
		t.Fatal(err)
	}
	var got string
	if err := run.Get(ctx, &got); err != nil {
		t.Fatal(err)
	}
	if got != "hello memory" {
		t.Fatalf("greetWorkflow = %q", got)
	}
}

// A busy port is a clear error, not a crash inside the server.
func TestBusyPorts(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	ctx := context.Background()
	for _, o := range []devserver.Options{
		{FrontendAddr: l.Addr().String()},
		{UIAddr: l.Addr().String()},
	} {
		o.Logger = testLogger(t)
		s, err := devserver.Start(ctx, o)
		if err == nil {
			_ = s.Stop()
			t.Fatalf("Start(%+v) succeeded on a busy port", o)
		}
		if !strings.Contains(err.Error(), "in use") {
			t.Errorf("error does not say the port is in use: %v", err)
		}
	}
}

func checkUI(ctx context.Context, t *testing.T, url string) {
	t.Helper()
	if url == "" {
		t.Fatal("UIURL is empty with the UI enabled")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	if !strings.Contains(strings.ToLower(string(body)), "<html") {
		t.Fatalf("GET %s: not an HTML page: %.200s", url, body)
	}
}

// waitListed waits until a visibility query finds the workflow: visibility
// is written asynchronously, a moment after the workflow changes.
func waitListed(ctx context.Context, t *testing.T, c client.Client, query, id string) {
	t.Helper()
	for {
		resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: query})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range resp.GetExecutions() {
			if e.GetExecution().GetWorkflowId() == id {
				return
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s not listed by %s", id, query)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func checkMetrics(t *testing.T, g prometheus.Gatherer, names ...string) {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, mf := range mfs {
		have[mf.GetName()] = true
	}
	for _, n := range names {
		if !have[n] {
			t.Errorf("metric %s not gathered; have %d metrics", n, len(mfs))
		}
	}
	if t.Failed() {
		t.Log(fmt.Sprint(have))
	}
}
