package workflows_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"keytask/domain/calendar"
	"keytask/domain/identity"
	"keytask/domain/selection"
	"keytask/events"
	"keytask/projections"
	"keytask/workflows"
)

// rankingBatch seeds a1, a2 (Beijing) and a3 (Guangdong), all submitted, and
// experts e1, e2 who may review all three, and schedules the batch through
// recommendation, qualification (all pass), assignment and both experts'
// scores, given per application as e1's and e2's marks. It returns the hour
// at which expert review has every score in.
func rankingBatch(bt *batchTest, marks map[string][2][]int) time.Time {
	for _, a := range []struct{ id, province string }{{"a1", "11"}, {"a2", "11"}, {"a3", "44"}} {
		bt.seed(selection.ApplicationStream(a.id), selection.TypeApplicationCreated, selection.ApplicationCreated{
			ApplicationID: a.id, BatchID: "b1", TaskItem: "2.1", TaskType: "YZYX", School: "s-" + a.id, Province: a.province})
		bt.seed(selection.ApplicationStream(a.id), selection.TypeApplicationSubmitted, selection.ApplicationSubmitted{ApplicationID: a.id, At: selStart})
	}
	for _, e := range []struct{ id, province string }{{"e1", "31"}, {"e2", "32"}} {
		bt.seed(selection.ExpertStream(e.id), selection.TypeExpertRegistered, selection.ExpertRegistered{
			ExpertID: e.id, Name: "专家" + e.id, Expertise: map[string]int{"YZYX": 2}, Province: e.province, Load: 5})
	}
	h := time.Hour
	at := func(d time.Duration) time.Time { return selStart.Add(d) }
	S, Q, E := selection.StageRecommendation, selection.StageQualification, selection.StageExpertReview
	steps := []*outcome{
		bt.update(at(h), workflows.UpdateRecommendApplications, val(workflows.RecommendCommand{Province: "11", Applications: []string{"a1", "a2"}, Actor: province11})),
		bt.update(at(h), workflows.UpdateRecommendApplications, val(workflows.RecommendCommand{Province: "44", Applications: []string{"a3"}})),
		bt.update(at(2*h), workflows.UpdateAdvanceStage, val(workflows.AdvanceCommand{From: S, To: Q})),
		bt.update(at(3*h), workflows.UpdateDecideQualification, val(workflows.QualifyCommand{Decisions: []selection.QualificationDecision{
			{Application: "a1", Outcome: selection.Passed}, {Application: "a2", Outcome: selection.Passed}, {Application: "a3", Outcome: selection.Passed}}})),
		bt.update(at(4*h), workflows.UpdateAdvanceStage, val(workflows.AdvanceCommand{From: Q, To: E})),
		bt.update(at(5*h), workflows.UpdateAssignExperts, val(workflows.AssignCommand{Actor: ministry})),
	}
	for i, ex := range []string{"e1", "e2"} {
		var sc []selection.ApplicationScores
		for _, id := range []string{"a1", "a2", "a3"} {
			sc = append(sc, selection.ApplicationScores{Application: id, Criteria: marks[id][i]})
		}
		steps = append(steps, bt.update(at(time.Duration(6+i)*h), workflows.UpdateSubmitScores, val(workflows.ScoresCommand{Expert: ex, Scores: sc})))
	}
	bt.t.Cleanup(func() {
		for _, o := range steps {
			o.ok(bt.t)
		}
	})
	return at(8 * h)
}

func (bt *batchTest) run() {
	bt.t.Helper()
	bt.env.ExecuteWorkflow(workflows.SelectionBatchWorkflowName, bt.params)
	if !bt.env.IsWorkflowCompleted() {
		bt.t.Fatal("workflow did not complete")
	}
	if err := bt.env.GetWorkflowError(); err != nil {
		bt.t.Fatal(err)
	}
}

