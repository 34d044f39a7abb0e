package projections_test

import (
	"context"
	"testing"
	"time"

	"keytask/domain/intent"
	"keytask/domain/performance"
	"keytask/projections"
)

// The performance read model built live equals the one rebuilt from the log;
// roll-ups count only standing submissions, every report event is kept as
// history, and an extension moves the deadline of the collection and of every
// report.
func TestPerformanceLiveEqualsRebuild(t *testing.T) {
	t.Parallel()
	d, s := newEnv(t)
	l := &intentLog{t: t, store: s}
	cs := performance.CollectionStream(2024)
	deadline := time.Date(2024, 12, 31, 1, 0, 0, 0, time.UTC)
	l.ministry(cs, performance.TypeCollectionOpened, performance.CollectionOpened{Year: 2024, Deadline: deadline, Projects: 3,
		ReminderOffsets: []time.Duration{24 * time.Hour}})
	open := func(id, school, province string) {
		l.ministry(performance.ReportStream(2024, id), performance.TypeReportOpened, performance.ReportOpened{Year: 2024, ProjectID: id,
			BatchID: "b", TaskItem: "2.1", TaskType: "YZYX", Application: "a-" + id, School: school, Province: province, Deadline: deadline})
	}
	open("p1", "s1", "11")
	open("p2", "s2", "11")
	open("p3", "s3", "44")
	extended := deadline.Add(20 * 24 * time.Hour)
	l.ministry(cs, performance.TypeCollectionDeadlineExtended, performance.CollectionDeadlineExtended{Year: 2024, From: deadline, To: extended,
		Reason: "延期", Schools: []string{"s1", "s2", "s3"}})
	rep := func(planned, spent intent.Yuan) performance.Report {
		return performance.Report{Planned: intent.Funds{School: planned, Provincial: 7}, PlannedTotal: planned + 7,
			Spent: intent.Funds{School: spent}, SpentTotal: spent, Indicators: map[string]int64{"students_enrolled": 100}}
	}
	school := func(id, stream, typ string, v any) { l.add(stream, typ, v, "u-"+id, "school", id) }
	r1, r2, r3 := performance.ReportStream(2024, "p1"), performance.ReportStream(2024, "p2"), performance.ReportStream(2024, "p3")
	school("s1", r1, performance.TypeReportDraftSaved, performance.ReportDraftSaved{Year: 2024, ProjectID: "p1", Report: rep(1, 1)})
	school("s1", r1, performance.TypeReportSubmitted, performance.ReportSubmitted{Year: 2024, ProjectID: "p1", Report: rep(10_000, 9_000), Submission: 1})
	l.ministry(r1, performance.TypeReportReturned, performance.ReportReturned{Year: 2024, ProjectID: "p1", Submission: 1, Reason: "核对"})
	school("s1", r1, performance.TypeReportSubmitted, performance.ReportSubmitted{Year: 2024, ProjectID: "p1", Report: rep(20_000, 15_000), Submission: 2})
	l.ministry(r1, performance.TypeReportLocked, performance.ReportLocked{Year: 2024, ProjectID: "p1", Submission: 2})
	school("s2", r2, performance.TypeReportSubmitted, performance.ReportSubmitted{Year: 2024, ProjectID: "p2", Report: rep(5, 5), Submission: 1})
	l.ministry(r2, performance.TypeReportReturned, performance.ReportReturned{Year: 2024, ProjectID: "p2", Submission: 1, Reason: "补充"})
	l.ministry(cs, performance.TypeReminderSent, performance.ReminderSent{Year: 2024, ProjectID: "p3", School: "s3", Province: "44", Offset: 24 * time.Hour})
	l.ministry(cs, performance.TypeReportMarkedLate, performance.ReportMarkedLate{Year: 2024, ProjectID: "p3"})
	l.ministry(cs, performance.TypeEscalated, performance.Escalated{Year: 2024, Province: "44", Projects: []string{"p3"}})
	school("s3", r3, performance.TypeReportSubmitted, performance.ReportSubmitted{Year: 2024, ProjectID: "p3", Report: rep(300, 400), Submission: 1, Late: true})
	l.ministry(cs, performance.TypeCollectionClosed, performance.CollectionClosed{Year: 2024, Projects: 3, Submitted: 3, Late: 1})

	p := projections.Performance{}
	pr := newProjector(t, d, s, nil, p)
	start(t, pr)
	waitCaughtUp(t, pr)
	ctx := context.Background()
	live, err := projections.Digest(ctx, d.Pool, p)
	if err != nil {
		t.Fatal(err)
	}
	rollups, err := projections.PerformanceRollups(ctx, d.Pool, 2024, projections.PerformanceFilter{})
	if err != nil {
		t.Fatal(err)
	}
	history, err := projections.PerformanceHistory(ctx, d.Pool, 2024, "p1")
	if err != nil {
		t.Fatal(err)
	}
	c, err := projections.PerformanceCollection(ctx, d.Pool, 2024)
	if err != nil {
		t.Fatal(err)
	}
	reports, err := projections.PerformanceReports(ctx, d.Pool, 2024, projections.PerformanceFilter{})
	if err != nil {
		t.Fatal(err)
	}
	rebuilt, err := projections.Rebuild(ctx, d.Pool, s, p, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rebuilt != live {
		t.Fatalf("rebuilt digest %s, live %s", rebuilt, live)
	}
	if emptyDigest(t, d, p) == live {
		t.Fatal("digest of the model equals that of an empty model")
	}
	if len(rollups) != 2 {
		t.Fatalf("roll-ups %+v", rollups)
	}
	bj, gd := rollups[0], rollups[1]
	// Beijing: p1's second submission stands; p2 was returned and does not count.
	if bj.Province != "11" || bj.Reports != 2 || bj.Submitted != 1 || bj.RatePermille != 500 || bj.Planned.School != 20_000 ||
		bj.Spent.School != 15_000 || bj.PlannedTotal != 20_007 || bj.Indicators["students_enrolled"] != 100 {
		t.Errorf("Beijing %+v", bj)
	}
	if gd.Province != "44" || gd.Submitted != 1 || gd.Late != 1 || gd.SpentTotal != 400 {
		t.Errorf("Guangdong %+v", gd)
	}
	if len(history) != 6 || history[2].Type != performance.TypeReportSubmitted || history[3].Type != performance.TypeReportReturned {
		t.Errorf("history has %d entries", len(history))
	}
	if c.Stage != "closed" || c.Reminders != 1 || len(c.Escalations["44"]) != 1 || c.Summary == nil || c.Summary.Late != 1 {
		t.Errorf("collection %+v", c)
	}
	if !c.Deadline.Equal(extended) {
		t.Errorf("collection deadline %s, want the extended %s", c.Deadline, extended)
	}
	if len(reports) != 3 {
		t.Fatalf("%d reports", len(reports))
	}
	for _, r := range reports {
		if !r.Deadline.Equal(extended) {
			t.Errorf("report %s deadline %s, want the extended %s", r.ProjectID, r.Deadline, extended)
		}
	}
	if _, err := projections.PerformanceCollection(ctx, d.Pool, 2023); !projections.IsPerformanceNotFound(err) {
		t.Errorf("2023: %v", err)
	}
}
