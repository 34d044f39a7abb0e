package projections_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message/router/middleware"

	"keytask/domain/selection"
	"keytask/domain/tracking"
	"keytask/events"
	"keytask/projections"
)

// The projects model built live (every message delivered twice) equals a
// rebuild from the log, and holds what the tracking events said.
func TestProjects(t *testing.T) {
	t.Parallel()
	d, s := newEnv(t)
	ctx := context.Background()
	n := 0
	put := func(stream, typ string, v any) {
		t.Helper()
		n++
		data, _ := json.Marshal(v)
		if _, err := s.Append(ctx, stream, events.AnyVersion, events.NewEvent{
			ID: events.DeriveID("projects-test", stream, typ, string(rune('a'+n))), Type: typ, SchemaVersion: 1, Data: data,
		}); err != nil {
			t.Fatal(err)
		}
	}
	for _, a := range []struct{ app, school, prov string }{{"A1", "S1", "11"}, {"A2", "S2", "12"}} {
		put(selection.ApplicationStream(a.app), selection.TypeApplicationCreated, selection.ApplicationCreated{
			ApplicationID: a.app, BatchID: "B1", TaskItem: "2.1", TaskType: "YZYX", School: a.school, Province: a.prov, Title: a.school + "项目"})
		id := selection.ProjectID("B1", a.app)
		put(selection.ProjectStream(id), selection.TypeProjectCreated, selection.ProjectCreated{
			ProjectID: id, BatchID: "B1", TaskItem: "2.1", TaskType: "YZYX", Application: a.app, Province: a.prov, Rank: 1})
	}
	p1, p2 := selection.ProjectID("B1", "A1"), selection.ProjectID("B1", "A2")
	st := selection.ProjectStream(p1)
	put(st, tracking.TypeEvaluatorAssigned, tracking.EvaluatorAssigned{ProjectID: p1, Evaluator: "v1"})
	put(st, tracking.TypeInspectionScheduled, tracking.InspectionScheduled{ProjectID: p1, InspectionID: "I1", Date: time.Date(2024, 5, 6, 0, 0, 0, 0, time.UTC)})
	put(st, tracking.TypeInspectionRecorded, tracking.InspectionRecorded{ProjectID: p1, InspectionID: "I1", Findings: "正常", Conclusion: tracking.ConclusionGood})
	put(st, tracking.TypeEvaluationSubmitted, tracking.EvaluationSubmitted{ProjectID: p1, EvaluationID: "E1", Evaluator: "v1", Conclusion: tracking.ConclusionSatisfactory, Summary: "合格"})
	put(st, tracking.TypeProjectFlagged, tracking.ProjectFlagged{ProjectID: p1, Reason: "滞后", RectifyBy: time.Date(2024, 9, 30, 16, 0, 0, 0, time.UTC)})
	put(selection.ProjectStream(p2), tracking.TypeProjectRevoked, tracking.ProjectRevoked{ProjectID: p2, Reason: "撤销"})

	pr := newProjector(t, d, s, nil, projections.Projects{})
	pr.AddHandlerMiddleware(middleware.Duplicator)
	start(t, pr)
	waitCaughtUp(t, pr)
	live, err := projections.Digest(ctx, d.Pool, projections.Projects{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := projections.GetProject(ctx, d.Pool, p1)
	if err != nil {
		t.Fatal(err)
	}
	if got.School != "S1" || got.Province != "11" || got.Status != tracking.StatusFlagged || got.FlagReason != "滞后" ||
		got.RectifyBy == nil || len(got.Evaluators) != 1 || len(got.Inspections) != 1 || got.Inspections[0].Findings != "正常" ||
		len(got.Evaluations) != 1 || got.Evaluations[0].Conclusion != "satisfactory" {
		t.Fatalf("project %+v", got)
	}
	for _, c := range []struct {
		f    projections.ProjectFilter
		want []string
	}{
		{projections.ProjectFilter{}, []string{p1, p2}},
		{projections.ProjectFilter{Province: "12"}, []string{p2}},
		{projections.ProjectFilter{School: "S1"}, []string{p1}},
		{projections.ProjectFilter{Evaluator: "v1"}, []string{p1}},
		{projections.ProjectFilter{Evaluator: "v2"}, nil},
		{projections.ProjectFilter{Status: tracking.StatusRevoked}, []string{p2}},
	} {
		rows, err := projections.ListProjects(ctx, d.Pool, c.f)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, r := range rows {
			ids = append(ids, r.ProjectID)
		}
		if !slices.Equal(ids, c.want) {
			t.Errorf("filter %+v: %v, want %v", c.f, ids, c.want)
		}
	}
	rebuilt, err := projections.Rebuild(ctx, d.Pool, s, projections.Projects{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rebuilt != live {
		t.Fatalf("rebuilt digest %s, live %s", rebuilt, live)
	}
}
