package main

import (
	"context"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/workflow"

	"keytask/config"
	"keytask/temporalx"
	"keytask/temporalx/devserver"
)

// A stopping worker lets the activity it runs finish instead of cancelling it.
func TestWorkerDrainsOnStop(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Temporal server")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, err := devserver.Start(ctx, devserver.Options{DataDir: t.TempDir(), UIAddr: "127.0.0.1:0", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	c, err := temporalx.Dial(ctx, srv.FrontendAddr(), "default", quiet, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	w, err := newWorker(c, config.Config{WorkerStopTimeout: "20s"})
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	var finished atomic.Bool
	w.RegisterActivityWithOptions(func(ctx context.Context) error {
		close(started)
		select {
		case <-time.After(2 * time.Second):
			finished.Store(true)
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}, activity.RegisterOptions{Name: "Slow"})
	w.RegisterWorkflowWithOptions(func(ctx workflow.Context) error {
		ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: time.Minute})
		return workflow.ExecuteActivity(ctx, "Slow").Get(ctx, nil)
	}, workflow.RegisterOptions{Name: "DrainProbe"})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "drain-1", TaskQueue: temporalx.TaskQueue}, "DrainProbe"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-started:
	case <-ctx.Done():
		t.Fatal("the activity never started")
	}
	w.Stop()
	if !finished.Load() {
		t.Fatal("the worker stopped without letting its running activity finish")
	}

	if _, err := newWorker(c, config.Config{WorkerStopTimeout: "soon"}); err == nil {
		t.Error("a stop timeout of \"soon\" was accepted")
	}
}
