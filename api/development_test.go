package api_test

import (
	"net/http"
	"testing"

	"keytask/domain/development"
)

// A development project of item 4 assigned from the school register, its
// milestones recorded in order, read by its province and lead unit; bad input
// names the field and writes nothing.
func TestDevelopmentProjectWithMilestones(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	bj := e.register(`{"user_id":"bj","name":"北京市人社局","role":"province","organisation":"11"}`)
	gd := e.register(`{"user_id":"gd","name":"广东省人社厅","role":"province","organisation":"44"}`)
	lead := e.register(`{"user_id":"lead","name":"北京市工贸技师学院","role":"school","organisation":"SCH-11-001"}`)
	e.project()
	for _, body := range []string{
		`{"code":"SCH-11-001","name":"北京市工贸技师学院","province":"11","kind":"技师学院"}`,
		`{"code":"SCH-44-001","name":"广州市工贸技师学院","province":"44","kind":"技师学院"}`,
	} {
		want(t, e.do("POST", "/api/v1/schools", e.adminToken, body), http.StatusCreated, "")
	}
	stream := development.ProjectStream("JXBZ-11-1")
	for _, c := range []struct{ name, body, field string }{
		{"ErrLeadNotRegistered", `{"project_id":"JXBZ-11-1","task_type":"JXBZ","title":"数控加工专业教学标准","province":"11","lead_unit":"SCH-11-999"}`, "lead_unit"},
		{"ErrLeadOfAnotherProvince", `{"project_id":"JXBZ-11-1","task_type":"JXBZ","title":"数控加工专业教学标准","province":"11","lead_unit":"SCH-44-001"}`, "lead_unit"},
		{"ErrParticipant", `{"project_id":"JXBZ-11-1","task_type":"JXBZ","title":"数控加工专业教学标准","province":"11","lead_unit":"SCH-11-001","participants":["SCH-44-001","X"]}`, "participants[1]"},
		{"ErrTaskType", `{"project_id":"JXBZ-11-1","task_type":"YZYX","title":"数控加工专业教学标准","province":"11","lead_unit":"SCH-11-001"}`, "task_type"},
	} {
		t.Run(c.name, func(t *testing.T) {
			want(t, e.do("POST", "/api/v1/development-projects", e.adminToken, c.body), http.StatusUnprocessableEntity, c.field)
			if n := e.countEvents(stream); n != 0 {
				t.Fatalf("%d events after bad input", n)
			}
		})
	}
	body := `{"project_id":"JXBZ-11-1","plan_batch_id":"2022-1","task_type":"JXBZ","title":"数控加工专业教学标准","province":"11","lead_unit":"SCH-11-001","participants":["SCH-44-001"]}`
	want(t, e.do("POST", "/api/v1/development-projects", bj, body), http.StatusForbidden, "")
	res := e.do("POST", "/api/v1/development-projects", e.adminToken, body)
	want(t, res, http.StatusCreated, "")
	if res.str("lead_unit_name") != "北京市工贸技师学院" || res.str("task_item") != "4" || res.str("next_milestone_label") != "编写" {
		t.Fatalf("assigned %s", res.Body.String())
	}
	if again := e.do("POST", "/api/v1/development-projects", e.adminToken, body); again.Code != http.StatusOK || e.countEvents(stream) != 1 {
		t.Fatalf("replay: %d, %d events", again.Code, e.countEvents(stream))
	}

	base := "/api/v1/development-projects/JXBZ-11-1"
	want(t, e.do("POST", base+"/milestones", e.adminToken, `{"milestone":"approved","date":"2023-09-01"}`), http.StatusUnprocessableEntity, "milestone")
	want(t, e.do("POST", base+"/milestones", e.adminToken, `{"milestone":"drafted","date":"2999-01-01"}`), http.StatusUnprocessableEntity, "date")
	want(t, e.do("POST", base+"/milestones", lead, `{"milestone":"drafted","date":"2023-09-01"}`), http.StatusForbidden, "")
	for _, m := range []string{`{"milestone":"drafted","date":"2023-09-01"}`, `{"milestone":"approved","date":"2023-12-01","reference":"人社职司函〔2023〕1号"}`,
		`{"milestone":"published","date":"2024-03-01","note":"部发布"}`} {
		want(t, e.do("POST", base+"/milestones", e.adminToken, m), http.StatusOK, "")
	}
	want(t, e.do("POST", base+"/milestones", e.adminToken, `{"milestone":"published","date":"2024-03-02"}`), http.StatusConflict, "milestone")
	if n := e.countEvents(stream); n != 4 {
		t.Fatalf("%d events, want the assignment and three milestones", n)
	}

	for _, who := range []string{e.adminToken, bj, lead} {
		got := e.do("GET", base, who, "")
		want(t, got, http.StatusOK, "")
		ms, _ := got.json["milestones"].([]any)
		if len(ms) != 3 || got.json["published"] != true {
			t.Fatalf("read: %s", got.Body.String())
		}
		if last, _ := ms[2].(map[string]any); last["label"] != "发布" {
			t.Fatalf("the standard's last milestone is %v", last["label"])
		}
	}
	want(t, e.do("GET", base, gd, ""), http.StatusNotFound, "")
}
