package notifications

import (
	"strings"
	"testing"

	"keytask/domain/identity"
	"keytask/domain/selection"
)

func TestRenderSelection(t *testing.T) {
	f := selectionFacts{apps: map[string]selectionApp{"A1": {school: "S1", title: "一校申报"}, "A2": {school: "S2", title: "二校申报"}},
		batch: []string{"A1", "A2"}}
	t.Run("returned names the reason and the correction deadline", func(t *testing.T) {
		ns, _ := renderSelection("ev", "B1", selection.QualificationDecided{Decisions: []selection.QualificationDecision{
			{Application: "A1", Outcome: selection.Passed},
			{Application: "A2", Outcome: selection.Returned, Reason: "缺少佐证材料", Until: at("2025-03-10 09:00")}}}, f)
		if len(ns) != 1 || ns[0].to.roles[0] != (roleOrg{identity.RoleSchool, "S2"}) ||
			!strings.Contains(ns[0].body, "缺少佐证材料") || !strings.Contains(ns[0].body, "2025年3月10日 09:00") || !strings.Contains(ns[0].body, "二校申报") {
			t.Errorf("%+v", ns)
		}
	})
	t.Run("opening tells each province with a quota, with its liaison", func(t *testing.T) {
		ns, _ := renderSelection("ev", "B1", selection.SelectionBatchOpened{BatchID: "B1", TaskItem: "2.1",
			ProvinceQuotas: map[string]int{"11": 2, "12": 0, "44": 1}, Deadline: at("2025-03-05 17:00")}, f)
		if len(ns) != 2 || ns[0].to.liaisonOf != "11" || ns[1].to.liaisonOf != "44" || ns[0].dedup == ns[1].dedup ||
			!strings.Contains(ns[0].body, "推荐名额为 2 份") {
			t.Errorf("%+v", ns)
		}
	})
	t.Run("an objection reaches the ministry without the objector's personal data", func(t *testing.T) {
		ns, _ := renderSelection("ev", "B1", selection.ObjectionFiled{ObjectionID: "o1", Application: "A1", Name: "王异议", Contact: "137", Text: "x"}, f)
		if len(ns) != 1 || ns[0].to.roles[0].role != identity.RoleMinistry || strings.Contains(ns[0].body, "王异议") || strings.Contains(ns[0].body, "137") {
			t.Errorf("%+v", ns)
		}
	})
	t.Run("publication tells every applicant its own result", func(t *testing.T) {
		ns, _ := renderSelection("ev", "B1", selection.SelectionBatchPublished{List: []string{"A2"}}, f)
		if len(ns) != 2 || !strings.Contains(ns[0].body, "未列入") || !strings.Contains(ns[1].body, "列入公布名单") || strings.Contains(ns[1].body, "未列入") {
			t.Errorf("%+v", ns)
		}
	})
	t.Run("experts each get their count", func(t *testing.T) {
		ns, _ := renderSelection("ev", "B1", selection.ExpertsAssigned{Assignments: []selection.ExpertAssignment{
			{Application: "A1", Experts: []string{"e1", "e2"}}, {Application: "A2", Experts: []string{"e1"}}}}, f)
		if len(ns) != 2 || ns[0].to.users[0] != "e1" || !strings.Contains(ns[0].body, "2 份") || !strings.Contains(ns[1].body, "1 份") {
			t.Errorf("%+v", ns)
		}
	})
}
