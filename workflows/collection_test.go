package workflows_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/testsuite"

	"keytask/activities"
	"keytask/db/pgtest"
	"keytask/domain/performance"
	"keytask/domain/selection"
	"keytask/domain/tracking"
	"keytask/events"
	"keytask/workflows"
)

// 1 December 2022 09:00 in Asia/Shanghai: the default schedule's 2022 run.
var collectionStart = time.Date(2022, 12, 1, 9, 0, 0, 0, cst)

// seedProjects records four published projects the way publication does, the
// last of them revoked: a collection opens reports for the first three.
func seedProjects(t *testing.T, store *events.Store) {
	t.Helper()
	ctx := context.Background()
	add := func(stream, typ string, data any) {
		b, err := json.Marshal(data)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := store.Append(ctx, stream, events.AnyVersion, events.NewEvent{
			ID: events.DeriveID("seed", stream, typ), Type: typ, SchemaVersion: 1, Data: b, Metadata: ministry}); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []struct{ app, school, province string }{{"a1", "s1", "11"}, {"a2", "s2", "11"}, {"a3", "s3", "44"}, {"a4", "s4", "44"}} {
		add(selection.ApplicationStream(p.app), selection.TypeApplicationCreated, selection.ApplicationCreated{
			ApplicationID: p.app, BatchID: "b1", TaskItem: "2.1", TaskType: "YZYX", School: p.school, Province: p.province, Title: "申报" + p.app})
		add(selection.ProjectStream("b1."+p.app), selection.TypeProjectCreated, selection.ProjectCreated{
			ProjectID: "b1." + p.app, BatchID: "b1", TaskItem: "2.1", TaskType: "YZYX", Application: p.app, Province: p.province, Rank: 1})
	}
	add(selection.ProjectStream("b1.a4"), tracking.TypeProjectRevoked, tracking.ProjectRevoked{ProjectID: "b1.a4", Reason: "撤销"})
}

type collTest struct {
	t     *testing.T
	env   *testsuite.TestWorkflowEnvironment
	store *events.Store
	start time.Time
}

// newCollTest drives a collection with time skipping against a real event
// log; the store stamps events with the test clock.
func newCollTest(t *testing.T, pool *events.Store, start time.Time, id string) *collTest {
	t.Helper()
	return newCollTestWith(t, pool, start, id, workflows.Options{})
}

// newCollTestWith is newCollTest with the workflows registered with o.
func newCollTestWith(t *testing.T, pool *events.Store, start time.Time, id string, o workflows.Options) *collTest {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	ct := &collTest{t: t, env: newTestEnv(&s), start: start}
	ct.store = events.NewStore(pool.Pool(), events.WithClock(ct.env.Now))
	ct.env.SetStartTime(start)
	ct.env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: id})
	workflows.RegisterWith(ct.env, &activities.Activities{Store: ct.store}, o)
	ct.env.OnUpsertTypedSearchAttributes(mock.Anything).Return(nil)
	return ct
}

func (ct *collTest) update(at time.Time, name string, arg any) *outcome {
	return ct.updateWithID(at, "", name, arg)
}

func (ct *collTest) run(p workflows.PerformanceCollectionParams) workflows.PerformanceCollectionResult {
	ct.t.Helper()
	ct.env.ExecuteWorkflow(workflows.PerformanceCollectionWorkflowName, p)
	if !ct.env.IsWorkflowCompleted() {
		ct.t.Fatal("workflow did not complete")
	}
	if err := ct.env.GetWorkflowError(); err != nil {
		ct.t.Fatal(err)
	}
	var res workflows.PerformanceCollectionResult
	if err := ct.env.GetWorkflowResult(&res); err != nil {
		ct.t.Fatal(err)
	}
	return res
}

func report(spent string) performance.ReportInput {
	r := func(s string) json.RawMessage { return json.RawMessage(s) }
	money := func(school string) map[string]json.RawMessage {
		return map[string]json.RawMessage{"school": r(school), "industry": r("10"), "sponsor": r("0"), "municipal": r("5"), "provincial": r("20.5")}
	}
	return performance.ReportInput{Planned: money("100"), Spent: money(spent),
		Indicators: map[string]json.RawMessage{"students_enrolled": r("4000"), "graduate_employment": r("96"), "teachers_trained": r("120")},
		Summary:    "年度建设任务按计划推进"}
}

func school(id string) events.Metadata {
	return events.Metadata{ActorID: "u-" + id, Role: "school", Organisation: id}
}

