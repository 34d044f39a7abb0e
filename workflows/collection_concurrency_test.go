package workflows_test

import (
	"errors"
	"strings"
	"testing"

	"keytask/activities"
	"keytask/db/pgtest"
	"keytask/domain"
	"keytask/domain/performance"
	"keytask/events"
	"keytask/workflows"
)

// Commands on different reports run side by side: their appends are in flight
// together instead of one after another. Commands on one report still take
// turns, so the second of two identical submissions decides on the state the
// first left and is refused, and every report's stream stays dense.
func TestCollectionCommandsOnDifferentReportsRunSideBySide(t *testing.T) {
	store := events.NewStore(pgtest.New(t).Pool)
	seedProjects(t, store)
	ct := newCollTest(t, store, collectionStart, "performance-collection-side-by-side")

	appends := trackAppends(ct.env, &activities.Activities{Store: ct.store}, 3,
		performance.ReportStream(2022, "b1.a1"), performance.ReportStream(2022, "b1.a2"), performance.ReportStream(2022, "b1.a3"))

	at := collectionStart.Add(3 * day)
	s1 := ct.update(at, workflows.UpdateSubmitReport, workflows.ReportCommand{ProjectID: "b1.a1", Input: report("90"), Actor: school("s1")})
	s2 := ct.update(at, workflows.UpdateSubmitReport, workflows.ReportCommand{ProjectID: "b1.a2", Input: report("80"), Actor: school("s2")})
	s3 := ct.update(at, workflows.UpdateSubmitReport, workflows.ReportCommand{ProjectID: "b1.a3", Input: report("70"), Actor: school("s3")})
	again := ct.update(at, workflows.UpdateSubmitReport, workflows.ReportCommand{ProjectID: "b1.a1", Input: report("95"), Actor: school("s1")})
	res := ct.run(workflows.PerformanceCollectionParams{Actor: ministry})

	for _, o := range []*outcome{s1, s2, s3} {
		o.ok(t)
	}
	var ce *domain.ConflictError
	if !again.completed || !errors.As(workflows.DomainError(again.err), &ce) {
		t.Fatalf("a second submission of b1.a1 at the same instant: completed=%v err=%v; want a conflict", again.completed, again.err)
	}
	if appends.max() < 3 {
		t.Fatalf("at most %d appends in flight at once; want three together", appends.max())
	}
	if want := (performance.CollectionClosed{Year: 2022, Projects: 3, Submitted: 3}); res.Summary != want {
		t.Fatalf("summary %+v, want %+v", res.Summary, want)
	}
	for _, p := range []string{"b1.a1", "b1.a2", "b1.a3"} {
		evs := eventsOf(t, store, performance.ReportStream(2022, p))
		var types []string
		for i, e := range evs {
			if e.StreamVersion != int64(i+1) {
				t.Fatalf("report %s: event %d at version %d", p, i, e.StreamVersion)
			}
			types = append(types, e.Type)
		}
		if got := strings.Join(types, ","); got != performance.TypeReportOpened+","+performance.TypeReportSubmitted {
			t.Fatalf("report %s holds %s", p, got)
		}
	}
}
