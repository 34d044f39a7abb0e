package performance_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"keytask/domain"
	"keytask/domain/identity"
	"keytask/domain/intent"
	"keytask/domain/performance"
)

func raw(s string) json.RawMessage { return json.RawMessage(s) }

func funds(school, industry, sponsor, municipal, provincial string) map[string]json.RawMessage {
	return map[string]json.RawMessage{"school": raw(school), "industry": raw(industry), "sponsor": raw(sponsor),
		"municipal": raw(municipal), "provincial": raw(provincial)}
}

func complete() performance.ReportInput {
	return performance.ReportInput{
		Planned:    funds("100", "20.5", "0", "30", "50"),
		Spent:      funds("90", `"20.5"`, "0", "12.3456", "50"),
		Indicators: map[string]json.RawMessage{"students_enrolled": raw("5200"), "graduate_employment": raw("97"), "teachers_trained": raw("340")},
		Summary:    "完成实训基地改造，新增合作企业 12 家。",
	}
}

func TestEmbeddedCatalogueCoversEverySelectionTask(t *testing.T) {
	for _, code := range []string{"SZJD", "YZYX", "YZZY", "LMJT", "SZZY", "JPKC"} {
		tt, ok := performance.Indicators.For(code)
		if !ok || len(tt.Indicators) == 0 {
			t.Fatalf("no indicators for %s", code)
		}
	}
	for _, want := range []string{"students_enrolled", "teachers_trained", "courses_online"} {
		found := false
		for _, code := range performance.Indicators.Codes() {
			tt, _ := performance.Indicators.For(code)
			for _, in := range tt.Indicators {
				found = found || in.Key == want
			}
		}
		if !found {
			t.Errorf("indicator %s is in no task type", want)
		}
	}
}

