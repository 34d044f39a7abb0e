package workflows_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/workflow"

	"keytask/db/pgtest"
	"keytask/domain/performance"
	"keytask/events"
	"keytask/workflows"
)

var collectionDeadline = time.Date(2022, 12, 31, 9, 0, 0, 0, cst)

func extendCmd(to time.Time) workflows.ExtendCollectionCommand {
	return workflows.ExtendCollectionCommand{Deadline: to, Reason: "受疫情影响", Actor: ministry}
}

// query reads the collection's status at the given instant.
func (ct *collTest) query(at time.Time) *workflows.PerformanceCollectionStatus {
	st := &workflows.PerformanceCollectionStatus{}
	ct.env.RegisterDelayedCallback(func() {
		v, err := ct.env.QueryWorkflow(workflows.QueryPerformanceCollection)
		if err != nil {
			ct.t.Errorf("query at %s: %v", at, err)
			return
		}
		if err := v.Get(st); err != nil {
			ct.t.Error(err)
		}
	}, at.Sub(ct.start))
	return st
}

// report is the result of a report command.
func (o *outcome) report(t *testing.T) workflows.ReportResult {
	t.Helper()
	switch r := o.result.(type) {
	case workflows.ReportResult:
		return r
	case converter.EncodedValue:
		var rr workflows.ReportResult
		if err := r.Get(&rr); err != nil {
			t.Fatal(err)
		}
		return rr
	}
	t.Fatalf("%s result %T", o.name, o.result)
	return workflows.ReportResult{}
}

// collectionEvent is one event of the collection stream with the instant the
// test clock stamped it.
type collectionEvent struct {
	typ string
	at  time.Time
	e   events.Event
}

func collectionEvents(t *testing.T, store *events.Store) []collectionEvent {
	t.Helper()
	var out []collectionEvent
	for _, e := range eventsOf(t, store, performance.CollectionStream(2022)) {
		out = append(out, collectionEvent{e.Type, e.RecordedAt.In(cst), e})
	}
	return out
}

