package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"keytask/domain/intent"
	"keytask/events"
	"keytask/exports"
	"keytask/projections"
)

// batch1CSV is the notice's first batch in the reference layout.
const batch1CSV = `item,code,name,target,unit,kind
1,SZJD,遴选技工教育思想政治理论课师资研修基地,30,个,selection
2.1,YZYX,遴选优质技工院校,300,所,selection
2.2,YZZY,遴选优质专业,500,个,selection
3,LMJT,打造技工教育联盟（集团）,100,个,selection
4,JXBZ,开发《技工院校XX专业教学标准》,,,development
5,GHJC,开发全国技工教育规划教材,,,development
6,SZZY,遴选技工教育数字化资源建设与应用优秀院校,100,所,selection
7,JPKC,遴选技工教育精品在线课程,500,门,selection
`

var intentProjections = []projections.Projection{projections.IntentPlan{}, projections.IntentLiaisons{}, projections.IntentRounds{}}

// projectAll brings every read model the intent endpoints use up to date:
// users as env.project does, the intent models by rebuilding them.
func (e *env) projectAll() {
	e.t.Helper()
	e.project()
	for _, p := range intentProjections {
		if _, err := projections.Rebuild(context.Background(), e.d.Pool, e.store, p, nil); err != nil {
			e.t.Fatal(err)
		}
	}
}

// users registers a province user for Beijing (11) and Tianjin (12) and an
// auditor, and returns their tokens.
func (e *env) users() (bj, tj, auditor string) {
	e.t.Helper()
	bj = e.register(`{"user_id":"bj","name":"北京市人社局","role":"province","organisation":"11"}`)
	tj = e.register(`{"user_id":"tj","name":"天津市人社局","role":"province","organisation":"12"}`)
	auditor = e.register(`{"user_id":"audit","name":"审计员","role":"auditor","organisation":"审计署"}`)
	e.project()
	return bj, tj, auditor
}