// A panel that disagrees records a consensus before the batch may rank; an
// application below the pass score is not selected though a place is free;
// the ministry includes it anyway, and its reason is in the result's
// explanation.
func TestSelectionConsensusThresholdOverrule(t *testing.T) {
	bt := newBatchTest(t)
	bt.params.Batch.Quota = 3
	bt.params.Batch.PassTotal = 60
	bt.params.Batch.PassScores = map[string]int{"plan": 20}
	bt.params.Batch.ConsensusSpread = 15
	// a1: 90 and 50, a spread of 40; a2: 80 and 78; a3: 50 and 50, below 60.
	scored := rankingBatch(bt, map[string][2][]int{
		"a1": {{55, 35}, {30, 20}}, "a2": {{50, 30}, {48, 30}}, "a3": {{30, 20}, {28, 22}}})
	h := time.Hour
	E, N := selection.StageExpertReview, selection.StageNotice
	rankEarly := bt.update(scored, workflows.UpdateProposeRanking, val(workflows.RankCommand{Actor: ministry}))
	noRationale := bt.update(scored.Add(h), workflows.UpdateRecordConsensus, val(workflows.ConsensusCommand{Application: "a1", Criteria: []int{45, 30}, Expert: "e1"}))
	overMax := bt.update(scored.Add(h), workflows.UpdateRecordConsensus, val(workflows.ConsensusCommand{Application: "a1", Criteria: []int{45, 41}, Rationale: "x", Expert: "e1"}))
	outsider := bt.update(scored.Add(h), workflows.UpdateRecordConsensus, val(workflows.ConsensusCommand{Application: "a1", Criteria: []int{45, 30}, Rationale: "x", Expert: "e9"}))
	consensus := bt.update(scored.Add(2*h), workflows.UpdateRecordConsensus, val(workflows.ConsensusCommand{Application: "a1", Criteria: []int{45, 30},
		Rationale: "经合议，建设基础扎实但方案细节不足，取 75 分", Expert: "e1"}))
	rank := bt.update(scored.Add(3*h), workflows.UpdateProposeRanking, val(workflows.RankCommand{Actor: ministry}))
	noReason := bt.update(scored.Add(4*h), workflows.UpdateOverruleRanking, val(workflows.OverruleCommand{Application: "a3", Decision: selection.OverruleInclude}))
	overrule := bt.update(scored.Add(5*h), workflows.UpdateOverruleRanking, val(workflows.OverruleCommand{Application: "a3", Decision: selection.OverruleInclude,
		Reason: "经部务会研究，该校为区域唯一申报院校，予以列入", Actor: ministry}))
	full := bt.update(scored.Add(6*h), workflows.UpdateOverruleRanking, val(workflows.OverruleCommand{Application: "a3", Decision: selection.OverruleInclude, Reason: "再次"}))
	confirm := bt.update(scored.Add(7*h), workflows.UpdateConfirmRanking, func() any {
		return workflows.ConfirmRankingCommand{Round: decode[workflows.RankResult](t, rank).Round}
	})
	toN := bt.update(scored.Add(8*h), workflows.UpdateAdvanceStage, val(workflows.AdvanceCommand{From: E, To: N}))
	noticeEnd, err := calendar.Default().NoticeEnd(scored.Add(8*h), selection.DefaultNoticeDays)
	if err != nil {
		t.Fatal(err)
	}
	publish := bt.update(noticeEnd.Add(h), workflows.UpdatePublishSelection, val(workflows.PublishCommand{Actor: ministry}))
	bt.run()

	rankEarly.failed(t, true, "consensus", "a1")
	noRationale.refused(t, false, "rationale", "理由")
	overMax.refused(t, false, "criteria[1]", "满分")
	outsider.refused(t, false, "application", "评审组")
	noReason.refused(t, false, "reason", "理由")
	full.refused(t, true, "", "已在拟遴选名单中")
	for _, o := range []*outcome{consensus, rank, overrule, confirm, toN, publish} {
		o.ok(t)
	}
	r := decode[workflows.RankResult](t, rank)
	if strings.Join(r.Selected, ",") != "a2,a1" || r.Vacant != 1 {
		t.Errorf("ranking %+v: want a2 (79) and a1 (75 by consensus) selected, and one place left empty by a3 below the pass score", r)
	}
	var proposed selection.RankingProposed
	for _, e := range bt.events(selection.SelectionBatchStream("b1")) {
		if e.Type == selection.TypeRankingProposed {
			_ = json.Unmarshal(e.Data, &proposed)
		}
	}
	for _, e := range proposed.Ranking.Entries {
		switch e.Application {
		case "a1":
			if e.Consensus == nil || e.Consensus.Total.String() != "75.00" || !strings.Contains(e.Consensus.Rationale, "合议") || len(e.Totals) != 2 {
				t.Errorf("a1 %+v: want the consensus 75 beside both experts' totals", e)
			}
		case "a3":
			if !e.BelowPass || e.Selected || !strings.Contains(e.PassZh, "及格线") {
				t.Errorf("a3 %+v: want it below the pass score", e)
			}
		}
	}
	if !strings.Contains(proposed.Ranking.VacantZh, "1 个名额空缺") {
		t.Errorf("vacancy %q", proposed.Ranking.VacantZh)
	}
	// Both the experts' scores and the consensus stay in the log.
	types := strings.Join(bt.storeTypes(selection.SelectionBatchStream("b1")), ",")
	if !strings.Contains(types, "ScoresSubmitted,ScoresSubmitted,ConsensusRecorded,RankingProposed,RankingOverruled,RankingConfirmed") {
		t.Errorf("batch stream %s", types)
	}
	x, err := projections.Explain(context.Background(), bt.store, "b1", "a3", identity.Principal{Role: identity.RoleMinistry})
	if err != nil {
		t.Fatal(err)
	}
	if !x.Published || x.PublishedRank != 3 || len(x.Overrules) != 1 || !strings.Contains(x.Overrules[0].Reason, "区域唯一") ||
		x.Overrules[0].Decision != selection.OverruleInclude {
		t.Errorf("a3's explanation %+v: want it published third by the ministry's overrule, with the reason", x)
	}
	x1, err := projections.Explain(context.Background(), bt.store, "b1", "a1", identity.Principal{Role: identity.RoleMinistry})
	if err != nil {
		t.Fatal(err)
	}
	if x1.Ranking.Consensus == nil || len(x1.Overrules) != 0 {
		t.Errorf("a1's explanation %+v", x1)
	}
}

