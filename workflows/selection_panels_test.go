package workflows_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"keytask/domain/assign"
	"keytask/domain/selection"
	"keytask/events"
	"keytask/eventtypes"
	"keytask/workflows"
)

// TestSelectionPanels runs a batch with panel rules under time skipping: a
// panel below three is refused; an expert in another open batch at their load
// is left out; scoring needs the declaration of no conflict; a declined and a
// silent expert are replaced with every other assignment unchanged; the
// experts are reminded before the scoring deadline and the silent ones are
// reported at it.
func TestSelectionPanels(t *testing.T) {
	t.Parallel()
	bt := newPanelBatchTest(t)
	bt.params.Batch.PerApplication = 0 // the default panel of three
	bt.params.Batch.ProvinceQuotas = map[string]int{"11": 2}
	for _, a := range []struct{ id, province string }{{"a1", "11"}, {"a2", "11"}} {
		bt.seed(selection.ApplicationStream(a.id), selection.TypeApplicationCreated, selection.ApplicationCreated{
			ApplicationID: a.id, BatchID: "b1", TaskItem: "2.1", TaskType: "YZYX", School: "s-" + a.id, Province: a.province})
		bt.seed(selection.ApplicationStream(a.id), selection.TypeApplicationSubmitted, selection.ApplicationSubmitted{ApplicationID: a.id, At: selStart})
	}
	// Six experts of level 3 and e7 of level 1. e1 is at their load of 1
	// already in batch b0, still open; e6 worked at a1's school until last
	// year.
	for _, e := range []struct {
		id    string
		level int
		load  int
	}{{"e1", 3, 1}, {"e2", 3, 5}, {"e3", 3, 5}, {"e4", 3, 5}, {"e5", 3, 5}, {"e6", 3, 5}, {"e7", 1, 5}} {
		rec := selection.ExpertRegistered{ExpertID: e.id, Name: "专家" + e.id, Expertise: map[string]int{"YZYX": e.level}, Province: "31", Load: e.load}
		if e.id == "e6" {
			rec.FormerEmployers = append(rec.FormerEmployers, formerAt("s-a1", selStart.AddDate(-1, 0, 0)))
		}
		bt.seed(selection.ExpertStream(e.id), selection.TypeExpertRegistered, rec)
	}
	bt.seed(selection.SelectionBatchStream("b0"), selection.TypeExpertsAssigned, selection.ExpertsAssigned{Round: 1,
		Assignments: []selection.ExpertAssignment{{Application: "x0", Experts: []string{"e1", "e8", "e9"}}}})

	h := time.Hour
	at := func(d time.Duration) time.Time { return selStart.Add(d) }
	S, Q, E := selection.StageRecommendation, selection.StageQualification, selection.StageExpertReview
	bt.update(at(h), workflows.UpdateRecommendApplications, val(workflows.RecommendCommand{Province: "11", Applications: []string{"a1", "a2"}, Actor: province11}))
	bt.update(at(2*h), workflows.UpdateAdvanceStage, val(workflows.AdvanceCommand{From: S, To: Q}))
	bt.update(at(3*h), workflows.UpdateDecideQualification, val(workflows.QualifyCommand{Decisions: []selection.QualificationDecision{
		{Application: "a1", Outcome: selection.Passed}, {Application: "a2", Outcome: selection.Passed}}}))
	bt.update(at(4*h), workflows.UpdateAdvanceStage, val(workflows.AdvanceCommand{From: Q, To: E})) // scoring closes at 10 days + 4h
	assign := bt.update(at(5*h), workflows.UpdateAssignExperts, val(workflows.AssignCommand{Actor: ministry}))
	var panels map[string][]string
	bt.env.RegisterDelayedCallback(func() { panels = bt.panels() }, at(6*h).Sub(selStart))
	// Who is on which panel is known only now: the commands read it late.
	member := func(app string, i int) func() string {
		return func() string {
			if i < len(panels[app]) {
				return panels[app][i]
			}
			return "none"
		}
	}
	scoreUndeclared := bt.update(at(7*h), workflows.UpdateSubmitScores, func() any {
		return workflows.ScoresCommand{Expert: member("a1", 0)(), Scores: []selection.ApplicationScores{{Application: "a1", Criteria: []int{50, 30}}}}
	})
	declineNoReason := bt.update(at(8*h), workflows.UpdateDeclineAssignment, func() any {
		return workflows.DeclineCommand{Expert: member("a1", 1)(), Application: "a1"}
	})
	decline := bt.update(at(8*h), workflows.UpdateDeclineAssignment, func() any {
		return workflows.DeclineCommand{Expert: member("a1", 1)(), Application: "a1", Reason: "与申报学校有合作关系", Conflict: true}
	})
	// Everyone but a2's third expert scores (declaring as they do); a1's first
	// declares separately.
	declare := bt.update(at(9*h), workflows.UpdateDeclareNoConflict, func() any {
		return workflows.DeclareNoConflictCommand{Expert: member("a1", 0)(), Applications: []string{"a1"}}
	})
	var scored []*outcome
	for _, m := range []struct {
		app string
		i   int
	}{{"a1", 0}, {"a1", 2}, {"a2", 0}, {"a2", 1}} {
		scored = append(scored, bt.update(at(10*h), workflows.UpdateSubmitScores, func() any {
			return workflows.ScoresCommand{Expert: member(m.app, m.i)(), DeclareNoConflict: true,
				Scores: []selection.ApplicationScores{{Application: m.app, Criteria: []int{50, 30}}}}
		}))
	}
	// Reminders at 3 days and 1 day before the deadline; at it, a2's third
	// expert is reported silent, and the ministry replaces both.
	replaceScored := bt.update(at(10*day+5*h), workflows.UpdateReplaceExperts, func() any {
		return workflows.ReplaceCommand{Slots: []selection.Slot{{Application: "a1", Expert: member("a1", 0)()}}, Reason: "x"}
	})
	var before map[string][]string
	bt.env.RegisterDelayedCallback(func() { before = bt.panels() }, at(10*day+5*h+30*time.Minute).Sub(selStart))
	replace := bt.update(at(10*day+6*h), workflows.UpdateReplaceExperts, func() any {
		return workflows.ReplaceCommand{Slots: []selection.Slot{{Application: "a1", Expert: member("a1", 1)()}, {Application: "a2", Expert: member("a2", 2)()}},
			Reason: "一人谢绝、一人逾期未评分", Actor: ministry}
	})
	var after map[string][]string
	bt.env.RegisterDelayedCallback(func() { after = bt.panels() }, at(10*day+7*h).Sub(selStart))

	// A panel below three is refused before anything is recorded.
	small := newPanelBatchTest(t)
	small.params.Batch.PerApplication = 2
	small.env.ExecuteWorkflow(workflows.SelectionBatchWorkflowName, small.params)
	if err := small.env.GetWorkflowError(); err == nil || !contains(err.Error(), "至少由 3 位专家评审") {
		t.Fatalf("a panel of two: %v, want a refusal naming per_application", err)
	}

	bt.env.RegisterDelayedCallback(func() { bt.env.CancelWorkflow() }, at(11*day).Sub(selStart))
	bt.env.ExecuteWorkflow(workflows.SelectionBatchWorkflowName, bt.params)

	assign.ok(t)
	if t.Failed() {
		t.FailNow()
	}
	for _, a := range []string{"a1", "a2"} {
		if len(panels[a]) != 3 {
			t.Fatalf("%s panel %v, want three experts", a, panels[a])
		}
		if slices.Contains(panels[a], "e1") {
			t.Errorf("%s panel %v has e1, at their load in open batch b0", a, panels[a])
		}
		if slices.Contains(panels[a], "e7") {
			t.Errorf("%s panel %v has the level-1 expert while level-3 ones have load", a, panels[a])
		}
	}
	if slices.Contains(panels["a1"], "e6") {
		t.Errorf("a1 panel %v has e6, who left a1's school a year ago", panels["a1"])
	}
	scoreUndeclared.refused(t, false, "scores[0].application", "无利益冲突")
	declineNoReason.refused(t, false, "reason", "理由")
	decline.ok(t)
	declare.ok(t)
	for _, o := range scored {
		o.ok(t)
	}
	replaceScored.refused(t, false, "slots[0]", "已为申报")
	replace.ok(t)

	// Only the two open places changed.
	changed := 0
	for _, a := range []string{"a1", "a2"} {
		for i := range before[a] {
			if before[a][i] != after[a][i] {
				changed++
				if (a == "a1" && i != 1) || (a == "a2" && i != 2) {
					t.Errorf("%s place %d changed from %s to %s", a, i, before[a][i], after[a][i])
				}
				if slices.Contains(before[a], after[a][i]) || after[a][i] == "e1" {
					t.Errorf("%s place %d went to %s", a, i, after[a][i])
				}
			}
		}
	}
	if changed != 2 {
		t.Errorf("panels before %v after %v: %d places changed, want the two replaced", before, after, changed)
	}

	types := bt.storeTypes(selection.SelectionBatchStream("b1"))
	count := func(typ string) int {
		n := 0
		for _, x := range types {
			if x == typ {
				n++
			}
		}
		return n
	}
	if count(selection.TypeScoringReminderDue) != 2 || count(selection.TypeExpertsSilent) != 1 || count(selection.TypeExpertsReplaced) != 1 ||
		count(selection.TypeAssignmentDeclined) != 1 {
		t.Errorf("batch stream %v: want two reminders, one silent report, one decline, one replacement", types)
	}
	for _, e := range bt.batchEvents() {
		switch p := e.(type) {
		case selection.ExpertsSilent:
			if len(p.Experts) != 1 || p.Experts[0].Expert != before["a2"][2] { // a2's third; the decliner is not silent
				t.Errorf("silent %+v", p.Experts)
			}
		case selection.ExpertsReplaced:
			for _, r := range p.Replacements {
				if !contains(r.Explanation, "其余 2 名评审专家不变") {
					t.Errorf("replacement %+v does not explain that the rest stays", r)
				}
			}
		case selection.ScoringReminderDue:
			if len(p.Experts) == 0 {
				t.Errorf("reminder %+v names nobody", p)
			}
		}
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

func formerAt(school string, until time.Time) assign.FormerEmployment {
	return assign.FormerEmployment{School: school, Until: until}
}

// panels folds the batch's panels from its stream.
func (bt *batchTest) panels() map[string][]string {
	out := map[string][]string{}
	for _, p := range bt.batchEvents() {
		selection.ApplyPanels(out, p)
	}
	return out
}

func (bt *batchTest) batchEvents() []any {
	bt.t.Helper()
	evs, err := bt.store.ReadStream(context.Background(), selection.SelectionBatchStream("b1"), events.ReadOptions{})
	if err != nil {
		bt.t.Fatal(err)
	}
	var out []any
	for _, e := range evs {
		p, err := eventtypes.Registry.Decode(e)
		if err != nil {
			bt.t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}