// The ministry extends the deadline before it comes: nothing is marked late
// or escalated at the old deadline; the reminders not yet sent follow the new
// deadline; a submission between the two deadlines is on time; late marks and
// escalations come at the new deadline, and the close keeps its distance to
// it. The run does not even wake at the times the old deadline set: the
// extension ends its wait. Extending again to before the new deadline is
// refused naming the field.
func TestCollectionExtendBeforeDeadline(t *testing.T) {
	store := events.NewStore(pgtest.New(t).Pool)
	seedProjects(t, store)
	ct := newCollTest(t, store, collectionStart, "performance-collection-extend")
	to := time.Date(2023, 1, 20, 18, 0, 0, 0, cst)
	shift := to.Sub(collectionDeadline)
	var fired []time.Time
	ct.env.SetOnTimerFiredListener(func(string) { fired = append(fired, ct.env.Now().In(cst)) })

	bySchool := ct.update(time.Date(2022, 12, 20, 9, 0, 0, 0, cst), workflows.UpdateExtendCollection,
		workflows.ExtendCollectionCommand{Deadline: to, Actor: school("s1")})
	ext := ct.update(time.Date(2022, 12, 20, 10, 0, 0, 0, cst), workflows.UpdateExtendCollection, extendCmd(to))
	earlier := ct.update(time.Date(2022, 12, 21, 10, 0, 0, 0, cst), workflows.UpdateExtendCollection,
		extendCmd(time.Date(2023, 1, 10, 9, 0, 0, 0, cst)))
	status := ct.query(time.Date(2022, 12, 21, 11, 0, 0, 0, cst))
	between := ct.update(time.Date(2023, 1, 5, 10, 0, 0, 0, cst), workflows.UpdateSubmitReport,
		workflows.ReportCommand{ProjectID: "b1.a1", Input: report("90"), Actor: school("s1")})
	after := ct.update(to.Add(time.Hour), workflows.UpdateSubmitReport,
		workflows.ReportCommand{ProjectID: "b1.a3", Input: report("50"), Actor: school("s3")})

	res := ct.run(workflows.PerformanceCollectionParams{Actor: ministry})

	bySchool.refused(t, true, "", "只有部里")
	ext.ok(t)
	earlier.refused(t, false, "deadline", "须晚于现截止时间（2023-01-20 18:00）")
	between.ok(t)
	after.ok(t)
	if r := between.report(t); r.Late {
		t.Errorf("submission between the deadlines marked late")
	}
	if r := after.report(t); !r.Late {
		t.Errorf("submission after the new deadline not late")
	}
	if !status.Deadline.Equal(to) || !status.CloseAt.Equal(to.Add(30*day)) || status.Stage != "open" {
		t.Errorf("status after the extension: deadline %s close %s stage %s", status.Deadline, status.CloseAt, status.Stage)
	}
	if want := (performance.CollectionClosed{Year: 2022, Projects: 3, Submitted: 2, Late: 2, Missing: 1}); res.Summary != want {
		t.Fatalf("summary %+v, want %+v", res.Summary, want)
	}
	for _, old := range []time.Time{collectionDeadline.Add(-7 * day), collectionDeadline.Add(-3 * day), collectionDeadline.Add(-day),
		collectionDeadline, collectionDeadline.Add(30 * day)} {
		if slices.ContainsFunc(fired, old.Equal) {
			t.Errorf("a timer fired at %s, a wake the old deadline set (timers fired at %v)", old, fired)
		}
	}
	if !slices.ContainsFunc(fired, to.Equal) {
		t.Errorf("no timer fired at the new deadline %s: %v", to, fired)
	}

	type sent struct {
		at     time.Time
		offset time.Duration
	}
	var reminders []sent
	var extended []performance.CollectionDeadlineExtended
	count := map[string]int{}
	for _, ce := range collectionEvents(t, store) {
		count[ce.typ]++
		switch ce.typ {
		case performance.TypeReminderSent:
			var r performance.ReminderSent
			mustJSON(t, ce.e.Data, &r)
			if len(reminders) == 0 || reminders[len(reminders)-1].offset != r.Offset {
				reminders = append(reminders, sent{ce.at, r.Offset})
			}
		case performance.TypeCollectionDeadlineExtended:
			var x performance.CollectionDeadlineExtended
			mustJSON(t, ce.e.Data, &x)
			extended = append(extended, x)
			if ce.e.Metadata.ActorID != ministry.ActorID {
				t.Errorf("extension recorded by %q", ce.e.Metadata.ActorID)
			}
		case performance.TypeEscalated, performance.TypeReportMarkedLate:
			if !ce.at.Equal(to) {
				t.Errorf("%s at %s, want the new deadline %s", ce.typ, ce.at, to)
			}
			if ce.typ == performance.TypeEscalated {
				var x performance.Escalated
				mustJSON(t, ce.e.Data, &x)
				if !x.Deadline.Equal(to) {
					t.Errorf("escalation names the deadline %s", x.Deadline)
				}
			}
		case performance.TypeCollectionClosed:
			if !ce.at.Equal(collectionDeadline.Add(30 * day).Add(shift)) {
				t.Errorf("closed at %s, want %s", ce.at, to.Add(30*day))
			}
		}
	}
	if len(extended) != 1 || !extended[0].From.Equal(collectionDeadline) || !extended[0].To.Equal(to) || extended[0].Reason != "受疫情影响" ||
		!slices.Equal(extended[0].Schools, []string{"s1", "s2", "s3"}) {
		t.Fatalf("extensions %+v", extended)
	}
	// The 14-day reminder went before the extension; the others follow the
	// new deadline.
	want := []sent{{time.Date(2022, 12, 17, 9, 0, 0, 0, cst), 14 * day}, {to.Add(-7 * day), 7 * day}, {to.Add(-3 * day), 3 * day}, {to.Add(-day), day}}
	if len(reminders) != len(want) {
		t.Fatalf("reminders %v, want %v", reminders, want)
	}
	for i := range want {
		if !reminders[i].at.Equal(want[i].at) || reminders[i].offset != want[i].offset {
			t.Errorf("reminder %d: %v, want %v", i, reminders[i], want[i])
		}
	}
	// b1.a2 never submitted and b1.a3 submitted late: both marked once; only
	// province 11 is escalated to, as b1.a3 had not submitted either.
	if count[performance.TypeReportMarkedLate] != 2 || count[performance.TypeEscalated] != 2 || count[performance.TypeCollectionDeadlineExtended] != 1 {
		t.Errorf("collection events %v", count)
	}
}

