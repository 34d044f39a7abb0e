package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"keytask/domain/register"
	"keytask/projections"
)

// projectSchools brings the school register's read model up to the log.
func (e *env) projectSchools() {
	e.t.Helper()
	if _, err := projections.Rebuild(context.Background(), e.d.Pool, e.store, projections.Schools{}, nil); err != nil {
		e.t.Fatal(err)
	}
}

func TestSchoolRegister(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	bj := e.register(`{"user_id":"bj","name":"北京市人社局","role":"province","organisation":"11"}`)
	e.project()
	body := `{"code":"SCH-11-001","name":"北京市工贸技师学院","province":"11","kind":"技师学院"}`
	stream := register.SchoolStream("SCH-11-001")

	t.Run("OnlyTheMinistryRegisters", func(t *testing.T) {
		want(t, e.do("POST", "/api/v1/schools", bj, body), http.StatusForbidden, "")
		if n := e.countEvents(stream); n != 0 {
			t.Fatalf("%d events after a refused registration", n)
		}
	})
	res := e.do("POST", "/api/v1/schools", e.adminToken, body)
	want(t, res, http.StatusCreated, "")
	t.Run("ReplayAppendsNothing", func(t *testing.T) {
		res := e.do("POST", "/api/v1/schools", e.adminToken, body)
		want(t, res, http.StatusOK, "")
		if res.json["replayed"] != true || e.countEvents(stream) != 1 {
			t.Fatalf("replay: %s, %d events", res.Body.String(), e.countEvents(stream))
		}
	})
	t.Run("ErrCodeTaken", func(t *testing.T) {
		res := e.do("POST", "/api/v1/schools", e.adminToken, `{"code":"SCH-11-001","name":"另一所学校","province":"11","kind":"技工学校"}`)
		want(t, res, http.StatusConflict, "code")
	})
	for _, c := range []struct{ name, body, field string }{
		{"ErrKind", `{"code":"SCH-11-002","name":"某校","province":"11","kind":"职业学院"}`, "kind"},
		{"ErrProvince", `{"code":"SCH-11-002","name":"某校","province":"北京","kind":"技工学校"}`, "province"},
		{"ErrName", `{"code":"SCH-11-002","name":" ","province":"11","kind":"技工学校"}`, "name"},
		{"ErrCode", `{"code":"学校 2","name":"某校","province":"11","kind":"技工学校"}`, "code"},
	} {
		t.Run(c.name, func(t *testing.T) {
			want(t, e.do("POST", "/api/v1/schools", e.adminToken, c.body), http.StatusUnprocessableEntity, c.field)
			if n := e.countEvents(register.SchoolStream("SCH-11-002")); n != 0 {
				t.Fatalf("%d events after bad input", n)
			}
		})
	}
	// Read your writes: the school is there before any projection ran.
	t.Run("ReadAtOnce", func(t *testing.T) {
		res := e.do("GET", "/api/v1/schools/SCH-11-001", bj, "")
		want(t, res, http.StatusOK, "")
		school := res.json["school"].(map[string]any)
		if school["name"] != "北京市工贸技师学院" || school["province_name"] != "北京市" {
			t.Fatalf("school %v", school)
		}
	})
	t.Run("UpdateKeepsHistory", func(t *testing.T) {
		res := e.do("PUT", "/api/v1/schools/SCH-11-001", e.adminToken, `{"name":"北京市工贸技师学院","province":"11","kind":"高级技工学校"}`)
		want(t, res, http.StatusOK, "")
		if res.json["changed"] != true {
			t.Fatalf("update: %s", res.Body.String())
		}
		again := e.do("PUT", "/api/v1/schools/SCH-11-001", e.adminToken, `{"name":"北京市工贸技师学院","province":"11","kind":"高级技工学校"}`)
		if again.json["changed"] != false || e.countEvents(stream) != 2 {
			t.Fatalf("unchanged update: %s, %d events", again.Body.String(), e.countEvents(stream))
		}
		var got struct {
			History []struct {
				Type   string          `json:"type"`
				School register.School `json:"school"`
			} `json:"history"`
		}
		if err := json.Unmarshal(e.do("GET", "/api/v1/schools/SCH-11-001", bj, "").Body.Bytes(), &got); err != nil {
			t.Fatal(err)
		}
		if len(got.History) != 2 || got.History[0].School.Kind != register.KindTechnicianCollege ||
			got.History[1].Type != register.TypeSchoolUpdated || got.History[1].School.Kind != register.KindSeniorTechnicalSchool {
			t.Fatalf("history %+v", got.History)
		}
		want(t, e.do("PUT", "/api/v1/schools/SCH-99-001", e.adminToken, `{"name":"某校","province":"11","kind":"技工学校"}`), http.StatusNotFound, "")
	})
	t.Run("ListByProvince", func(t *testing.T) {
		want(t, e.do("POST", "/api/v1/schools", e.adminToken, `{"code":"SCH-12-001","name":"天津市机电工艺技师学院","province":"12","kind":"技师学院"}`), http.StatusCreated, "")
		e.projectSchools()
		var got struct {
			Schools []projections.SchoolRecord `json:"schools"`
		}
		res := e.do("GET", "/api/v1/schools?province=12", bj, "")
		want(t, res, http.StatusOK, "")
		if err := json.Unmarshal(res.Body.Bytes(), &got); err != nil {
			t.Fatal(err)
		}
		if len(got.Schools) != 1 || got.Schools[0].Code != "SCH-12-001" || got.Schools[0].ProvinceName != "天津市" {
			t.Fatalf("province 12: %+v", got.Schools)
		}
		res = e.do("GET", "/api/v1/schools", bj, "")
		if err := json.Unmarshal(res.Body.Bytes(), &got); err != nil {
			t.Fatal(err)
		}
		if len(got.Schools) != 2 || got.Schools[0].Kind != register.KindSeniorTechnicalSchool || got.Schools[0].Version != 2 {
			t.Fatalf("all: %+v", got.Schools)
		}
		want(t, e.do("GET", "/api/v1/schools?province=北京", bj, ""), http.StatusBadRequest, "province")
	})
}
