package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/xuri/excelize/v2"

	"keytask/domain/importrows"
	"keytask/domain/register"
)

// schoolsWorkbook fills the downloaded template's first sheet with rows.
func schoolsWorkbook(t *testing.T, template []byte, rows [][]string) []byte {
	t.Helper()
	f, err := excelize.OpenReader(bytes.NewReader(template))
	if err != nil {
		t.Fatal(err)
	}
	sheet := f.GetSheetName(0)
	for i, row := range rows {
		cell, _ := excelize.CoordinatesToCellName(1, i+2)
		if err := f.SetSheetRow(sheet, cell, &row); err != nil {
			t.Fatal(err)
		}
	}
	var b bytes.Buffer
	if err := f.Write(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

type importReport struct {
	Report struct {
		Added, Updated, Unchanged, Rows int
		Errors                          []importrows.RowError
	} `json:"report"`
}

func (e *env) countAllEvents() int {
	e.t.Helper()
	var n int
	if err := e.d.Pool.QueryRow(context.Background(), `SELECT count(*) FROM events`).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

func TestImportRegisters(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tmpl := e.do("GET", "/api/v1/imports/schools/template.xlsx", e.adminToken, "")
	want(t, tmpl, http.StatusOK, "")
	good := [][]string{
		{"SCH-11-001", "北京市工贸技师学院", "11", "技师学院"},
		{"SCH-11-002", "北京市商务高级技工学校", "北京市", "高级技工学校"},
		{"SCH-12-001", "天津市机电工艺技师学院", "12", "技师学院"},
	}
	bad := append([][]string{}, good...)
	bad = append(bad, []string{"SCH-12-002", "天津某校", "99", "技工学校"}, []string{"SCH-11-001", "重复的学校", "11", "技工学校"},
		[]string{"SCH-13-001", "河北某校", "13", "中专"})
	report := func(res response) importReport {
		t.Helper()
		var r importReport
		if err := json.Unmarshal(res.Body.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	upload := func(path, name string, data []byte) response {
		return e.upload(path, e.adminToken, "file", name, data)
	}

	before := e.countAllEvents()
	t.Run("DryRunListsEveryBadRowAndWritesNothing", func(t *testing.T) {
		res := upload("/api/v1/imports/schools/dry-run", "名录.xlsx", schoolsWorkbook(t, tmpl.Body.Bytes(), bad))
		want(t, res, http.StatusOK, "")
		r := report(res).Report
		wantErrs := []importrows.RowError{{Row: 5, Column: "所在省份"}, {Row: 6, Column: "学校标识"}, {Row: 7, Column: "院校类别"}}
		if len(r.Errors) != len(wantErrs) || r.Added != 3 {
			t.Fatalf("report %+v", r)
		}
		for i, w := range wantErrs {
			if r.Errors[i].Row != w.Row || r.Errors[i].Column != w.Column || !hasHan(r.Errors[i].Reason) {
				t.Errorf("error %d: %+v, want row %d column %s", i, r.Errors[i], w.Row, w.Column)
			}
		}
		if n := e.countAllEvents(); n != before {
			t.Fatalf("dry run appended %d events", n-before)
		}
	})
	t.Run("ImportWithBadRowsWritesNothing", func(t *testing.T) {
		res := upload("/api/v1/imports/schools", "名录.xlsx", schoolsWorkbook(t, tmpl.Body.Bytes(), bad))
		want(t, res, http.StatusUnprocessableEntity, "file")
		if len(report(res).Report.Errors) != 3 || e.countAllEvents() != before {
			t.Fatalf("refused import: %s; %d events appended", res.Body.String(), e.countAllEvents()-before)
		}
	})
	t.Run("ImportTwiceAddsNothing", func(t *testing.T) {
		file := schoolsWorkbook(t, tmpl.Body.Bytes(), good)
		res := upload("/api/v1/imports/schools", "名录.xlsx", file)
		want(t, res, http.StatusOK, "")
		if r := report(res).Report; r.Added != 3 || r.Updated != 0 || e.countAllEvents() != before+3 {
			t.Fatalf("first import %+v, %d events", r, e.countAllEvents()-before)
		}
		res = upload("/api/v1/imports/schools", "名录.xlsx", file)
		if r := report(res).Report; r.Added != 0 || r.Unchanged != 3 || e.countAllEvents() != before+3 {
			t.Fatalf("second import %+v, %d events", r, e.countAllEvents()-before)
		}
	})
	t.Run("ChangedRowIsAnUpdate", func(t *testing.T) {
		csv := "\ufeff学校标识,院校全称,所在省份,院校类别\nSCH-11-001,北京市工贸技师学院,11,技师学院\nSCH-11-002,北京市商务技师学院,11,技师学院\n"
		res := upload("/api/v1/imports/schools", "名录.csv", []byte(csv))
		want(t, res, http.StatusOK, "")
		if r := report(res).Report; r.Updated != 1 || r.Unchanged != 1 || r.Added != 0 {
			t.Fatalf("report %+v", r)
		}
		if n := e.countEvents(register.SchoolStream("SCH-11-002")); n != 2 {
			t.Fatalf("school stream has %d events, want its registration and the update", n)
		}
		got := e.do("GET", "/api/v1/schools/SCH-11-002", e.adminToken, "")
		if s := got.json["school"].(map[string]any); s["name"] != "北京市商务技师学院" || len(got.json["history"].([]any)) != 2 {
			t.Fatalf("school %s", got.Body.String())
		}
	})
	t.Run("ExpertsAndUsers", func(t *testing.T) {
		experts := "专家ID,姓名,所在省份,工作单位学校标识,评审工作量上限,专业水平-YZYX,回避学校\n" +
			"zhang,张三,11,SCH-11-001,20,3,SCH-11-002\nli,李四,,,10,2,\n"
		res := upload("/api/v1/imports/experts", "专家.csv", []byte(experts))
		want(t, res, http.StatusOK, "")
		if r := report(res).Report; r.Added != 2 {
			t.Fatalf("experts %+v", r)
		}
		res = upload("/api/v1/imports/experts", "专家.csv", []byte(experts))
		if r := report(res).Report; r.Unchanged != 2 {
			t.Fatalf("experts again %+v", r)
		}
		users := "用户ID,名称,角色,所属单位\nsch-11-001,北京市工贸技师学院,技工院校,SCH-11-001\nbj,北京市人社局,省级人社厅,北京市\n"
		res = upload("/api/v1/imports/users", "用户.csv", []byte(users))
		want(t, res, http.StatusOK, "")
		if r := report(res).Report; r.Added != 2 || e.countEvents("user-bj") != 1 {
			t.Fatalf("users %+v", r)
		}
		changed := "用户ID,名称,角色,所属单位\nbj,北京市人社局,省级人社厅,12\n"
		res = upload("/api/v1/imports/users", "用户.csv", []byte(changed))
		want(t, res, http.StatusUnprocessableEntity, "file")
	})
	t.Run("ErrFile", func(t *testing.T) {
		want(t, upload("/api/v1/imports/schools", "名录.txt", []byte("x")), http.StatusUnprocessableEntity, "file")
		want(t, upload("/api/v1/imports/schools", "名录.csv", []byte("学校标识,院校全称\nA,B\n")), http.StatusUnprocessableEntity, "file")
		want(t, e.do("GET", "/api/v1/imports/courses/template.xlsx", e.adminToken, ""), http.StatusNotFound, "")
	})
}
