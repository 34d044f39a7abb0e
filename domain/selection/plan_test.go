package selection_test

import (
	"maps"
	"testing"
	"time"

	"keytask/domain/intent"
	"keytask/domain/selection"
)

func planFacts() selection.PlanFacts {
	return selection.PlanFacts{
		Exists: true,
		Items: []intent.TaskItem{
			{Item: "2.1", Code: "YZYX", Name: "遴选优质技工院校", Target: 300, Unit: "所", Kind: intent.KindSelection},
			{Item: "4", Code: "JXBZ", Name: "开发教学标准", Kind: intent.KindDevelopment},
		},
		Round:      "r1",
		Undertaken: map[string]int64{"11": 3, "44": 2, "63": 0},
	}
}

func planned() selection.SelectionBatchOpened {
	return selection.SelectionBatchOpened{BatchID: "b1", PlanBatchID: "2022-1", TaskItem: "2.1", Quota: 2,
		Rubric: rubric(), Deadline: t0.Add(48 * time.Hour)}
}

// The quotas default to the filed intent quantities; the task type is the
// item's code; an override keeps its reason and the quantity it replaces.
func TestPlanQuotasFromFiledIntents(t *testing.T) {
	o, err := selection.Plan(planned(), planFacts(), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"11": 3, "44": 2}
	if !maps.Equal(o.ProvinceQuotas, want) || !maps.Equal(o.IntendedQuotas, want) || o.TaskType != "YZYX" || o.IntentRound != "r1" {
		t.Fatalf("planned %+v", o)
	}
	if _, _, err := selection.OpenBatch(o, t0); err != nil {
		t.Fatalf("planned batch refused: %v", err)
	}

	o, err = selection.Plan(planned(), planFacts(), []selection.QuotaOverride{
		{Province: "44", Quota: 4, Reason: "  该省申报踊跃，经研究增加名额 "}, {Province: "11", Quota: 0, Reason: "该省放弃本批次"}})
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(o.ProvinceQuotas, map[string]int{"44": 4}) || !maps.Equal(o.IntendedQuotas, want) {
		t.Fatalf("overridden quotas %v (intended %v)", o.ProvinceQuotas, o.IntendedQuotas)
	}
	if len(o.QuotaOverrides) != 2 || o.QuotaOverrides[0] != (selection.QuotaOverride{Province: "44", Quota: 4, Intended: 2, Reason: "该省申报踊跃，经研究增加名额"}) {
		t.Fatalf("overrides %+v", o.QuotaOverrides)
	}
	_, s, err := selection.OpenBatch(o, t0)
	if err != nil {
		t.Fatal(err)
	}
	// Raising later records the quota it replaces.
	e, err := s.RaiseQuota("44", 5, "补充理由")
	if err != nil || e.From != 4 || e.Quota != 5 {
		t.Fatalf("raise: %+v %v", e, err)
	}
}

func TestPlanRefusals(t *testing.T) {
	noRound := planFacts()
	noRound.Round, noRound.Undertaken = "", nil
	nobody := planFacts()
	nobody.Undertaken = map[string]int64{"63": 0}
	for _, c := range []struct {
		name     string
		edit     func(*selection.SelectionBatchOpened)
		plan     selection.PlanFacts
		over     []selection.QuotaOverride
		conflict bool
		field    string
	}{
		{"no plan batch named", func(o *selection.SelectionBatchOpened) { o.PlanBatchID = " " }, planFacts(), nil, false, "plan_batch_id"},
		{"unknown plan batch", nil, selection.PlanFacts{}, nil, false, "plan_batch_id"},
		{"no task item", func(o *selection.SelectionBatchOpened) { o.TaskItem = "" }, planFacts(), nil, false, "task_item"},
		{"item not in the plan", func(o *selection.SelectionBatchOpened) { o.TaskItem = "9.9" }, planFacts(), nil, false, "task_item"},
		{"development item", func(o *selection.SelectionBatchOpened) { o.TaskItem = "4" }, planFacts(), nil, false, "task_item"},
		{"other task type", func(o *selection.SelectionBatchOpened) { o.TaskType = "YZZY" }, planFacts(), nil, false, "task_type"},
		{"client quotas", func(o *selection.SelectionBatchOpened) { o.ProvinceQuotas = map[string]int{"11": 9} }, planFacts(), nil, false, "province_quotas"},
		{"intents not filed", nil, noRound, nil, true, "plan_batch_id"},
		{"nobody undertook", nil, nobody, nil, true, "plan_batch_id"},
		{"override without reason", nil, planFacts(), []selection.QuotaOverride{{Province: "11", Quota: 5, Reason: " "}}, false, "quota_overrides[0].reason"},
		{"override unknown province", nil, planFacts(), []selection.QuotaOverride{{Province: "99", Quota: 5, Reason: "x"}}, false, "quota_overrides[0].province"},
		{"override repeated", nil, planFacts(), []selection.QuotaOverride{{Province: "11", Quota: 5, Reason: "x"}, {Province: "11", Quota: 6, Reason: "y"}}, false, "quota_overrides[1].province"},
		{"override negative", nil, planFacts(), []selection.QuotaOverride{{Province: "11", Quota: -1, Reason: "x"}}, false, "quota_overrides[0].quota"},
		{"override unchanged", nil, planFacts(), []selection.QuotaOverride{{Province: "11", Quota: 3, Reason: "x"}}, false, "quota_overrides[0].quota"},
	} {
		t.Run(c.name, func(t *testing.T) {
			o := planned()
			if c.edit != nil {
				c.edit(&o)
			}
			_, err := selection.Plan(o, c.plan, c.over)
			refused(t, err, c.conflict, c.field)
		})
	}
}

// A school outside the province's filed 实施单位 is recommended only with a
// reason, which the recommendation keeps; one inside needs none.
func TestOutsideUnitsNeedAReason(t *testing.T) {
	plan := planFacts()
	plan.Units = map[string][]string{"11": {"11-002", "11-001"}, "63": {"63-001"}}
	o, err := selection.Plan(planned(), plan, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := o.Units["63"]; ok || len(o.Units["11"]) != 2 || o.Units["11"][0] != "11-001" {
		t.Fatalf("units handed over %v", o.Units)
	}
	_, s, err := selection.OpenBatch(o, t0)
	if err != nil {
		t.Fatal(err)
	}
	facts := []selection.ApplicationFacts{{ID: "a1", School: "11-001"}, {ID: "a2", School: "11-009"}}
	_, err = s.OutsideUnits("11", []string{"a1", "a2"}, facts, map[string]string{"a1": "无需"})
	refused(t, err, false, "reasons.a2")
	got, err := s.OutsideUnits("11", []string{"a1", "a2"}, facts, map[string]string{"a1": "无需", "a2": " 该校新近升格为技师学院 "})
	if err != nil || len(got) != 1 || got["a2"] != "该校新近升格为技师学院" {
		t.Fatalf("reasons %v, %v", got, err)
	}
	if got, err := s.OutsideUnits("11", []string{"a1"}, facts, nil); err != nil || got != nil {
		t.Fatalf("inside: %v, %v", got, err)
	}
	// A province whose form named none needs no reason.
	if got, err := s.OutsideUnits("44", []string{"a2"}, facts, nil); err != nil || got != nil {
		t.Fatalf("no units: %v, %v", got, err)
	}
}
