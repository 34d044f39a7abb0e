package workflows_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"

	"keytask/db/pgtest"
	"keytask/domain/performance"
	"keytask/domain/selection"
	"keytask/events"
	"keytask/workflows"
)

// A national year: 1,100 projects across the provinces. Reports open in
// activities of 200, reminders and late marks go in appends of 500, and each
// province with missing reports is escalated once.
func TestCollectionNationalBatches(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 1,100 reports")
	}
	store := events.NewStore(pgtest.New(t).Pool)
	ctx := context.Background()
	const n = 1100
	provinces := []string{"11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33"}
	for i := range n {
		app := fmt.Sprintf("a%04d", i)
		province := provinces[i%len(provinces)]
		for _, ev := range []struct {
			stream, typ string
			data        any
		}{
			{selection.ApplicationStream(app), selection.TypeApplicationCreated, selection.ApplicationCreated{ApplicationID: app,
				TaskType: "YZZY", School: "s" + app, Province: province}},
			{selection.ProjectStream("b." + app), selection.TypeProjectCreated, selection.ProjectCreated{ProjectID: "b." + app,
				BatchID: "b", TaskType: "YZZY", Application: app, Province: province}},
		} {
			b, _ := json.Marshal(ev.data)
			if _, err := store.Append(ctx, ev.stream, events.NoStream, events.NewEvent{ID: events.DeriveID("seed", ev.stream),
				Type: ev.typ, SchemaVersion: 1, Data: b}); err != nil {
				t.Fatal(err)
			}
		}
	}

	ct := newCollTest(t, store, collectionStart, "performance-collection-national")
	calls := map[string]int{}
	ct.env.SetOnActivityCompletedListener(func(info *activity.Info, _ converter.EncodedValue, err error) {
		if err == nil {
			calls[info.ActivityType.Name]++
		}
	})
	res := ct.run(workflows.PerformanceCollectionParams{Actor: ministry})
	if res.Summary != (performance.CollectionClosed{Year: 2022, Projects: n, Late: n, Missing: n}) {
		t.Fatalf("summary %+v", res.Summary)
	}
	// 6 openings of ≤200; 4 offsets × 3 reminder appends of ≤500; 3 late appends.
	if calls["OpenPerformanceReports"] != 6 || calls["SendPerformanceReminders"] != 12 || calls["MarkPerformanceLate"] != 3 {
		t.Fatalf("activities %v", calls)
	}
	count := map[string]int{}
	for _, e := range eventsOf(t, store, performance.CollectionStream(2022)) {
		count[e.Type]++
	}
	if count[performance.TypeReminderSent] != 4*n || count[performance.TypeReportMarkedLate] != n || count[performance.TypeEscalated] != len(provinces) {
		t.Fatalf("collection events %v", count)
	}
}