func TestParseCatalogueRefusesBadData(t *testing.T) {
	for name, c := range map[string]string{
		"unknown field": `{"version":1,"task_types":{"YZYX":{"name":"x","indicators":[{"key":"a","label":"l","unit":"u","kind":"count","colour":1}]}}}`,
		"no version":    `{"task_types":{"YZYX":{"name":"x","indicators":[{"key":"a","label":"l","unit":"u","kind":"count"}]}}}`,
		"bad code":      `{"version":1,"task_types":{"yzyx":{"name":"x","indicators":[{"key":"a","label":"l","unit":"u","kind":"count"}]}}}`,
		"repeated key":  `{"version":1,"task_types":{"YZYX":{"name":"x","indicators":[{"key":"a","label":"l","unit":"u","kind":"count"},{"key":"a","label":"l","unit":"u","kind":"count"}]}}}`,
		"unknown kind":  `{"version":1,"task_types":{"YZYX":{"name":"x","indicators":[{"key":"a","label":"l","unit":"u","kind":"float"}]}}}`,
		"no label":      `{"version":1,"task_types":{"YZYX":{"name":"x","indicators":[{"key":"a","label":"","unit":"u","kind":"count"}]}}}`,
		"percent max":   `{"version":1,"task_types":{"YZYX":{"name":"x","indicators":[{"key":"a","label":"l","unit":"%","kind":"percent","max":150}]}}}`,
		"no indicators": `{"version":1,"task_types":{"YZYX":{"name":"x","indicators":[]}}}`,
	} {
		if _, err := performance.ParseCatalogue([]byte(c)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestValidateComputesExactTotals(t *testing.T) {
	r, err := performance.Validate(performance.Indicators, "YZYX", complete(), true)
	if err != nil {
		t.Fatal(err)
	}
	if r.PlannedTotal != 2_005_000 || r.SpentTotal != 1_728_456 || r.Spent.Municipal != intent.Yuan(123_456) {
		t.Fatalf("totals %d %d %d", r.PlannedTotal, r.SpentTotal, r.Spent.Municipal)
	}
	if r.Indicators["students_enrolled"] != 5200 || r.Indicators["graduate_employment"] != 97 {
		t.Fatalf("indicators %v", r.Indicators)
	}
}

func TestValidateNamesTheField(t *testing.T) {
	cases := []struct {
		name, field, msg string
		edit             func(*performance.ReportInput)
		draft            bool
	}{
		{"text money", "spent.school", "实际投入（学校自筹）须为非负数", func(in *performance.ReportInput) { in.Spent["school"] = raw(`"abc"`) }, false},
		{"negative", "planned.provincial", "计划投入（省财政投入）须为非负数", func(in *performance.ReportInput) { in.Planned["provincial"] = raw("-1") }, false},
		{"five decimals", "spent.industry", "最多4位小数", func(in *performance.ReportInput) { in.Spent["industry"] = raw("1.00001") }, false},
		{"exponent", "spent.sponsor", "科学计数法", func(in *performance.ReportInput) { in.Spent["sponsor"] = raw("1e3") }, false},
		{"unknown source", "planned.bank", "未知的经费来源", func(in *performance.ReportInput) { in.Planned["bank"] = raw("1") }, true},
		{"missing source", "spent.municipal", "没有投入请填 0", func(in *performance.ReportInput) { delete(in.Spent, "municipal") }, false},
		{"fraction", "indicators.students_enrolled", "在校生人数须为非负整数", func(in *performance.ReportInput) { in.Indicators["students_enrolled"] = raw("1.5") }, true},
		{"percent", "indicators.graduate_employment", "0 到 100", func(in *performance.ReportInput) { in.Indicators["graduate_employment"] = raw("101") }, true},
		{"bound", "indicators.students_enrolled", "不能超过 200000", func(in *performance.ReportInput) { in.Indicators["students_enrolled"] = raw("2000000") }, true},
		{"unknown indicator", "indicators.courses_online", "不支持的指标", func(in *performance.ReportInput) { in.Indicators["courses_online"] = raw("3") }, true},
		{"missing required", "indicators.teachers_trained", "请填写教师培训人次", func(in *performance.ReportInput) { delete(in.Indicators, "teachers_trained") }, false},
		{"no summary", "summary", "请填写年度建设进展", func(in *performance.ReportInput) { in.Summary = "  " }, false},
		{"overspent", "deviation", "学校自筹实际投入 120 万元超过计划投入 100 万元", func(in *performance.ReportInput) { in.Spent["school"] = raw("120") }, false},
		{"long deviation", "deviation", "偏差说明不能超过", func(in *performance.ReportInput) { in.Deviation = strings.Repeat("超", 1001) }, true},
		// Postgres refuses NUL in the read models' text and jsonb columns.
		{"NUL in summary", "summary", "年度建设进展含有无效字符", func(in *performance.ReportInput) { in.Summary = "进展\x00" }, true},
		{"NUL in deviation", "deviation", "偏差说明含有无效字符", func(in *performance.ReportInput) { in.Deviation = "\x00" }, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := complete()
			c.edit(&in)
			_, err := performance.Validate(performance.Indicators, "YZYX", in, !c.draft)
			var fe *domain.FieldError
			if !errors.As(err, &fe) || fe.Field != c.field || !strings.Contains(fe.Message, c.msg) {
				t.Fatalf("got %#v, want field %s with %q", err, c.field, c.msg)
			}
		})
	}
	// A draft may be half filled; the same draft cannot be submitted.
	half := performance.ReportInput{Spent: map[string]json.RawMessage{"school": raw("3")}}
	if _, err := performance.Validate(performance.Indicators, "YZYX", half, false); err != nil {
		t.Fatalf("draft refused: %v", err)
	}
	if _, err := performance.Validate(performance.Indicators, "YZYX", half, true); err == nil {
		t.Fatal("half a report submitted")
	}
	// Overspending with an explanation is accepted.
	in := complete()
	in.Spent["school"], in.Deviation = raw("120"), "追加设备采购"
	if _, err := performance.Validate(performance.Indicators, "YZYX", in, true); err != nil {
		t.Fatal(err)
	}
	if _, err := performance.Validate(performance.Indicators, "JXBZ", in, false); err == nil {
		t.Fatal("a task type without indicators accepted a report")
	}
}

func TestReportLifecycle(t *testing.T) {
	deadline := time.Date(2022, 12, 31, 9, 0, 0, 0, time.FixedZone("CST", 8*3600))
	c := performance.NewCollection(2022, deadline, []performance.ReportOpened{
		{ProjectID: "p1", TaskType: "YZYX", School: "s1", Province: "11"},
		{ProjectID: "p2", TaskType: "YZYX", School: "s2", Province: "44"},
	})
	school := performance.Actor{Role: identity.RoleSchool, Organisation: "s1"}
	ministry := performance.Actor{Role: identity.RoleMinistry, Organisation: identity.MinistryOrganisation}
	before := deadline.Add(-time.Hour)

	conflict := func(err error) bool { var ce *domain.ConflictError; return errors.As(err, &ce) }
	if _, err := c.Submit("p1", performance.Actor{Role: identity.RoleSchool, Organisation: "s2"}, complete(), before); !conflict(err) {
		t.Fatalf("another school submitted: %v", err)
	}
	if _, err := c.Return("p1", ministry, "x"); !conflict(err) {
		t.Fatalf("returned an open report: %v", err)
	}
	d, err := c.SaveDraft("p1", school, performance.ReportInput{}, before)
	must(t, err, c.Apply(d))
	s, err := c.Submit("p1", school, complete(), before)
	must(t, err, c.Apply(s))
	if s.Submission != 1 || s.Late {
		t.Fatalf("first submission %+v", s)
	}
	if _, err := c.SaveDraft("p1", school, performance.ReportInput{}, before); !conflict(err) {
		t.Fatalf("edited a submitted report: %v", err)
	}
	if _, err := c.Return("p1", school, "x"); !conflict(err) {
		t.Fatalf("a school returned a report: %v", err)
	}
	var fe *domain.FieldError
	if _, err := c.Return("p1", ministry, " "); !errors.As(err, &fe) || fe.Field != "reason" {
		t.Fatalf("return without reason: %v", err)
	}
	if _, err := c.Return("p1", ministry, "经费\x00不符"); !errors.As(err, &fe) || fe.Field != "reason" || !strings.Contains(fe.Message, "无效字符") {
		t.Fatalf("return with a NUL in its reason: %v", err)
	}
	ret, err := c.Return("p1", ministry, "经费数据与财务报表不一致")
	must(t, err, c.Apply(ret))
	// Resubmitted after the deadline: answered in time, so not late.
	s2, err := c.Submit("p1", school, complete(), deadline.Add(time.Hour))
	must(t, err, c.Apply(s2))
	if s2.Submission != 2 || s2.Late {
		t.Fatalf("resubmission %+v", s2)
	}
	lock, err := c.Lock("p1", ministry)
	must(t, err, c.Apply(lock))
	if _, err := c.Return("p1", ministry, "again"); !conflict(err) {
		t.Fatalf("returned a locked report: %v", err)
	}

	if m := c.Missing(); len(m) != 1 || m[0].ProjectID != "p2" {
		t.Fatalf("missing %v", m)
	}
	if e := c.Escalations(); len(e) != 1 || e[0].Province != "44" || e[0].Projects[0] != "p2" {
		t.Fatalf("escalations %+v", e)
	}
	must(t, nil, c.Apply(performance.ReportMarkedLate{Year: 2022, ProjectID: "p2"}))
	late, err := c.Submit("p2", performance.Actor{Role: identity.RoleSchool, Organisation: "s2"}, complete(), deadline.Add(time.Hour))
	must(t, err, c.Apply(late))
	if !late.Late {
		t.Fatal("a submission after the deadline is not late")
	}
	if sum := c.Summary(); sum != (performance.CollectionClosed{Year: 2022, Projects: 2, Submitted: 2, Late: 1}) {
		t.Fatalf("summary %+v", sum)
	}
	must(t, nil, c.Apply(c.Summary()))
	if _, err := c.Lock("p2", ministry); !conflict(err) {
		t.Fatalf("locked after close: %v", err)
	}
}

func must(t *testing.T, errs ...error) {
	t.Helper()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}