func jsonBody(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestPlanBatchAPI(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	bj, _, auditor := e.users()
	open := jsonBody(t, map[string]any{"batch_id": "2022-1", "name": "第一批重点任务", "items_csv": batch1CSV})
	stream := intent.PlanStream("2022-1")

	t.Run("Scope", func(t *testing.T) {
		want(t, e.do("POST", "/api/v1/plan-batches", bj, open), http.StatusForbidden, "")
		want(t, e.do("POST", "/api/v1/plan-batches", auditor, open), http.StatusForbidden, "")
		if n := e.countEvents(stream); n != 0 {
			t.Fatalf("%d events after refused requests", n)
		}
	})
	t.Run("ErrFieldAppendsNothing", func(t *testing.T) {
		bad := strings.Replace(batch1CSV, "2.2,YZZY", "2.2,yzzy", 1)
		res := e.do("POST", "/api/v1/plan-batches", e.adminToken, jsonBody(t, map[string]any{"batch_id": "2022-1", "name": "第一批", "items_csv": bad}))
		want(t, res, http.StatusUnprocessableEntity, "items[2].code")
		res = e.do("POST", "/api/v1/plan-batches", e.adminToken, `{"batch_id":"2022-1","name":"第一批","items":[{"item":"1","code":"AA","name":"x","target":0,"unit":"个","kind":"selection"}]}`)
		want(t, res, http.StatusUnprocessableEntity, "items[0].target")
		res = e.do("POST", "/api/v1/plan-batches", e.adminToken, `{"batch_id":"2022-1","name":"第一批","items_csv":"x","items":[{"item":"1"}]}`)
		want(t, res, http.StatusUnprocessableEntity, "items_csv")
		res = e.do("POST", "/api/v1/plan-batches", e.adminToken, `{"batch_id":"2022-1","name":"第一批","note":"x"}`)
		want(t, res, http.StatusBadRequest, "note")
		res = e.do("POST", "/api/v1/plan-batches", e.adminToken, `{"batch_id":"2022-1","name":"第一批","items":[{"item":"1","target":"三十"}]}`)
		want(t, res, http.StatusBadRequest, "items.target")
		if n := e.countEvents(stream); n != 0 {
			t.Fatalf("%d events after refused requests", n)
		}
	})
	t.Run("OpenOnceReplayTwice", func(t *testing.T) {
		res := e.do("POST", "/api/v1/plan-batches", e.adminToken, open)
		want(t, res, http.StatusCreated, "")
		if items := res.json["items"].([]any); len(items) != 8 {
			t.Fatalf("%d items", len(items))
		}
		res = e.do("POST", "/api/v1/plan-batches", e.adminToken, open)
		want(t, res, http.StatusOK, "")
		if res.json["replayed"] != true {
			t.Fatalf("repeat not reported as replayed: %s", res.Body)
		}
		other := jsonBody(t, map[string]any{"batch_id": "2022-1", "name": "另一批", "items_csv": batch1CSV})
		want(t, e.do("POST", "/api/v1/plan-batches", e.adminToken, other), http.StatusConflict, "batch_id")
		if n := e.countEvents(stream); n != 1 {
			t.Fatalf("%d events, want 1", n)
		}
	})
	t.Run("AddItems", func(t *testing.T) {
		add := `{"items":[{"item":"8","code":"XNFZ","name":"建设虚拟仿真实训基地","target":50,"unit":"个","kind":"selection"}]}`
		want(t, e.do("POST", "/api/v1/plan-batches/2022-1/items", e.adminToken, add, "Idempotency-Key", "add-8"), http.StatusCreated, "")
		res := e.do("POST", "/api/v1/plan-batches/2022-1/items", e.adminToken, add, "Idempotency-Key", "add-8")
		want(t, res, http.StatusOK, "")
		if res.json["replayed"] != true {
			t.Fatalf("retry not replayed: %s", res.Body)
		}
		// Without a key the id derives from the content: still one effect.
		want(t, e.do("POST", "/api/v1/plan-batches/2022-1/items", e.adminToken, add), http.StatusUnprocessableEntity, "items[0].item")
		want(t, e.do("POST", "/api/v1/plan-batches/2022-1/items", e.adminToken,
			`{"items":[{"item":"9","code":"YZYX","name":"重复代码","target":1,"unit":"个","kind":"selection"}]}`), http.StatusUnprocessableEntity, "items[0].code")
		want(t, e.do("POST", "/api/v1/plan-batches/2022-1/items", e.adminToken,
			`{"items":[{"item":"9","code":"NEW9","name":"另一项","target":1,"unit":"个","kind":"selection"}]}`, "Idempotency-Key", "add-8"),
			http.StatusUnprocessableEntity, "Idempotency-Key")
		want(t, e.do("POST", "/api/v1/plan-batches/nope/items", e.adminToken, add), http.StatusNotFound, "")
		if n := e.countEvents(stream); n != 2 {
			t.Fatalf("%d events, want 2", n)
		}
	})
	t.Run("ReadCatalogue", func(t *testing.T) {
		e.projectAll()
		res := e.do("GET", "/api/v1/plan-batches/2022-1", bj, "")
		want(t, res, http.StatusOK, "")
		items := res.json["items"].([]any)
		if len(items) != 9 || items[1].(map[string]any)["code"] != "YZYX" || items[4].(map[string]any)["kind_label"] != "开发类" {
			t.Fatalf("items %v", items)
		}
		want(t, e.do("GET", "/api/v1/plan-batches/nope", bj, ""), http.StatusNotFound, "")
	})
}

func TestLiaisonAPI(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	bj, tj, auditor := e.users()
	deadline := time.Now().AddDate(1, 0, 0).In(time.FixedZone("CST", 8*3600)).Format("2006-01-02 15:04")

	t.Run("Deadline", func(t *testing.T) {
		body := `{"deadline":"` + deadline + `"}`
		want(t, e.do("PUT", "/api/v1/liaison-deadline", bj, body), http.StatusForbidden, "")
		want(t, e.do("PUT", "/api/v1/liaison-deadline", e.adminToken, `{"deadline":"2022-04-27 18:00"}`), http.StatusUnprocessableEntity, "deadline")
		want(t, e.do("PUT", "/api/v1/liaison-deadline", e.adminToken, `{"deadline":"4月27日"}`), http.StatusUnprocessableEntity, "deadline")
		want(t, e.do("PUT", "/api/v1/liaison-deadline", e.adminToken, body), http.StatusOK, "")
		res := e.do("PUT", "/api/v1/liaison-deadline", e.adminToken, body)
		want(t, res, http.StatusOK, "")
		if res.json["replayed"] != true || e.countEvents(intent.LiaisonDeadlineStream) != 1 {
			t.Fatalf("setting the same deadline again appended: %s", res.Body)
		}
	})
	t.Run("Register", func(t *testing.T) {
		body := `{"name":"晋晓磊","phone":"010-84208450","email":"jin@bj.gov.cn"}`
		want(t, e.do("PUT", "/api/v1/provinces/11/liaison", tj, body), http.StatusNotFound, "")
		want(t, e.do("PUT", "/api/v1/provinces/11/liaison", auditor, body), http.StatusForbidden, "")
		want(t, e.do("PUT", "/api/v1/provinces/11/liaison", bj, `{"name":"晋晓磊","phone":"84208450","email":"jin@bj.gov.cn"}`), http.StatusUnprocessableEntity, "phone")
		want(t, e.do("PUT", "/api/v1/provinces/11/liaison", bj, `{"name":"晋晓磊","phone":"13812345678","email":"jin"}`), http.StatusUnprocessableEntity, "email")
		want(t, e.do("PUT", "/api/v1/provinces/11/liaison", bj, `{"name":"","phone":"13812345678","email":"jin@bj.gov.cn"}`), http.StatusUnprocessableEntity, "name")
		if n := e.countEvents(intent.LiaisonStream("11")); n != 0 {
			t.Fatalf("%d events after refused requests", n)
		}
		want(t, e.do("PUT", "/api/v1/provinces/11/liaison", bj, body), http.StatusOK, "")
		res := e.do("PUT", "/api/v1/provinces/11/liaison", bj, body)
		if res.json["replayed"] != true || e.countEvents(intent.LiaisonStream("11")) != 1 {
			t.Fatalf("registering the same liaison again appended: %s", res.Body)
		}
		// A later registration replaces the earlier one.
		want(t, e.do("PUT", "/api/v1/provinces/11/liaison", bj, `{"name":"安波","phone":"010-64961964","email":"an@bj.gov.cn"}`), http.StatusOK, "")
		// The ministry may register for a province.
		want(t, e.do("PUT", "/api/v1/provinces/12/liaison", e.adminToken, `{"name":"王五","phone":"022-12345678","email":"w@tj.gov.cn"}`), http.StatusOK, "")
		want(t, e.do("PUT", "/api/v1/provinces/99/liaison", e.adminToken, body), http.StatusUnprocessableEntity, "province")
	})
	t.Run("List", func(t *testing.T) {
		e.projectAll()
		want(t, e.do("GET", "/api/v1/liaisons", bj, ""), http.StatusForbidden, "")
		res := e.do("GET", "/api/v1/liaisons", auditor, "")
		want(t, res, http.StatusOK, "")
		ls := res.json["liaisons"].([]any)
		first := ls[0].(map[string]any)
		if len(ls) != 2 || first["name"] != "安波" || first["registrations"] != float64(2) || first["late"] != false {
			t.Fatalf("liaisons %v", ls)
		}
		if missing := res.json["missing"].([]any); len(missing) != 30 || missing[0].(map[string]any)["code"] != "13" {
			t.Fatalf("missing %v", missing)
		}
		if res.json["deadline"] == nil {
			t.Fatal("no deadline")
		}
	})
}

// recordRound writes a round to the log as the workflow would: Beijing
// submitted, Tianjin saved a draft.
func recordRound(t *testing.T, e *env) (bj intent.Form) {
	t.Helper()
	items, err := intent.ParseTaskItemsCSV(strings.NewReader(batch1CSV))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	add := func(stream, typ string, payload any, actor, role, org string) {
		t.Helper()
		n++
		if _, err := e.store.Append(context.Background(), stream, events.AnyVersion, events.NewEvent{
			ID: events.DeriveID("api-intent-test", fmt.Sprint(n)), Type: typ, SchemaVersion: 1, Data: []byte(jsonBody(t, payload)),
			Metadata: events.Metadata{ActorID: actor, Role: role, Organisation: org},
		}); err != nil {
			t.Fatal(err)
		}
	}
	add(intent.RoundStream("r1"), intent.TypeIntentRoundOpened, intent.IntentRoundOpened{RoundID: "r1", BatchID: "2022-1", Items: items,
		Deadline: time.Date(2030, 6, 15, 10, 0, 0, 0, time.UTC)}, "admin", "ministry", "MOHRSS")
	in := intent.FormInput{}
	if err := json.Unmarshal([]byte(`{"lines":[
		{"item":"1","undertake":true,"quantity":2,"funds":{"school":"0.0001","provincial":"99999999.9999"}},
		{"item":"2.1","undertake":true,"quantity":15,"funds":{"school":1234.5678,"industry":"12.3","municipal":"0.5"}},
		{"item":"4","undertake":true,"quantity":2,"funds":{"sponsor":"7"}}]}`), &in); err != nil {
		t.Fatal(err)
	}
	bj, err = intent.Validate(items, in)
	if err != nil {
		t.Fatal(err)
	}
	add(intent.FormStream("r1", "11"), intent.TypeIntentSubmitted, intent.IntentSubmitted{RoundID: "r1", Province: "11", Form: bj}, "bj", "province", "11")
	draft, err := intent.Validate(items, intent.FormInput{})
	if err != nil {
		t.Fatal(err)
	}
	add(intent.FormStream("r1", "12"), intent.TypeIntentDraftSaved, intent.IntentDraftSaved{RoundID: "r1", Province: "12", Form: draft}, "tj", "province", "12")
	e.projectAll()
	return bj
}

func TestIntentReadsAndExports(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	bj, tj, auditor := e.users()
	form := recordRound(t, e)
	const base = "/api/v1/intent-rounds/r1"

	t.Run("Scope", func(t *testing.T) {
		for _, p := range []string{"/form", "/form/history", "/form.xlsx", "/form/print"} {
			want(t, e.do("GET", base+"/provinces/11"+p, tj, ""), http.StatusNotFound, "")
			want(t, e.do("GET", base+"/provinces/11"+p, bj, ""), http.StatusOK, "")
			want(t, e.do("GET", base+"/provinces/11"+p, auditor, ""), http.StatusOK, "")
			want(t, e.do("GET", base+"/provinces/11"+p, e.adminToken, ""), http.StatusOK, "")
		}
		// Writes another province's form: refused before Temporal is asked.
		body := `{"lines":[]}`
		want(t, e.do("PUT", base+"/provinces/11/draft", tj, body), http.StatusNotFound, "")
		want(t, e.do("POST", base+"/provinces/11/submit", tj, body), http.StatusNotFound, "")
		want(t, e.do("PUT", base+"/provinces/11/draft", auditor, body), http.StatusForbidden, "")
		want(t, e.do("POST", base+"/provinces/11/return", bj, `{"reason":"x"}`), http.StatusForbidden, "")
		for _, p := range []string{"/summary", "/summary.xlsx", "/missing", ""} {
			want(t, e.do("GET", base+p, bj, ""), http.StatusForbidden, "")
			want(t, e.do("GET", base+p, auditor, ""), http.StatusOK, "")
		}
		want(t, e.do("GET", "/api/v1/intent-rounds/nope/summary", auditor, ""), http.StatusNotFound, "")
		want(t, e.do("GET", base+"/provinces/99/form", auditor, ""), http.StatusNotFound, "")
	})

	t.Run("Form", func(t *testing.T) {
		res := e.do("GET", base+"/provinces/11/form", bj, "")
		want(t, res, http.StatusOK, "")
		if res.json["status"] != "submitted" || res.json["province_name"] != "北京市" {
			t.Fatalf("form %s", res.Body)
		}
		total := res.json["total"].(map[string]any)
		if total["yuan"] != float64(form.Total) || total["wan"] != form.Total.WanFixed() {
			t.Fatalf("total %v, want %d yuan", total, form.Total)
		}
		lines := res.json["lines"].([]any)
		if len(lines) != 8 || lines[1].(map[string]any)["name"] != "遴选优质技工院校" {
			t.Fatalf("lines %v", lines)
		}
		h := e.do("GET", base+"/provinces/11/form/history", bj, "")
		if entries := h.json["entries"].([]any); len(entries) != 1 || entries[0].(map[string]any)["action"] != "submit" {
			t.Fatalf("history %s", h.Body)
		}
	})

	t.Run("FormXLSXMatchesReadModel", func(t *testing.T) {
		res := e.do("GET", base+"/provinces/11/form.xlsx", bj, "")
		want(t, res, http.StatusOK, "")
		if ct := res.Header().Get("Content-Type"); !strings.Contains(ct, "spreadsheetml") {
			t.Fatalf("content type %q", ct)
		}
		if cd := res.Header().Get("Content-Disposition"); !strings.Contains(cd, "filename*=UTF-8''") {
			t.Fatalf("content disposition %q", cd)
		}
		v, err := projections.GetForm(context.Background(), e.d.Pool, "r1", "11")
		if err != nil {
			t.Fatal(err)
		}
		f := openXLSX(t, res.Body.Bytes())
		for i, l := range v.Lines {
			row := exports.FormFirstRow + i
			wantNumber(t, f, exports.FormSheet, exports.FormTotalCol, row, l.Total.Wan())
			for j, src := range intent.Sources {
				wantNumber(t, f, exports.FormSheet, exports.FormSourceCol+j, row, l.Funds.Get(src).Wan())
			}
		}
		wantNumber(t, f, exports.FormSheet, exports.FormTotalCol, exports.FormFirstRow+len(v.Lines), v.Total.Wan())
		wantNumber(t, f, exports.FormSheet, 4, exports.FormFirstRow+1, "15") // 承接数量 of 2.1
	})

	t.Run("SummaryXLSXMatchesReadModel", func(t *testing.T) {
		res := e.do("GET", base+"/summary.xlsx", auditor, "")
		want(t, res, http.StatusOK, "")
		s, err := projections.GetSummary(context.Background(), e.d.Pool, "r1")
		if err != nil {
			t.Fatal(err)
		}
		f := openXLSX(t, res.Body.Bytes())
		for i, it := range s.Items {
			row := exports.SummaryFirstRow + i
			wantNumber(t, f, exports.SummarySheet, exports.SummaryProvinceCol, row, fmt.Sprint(it.Provinces))
			wantNumber(t, f, exports.SummarySheet, exports.SummaryTotalCol, row, it.Total.Wan())
			for j, src := range intent.Sources {
				wantNumber(t, f, exports.SummarySheet, exports.SummarySourceCol+j, row, it.Funds.Get(src).Wan())
			}
		}
		wantNumber(t, f, exports.SummarySheet, exports.SummaryTotalCol, exports.SummaryFirstRow+len(s.Items), s.Total.Wan())
		if s.Total != form.Total {
			t.Fatalf("summary total %s, want Beijing's %s (Tianjin only saved a draft)", s.Total.Wan(), form.Total.Wan())
		}
	})

	t.Run("SummaryJSON", func(t *testing.T) {
		res := e.do("GET", base+"/summary", e.adminToken, "")
		want(t, res, http.StatusOK, "")
		items := res.json["items"].([]any)
		yzyx := items[1].(map[string]any)
		cov := yzyx["coverage"].(map[string]any)
		if yzyx["provinces"] != float64(1) || cov["quantity"] != float64(15) || cov["target"] != float64(300) || cov["percent"] != "5.00" {
			t.Fatalf("2.1 %v", yzyx)
		}
		if items[4].(map[string]any)["coverage"] != nil {
			t.Fatal("a development task has a coverage")
		}
		if res.json["submitted_count"] != float64(1) || len(res.json["missing"].([]any)) != 31 {
			t.Fatalf("summary %v", res.json)
		}
		m := e.do("GET", base+"/missing", e.adminToken, "")
		first := m.json["missing"].([]any)[0].(map[string]any)
		if first["code"] != "12" || first["status"] != "draft" {
			t.Fatalf("missing %s", m.Body)
		}
	})

	t.Run("PrintPage", func(t *testing.T) {
		res := e.do("GET", base+"/provinces/11/form/print", bj, "")
		want(t, res, http.StatusOK, "")
		if ct := res.Header().Get("Content-Type"); ct != "text/html; charset=utf-8" {
			t.Fatalf("content type %q", ct)
		}
		page := res.Body.String()
		for _, h := range []string{exports.FormTitle, "北京市", "序号", "工作任务", "是否承接", "承接数量", "预计投入经费（单位：万元）",
			"投入经费汇总", "学校自筹", "行业企业投入", "举办方投入", "地市县投入", "省财政投入", "@page", form.Total.WanFixed()} {
			if !strings.Contains(page, h) {
				t.Errorf("print page lacks %q", h)
			}
		}
	})

	t.Run("CommandsWithoutTemporal", func(t *testing.T) {
		want(t, e.do("PUT", base+"/provinces/11/draft", bj, `{"lines":[]}`), http.StatusServiceUnavailable, "")
	})
}

func openXLSX(t *testing.T, b []byte) *excelize.File {
	t.Helper()
	f, err := excelize.OpenReader(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("the workbook does not open: %v", err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// wantNumber checks that a cell is numeric and holds exactly want.
func wantNumber(t *testing.T, f *excelize.File, sheet string, col, row int, want string) {
	t.Helper()
	c, err := excelize.CoordinatesToCellName(col, row)
	if err != nil {
		t.Fatal(err)
	}
	typ, err := f.GetCellType(sheet, c)
	if err != nil {
		t.Fatal(err)
	}
	if typ != excelize.CellTypeUnset && typ != excelize.CellTypeNumber {
		t.Fatalf("%s!%s has type %v, want a number", sheet, c, typ)
	}
	got, err := f.GetCellValue(sheet, c, excelize.Options{RawCellValue: true})
	if err != nil || got != want {
		t.Fatalf("%s!%s = %q, %v; want %s", sheet, c, got, err, want)
	}
}