// Once the deadline has come, an extension is refused naming the field and
// nothing is appended: the deadline's marks and the close stay where they
// were.
func TestCollectionExtendAfterDeadlineRefused(t *testing.T) {
	store := events.NewStore(pgtest.New(t).Pool)
	seedProjects(t, store)
	ct := newCollTest(t, store, collectionStart, "performance-collection-extend-late")
	late := ct.update(collectionDeadline.Add(time.Hour), workflows.UpdateExtendCollection, extendCmd(collectionDeadline.Add(10*day)))
	res := ct.run(workflows.PerformanceCollectionParams{Actor: ministry})

	late.refused(t, true, "deadline", "已过，不能再延期")
	if res.Summary.Late != 3 {
		t.Errorf("summary %+v", res.Summary)
	}
	for _, ce := range collectionEvents(t, store) {
		switch ce.typ {
		case performance.TypeCollectionDeadlineExtended:
			t.Errorf("refused extension appended at %s", ce.at)
		case performance.TypeEscalated, performance.TypeReportMarkedLate:
			if !ce.at.Equal(collectionDeadline) {
				t.Errorf("%s at %s", ce.typ, ce.at)
			}
		case performance.TypeCollectionClosed:
			if !ce.at.Equal(collectionDeadline.Add(30 * day)) {
				t.Errorf("closed at %s", ce.at)
			}
		}
	}
}

// The extensions' count travels with continue-as-new: an extension in the
// next run gets a step, and so an event id, of its own, and the next run
// waits for the deadline and close its predecessor moved.
func TestCollectionExtendAcrossContinueAsNew(t *testing.T) {
	store := events.NewStore(pgtest.New(t).Pool)
	seedProjects(t, store)
	restore := workflows.SetCollectionUpdatesPerRun(1)
	defer restore()

	const id = "performance-collection-extend-continue"
	first := newCollTest(t, store, collectionStart, id)
	to1 := collectionDeadline.Add(5 * day)
	e1 := first.update(collectionStart.Add(4*day), workflows.UpdateExtendCollection, extendCmd(to1))
	first.env.ExecuteWorkflow(workflows.PerformanceCollectionWorkflowName, workflows.PerformanceCollectionParams{Actor: ministry})
	e1.ok(t)
	var can *workflow.ContinueAsNewError
	if err := first.env.GetWorkflowError(); !errors.As(err, &can) {
		t.Fatalf("first run ended with %v, want continue-as-new", err)
	}
	var next workflows.PerformanceCollectionParams
	if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &next); err != nil {
		t.Fatal(err)
	}
	if next.Carry == nil || next.Carry.Extensions != 1 || !next.Carry.State.Deadline.Equal(to1) || !next.Carry.CloseAt.Equal(to1.Add(30*day)) {
		t.Fatalf("carry %+v", next.Carry)
	}

	restore()
	start := collectionStart.Add(4*day + time.Minute)
	second := newCollTest(t, store, start, id)
	to2 := to1.Add(2 * day)
	e2 := second.update(start.Add(day), workflows.UpdateExtendCollection, extendCmd(to2))
	res := second.run(next)
	e2.ok(t)
	if res.Summary.Late != 3 {
		t.Errorf("summary %+v", res.Summary)
	}
	ids := map[string]bool{}
	var froms []time.Time
	for _, ce := range collectionEvents(t, store) {
		switch ce.typ {
		case performance.TypeCollectionDeadlineExtended:
			var x performance.CollectionDeadlineExtended
			mustJSON(t, ce.e.Data, &x)
			froms = append(froms, x.From)
			ids[ce.e.ID.String()] = true
		case performance.TypeReportMarkedLate:
			if !ce.at.Equal(to2) {
				t.Errorf("marked late at %s, want %s", ce.at, to2)
			}
		case performance.TypeCollectionClosed:
			if !ce.at.Equal(to2.Add(30 * day)) {
				t.Errorf("closed at %s, want %s", ce.at, to2.Add(30*day))
			}
		}
	}
	if len(ids) != 2 || len(froms) != 2 || !froms[0].Equal(collectionDeadline) || !froms[1].Equal(to1) {
		t.Fatalf("extensions from %v, ids %v", froms, ids)
	}
}
