package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"testing"
	"time"

	"keytask/domain/selection"
	"keytask/domain/tracking"
	"keytask/events"
	"keytask/projections"
)

// seedProject records a school's application and the project its publication
// created, as the selection batch's workflow would.
func (e *env) seedProject(batch, app, school, province string) string {
	e.t.Helper()
	ctx := context.Background()
	put := func(stream, typ string, v any) {
		data, _ := json.Marshal(v)
		if _, err := e.store.Append(ctx, stream, events.AnyVersion, events.NewEvent{
			ID: events.DeriveID("tracking-test", stream, typ), Type: typ, SchemaVersion: 1, Data: data,
			Metadata: events.Metadata{ActorID: "system"},
		}); err != nil {
			e.t.Fatal(err)
		}
	}
	put(selection.ApplicationStream(app), selection.TypeApplicationCreated, selection.ApplicationCreated{
		ApplicationID: app, BatchID: batch, TaskItem: "2.1", TaskType: "YZYX", School: school, Province: province, Title: school + "申报"})
	id := selection.ProjectID(batch, app)
	put(selection.ProjectStream(id), selection.TypeProjectCreated, selection.ProjectCreated{
		ProjectID: id, BatchID: batch, TaskItem: "2.1", TaskType: "YZYX", Application: app, Province: province, Rank: 1})
	return id
}

func (e *env) projectProjects() {
	e.t.Helper()
	e.project()
	if _, err := projections.Rebuild(context.Background(), e.d.Pool, e.store, projections.Projects{}, nil); err != nil {
		e.t.Fatal(err)
	}
}

func projectIDs(res response) []string {
	var out []string
	l, _ := res.json["projects"].([]any)
	for _, p := range l {
		out = append(out, p.(map[string]any)["project_id"].(string))
	}
	return out
}