// Upholding an objection needs a reason; it strikes the application out and
// the next-ranked one at or above the pass score moves up onto its own public
// notice, which takes objections until it ends and holds the publication.
func TestSelectionUpheldObjectionMovesNextUp(t *testing.T) {
	bt := newBatchTest(t)
	bt.params.Batch.Quota = 1
	bt.params.Batch.PassTotal = 60
	// a1 90, a2 80, a3 70: a1 selected, a2 first in reserve.
	scored := rankingBatch(bt, map[string][2][]int{
		"a1": {{55, 35}, {55, 35}}, "a2": {{50, 30}, {50, 30}}, "a3": {{40, 30}, {40, 30}}})
	h := time.Hour
	E, N := selection.StageExpertReview, selection.StageNotice
	rank := bt.update(scored, workflows.UpdateProposeRanking, val(workflows.RankCommand{Actor: ministry}))
	confirm := bt.update(scored.Add(h), workflows.UpdateConfirmRanking, func() any {
		return workflows.ConfirmRankingCommand{Round: decode[workflows.RankResult](t, rank).Round}
	})
	toN := bt.update(scored.Add(2*h), workflows.UpdateAdvanceStage, val(workflows.AdvanceCommand{From: E, To: N}))
	cal := calendar.Default()
	noticeEnd, _ := cal.NoticeEnd(scored.Add(2*h), selection.DefaultNoticeDays)
	o1 := bt.update(scored.Add(3*h), workflows.UpdateFileObjection, val(workflows.ObjectionCommand{ObjectionID: "o1", Application: "a1", Name: "张三", Contact: "13800000000", Text: "数据造假"}))
	a2Early := bt.update(scored.Add(3*h), workflows.UpdateFileObjection, val(workflows.ObjectionCommand{ObjectionID: "o0", Application: "a2", Name: "李四", Contact: "1", Text: "x"}))
	upholdNoReason := bt.update(noticeEnd.Add(h), workflows.UpdateAdjudicateObjection, val(workflows.AdjudicateCommand{ObjectionID: "o1", Outcome: selection.Upheld}))
	upheldAt := noticeEnd.Add(2 * h)
	uphold := bt.update(upheldAt, workflows.UpdateAdjudicateObjection, val(workflows.AdjudicateCommand{ObjectionID: "o1", Outcome: selection.Upheld, Reason: "经核查，数据与佐证材料不符", Actor: ministry}))
	successorEnd, _ := cal.NoticeEnd(upheldAt, selection.DefaultNoticeDays)
	o2 := bt.update(successorEnd.Add(-h), workflows.UpdateFileObjection, val(workflows.ObjectionCommand{ObjectionID: "o2", Application: "a2", Name: "王五", Contact: "13900000000", Text: "存疑"}))
	lateOnA1 := bt.update(successorEnd.Add(-h), workflows.UpdateFileObjection, val(workflows.ObjectionCommand{ObjectionID: "o3", Application: "a1", Name: "赵六", Contact: "1", Text: "x"}))
	publishEarly := bt.update(successorEnd.Add(-h/2), workflows.UpdatePublishSelection, val(workflows.PublishCommand{}))
	dismiss := bt.update(successorEnd.Add(h), workflows.UpdateAdjudicateObjection, val(workflows.AdjudicateCommand{ObjectionID: "o2", Outcome: selection.Dismissed, Reason: "经核查材料真实"}))
	publish := bt.update(successorEnd.Add(2*h), workflows.UpdatePublishSelection, val(workflows.PublishCommand{Actor: ministry}))
	bt.run()

	a2Early.refused(t, false, "application", "不在公示名单")
	upholdNoReason.refused(t, false, "reason", "理由")
	lateOnA1.refused(t, true, "", "公示期已于")
	publishEarly.refused(t, true, "", "递补申报 a2")
	for _, o := range []*outcome{rank, confirm, toN, o1, uphold, o2, dismiss, publish} {
		o.ok(t)
	}
	var moved selection.SuccessorNoticed
	var published selection.SelectionBatchPublished
	for _, e := range bt.events(selection.SelectionBatchStream("b1")) {
		switch e.Type {
		case selection.TypeSuccessorNoticed:
			_ = json.Unmarshal(e.Data, &moved)
		case selection.TypeSelectionBatchPublished:
			_ = json.Unmarshal(e.Data, &published)
		}
	}
	if moved.Application != "a2" || moved.Replaces != "a1" || moved.ObjectionID != "o1" || !moved.Start.Equal(upheldAt) ||
		!moved.End.Equal(successorEnd) || moved.WorkingDays != selection.DefaultNoticeDays {
		t.Errorf("moved up %+v: want a2 replacing a1 on notice %s to %s", moved, upheldAt, successorEnd)
	}
	if !slices.Equal(published.List, []string{"a2"}) {
		t.Errorf("published %v, want a2 alone", published.List)
	}
	if got := bt.storeTypes(selection.ProjectStream(selection.ProjectID("b1", "a2"))); len(got) != 1 {
		t.Errorf("project a2: %v", got)
	}
	x, err := projections.Explain(context.Background(), bt.store, "b1", "a2", identity.Principal{Role: identity.RoleMinistry})
	if err != nil {
		t.Fatal(err)
	}
	if x.MovedUp == nil || x.MovedUp.Replaces != "a1" || !x.Published {
		t.Errorf("a2's explanation %+v", x)
	}
}

func (bt *batchTest) events(stream string) []events.Event {
	bt.t.Helper()
	evs, err := bt.store.ReadStream(context.Background(), stream, events.ReadOptions{})
	if err != nil {
		bt.t.Fatal(err)
	}
	return evs
}
