package workflows_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"

	"keytask/activities"
	"keytask/db/pgtest"
	"keytask/domain/performance"
	"keytask/events"
	"keytask/temporalx"
	"keytask/temporalx/devserver"
	"keytask/workflows"
)

// The schedule against a real Temporal server: created idempotently, then
// backfilled for 2022, 2023 and 2024 — each run collects the year of its
// nominal time, past deadlines and all — and triggered now, which opens this
// year's collection with its deadline a month ahead.
func TestPerformanceScheduleBackfillAndTrigger(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an embedded Temporal server")
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	srv, err := devserver.Start(ctx, devserver.Options{SearchAttributes: workflows.SearchAttributes(), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Stop() })
	c, err := client.DialContext(ctx, client.Options{HostPort: srv.FrontendAddr(), Logger: sdklog.NewStructuredLogger(quiet)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	store := events.NewStore(pgtest.New(t).Pool)
	seedProjects(t, store)
	w := worker.New(c, temporalx.TaskQueue, worker.Options{})
	workflows.Register(w, &activities.Activities{Store: store})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)

	s := workflows.PerformanceSchedule{Month: 12, Day: 1, Hour: 10, Minute: 30, DeadlineAfter: 30 * day,
		Reminders: []time.Duration{14 * day, 7 * day}, CloseAfter: 30 * day, TaskQueue: temporalx.TaskQueue}
	if err := workflows.EnsurePerformanceSchedule(ctx, c, s); err != nil {
		t.Fatal(err)
	}
	// A second start with another configuration updates the schedule in place.
	s.Hour, s.Minute, s.Reminders = 9, 0, workflows.DefaultCollectionReminders
	if err := workflows.EnsurePerformanceSchedule(ctx, c, s); err != nil {
		t.Fatal(err)
	}
	h := c.ScheduleClient().GetHandle(ctx, workflows.PerformanceScheduleID)
	desc, err := h.Describe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cal := desc.Schedule.Spec.Calendars
	if len(cal) != 1 || cal[0].Hour[0].Start != 9 || cal[0].Minute[0].Start != 0 || cal[0].Month[0].Start != 12 ||
		cal[0].DayOfMonth[0].Start != 1 || desc.Schedule.Spec.TimeZoneName != "Asia/Shanghai" ||
		desc.Schedule.Policy.Overlap != enumspb.SCHEDULE_OVERLAP_POLICY_ALLOW_ALL {
		t.Fatalf("schedule spec %+v policy %+v", desc.Schedule.Spec, desc.Schedule.Policy)
	}
	next := desc.Info.NextActionTimes
	if len(next) == 0 || !next[0].Equal(time.Date(next[0].In(cst).Year(), 12, 1, 9, 0, 0, 0, cst)) {
		t.Fatalf("next action times %v", next)
	}

	if err := workflows.BackfillPerformance(ctx, c, s, 2022, 2023, 2024); err != nil {
		t.Fatal(err)
	}
	triggered := time.Now()
	if err := h.Trigger(ctx, client.ScheduleTriggerOptions{Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_ALLOW_ALL}); err != nil {
		t.Fatal(err)
	}

	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		// What the scheduler did and which runs exist, to tell a lost backfill
		// from a run that started and failed.
		if d, err := h.Describe(context.Background()); err == nil {
			t.Logf("schedule: %d actions, recent %+v, running %+v", d.Info.NumActions,
				d.Info.RecentActions, d.Info.RunningWorkflows)
		}
		list, err := c.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{})
		if err == nil {
			for _, x := range list.Executions {
				t.Logf("run %s %s: %s", x.Execution.WorkflowId, x.Type.Name, x.Status)
			}
		}
	})
	for _, year := range []int{2022, 2023, 2024} {
		evs := waitFor(t, store, performance.CollectionStream(year), performance.TypeCollectionClosed)
		var opened performance.CollectionOpened
		var closed performance.CollectionClosed
		count := map[string]int{}
		for _, e := range evs {
			count[e.Type]++
			switch e.Type {
			case performance.TypeCollectionOpened:
				mustJSON(t, e.Data, &opened)
			case performance.TypeCollectionClosed:
				mustJSON(t, e.Data, &closed)
			}
		}
		if !opened.Deadline.Equal(time.Date(year, 12, 31, 9, 0, 0, 0, cst)) || opened.Year != year || opened.Projects != 3 {
			t.Errorf("%d opened %+v", year, opened)
		}
		if closed != (performance.CollectionClosed{Year: year, Projects: 3, Late: 3, Missing: 3}) ||
			count[performance.TypeReportMarkedLate] != 3 || count[performance.TypeEscalated] != 2 || count[performance.TypeReminderSent] != 0 {
			t.Errorf("%d closed %+v events %v", year, closed, count)
		}
		if n := len(eventsOf(t, store, performance.ReportStream(year, "b1.a1"))); n != 1 {
			t.Errorf("%d report stream has %d events", year, n)
		}
	}

	// The triggered run is for now: this year, open, its deadline a month on.
	thisYear := triggered.In(cst).Year()
	evs := waitFor(t, store, performance.CollectionStream(thisYear), performance.TypeCollectionOpened)
	var opened performance.CollectionOpened
	mustJSON(t, evs[0].Data, &opened)
	if d := opened.Deadline.Sub(triggered); d < 30*day-time.Minute || d > 30*day+time.Minute || len(opened.ReminderOffsets) != 4 {
		t.Errorf("triggered run %+v (triggered %s)", opened, triggered)
	}
	if len(evs) != 1 {
		t.Errorf("the triggered run wrote %d collection events before any deadline", len(evs))
	}
	// Every run records its nominal time: the schedule's runs are named by it.
	for _, year := range []int{2022, 2023, 2024} {
		first := eventsOf(t, store, performance.CollectionStream(year))[0]
		want := workflows.PerformanceScheduleID + "-" + time.Date(year, 12, 1, 9, 0, 0, 0, cst).UTC().Format(time.RFC3339)
		if first.Metadata.WorkflowID != want {
			t.Errorf("%d opened by %q, want %q", year, first.Metadata.WorkflowID, want)
		}
	}
}

func waitFor(t *testing.T, store *events.Store, stream, typ string) []events.Event {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(200 * time.Millisecond) {
		evs := eventsOf(t, store, stream)
		for _, e := range evs {
			if e.Type == typ {
				return evs
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no %s after 2 minutes (%d events)", stream, typ, len(evs))
		}
	}
}

func mustJSON(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}