func TestTracking(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	bj, tj, auditor := e.users()
	school1 := e.register(`{"user_id":"s1","name":"北京一校","role":"school","organisation":"S1"}`)
	school := school1
	v1 := e.register(`{"user_id":"v1","name":"评估甲","role":"evaluator","organisation":"某评估机构"}`)
	v2 := e.register(`{"user_id":"v2","name":"评估乙","role":"evaluator","organisation":"另一评估机构"}`)
	p1 := e.seedProject("B1", "A1", "S1", "11")
	p2 := e.seedProject("B1", "A2", "S2", "12")
	e.projectProjects()
	admin := e.adminToken
	base := "/api/v1/projects/" + p1

	t.Run("Scope", func(t *testing.T) {
		for _, c := range []struct {
			who, token string
			want       int
		}{{"ministry", admin, 2}, {"auditor", auditor, 2}, {"bj", bj, 1}, {"tj", tj, 1}, {"school", school, 1}, {"v1", v1, 0}} {
			res := e.do("GET", "/api/v1/projects", c.token, "")
			want(t, res, http.StatusOK, "")
			if got := projectIDs(res); len(got) != c.want {
				t.Errorf("%s sees %v, want %d projects", c.who, got, c.want)
			}
		}
		want(t, e.do("GET", base, bj, ""), http.StatusOK, "")
		want(t, e.do("GET", base, tj, ""), http.StatusNotFound, "")
		want(t, e.do("GET", base, v1, ""), http.StatusNotFound, "")
		want(t, e.do("GET", "/api/v1/projects/"+p2, school, ""), http.StatusNotFound, "")
		want(t, e.do("GET", "/api/v1/projects/nope", admin, ""), http.StatusNotFound, "")
		want(t, e.do("POST", base+"/flag", bj, `{"reason":"x","rectify_by":"2099-01-01"}`), http.StatusForbidden, "")
	})

	t.Run("Evaluator", func(t *testing.T) {
		want(t, e.do("POST", base+"/evaluators", admin, `{"evaluator":"bj"}`), http.StatusUnprocessableEntity, "evaluator")
		want(t, e.do("POST", base+"/evaluators", admin, `{"evaluator":"ghost"}`), http.StatusUnprocessableEntity, "evaluator")
		want(t, e.do("POST", base+"/evaluators", admin, `{"evaluator":"v1"}`), http.StatusOK, "")
		e.projectProjects()
		res := e.do("GET", "/api/v1/projects", v1, "")
		if got := projectIDs(res); len(got) != 1 || got[0] != p1 {
			t.Fatalf("v1 sees %v, want only %s", got, p1)
		}
		want(t, e.do("GET", base, v1, ""), http.StatusOK, "")
		want(t, e.do("GET", base+"/timeline", v1, ""), http.StatusOK, "")
		want(t, e.do("GET", "/api/v1/projects/"+p2, v1, ""), http.StatusNotFound, "")
		want(t, e.do("POST", base+"/evaluations", v2, `{"conclusion":"good","summary":"好"}`), http.StatusNotFound, "")
		want(t, e.do("POST", base+"/evaluations", school, `{"conclusion":"good","summary":"好"}`), http.StatusForbidden, "")
		want(t, e.do("POST", base+"/evaluations", v1, `{"conclusion":"great","summary":"好"}`), http.StatusUnprocessableEntity, "conclusion")
		want(t, e.do("POST", base+"/evaluations", v1, `{"conclusion":"good","summary":""}`), http.StatusUnprocessableEntity, "summary")
		before := e.countEvents(selection.ProjectStream(p1))
		want(t, e.do("POST", base+"/evaluations", v1, `{"conclusion":"good","summary":"建设进展良好"}`, "Idempotency-Key", "ev-1"), http.StatusOK, "")
		res = e.do("POST", base+"/evaluations", v1, `{"conclusion":"good","summary":"建设进展良好"}`, "Idempotency-Key", "ev-1")
		want(t, res, http.StatusOK, "")
		if res.json["replayed"] != true || e.countEvents(selection.ProjectStream(p1)) != before+1 {
			t.Fatalf("a repeated evaluation appended again: %s", res.Body.String())
		}
		// Evaluations are independent: v2, assigned later, does not see v1's.
		want(t, e.do("POST", base+"/evaluators", admin, `{"evaluator":"v2"}`), http.StatusOK, "")
		e.projectProjects()
		for token, n := range map[string]int{v1: 1, v2: 0, admin: 1, bj: 1} {
			res := e.do("GET", base, token, "")
			want(t, res, http.StatusOK, "")
			if l, _ := res.json["evaluations"].([]any); len(l) != n {
				t.Errorf("sees %d evaluations, want %d: %s", len(l), n, res.Body.String())
			}
		}
	})

	t.Run("Inspection", func(t *testing.T) {
		want(t, e.do("POST", base+"/inspections", admin, `{"date":"2020-01-01"}`), http.StatusUnprocessableEntity, "date")
		want(t, e.do("POST", base+"/inspections", admin, `{"date":"tomorrow"}`), http.StatusUnprocessableEntity, "date")
		date := time.Now().AddDate(0, 0, 7).Format("2006-01-02")
		res := e.do("POST", base+"/inspections", admin, `{"date":"`+date+`","note":"现场检查"}`)
		want(t, res, http.StatusOK, "")
		want(t, e.do("POST", base+"/inspections/I9/findings", admin, `{"findings":"x","conclusion":"good"}`), http.StatusUnprocessableEntity, "inspection_id")
		want(t, e.do("POST", base+"/inspections/I1/findings", admin, `{"findings":"进度符合计划","conclusion":"satisfactory"}`), http.StatusOK, "")
		want(t, e.do("POST", base+"/inspections/I1/findings", admin, `{"findings":"again","conclusion":"good"}`), http.StatusConflict, "inspection_id")
	})

	t.Run("FlagRectifyAccept", func(t *testing.T) {
		want(t, e.do("POST", base+"/flag", admin, `{"reason":"","rectify_by":"2099-01-01"}`), http.StatusUnprocessableEntity, "reason")
		want(t, e.do("POST", base+"/flag", admin, `{"reason":"进度滞后","rectify_by":"2001-01-01"}`), http.StatusUnprocessableEntity, "rectify_by")
		want(t, e.do("POST", base+"/flag", admin, `{"reason":"进度滞后","rectify_by":"2099-01-01"}`), http.StatusOK, "")
		want(t, e.do("POST", base+"/accept", admin, `{"accepted_at":"2025-06-01","conclusion":"通过"}`), http.StatusConflict, "project")
		want(t, e.do("POST", base+"/rectified", admin, `{"note":"已整改"}`), http.StatusOK, "")
		want(t, e.do("POST", base+"/accept", admin, `{"accepted_at":"2025-07-01","conclusion":"通过"}`), http.StatusUnprocessableEntity, "accepted_at")
		want(t, e.do("POST", base+"/accept", admin, `{"accepted_at":"2025-06-30T18:00:00+08:00","conclusion":"通过验收"}`), http.StatusOK, "")
		want(t, e.do("POST", base+"/revoke", admin, `{"reason":"x"}`), http.StatusConflict, "project")
	})

	t.Run("Revoke", func(t *testing.T) {
		p2base := "/api/v1/projects/" + p2
		want(t, e.do("POST", p2base+"/revoke", admin, `{"reason":" "}`), http.StatusUnprocessableEntity, "reason")
		want(t, e.do("POST", p2base+"/revoke", admin, `{"reason":"弄虚作假"}`), http.StatusOK, "")
	})

	t.Run("ReadModelAndTimeline", func(t *testing.T) {
		e.projectProjects()
		res := e.do("GET", base, bj, "")
		want(t, res, http.StatusOK, "")
		if res.str("status") != string(tracking.StatusAccepted) || res.str("school") != "S1" || res.str("acceptance") != "通过验收" {
			t.Fatalf("project: %s", res.Body.String())
		}
		ins, _ := res.json["inspections"].([]any)
		evs, _ := res.json["evaluations"].([]any)
		if len(ins) != 1 || len(evs) != 1 || ins[0].(map[string]any)["conclusion"] != "satisfactory" {
			t.Fatalf("inspections %v evaluations %v", ins, evs)
		}
		res = e.do("GET", "/api/v1/projects?status=revoked", admin, "")
		if got := projectIDs(res); len(got) != 1 || got[0] != p2 {
			t.Fatalf("revoked: %v", got)
		}
		want(t, e.do("GET", "/api/v1/projects?status=gone", admin, ""), http.StatusBadRequest, "status")
		// An ended project takes no evaluator.
		want(t, e.do("POST", "/api/v1/projects/"+p2+"/evaluators", admin, `{"evaluator":"v2"}`), http.StatusConflict, "project")
		res = e.do("GET", base+"/timeline", bj, "")
		want(t, res, http.StatusOK, "")
		entries, _ := res.json["entries"].([]any)
		var types []string
		for _, en := range entries {
			m := en.(map[string]any)
			types = append(types, m["event_type"].(string))
			if !hasHan(m["label"].(string)) {
				t.Errorf("timeline entry %v has no label for users", m)
			}
		}
		wantTypes := []string{selection.TypeProjectCreated, tracking.TypeEvaluatorAssigned, tracking.TypeEvaluationSubmitted, tracking.TypeEvaluatorAssigned,
			tracking.TypeInspectionScheduled, tracking.TypeInspectionRecorded, tracking.TypeProjectFlagged,
			tracking.TypeRectificationConfirmed, tracking.TypeProjectAccepted}
		if len(types) != len(wantTypes) {
			t.Fatalf("timeline %v, want %v", types, wantTypes)
		}
		for i := range types {
			if types[i] != wantTypes[i] {
				t.Fatalf("timeline %v, want %v", types, wantTypes)
			}
		}
		want(t, e.do("GET", base+"/timeline", tj, ""), http.StatusNotFound, "")
	})

	t.Run("Notices", func(t *testing.T) {
		e.projectNotices()
		titles := func(token string) []string {
			res := e.do("GET", "/api/v1/inbox", token, "")
			want(t, res, http.StatusOK, "")
			var out []string
			l, _ := res.json["notifications"].([]any)
			for _, n := range l {
				out = append(out, n.(map[string]any)["title"].(string))
			}
			slices.Sort(out)
			return out
		}
		school := []string{"检查评估安排", "项目整改通知", "项目验收通过"}
		if got := titles(school1); !slices.Equal(got, school) {
			t.Errorf("school's notices %v, want %v", got, school)
		}
		if got := titles(bj); !slices.Equal(got, school) {
			t.Errorf("province's notices %v, want %v", got, school)
		}
		if got := titles(tj); !slices.Equal(got, []string{"项目撤销通知"}) {
			t.Errorf("tj's notices %v", got)
		}
		if got := titles(v1); !slices.Equal(got, []string{"第三方评估任务"}) {
			t.Errorf("evaluator's notices %v", got)
		}
		if got := titles(v2); !slices.Equal(got, []string{"第三方评估任务"}) {
			t.Errorf("second evaluator's notices %v", got)
		}
	})
}