func eventsOf(t *testing.T, store *events.Store, stream string) []events.Event {
	t.Helper()
	evs, err := store.ReadStream(context.Background(), stream, events.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// The year's timeline: reminders at 14, 7, 3 and 1 days before the deadline
// only to schools still owing their report (a returned one owes it again),
// late marks and one escalation per province at the deadline, a late
// submission, and the close with its summary.
func TestCollectionRemindsEscalatesAndMarksLate(t *testing.T) {
	store := events.NewStore(pgtest.New(t).Pool)
	seedProjects(t, store)
	ct := newCollTest(t, store, collectionStart, "performance-collection-test")
	deadline := time.Date(2022, 12, 31, 9, 0, 0, 0, cst)
	on := func(m, d, h int) time.Time {
		return time.Date(2022+(m-1)/12, time.Month((m-1)%12+1), d, h, 0, 0, 0, cst)
	}

	tooEarly := ct.update(collectionStart, workflows.UpdateSubmitReport, workflows.ReportCommand{ProjectID: "b1.a1", Input: report("90"), Actor: school("s1")})
	wrongSchool := ct.update(on(12, 5, 10), workflows.UpdateSubmitReport, workflows.ReportCommand{ProjectID: "b1.a1", Input: report("90"), Actor: school("s2")})
	badMoney := ct.update(on(12, 5, 10), workflows.UpdateSaveReportDraft, workflows.ReportCommand{ProjectID: "b1.a1",
		Input: performance.ReportInput{Spent: map[string]json.RawMessage{"school": json.RawMessage(`"九十"`)}}, Actor: school("s1")})
	overspent := ct.update(on(12, 5, 10), workflows.UpdateSubmitReport, workflows.ReportCommand{ProjectID: "b1.a1", Input: report("120"), Actor: school("s1")})
	submit1 := ct.update(on(12, 10, 10), workflows.UpdateSubmitReport, workflows.ReportCommand{ProjectID: "b1.a1", Input: report("90"), Actor: school("s1")})
	draft2 := ct.update(on(12, 11, 10), workflows.UpdateSaveReportDraft, workflows.ReportCommand{ProjectID: "b1.a2", Input: performance.ReportInput{Summary: "草稿"}, Actor: school("s2")})
	schoolReturns := ct.update(on(12, 22, 10), workflows.UpdateReturnReport, workflows.ReportReturnCommand{ProjectID: "b1.a1", Reason: "x", Actor: school("s1")})
	noReason := ct.update(on(12, 22, 10), workflows.UpdateReturnReport, workflows.ReportReturnCommand{ProjectID: "b1.a1", Actor: ministry})
	ret := ct.update(on(12, 22, 11), workflows.UpdateReturnReport, workflows.ReportReturnCommand{ProjectID: "b1.a1", Reason: "省财政投入与拨款文件不符", Actor: ministry})
	resubmit := ct.update(on(12, 25, 10), workflows.UpdateSubmitReport, workflows.ReportCommand{ProjectID: "b1.a1", Input: report("95"), Actor: school("s1")})
	lock := ct.update(on(12, 26, 10), workflows.UpdateLockReport, workflows.ReportLockCommand{ProjectID: "b1.a1", Actor: ministry})
	lateSubmit := ct.update(on(13, 5, 10), workflows.UpdateSubmitReport, workflows.ReportCommand{ProjectID: "b1.a3", Input: report("50"), Actor: school("s3")})
	revoked := ct.update(on(12, 5, 10), workflows.UpdateSubmitReport, workflows.ReportCommand{ProjectID: "b1.a4", Input: report("50"), Actor: school("s4")})

	res := ct.run(workflows.PerformanceCollectionParams{Actor: ministry})

	// The first update arrives while the reports are being opened.
	tooEarly.refused(t, true, "", "正在开启")
	wrongSchool.refused(t, true, "project_id", "只有承担该项目的学校")
	badMoney.refused(t, false, "spent.school", "实际投入（学校自筹）须为非负数")
	overspent.refused(t, false, "deviation", "请填写偏差说明")
	schoolReturns.refused(t, true, "project_id", "只有部里")
	noReason.refused(t, false, "reason", "请填写退回理由")
	revoked.refused(t, false, "project_id", "没有项目")
	for _, o := range []*outcome{submit1, draft2, ret, resubmit, lock, lateSubmit} {
		o.ok(t)
	}
	if want := (performance.CollectionClosed{Year: 2022, Projects: 3, Submitted: 2, Late: 2, Missing: 1}); res.Summary != want || res.Year != 2022 {
		t.Fatalf("result %+v, want %+v", res, want)
	}

	type sent struct {
		at      time.Time
		project string
		offset  time.Duration
	}
	var reminders []sent
	var escalations []performance.Escalated
	var late []string
	var types []string
	for _, e := range eventsOf(t, store, performance.CollectionStream(2022)) {
		types = append(types, e.Type)
		switch e.Type {
		case performance.TypeReminderSent:
			var r performance.ReminderSent
			json.Unmarshal(e.Data, &r)
			reminders = append(reminders, sent{e.RecordedAt.In(cst), r.ProjectID, r.Offset})
			if r.Deadline.Sub(e.RecordedAt) != r.Offset {
				t.Errorf("reminder %s for %s recorded at %s", r.Offset, r.ProjectID, e.RecordedAt)
			}
		case performance.TypeEscalated:
			var x performance.Escalated
			json.Unmarshal(e.Data, &x)
			escalations = append(escalations, x)
			if !e.RecordedAt.Equal(deadline) {
				t.Errorf("escalated at %s", e.RecordedAt)
			}
		case performance.TypeReportMarkedLate:
			var x performance.ReportMarkedLate
			json.Unmarshal(e.Data, &x)
			late = append(late, x.ProjectID)
			if !e.RecordedAt.Equal(deadline) {
				t.Errorf("marked late at %s", e.RecordedAt)
			}
		case performance.TypeCollectionClosed:
			if !e.RecordedAt.Equal(deadline.Add(30 * day)) {
				t.Errorf("closed at %s", e.RecordedAt)
			}
		}
	}
	want := []sent{
		{on(12, 17, 9), "b1.a2", 14 * day}, {on(12, 17, 9), "b1.a3", 14 * day},
		{on(12, 24, 9), "b1.a1", 7 * day}, {on(12, 24, 9), "b1.a2", 7 * day}, {on(12, 24, 9), "b1.a3", 7 * day},
		{on(12, 28, 9), "b1.a2", 3 * day}, {on(12, 28, 9), "b1.a3", 3 * day},
		{on(12, 30, 9), "b1.a2", day}, {on(12, 30, 9), "b1.a3", day},
	}
	if len(reminders) != len(want) {
		t.Fatalf("reminders %v, want %v", reminders, want)
	}
	for i := range want {
		if !reminders[i].at.Equal(want[i].at) || reminders[i].project != want[i].project || reminders[i].offset != want[i].offset {
			t.Errorf("reminder %d: %v, want %v", i, reminders[i], want[i])
		}
	}
	if len(escalations) != 2 || escalations[0].Province != "11" || !slices.Equal(escalations[0].Projects, []string{"b1.a2"}) ||
		escalations[1].Province != "44" || !slices.Equal(escalations[1].Projects, []string{"b1.a3"}) {
		t.Errorf("escalations %+v", escalations)
	}
	if !slices.Equal(late, []string{"b1.a2", "b1.a3"}) {
		t.Errorf("late %v", late)
	}
	if types[0] != performance.TypeCollectionOpened || types[len(types)-1] != performance.TypeCollectionClosed {
		t.Errorf("collection stream %v", types)
	}

	// Each report's history is kept: both submissions of the returned one.
	var history []string
	for _, e := range eventsOf(t, store, performance.ReportStream(2022, "b1.a1")) {
		history = append(history, e.Type)
	}
	if !slices.Equal(history, []string{performance.TypeReportOpened, performance.TypeReportSubmitted, performance.TypeReportReturned,
		performance.TypeReportSubmitted, performance.TypeReportLocked}) {
		t.Errorf("report history %v", history)
	}
	a3 := eventsOf(t, store, performance.ReportStream(2022, "b1.a3"))
	var s performance.ReportSubmitted
	if err := json.Unmarshal(a3[len(a3)-1].Data, &s); err != nil || !s.Late || s.Report.SpentTotal != 855_000 {
		t.Errorf("late submission %+v %v", s, err)
	}
	if evs := eventsOf(t, store, performance.ReportStream(2022, "b1.a4")); len(evs) != 0 {
		t.Errorf("a revoked project got a report: %d events", len(evs))
	}
}

// A backfilled year: the schedule's nominal time is in 2022 while the run
// starts years later. The year comes from the nominal time; reminders whose
// time has passed are skipped; everything is late and escalated, and the
// collection closes at once. A second run for the same year writes nothing.
func TestCollectionBackfilledYear(t *testing.T) {
	store := events.NewStore(pgtest.New(t).Pool)
	seedProjects(t, store)
	now := time.Date(2026, 11, 28, 15, 0, 0, 0, time.UTC)
	ct := newCollTest(t, store, now, "performance-collection-2022-12-01T01:00:00Z")
	// The test environment does not pass start search attributes to the
	// workflow, so the nominal time comes in the parameters here; the
	// schedule's search attribute is tested against a real server.
	res := ct.run(workflows.PerformanceCollectionParams{OpensAt: collectionStart, Actor: ministry})
	if want := (performance.CollectionClosed{Year: 2022, Projects: 3, Late: 3, Missing: 3}); res.Summary != want {
		t.Fatalf("summary %+v, want %+v", res.Summary, want)
	}
	count := map[string]int{}
	evs := eventsOf(t, store, performance.CollectionStream(2022))
	for _, e := range evs {
		count[e.Type]++
	}
	if count[performance.TypeReminderSent] != 0 || count[performance.TypeEscalated] != 2 || count[performance.TypeReportMarkedLate] != 3 || count[performance.TypeCollectionClosed] != 1 {
		t.Fatalf("events %v", count)
	}
	var opened performance.CollectionOpened
	if err := json.Unmarshal(evs[0].Data, &opened); err != nil || !opened.Deadline.Equal(time.Date(2022, 12, 31, 9, 0, 0, 0, cst)) {
		t.Fatalf("opened %+v %v", opened, err)
	}

	again := newCollTest(t, store, now.Add(time.Hour), "performance-collection-manual-2022")
	res = again.run(workflows.PerformanceCollectionParams{OpensAt: collectionStart, Actor: ministry})
	if !res.Skipped || res.Year != 2022 {
		t.Fatalf("second run %+v", res)
	}
	if n := len(eventsOf(t, store, performance.CollectionStream(2022))); n != len(evs) {
		t.Fatalf("second run appended: %d events, had %d", n, len(evs))
	}
}
